package main

import (
	"context"
	"log/slog"
	"time"
)

// Bookkeeping of processed events (processed_events, the guard against
// processing an event twice) is kept 35 days, then pruned by the worker
// process: longer than Stripe resends a delivery (3 days) and than it keeps
// events (30 days, as far back as reconcile lists them), so every event
// Stripe can still send or list is still known. An older id that comes again
// (a dlq retry, a synthesized reconcile event) is processed again: safe, one
// order per session and forward-only merges, at the price of its Stripe calls.
const (
	processedRetention = 35 * 24 * time.Hour
	processedPruneEach = time.Hour
	processedPruneRows = 1000 // per write transaction
)

// processedPruner prunes processed events older than keep, at start and
// then every interval.
type processedPruner struct {
	db interface {
		PruneProcessedEvents(ctx context.Context, before time.Time, batch int) (int64, error)
	}
	keep, every time.Duration
	now         func() time.Time
	log         *slog.Logger
}

// once prunes what is older than keep now.
func (p processedPruner) once(ctx context.Context) (int64, error) {
	return p.db.PruneProcessedEvents(ctx, p.now().Add(-p.keep), processedPruneRows)
}

func (p processedPruner) task() task {
	return task{name: "prune processed events", run: func(ctx context.Context) error {
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			switch n, err := p.once(ctx); {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				p.log.Warn("prune processed events failed; trying again at the next interval", "error", err, "every", p.every)
			case n > 0:
				p.log.Info("pruned processed events", "rows", n, "older_than", p.keep)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}}
}
