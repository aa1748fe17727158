package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

// TestPublishRefusesWhileDisconnected: with the broker gone, Publish fails
// at once with ErrNotConnected instead of buffering the event and waiting
// out its context for an ack that cannot come.
func TestPublishRefusesWhileDisconnected(t *testing.T) {
	t.Parallel()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(ns.Shutdown)
	nc, err := broker.Connect(ns.ClientURL(), t.Name(), natstest.Log())
	if err != nil {
		t.Fatal(err)
	}
	js := natstest.JetStreamOn(t, nc)
	if _, err := broker.Setup(context.Background(), js, broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	pub := broker.NewPublisher(js)
	if _, err := pub.Publish(context.Background(), "checkout.session.completed", "evt_up", []byte(`{}`)); err != nil {
		t.Fatalf("publish while connected: %v", err)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	natstest.Eventually(t, func() bool { return nc.Status() != nats.CONNECTED })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pub.Publish(ctx, "checkout.session.completed", "evt_down", []byte(`{}`))
	if !errors.Is(err, broker.ErrNotConnected) {
		t.Fatalf("publish while disconnected: %v, want ErrNotConnected", err)
	}
}
