package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Roles of serve. One process can do everything (all: the default, with the
// embedded broker or an external one), or the work is split for scale-out:
// receivers (stateless, on as many machines as needed) publish verified
// webhooks to an external NATS cluster, and one worker process owns the
// SQLite database, runs the workers, the relays and the warehouse API.
const (
	roleAll      = "all"
	roleReceiver = "receiver"
	roleWorker   = "worker"
)

func parseRole(c *config, v string) error {
	switch v {
	case roleAll, roleReceiver, roleWorker:
		c.Role = v
		return nil
	}
	return errors.New("want all, receiver or worker")
}

// works reports whether the role runs the workers and owns the database.
func (c config) works() bool { return c.Role != roleReceiver }

// checkRole refuses a split role with the embedded broker: no other process
// can reach it (it listens on no port), so a receiver's events would never
// reach a worker.
func (c config) checkRole() error {
	if c.Role != roleAll && c.Role != "" && c.NATSURL == "" {
		return fmt.Errorf("--role %s needs an external NATS (NATS_URL): the embedded broker serves its own process only; "+
			"run receivers and one worker against a NATS server or cluster, or --role all", c.Role)
	}
	return nil
}

// roleIn reads the role from args (--role X, --role=X) or FULFILLMENT_ROLE,
// ahead of the full parse, since what a role requires depends on it. The
// full parse validates it.
func roleIn(args []string, getenv func(string) string) string {
	role := getenv("FULFILLMENT_ROLE")
	for i, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "role" {
			continue
		}
		if hasValue {
			role = value
		} else if i+1 < len(args) {
			role = args[i+1]
		}
	}
	return strings.TrimSpace(role)
}

// settingsForRole drops the requirements a role does not have: a receiver
// never calls Stripe's API (no secret key on the edge machines). A worker
// needs the webhook secrets too: it verifies every stream message's
// Stripe-Signature again.
func settingsForRole(all []setting, role string) []setting {
	for i := range all {
		if role == roleReceiver && all[i].env == "STRIPE_SECRET_KEY" {
			all[i].required = false
		}
	}
	return all
}

// servesRole answers the routes a role does not serve with a 404 that says
// where they are served.
func servesRole(role string, h http.Handler) http.Handler {
	var prefix, msg string
	switch role {
	case roleReceiver:
		prefix, msg = "/v1/", "this process is a receiver (--role receiver): the warehouse API /v1 is served by the worker role"
	case roleWorker:
		prefix, msg = "/webhooks/", "this process is a worker (--role worker): Stripe webhooks go to the receiver role"
	default:
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, prefix) {
			writeProblem(w, http.StatusNotFound, msg)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// parseEvery reads --reconcile-every: a duration of at least 1s.
func parseEvery(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, errors.New("want a duration of at least 1s, such as 15m")
	}
	return d, nil
}

// parseWindow reads a look-back window: a Go duration (72h) or whole days
// (3d), longer than zero. These are parseSince's relative forms; a window
// takes no date, time or "all".
func parseWindow(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err != nil || n < 1 {
			return 0, fmt.Errorf("%q: want a whole number of days such as 3d", v)
		}
	} else if d, err := time.ParseDuration(v); err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a duration such as 72h or 3d", v)
	}
	ref := time.Unix(0, 0).UTC()
	since, err := parseSince(v, ref)
	if err != nil {
		return 0, err
	}
	return ref.Sub(since), nil
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
func reconcileEvery(r *fulfillment.Reconciler, every, window time.Duration, wake chan<- struct{}, log *slog.Logger) task {
	return task{name: "reconcile", run: func(ctx context.Context) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			start := time.Now()
			sum, err := r.Run(ctx, start.Add(-window), false)
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, fulfillment.ErrUnauthorized):
				log.Error(stripeKeyProblem+"; periodic reconcile failed, next run at the next interval", "error", err, "every", every)
				continue
			case err != nil:
				log.Warn("periodic reconcile failed; next run at the next interval", "error", err, "every", every)
				continue
			}
			log.Info("periodic reconcile", "since", sum.Since, "events", sum.Events, "checked", sum.Checked,
				"missing", sum.Missing, "lagging", sum.Lagging, "enqueued", sum.Enqueued, "synthesized", sum.Synthesized,
				"in_flight", sum.InFlight, "dead_lettered", sum.DeadLettered, "duration_ms", time.Since(start).Milliseconds())
			if sum.Enqueued > 0 {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
	}}
}
