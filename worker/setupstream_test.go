package worker_test

import (
	"context"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/worker"
)

// TestReceiverBeforeWorkers: a receiver sets up the stream alone and
// publishes; the workers' consumer, created later, gets the event.
func TestReceiverBeforeWorkers(t *testing.T) {
	t.Parallel()
	js := connect(t, startServer(t, t.TempDir(), 0))
	ctx := context.Background()
	if err := worker.SetupStream(ctx, js, worker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Consumer(ctx, worker.StreamName, worker.ConsumerName); err == nil {
		t.Error("SetupStream created the workers' consumer")
	}
	if _, err := worker.NewPublisher(js).Publish(ctx, completed, "evt_early", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	cons, err := worker.Setup(ctx, js, worker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil || info.NumPending != 1 {
		t.Fatalf("consumer made after the publish: %+v, %v; want 1 pending", info, err)
	}
	if err := worker.SetupStream(ctx, js, worker.StreamConfig{Replicas: 9}); err == nil {
		t.Error("SetupStream accepted 9 replicas")
	}
}
