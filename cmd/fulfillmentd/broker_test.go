package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/worker"
)

// broker is an embedded nats-server with the stream set up, as serve has it.
func broker(t *testing.T) (*server.Server, jetstream.JetStream) {
	t.Helper()
	ns, err := worker.StartEmbedded(worker.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := worker.ConnectEmbedded(ns, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := worker.Setup(context.Background(), js, worker.StreamConfig{Workers: 2}); err != nil {
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
