package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

// embeddedBroker is an embedded nats-server with the stream set up, as serve has it.
func embeddedBroker(t *testing.T) (*server.Server, jetstream.JetStream) {
	t.Helper()
	ns := natstest.Embedded(t, t.TempDir(), 0)
	js := natstest.JetStream(t, ns)
	if _, err := broker.Setup(context.Background(), js, broker.StreamConfig{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	return ns, js
}

func event(id, typ, apiVersion string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": apiVersion, "type": typ, "created": 1700000000,
		"data": map[string]any{"object": map[string]any{"id": "cs_test_1", "object": "checkout.session", "payment_status": "paid"}},
	})
	return b
}
