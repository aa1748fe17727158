package stripeevent

import (
	"encoding/json"
	"fmt"
	"time"
)

// Build returns the body of the event of type typ that Stripe would send
// about object (a Stripe object as its API returns it), as if created at
// created: livemode is the object's, api_version is null (the object is in
// whatever version its API call returned) and no webhook is pending.
// Reconcile builds the events Stripe never sent with it.
func Build(id, typ string, object json.RawMessage, created time.Time) ([]byte, error) {
	var head struct {
		Livemode bool `json:"livemode"`
	}
	if err := json.Unmarshal(object, &head); err != nil {
		return nil, fmt.Errorf("data.object: %w", err)
	}
	return json.Marshal(map[string]any{
		"id":               id,
		"object":           "event",
		"api_version":      nil,
		"created":          created.Unix(),
		"type":             typ,
		"data":             map[string]json.RawMessage{"object": object},
		"livemode":         head.Livemode,
		"pending_webhooks": 0,
		"request":          map[string]any{"id": nil, "idempotency_key": nil},
	})
}
