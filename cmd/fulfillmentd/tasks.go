package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi"
	"github.com/fulfillmentd/fulfillmentd/worker"
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
	loop := worker.Loop{Every: p.every, Backoff: worker.Backoff{Base: p.every, Max: p.every, Jitter: worker.NoJitter}}
	return task{name: "prune processed events", run: func(ctx context.Context) error {
		return loop.Run(ctx, func(ctx context.Context) error {
			switch n, err := p.once(ctx); {
			case ctx.Err() != nil:
			case err != nil:
				p.log.Warn("prune processed events failed; trying again at the next interval", "error", err, "every", p.every)
			case n > 0:
				p.log.Info("pruned processed events", "rows", n, "older_than", p.keep)
			}
			return nil
		})
	}}
}

// task is a loop that runs beside the workers until its context ends.
type task struct {
	name string
	run  func(ctx context.Context) error
}

// startTasks runs every task in its own goroutine; stop cancels them, waits
// for them, and returns their errors.
func startTasks(ctx context.Context, ts []task) (stop func() error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, t := range ts {
		wg.Go(func() {
			if err := t.run(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", t.name, err))
				mu.Unlock()
			}
		})
	}
	return func() error {
		cancel()
		wg.Wait()
		return errors.Join(errs...)
	}
}

// reconcileEvery runs reconcile every interval (the first time one interval
// after start) over the sessions created in the last window, and wakes the
// replayer when it queued events. A failed run is logged; the next one
// comes at the next tick.
//
// done (may be nil) learns each run that ended: the console's last
// reconcile.
func reconcileEvery(r *fulfillment.Reconciler, every, window time.Duration, wake chan<- struct{}, log *slog.Logger, done func(httpapi.ReconcileRun)) task {
	if done == nil {
		done = func(httpapi.ReconcileRun) {}
	}
	// A failed run is logged and left to the next interval: no retry
	// sooner, as the run itself is long and rate-limited.
	loop := worker.Loop{Every: every, WaitFirst: true, Backoff: worker.Backoff{Base: every, Max: every, Jitter: worker.NoJitter}}
	return task{name: "reconcile", run: func(ctx context.Context) error {
		return loop.Run(ctx, func(ctx context.Context) error {
			start := time.Now()
			sum, err := r.Run(ctx, start.Add(-window), false)
			if ctx.Err() == nil {
				run := httpapi.ReconcileRun{At: start, Duration: time.Since(start), Summary: sum}
				if err != nil {
					run.Err = err.Error()
				}
				done(run)
			}
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, fulfillment.ErrUnauthorized):
				log.Error(stripeKeyProblem+"; periodic reconcile failed, next run at the next interval", "error", err, "every", every)
				return nil
			case err != nil:
				log.Warn("periodic reconcile failed; next run at the next interval", "error", err, "every", every)
				return nil
			}
			log.Info("periodic reconcile", "since", sum.Since, "events", sum.Events, "checked", sum.Checked,
				"missing", sum.Missing, "lagging", sum.Lagging, "enqueued", sum.Enqueued, "synthesized", sum.Synthesized,
				"in_flight", sum.InFlight, "dead_lettered", sum.DeadLettered, "money_events", sum.MoneyEvents, "missed", sum.Missed,
				"duration_ms", time.Since(start).Milliseconds())
			if sum.Enqueued > 0 {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
			return nil
		})
	}}
}
