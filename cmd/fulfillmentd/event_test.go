package main

import "encoding/json"

// event is a minimal Stripe event body of the given type, for the receiver.
func event(id, typ, apiVersion string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": apiVersion, "type": typ, "created": 1700000000,
		"data": map[string]any{"object": map[string]any{"id": "cs_test_1", "object": "checkout.session", "payment_status": "paid"}},
	})
	return b
}
