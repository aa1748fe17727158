package broker_test

import (
	"context"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

// TestReceiverBeforeWorkers: a receiver sets up the stream alone and
// publishes; the workers' consumer, created later, gets the event.
func TestReceiverBeforeWorkers(t *testing.T) {
	t.Parallel()
	js := natstest.JetStream(t, natstest.Embedded(t, t.TempDir(), 0))
	ctx := context.Background()
	if err := broker.SetupStream(ctx, js, broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Consumer(ctx, worker.StreamName, worker.ConsumerName); err == nil {
		t.Error("SetupStream created the workers' consumer")
	}
	if _, err := broker.NewPublisher(js).Publish(ctx, completed, "evt_early", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	cons, err := broker.Setup(ctx, js, broker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil || info.NumPending != 1 {
		t.Fatalf("consumer made after the publish: %+v, %v; want 1 pending", info, err)
	}
	if err := broker.SetupStream(ctx, js, broker.StreamConfig{Replicas: 9}); err == nil {
		t.Error("SetupStream accepted 9 replicas")
	}
}
