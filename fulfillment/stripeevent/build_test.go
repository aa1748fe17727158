package stripeevent_test

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

func TestBuild(t *testing.T) {
	t.Parallel()
	created := time.Unix(1700000000, 0)

	t.Run("wire format", func(t *testing.T) {
		t.Parallel()
		body, err := stripeevent.Build("reconcile:cs_1:paid", fulfillment.EventSessionCompleted,
			json.RawMessage(`{"id":"cs_1", "object":"checkout.session","livemode":true}`), created)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"api_version":null,"created":1700000000,"data":{"object":{"id":"cs_1","object":"checkout.session","livemode":true}},` +
			`"id":"reconcile:cs_1:paid","livemode":true,"object":"event","pending_webhooks":0,` +
			`"request":{"id":null,"idempotency_key":null},"type":"checkout.session.completed"}`
		if string(body) != want {
			t.Errorf("Build:\n got %s\nwant %s", body, want)
		}
	})

	t.Run("decodes as the event it stands for", func(t *testing.T) {
		t.Parallel()
		data, err := fs.ReadFile(fixtures.FS, "stripe/cs_test_crosssell.json")
		if err != nil {
			t.Fatal(err)
		}
		var fx struct {
			Session json.RawMessage `json:"session"`
		}
		if err := json.Unmarshal(data, &fx); err != nil {
			t.Fatal(err)
		}
		body, err := stripeevent.Build("reconcile:cs_test_crosssell:paid", fulfillment.EventSessionCompleted, fx.Session, created)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), `"livemode":false`) {
			t.Errorf("livemode is not the session's (false): %s", body)
		}
		ev, err := stripeevent.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID != "reconcile:cs_test_crosssell:paid" || ev.Type != fulfillment.EventSessionCompleted ||
			!ev.Created.Equal(created) || ev.Session.ID != "cs_test_crosssell" || ev.Session.PaymentStatus != fulfillment.PaymentPaid {
			t.Errorf("decoded %+v", ev)
		}
	})

	for name, object := range map[string]string{"not JSON": `{"id":`, "not an object": `"cs_1"`} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if body, err := stripeevent.Build("evt_1", fulfillment.EventSessionCompleted, json.RawMessage(object), created); err == nil {
				t.Errorf("Build(%s) = %s, want an error", object, body)
			}
		})
	}
}
