package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

// replayQueue is an in-memory broker.ReplayStore; markFailures makes the
// first MarkReplayed calls fail.
type replayQueue struct {
	mu           sync.Mutex
	pending      []fulfillment.Replay
	marked       []int64
	markFailures int
}

func (q *replayQueue) PendingReplays(_ context.Context, limit int) ([]fulfillment.Replay, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]fulfillment.Replay(nil), q.pending[:min(limit, len(q.pending))]...), nil
}

func (q *replayQueue) MarkReplayed(_ context.Context, id int64, _ time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.markFailures > 0 {
		q.markFailures--
		return natstest.ErrDiskFull
	}
	for i, rp := range q.pending {
		if rp.ID == id {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			q.marked = append(q.marked, id)
		}
	}
	return nil
}

// TestReplayAfterTheOriginal: an event processed (and dead-lettered) under
// its own msg id comes back as a replay although the stream's duplicate
// window still holds that id; a replay that fails again is dead-lettered
// under the event's id, not the replay's msg id; a replay published twice
// (its mark was lost) is stored once.
func TestReplayAfterTheOriginal(t *testing.T) {
	t.Parallel()
	e := natstest.NewEnv(t, broker.StreamConfig{MaxDeliver: 1})
	payload := `{"id":"evt_again"}`
	e.Publish(t, completed, "evt_again", payload)

	q := &replayQueue{markFailures: 1, pending: []fulfillment.Replay{
		{ID: 7, EventID: "evt_again", EventType: completed, Payload: []byte(payload), Reason: "dlq retry"},
	}}
	r := &broker.Replayer{Store: q, Publisher: e.Pub, Log: natstest.Log()}
	if n, err := r.PublishPending(context.Background()); n != 0 || !errors.Is(err, natstest.ErrDiskFull) {
		t.Fatalf("first round: published %d, %v; want the mark to fail", n, err)
	}
	if n, err := r.PublishPending(context.Background()); n != 1 || err != nil {
		t.Fatalf("second round: published %d, %v", n, err)
	}
	if n, err := r.PublishPending(context.Background()); n != 0 || err != nil {
		t.Fatalf("empty queue: published %d, %v", n, err)
	}

	stream, err := e.JS.Stream(context.Background(), worker.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want the original and one replay", info.State.Msgs)
	}
	raw, err := stream.GetMsg(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Header.Get(jetstream.MsgIDHeader); got != "evt_again:replay:7" {
		t.Errorf("replay msg id %q", got)
	}

	dls := &natstest.DeadLetters{}
	rec := &natstest.Recorder{Results: []error{fulfillment.Permanent(errors.New("still broken"))}}
	natstest.RunPool(t, &worker.Pool{Consumer: e.Cons, Handler: rec, DeadLetters: dls, Log: natstest.Log()})
	e.WaitSettled(t)
	seen := rec.Deliveries()
	if len(seen) != 2 || seen[0].Msg.EventID != "evt_again" || seen[1].Msg.EventID != "evt_again" {
		t.Fatalf("deliveries %+v, want two of evt_again", seen)
	}
	l := dls.Letters()
	if len(l) != 2 || l[1].EventID != "evt_again" || string(l[1].Payload) != payload {
		t.Errorf("dead letters %+v, want both under evt_again", l)
	}
}

// TestReplayerRun publishes what is queued while it runs, woken at once by
// Wake, and returns nil when stopped.
func TestReplayerRun(t *testing.T) {
	t.Parallel()
	e := natstest.NewEnv(t, broker.StreamConfig{})
	q := &replayQueue{}
	wake := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&broker.Replayer{Store: q, Publisher: e.Pub, Poll: time.Hour, Wake: wake, Log: natstest.Log()}).Run(ctx)
	}()
	for i := range 3 {
		q.mu.Lock()
		q.pending = append(q.pending, fulfillment.Replay{ID: int64(i + 1), EventID: fmt.Sprintf("evt_%d", i),
			EventType: completed, Payload: []byte(`{}`)})
		q.mu.Unlock()
		wake <- struct{}{}
		natstest.Eventually(t, func() bool {
			q.mu.Lock()
			defer q.mu.Unlock()
			return len(q.marked) == i+1
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestReplayerSkipsUnpublishable: a replay that can never be published (a
// type that is no subject) stays pending and is reported; the others go.
func TestReplayerSkipsUnpublishable(t *testing.T) {
	t.Parallel()
	e := natstest.NewEnv(t, broker.StreamConfig{})
	q := &replayQueue{pending: []fulfillment.Replay{
		{ID: 1, EventID: "evt_bad", EventType: "checkout.*", Payload: []byte(`{}`)},
		{ID: 2, EventID: "evt_good", EventType: completed, Payload: []byte(`{}`)},
	}}
	n, err := (&broker.Replayer{Store: q, Publisher: e.Pub, Log: natstest.Log()}).PublishPending(context.Background())
	if n != 1 || !fulfillment.IsPermanent(err) {
		t.Fatalf("published %d, %v; want 1 and a permanent error for evt_bad", n, err)
	}
	if len(q.pending) != 1 || q.pending[0].EventID != "evt_bad" {
		t.Errorf("pending %+v, want evt_bad only", q.pending)
	}
}
