package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// TestProcessedPruner: with the clock injected, the pruner forgets processed
// events once they are processedRetention old, and only then; the orders stay.
func TestProcessedPruner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	day := 24 * time.Hour
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	// One event a day for 10 days, processed at start + i days.
	for i := range 10 {
		sid := fmt.Sprintf("cs_test_prune_%d", i)
		at := start.Add(time.Duration(i) * day)
		o := fulfillment.Order{ID: fulfillment.OrderID(sid), CheckoutSessionID: sid, Status: fulfillment.StatusReadyToShip,
			PaymentStatus: fulfillment.PaymentPaid, CreatedAt: at, UpdatedAt: at}
		if _, _, err := db.Record(ctx, fmt.Sprintf("evt_prune_%d", i), fulfillment.EventSessionCompleted, o); err != nil {
			t.Fatal(err)
		}
	}
	var now time.Time
	p := processedPruner{db: db, keep: processedRetention, every: processedPruneEach, now: func() time.Time { return now },
		log: slog.New(slog.DiscardHandler)}
	for _, tt := range []struct {
		now    time.Time
		pruned int64
		kept   int // events i >= kept are still known
	}{
		{now: start.Add(processedRetention), pruned: 0, kept: 0}, // the first is exactly 35 days old
		{now: start.Add(processedRetention + time.Nanosecond), pruned: 1, kept: 1},
		{now: start.Add(processedRetention + 5*day + time.Hour), pruned: 5, kept: 6},
		{now: start.Add(processedRetention + 5*day + 2*time.Hour), pruned: 0, kept: 6},
		{now: start.Add(processedRetention + 30*day), pruned: 4, kept: 10},
	} {
		now = tt.now
		n, err := p.once(ctx)
		if err != nil || n != tt.pruned {
			t.Fatalf("at %s: pruned %d, %v; want %d", now, n, err, tt.pruned)
		}
		for i := range 10 {
			if got, err := db.EventProcessed(ctx, fmt.Sprintf("evt_prune_%d", i)); err != nil || got != (i >= tt.kept) {
				t.Errorf("at %s: EventProcessed(evt_prune_%d) = %v, %v; want %v", now, i, got, err, i >= tt.kept)
			}
		}
	}
	if s, err := db.Stats(ctx); err != nil || s.OrdersByStatus[fulfillment.StatusReadyToShip] != 10 {
		t.Errorf("orders after pruning their events: %+v, %v", s, err)
	}
}
