package main

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// console is the operator console of a worker process (README "Console"),
// nil without admin tokens (then /console/ is 404). Its sessions are
// signed with a key derived from the database's signing key and the admin
// tokens: every worker process on the database shares it, and changing
// the admin tokens signs everyone out. It runs its per-minute sampler as
// one of the process's tasks.
func (a *app) console(cfg config, dbKey []byte, g *gauges, reconciled *lastReconcile) *httpapi.Console {
	if len(cfg.AdminTokens) == 0 {
		return nil
	}
	mac := hmac.New(sha256.New, dbKey)
	mac.Write([]byte("fulfillmentd console sessions"))
	for _, t := range cfg.AdminTokens {
		mac.Write([]byte{0})
		mac.Write([]byte(t.Name + ":" + t.Token))
	}
	samples := httpapi.NewSamples(func() httpapi.Reading {
		r := httpapi.Reading{
			Webhooks:   a.metrics.counterValues("fulfillmentd_webhooks_total", "outcome"),
			Events:     a.metrics.counterValues("fulfillmentd_events_processed_total", "outcome"),
			Stripe429:  float64(a.stripe.RateLimited()),
			StripeRate: a.stripe.Rate(),
		}
		if _, info := g.reading(); info != nil {
			r.Backlog = float64(info.NumPending + uint64(info.NumAckPending))
		}
		return r
	})
	a.tasks = append(a.tasks, task{name: "console samples", run: samples.Run})
	c := &httpapi.Console{
		Admins:      httpapi.MatchToken(cfg.AdminTokens),
		Key:         mac.Sum(nil),
		Orders:      a.db,
		DeadLetters: a.db,
		Health:      consoleHealth(a.db, g, a, cfg, reconciled),
		Samples:     samples,
		ReplayNote:  replayNote,
	}
	if len(cfg.WarehouseHooks) > 0 {
		c.Deliveries = consoleDeliveries{db: a.db, now: time.Now}
	}
	if len(cfg.CrossSells) > 0 {
		cs := cfg.CrossSells
		c.CrossSells = &httpapi.ConsoleCrossSells{
			Pairs: cs.Pairs(),
			Report: func(ctx context.Context, window string) (httpapi.CrossSellReport, error) {
				until := time.Now().UTC()
				since, stats, err := crossSellReport(ctx, a.db, cs.Pairs(), window, until)
				return httpapi.CrossSellReport{Since: since, Until: until, Stats: stats}, err
			},
			// The serve process's own client: its calls wait for the
			// limiter the workers share.
			Check: func(ctx context.Context, automaticTax bool) ([]fulfillment.Eligibility, error) {
				out, err := checkCrossSells(ctx, a.stripe, cs, automaticTax)
				return out.Pairs, explainStripeKey(err)
			},
		}
	}
	return c
}

// consoleHealth reads the overview's figures: the database's counts, the
// consumer's backlog from the gauges' reading (shared with /metrics, at
// most one per gaugeTTL), the Stripe client's pace, the oldest order
// awaiting payment and the last periodic reconcile.
func consoleHealth(db *store.DB, g *gauges, a *app, cfg config, reconciled *lastReconcile) func(context.Context) (httpapi.Health, error) {
	return func(ctx context.Context) (httpapi.Health, error) {
		h := httpapi.Health{StripeRate: a.stripe.Rate(), StripeCeiling: cfg.StripeMaxRPS, Stripe429: a.stripe.RateLimited(),
			ReconcileEvery: cfg.ReconcileEvery, LastReconcile: reconciled.get()}
		// The database now (a few rows: order_status_counts and partial
		// indexes); the consumer as the gauges last read it (gaugeTTL).
		stats, err := db.Stats(ctx)
		if err != nil {
			return h, err
		}
		_, info := g.reading()
		h.OrdersByStatus, h.DeadLetters = stats.OrdersByStatus, stats.DeadLetters
		h.ReplaysPending, h.OutboxPending = stats.ReplaysPending, stats.OutboxPending
		if info != nil {
			h.Backlog = &httpapi.Backlog{Pending: info.NumPending, AckPending: uint64(info.NumAckPending), Redelivered: uint64(info.NumRedelivered)}
		}
		oldest, ok, err := db.OldestAwaitingPayment(ctx)
		if err != nil {
			return h, err
		}
		if ok {
			h.OldestAwaiting = &oldest
		}
		return h, nil
	}
}

// lastReconcile is the last periodic reconcile run of this process.
type lastReconcile struct {
	mu  sync.Mutex
	run *httpapi.ReconcileRun
}

func (l *lastReconcile) set(r httpapi.ReconcileRun) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.run = &r
}

func (l *lastReconcile) get() *httpapi.ReconcileRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.run
}

// consoleDeliveries is the console's deliveries page on the warehouse
// webhooks' deliveries: the store's list and retry, as `fulfillmentd
// deliveries list|retry` use them.
type consoleDeliveries struct {
	db  *store.DB
	now func() time.Time
}

// consoleDeliveriesShown bounds each state's list on the page.
const consoleDeliveriesShown = 500

func (c consoleDeliveries) FailedAndPending(ctx context.Context) ([]httpapi.Delivery, error) {
	var out []httpapi.Delivery
	for _, st := range []fulfillment.DeliveryState{fulfillment.DeliveryFailed, fulfillment.DeliveryPending} {
		ds, err := c.db.Deliveries(ctx, store.DeliveryFilter{State: st, Limit: consoleDeliveriesShown})
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			out = append(out, httpapi.Delivery{ID: d.ID, Endpoint: d.Endpoint, OrderID: d.OrderID, Type: d.Type,
				State: string(d.State), Attempts: d.Attempts, NextAt: d.NextAt, LastAt: d.LastAt, LastError: d.LastError})
		}
	}
	slices.SortStableFunc(out, func(a, b httpapi.Delivery) int { return cmp.Compare(a.Endpoint, b.Endpoint) })
	return out, nil
}

func (c consoleDeliveries) Retry(ctx context.Context, id int64) (string, error) {
	d, why, err := c.db.RetryDelivery(ctx, id, c.now())
	switch {
	case err != nil:
		return "", err
	case why != "":
		return fmt.Sprintf("Delivery %d (%s to %s) was not retried: %s.", id, d.ChangeID, d.Endpoint, why), nil
	}
	return fmt.Sprintf("Delivery %d (%s to %s) is pending again.", id, d.ChangeID, d.Endpoint), nil
}

// The store serves what the console needs of it.
var (
	_ httpapi.ConsoleOrders      = (*store.DB)(nil)
	_ httpapi.ConsoleDeadLetters = (*store.DB)(nil)
)
