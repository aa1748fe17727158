package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
	"github.com/fulfillmentd/fulfillmentd/worker/warehousehook"
)

// Warehouse webhooks (FULFILLMENT_WAREHOUSE_WEBHOOKS): the wiring of the
// warehousehook dispatcher to the store, the outbox signal and metrics.

var _ fulfillment.DeliveryStore = (*store.DB)(nil)

func parseWarehouseHooks(c *config, v string) error {
	data, err := os.ReadFile(v)
	if err != nil {
		return err
	}
	eps, err := fulfillment.ParseWebhookEndpoints(data)
	if err != nil {
		return err
	}
	c.WarehouseHooks = eps
	return nil
}

// startWarehouseHooks prepares the endpoints' cursors (before any order
// changes) and returns the dispatcher's task and the outbox signal left
// for the push-feed relay; with no endpoints it returns outbox as it is.
func (a *app) startWarehouseHooks(ctx context.Context, eps []fulfillment.WebhookEndpoint, outbox <-chan struct{}) (<-chan struct{}, error) {
	names := make([]string, len(eps))
	for i, e := range eps {
		names[i] = e.Name
	}
	if err := a.db.InitWebhookCursors(ctx, names); err != nil {
		return nil, err
	}
	if len(eps) == 0 {
		return outbox, nil
	}
	m := newDeliveryMetrics(a.log, a.db, names)
	a.metrics.reg.MustRegister(m)
	relay, hooks := make(chan struct{}, 1), make(chan struct{}, 1)
	d := &warehousehook.Dispatcher{Store: a.db, Endpoints: eps, Wake: hooks, Observe: m.observe, Log: a.log}
	a.tasks = append(a.tasks,
		task{name: "outbox signal", run: func(ctx context.Context) error { teeSignal(ctx, outbox, relay, hooks); return nil }},
		task{name: "warehouse webhooks", run: d.Run})
	return relay, nil
}

// teeSignal passes each signal of in to every one of outs (coalescing,
// as the store's signal does) until ctx ends.
func teeSignal(ctx context.Context, in <-chan struct{}, outs ...chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-in:
			for _, o := range outs {
				select {
				case o <- struct{}{}:
				default:
				}
			}
		}
	}
}

// deliveryMetrics are the warehouse webhooks' metrics: attempts by
// endpoint and outcome, change→delivery latency, and the backlog read from
// the store at each scrape.
type deliveryMetrics struct {
	log       *slog.Logger
	db        *store.DB
	endpoints []string
	attempts  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	pending   *prometheus.Desc
	oldest    *prometheus.Desc
}

func newDeliveryMetrics(log *slog.Logger, db *store.DB, endpoints []string) *deliveryMetrics {
	return &deliveryMetrics{
		log: log, db: db, endpoints: endpoints,
		attempts: counters("fulfillmentd_warehouse_webhook_deliveries_total",
			"Warehouse webhook deliveries by endpoint and outcome: delivered (a 2xx), retry (an attempt failed, tried again later), failed (no attempts left), superseded (a newer change of the order came while pending).", "endpoint", "outcome"),
		latency: histograms("fulfillmentd_warehouse_webhook_delivery_latency_seconds",
			"Time from an order change to its endpoint's 2xx, retries included.",
			[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 300, 3600, 6 * 3600, 24 * 3600}, "endpoint"),
		pending: prometheus.NewDesc("fulfillmentd_warehouse_webhook_backlog",
			"Warehouse webhook deliveries pending (waiting for an attempt or being sent), by endpoint.", []string{"endpoint"}, nil),
		oldest: prometheus.NewDesc("fulfillmentd_warehouse_webhook_oldest_pending_seconds",
			"Age of the oldest pending delivery's order change, by endpoint; 0 when none is pending.", []string{"endpoint"}, nil),
	}
}

func (m *deliveryMetrics) observe(r warehousehook.Result) {
	m.attempts.WithLabelValues(r.Endpoint, r.Outcome).Inc()
	if r.Outcome == "delivered" {
		m.latency.WithLabelValues(r.Endpoint).Observe(r.Latency.Seconds())
	}
}

func (m *deliveryMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.attempts.Describe(ch)
	m.latency.Describe(ch)
	ch <- m.pending
	ch <- m.oldest
}

func (m *deliveryMetrics) Collect(ch chan<- prometheus.Metric) {
	m.attempts.Collect(ch)
	m.latency.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	backlogs, err := m.db.DeliveryBacklogs(ctx)
	if err != nil {
		m.log.Warn("metrics: delivery backlog", "err", err.Error())
		return
	}
	byName := make(map[string]store.DeliveryBacklog, len(backlogs))
	for _, b := range backlogs {
		byName[b.Endpoint] = b
	}
	now := time.Now()
	for _, e := range m.endpoints {
		b := byName[e]
		age := 0.0
		if b.Pending > 0 {
			age = max(0, now.Sub(b.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(b.Pending), e)
		ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, age, e)
	}
}

// deliveryMetrics is a prometheus.Collector.
var _ prometheus.Collector = (*deliveryMetrics)(nil)
