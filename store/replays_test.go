package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// TestMarkReplayedKeepsLaterFailures races a new failure against the mark
// of a replay, deterministically: whatever is written to dead_letters after
// the replay was requested survives its publication (issue 9: a replay that
// failed again before MarkReplayed ran lost its dead letter).
func TestMarkReplayedKeepsLaterFailures(t *testing.T) {
	t.Parallel()
	dl := fulfillment.DeadLetter{EventID: "evt_race", EventType: fulfillment.EventSessionCompleted,
		Subject: "stripe.events.checkout.session.completed", Payload: []byte(`{"id":"evt_race"}`),
		Error: "stripe 404", Attempts: 1, FirstFailedAt: at(1), LastFailedAt: at(1)}
	tests := []struct {
		name string
		// between runs after the request rp and before its mark.
		between  func(t *testing.T, db *DB, rp fulfillment.Replay)
		wantKept bool
		attempts int
	}{
		{name: "nothing in between: forgotten", between: func(*testing.T, *DB, fulfillment.Replay) {}},
		{name: "the replay failed again (same times, same attempts)", wantKept: true, attempts: 2,
			between: func(t *testing.T, db *DB, _ fulfillment.Replay) { mustDeadLetter(t, db, dl) }},
		{name: "purged, then failed again with the same record", wantKept: true, attempts: 1,
			between: func(t *testing.T, db *DB, _ fulfillment.Replay) {
				if n, err := db.PurgeDeadLetters(context.Background(), at(2)); err != nil || n != 1 {
					t.Fatalf("purge: %d, %v", n, err)
				}
				mustDeadLetter(t, db, dl)
			}},
		{name: "failed again, then retried again while the replay waits: forgotten",
			between: func(t *testing.T, db *DB, rp fulfillment.Replay) {
				mustDeadLetter(t, db, dl)
				again, queued, err := db.RetryDeadLetter(context.Background(), dl.EventID, at(3))
				if err != nil || queued || again.ID != rp.ID {
					t.Fatalf("retry while pending: %+v queued %v, %v", again, queued, err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := openTest(t)
			ctx := context.Background()
			mustDeadLetter(t, db, dl)
			rp, queued, err := db.RetryDeadLetter(ctx, dl.EventID, at(2))
			if err != nil || !queued {
				t.Fatalf("retry: queued %v, %v", queued, err)
			}
			tt.between(t, db, rp)
			if err := db.MarkReplayed(ctx, rp.ID, at(4)); err != nil {
				t.Fatal(err)
			}
			got, err := db.DeadLetter(ctx, dl.EventID)
			switch {
			case !tt.wantKept && !errors.Is(err, fulfillment.ErrNotFound):
				t.Fatalf("dead letter after the mark: %+v, %v; want it forgotten", got, err)
			case !tt.wantKept:
				return
			case err != nil:
				t.Fatalf("the failure written after the request is lost: %v", err)
			case got.Attempts != tt.attempts:
				t.Errorf("attempts = %d, want %d", got.Attempts, tt.attempts)
			}
			// The kept failure is retried like any other, and forgotten once
			// that replay is published.
			next, queued, err := db.RetryDeadLetter(ctx, dl.EventID, at(5))
			if err != nil || !queued || next.ID == rp.ID {
				t.Fatalf("retry of the kept failure: %+v queued %v, %v", next, queued, err)
			}
			if err := db.MarkReplayed(ctx, next.ID, at(6)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.DeadLetter(ctx, dl.EventID); !errors.Is(err, fulfillment.ErrNotFound) {
				t.Errorf("after the second replay: %v, want it forgotten", err)
			}
		})
	}
}

// TestMarkReplayedOfReconcileKeepsDeadLetter: a replay reconcile queued was
// not asked for any dead letter; publishing it forgets none.
func TestMarkReplayedOfReconcileKeepsDeadLetter(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	rp, _, err := db.EnqueueReplay(ctx, fulfillment.Replay{EventID: "evt_rec", EventType: fulfillment.EventSessionCompleted,
		Payload: []byte(`{}`), Reason: "reconcile", RequestedAt: at(1)})
	if err != nil {
		t.Fatal(err)
	}
	mustDeadLetter(t, db, fulfillment.DeadLetter{EventID: "evt_rec", EventType: fulfillment.EventSessionCompleted,
		Payload: []byte(`{}`), LastFailedAt: at(2)})
	if err := db.MarkReplayed(ctx, rp.ID, at(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeadLetter(ctx, "evt_rec"); err != nil {
		t.Errorf("dead letter after reconcile's replay was published: %v", err)
	}
}

func mustDeadLetter(t *testing.T, db *DB, dl fulfillment.DeadLetter) {
	t.Helper()
	if err := db.RecordDeadLetter(context.Background(), dl); err != nil {
		t.Fatal(err)
	}
}

func TestPruneProcessedEvents(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	// Seven events of one session, processed at clock 0..6 (processed_at is
	// the order's UpdatedAt).
	for i := range 7 {
		o := order("cs_prune", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, i)
		if _, _, err := db.Record(ctx, fmt.Sprintf("evt_prune_%d", i), fulfillment.EventSessionCompleted, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		before, batch int
		want          int64
	}{
		{before: 0, batch: 2, want: 0},
		{before: 5, batch: 2, want: 5}, // three batches: 2, 2, 1
		{before: 5, batch: 2, want: 0},
		{before: 100, batch: 0, want: 2},
	} {
		n, err := db.PruneProcessedEvents(ctx, at(tt.before), tt.batch)
		if err != nil || n != tt.want {
			t.Fatalf("PruneProcessedEvents(before %d, batch %d) = %d, %v; want %d", tt.before, tt.batch, n, err, tt.want)
		}
		for i := range 7 {
			want := i >= tt.before
			if got, err := db.EventProcessed(ctx, fmt.Sprintf("evt_prune_%d", i)); err != nil || got != want {
				t.Errorf("before %d: EventProcessed(evt_prune_%d) = %v, %v; want %v", tt.before, i, got, err, want)
			}
		}
	}
	if _, err := db.OrderBySession(ctx, "cs_prune"); err != nil {
		t.Errorf("the order after its events were pruned: %v", err)
	}
}

// TestReconcileReplayReplacesDeadLetter: an event reconcile queued as
// Stripe's API lists it takes the place of the event's dead letter (one a
// retry could not get past the worker's signature check).
func TestReconcileReplayReplacesDeadLetter(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	mustDeadLetter(t, db, fulfillment.DeadLetter{EventID: "evt_api", EventType: fulfillment.EventSessionCompleted,
		Payload: []byte(`{}`), Error: "untrusted message", LastFailedAt: at(1)})
	rp, queued, err := db.EnqueueReplay(ctx, fulfillment.Replay{EventID: "evt_api", EventType: fulfillment.EventSessionCompleted,
		Payload: []byte(`{"id":"evt_api"}`), Reason: "reconcile", RequestedAt: at(2), FromStripeAPI: true})
	if err != nil || !queued {
		t.Fatalf("enqueue: queued %v, %v", queued, err)
	}
	if err := db.MarkReplayed(ctx, rp.ID, at(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeadLetter(ctx, "evt_api"); !errors.Is(err, fulfillment.ErrNotFound) {
		t.Errorf("dead letter after the API copy was published: %v, want it replaced", err)
	}
}
