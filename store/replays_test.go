package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

func TestRetryDeadLetterReplayAndForget(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()

	if _, _, err := db.RetryDeadLetter(ctx, "evt_none", at(1)); !errors.Is(err, fulfillment.ErrNotFound) {
		t.Fatalf("retry of no dead letter: %v, want ErrNotFound", err)
	}
	dl := fulfillment.DeadLetter{EventID: "evt_dead", EventType: "checkout.session.completed",
		Subject: "stripe.events.checkout.session.completed", Payload: []byte(`{"id":"evt_dead"}`),
		Error: "stripe 500", Attempts: 42, FirstFailedAt: at(1), LastFailedAt: at(2),
		Signatures: fulfillment.Signatures{Stripe: "t=1,v1=ab", Fulfillment: "v1=cd"}}
	if err := db.RecordDeadLetter(ctx, dl); err != nil {
		t.Fatal(err)
	}
	if got, err := db.DeadLetter(ctx, "evt_dead"); err != nil || !reflect.DeepEqual(got, dl) {
		t.Fatalf("DeadLetter = %+v, %v; want %+v", got, err, dl)
	}

	rp, queued, err := db.RetryDeadLetter(ctx, "evt_dead", at(3))
	if err != nil || !queued || rp.ID == 0 || rp.EventType != dl.EventType || string(rp.Payload) != string(dl.Payload) ||
		rp.Reason != "dlq retry" || !rp.RequestedAt.Equal(at(3)) || !rp.Pending() ||
		rp.Signatures != dl.Signatures || rp.FromStripeAPI {
		t.Fatalf("first retry: %+v queued %v, %v", rp, queued, err)
	}
	again, queued, err := db.RetryDeadLetter(ctx, "evt_dead", at(4))
	if err != nil || queued || again.ID != rp.ID {
		t.Fatalf("second retry while pending: %+v queued %v, %v; want the first, not queued", again, queued, err)
	}
	pending, err := db.PendingReplays(ctx, 10)
	if err != nil || len(pending) != 1 || !reflect.DeepEqual(pending[0], rp) {
		t.Fatalf("PendingReplays = %+v, %v; want [%+v]", pending, err, rp)
	}

	// Published: the dead letter goes, the replay stays as history.
	for range 2 {
		if err := db.MarkReplayed(ctx, rp.ID, at(5)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.DeadLetter(ctx, "evt_dead"); !errors.Is(err, fulfillment.ErrNotFound) {
		t.Errorf("dead letter after its replay was published: %v", err)
	}
	if pending, _ := db.PendingReplays(ctx, 10); len(pending) != 0 {
		t.Errorf("pending after publish: %+v", pending)
	}
	hist, err := db.Replays(ctx, "evt_dead")
	if err != nil || len(hist) != 1 || hist[0].Pending() || !hist[0].PublishedAt.Equal(at(5)) {
		t.Fatalf("Replays = %+v, %v", hist, err)
	}
	if _, _, err := db.RetryDeadLetter(ctx, "evt_dead", at(6)); !errors.Is(err, fulfillment.ErrNotFound) {
		t.Errorf("retry after publish: %v, want ErrNotFound", err)
	}

	// The replay failed again: a new dead letter, a new replay.
	if err := db.RecordDeadLetter(ctx, dl); err != nil {
		t.Fatal(err)
	}
	next, queued, err := db.RetryDeadLetter(ctx, "evt_dead", at(7))
	if err != nil || !queued || next.ID == rp.ID {
		t.Fatalf("retry of the new dead letter: %+v queued %v, %v", next, queued, err)
	}
}

func TestEnqueueReplay(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	rp := fulfillment.Replay{EventID: "reconcile:cs_1:paid", EventType: "checkout.session.completed",
		Payload: []byte(`{}`), Reason: "reconcile", RequestedAt: at(1), FromStripeAPI: true}
	first, queued, err := db.EnqueueReplay(ctx, rp)
	if err != nil || !queued {
		t.Fatalf("EnqueueReplay: queued %v, %v", queued, err)
	}
	if pending, err := db.PendingReplays(ctx, 10); err != nil || len(pending) != 1 || !reflect.DeepEqual(pending[0], first) || !pending[0].FromStripeAPI {
		t.Errorf("PendingReplays = %+v, %v; want [%+v] from Stripe's API", pending, err, first)
	}
	if dup, queued, err := db.EnqueueReplay(ctx, rp); err != nil || queued || dup.ID != first.ID {
		t.Errorf("EnqueueReplay again: %+v queued %v, %v", dup, queued, err)
	}
	for _, bad := range []fulfillment.Replay{{EventType: "x", Payload: []byte("{}")}, {EventID: "e", Payload: []byte("{}")}, {EventID: "e", EventType: "x"}} {
		if _, _, err := db.EnqueueReplay(ctx, bad); !fulfillment.IsPermanent(err) {
			t.Errorf("EnqueueReplay(%+v): %v, want a permanent error", bad, err)
		}
	}
	if err := db.MarkReplayed(ctx, 999, at(2)); err != nil {
		t.Errorf("MarkReplayed of no replay: %v", err)
	}
}

func TestPurgeDeadLetters(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	for i, id := range []string{"evt_a", "evt_b", "evt_c"} {
		if err := db.RecordDeadLetter(ctx, fulfillment.DeadLetter{EventID: id, LastFailedAt: at(i * 1000)}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.PurgeDeadLetters(ctx, at(1000))
	if err != nil || n != 1 {
		t.Fatalf("PurgeDeadLetters = %d, %v; want 1", n, err)
	}
	left, _ := db.DeadLetters(ctx)
	if len(left) != 2 || left[0].EventID != "evt_c" || left[1].EventID != "evt_b" {
		t.Errorf("left: %+v", left)
	}
	if n, err := db.PurgeDeadLetters(ctx, at(0).Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("purge of nothing: %d, %v", n, err)
	}
}

func TestEventProcessed(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	if _, _, err := db.Record(ctx, "evt_done", fulfillment.EventSessionCompleted, order("cs_done", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 2, 1)); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"evt_done": true, "evt_other": false} {
		if got, err := db.EventProcessed(ctx, id); err != nil || got != want {
			t.Errorf("EventProcessed(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
}

// TestSigningKey: made once, 32 bytes, the same for every later call and
// after a reopen.
func TestSigningKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fulfillment.db")
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.SigningKey(ctx)
	if err != nil || len(first) != 32 || bytes.Equal(first, make([]byte, 32)) {
		t.Fatalf("SigningKey = %x, %v", first, err)
	}
	if again, err := db.SigningKey(ctx); err != nil || !bytes.Equal(again, first) {
		t.Errorf("second SigningKey = %x, %v; want %x", again, err, first)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if reopened, err := db.SigningKey(ctx); err != nil || !bytes.Equal(reopened, first) {
		t.Errorf("SigningKey after reopen = %x, %v; want %x", reopened, err, first)
	}
	other := openTest(t)
	if k, err := other.SigningKey(ctx); err != nil || bytes.Equal(k, first) {
		t.Errorf("another database's key = %x, %v; want a different one", k, err)
	}
}
