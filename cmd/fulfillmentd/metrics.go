package main

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// metrics is what /metrics exposes. Each process has its own registry (no
// package globals), so tests can run many instances side by side.
type metrics struct {
	reg *prometheus.Registry

	unauthorized *prometheus.CounterVec // newUnauthorized

	webhooks       *prometheus.CounterVec
	webhookSeconds prometheus.Histogram
	events         *prometheus.CounterVec
	eventSeconds   prometheus.Histogram
	stripeRequests *prometheus.CounterVec
	stripeSeconds  *prometheus.HistogramVec
	stripeAuth     *prometheus.CounterVec
	limiterWait    prometheus.Histogram
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		webhooks: counters("fulfillmentd_webhooks_total",
			"Stripe webhook deliveries by outcome: accepted, duplicate, ignored, expired, bad_signature, bad_request, too_large, unsupported_media_type, unavailable.", "outcome"),
		webhookSeconds: histogram("fulfillmentd_webhook_duration_seconds",
			"Time to verify a webhook and make it durable on the broker (accepted and duplicate deliveries).",
			[]float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 5}),
		events: counters("fulfillmentd_events_processed_total",
			"Events processed by the workers, by outcome: created, updated, unchanged, duplicate, no_session (a money event about a payment no Checkout Session made), untrusted, transient_error, permanent_error.", "outcome"),
		eventSeconds: histogram("fulfillmentd_event_processing_duration_seconds",
			"Time to process one event: Stripe calls and the SQLite commit.",
			prometheus.ExponentialBuckets(0.001, 2.5, 12)),
		stripeRequests: counters("fulfillmentd_stripe_requests_total",
			"Stripe API requests by endpoint and HTTP status (status \"error\": no answer).", "endpoint", "status"),
		stripeSeconds: histograms("fulfillmentd_stripe_request_duration_seconds",
			"Stripe API request latency by endpoint.",
			prometheus.ExponentialBuckets(0.01, 2, 12), "endpoint"),
		stripeAuth: counters("fulfillmentd_stripe_auth_errors_total",
			"Stripe API answers 401 (API key invalid or revoked) and 403 (key lacks a permission) by status: check STRIPE_SECRET_KEY. Alert on any increase.", "status"),
		limiterWait: histogram("fulfillmentd_stripe_rate_limiter_wait_seconds",
			"Time requests waited for the shared Stripe rate limiter (STRIPE_MAX_RPS).",
			prometheus.ExponentialBuckets(0.001, 3, 10)),
	}
	reg.MustRegister(m.webhooks, m.webhookSeconds, m.events, m.eventSeconds, m.stripeRequests, m.stripeSeconds, m.stripeAuth, m.limiterWait,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.unauthorized = newUnauthorized(reg)
	return m
}

// histogram, histograms and counters are the constructors of the metrics
// above: name, help, buckets or labels.
func histogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
}

func histograms(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
}

func counters(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// handler serves the registry in Prometheus' text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// webhook records one delivery's outcome; elapsed is set for deliveries that
// reached the broker.
func (m *metrics) webhook(outcome string, elapsed time.Duration) {
	m.webhooks.WithLabelValues(outcome).Inc()
	if elapsed > 0 {
		m.webhookSeconds.Observe(elapsed.Seconds())
	}
}

// event records one processed event.
func (m *metrics) event(outcome string, elapsed time.Duration) {
	m.events.WithLabelValues(outcome).Inc()
	m.eventSeconds.Observe(elapsed.Seconds())
}

// stripeTransport counts and times every Stripe API request, retries
// included, by endpoint and status.
func (m *metrics) stripeTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		endpoint := req.Method + " " + stripeevent.EndpointTemplate(req.URL.Path)
		start := time.Now()
		resp, err := next.RoundTrip(req)
		m.stripeSeconds.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		status := "error"
		if err == nil {
			status = strconv.Itoa(resp.StatusCode)
		}
		m.stripeRequests.WithLabelValues(endpoint, status).Inc()
		if err == nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			m.stripeAuth.WithLabelValues(status).Inc()
		}
		return resp, err
	})
}

// stripeClient returns hc (or stripe-go's usual client) with its transport
// instrumented.
func (m *metrics) stripeClient(hc *http.Client) *http.Client {
	c := &http.Client{Timeout: stripeapi.DefaultTimeout}
	if hc != nil {
		c = &http.Client{Timeout: hc.Timeout, Transport: hc.Transport}
	}
	c.Transport = m.stripeTransport(c.Transport)
	return c
}

// limiterWaited records how long a request waited for the shared limiter.
func (m *metrics) limiterWaited(d time.Duration) { m.limiterWait.Observe(d.Seconds()) }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// storeStats and consumerInfo are what the gauges read.
type storeStats interface {
	Stats(ctx context.Context) (store.Stats, error)
}

type consumerInfo interface {
	Info(ctx context.Context) (*jetstream.ConsumerInfo, error)
}

// gaugeTTL is how long one reading of the database and the consumer serves
// scrapes: however many scrape, at most one reading per gaugeTTL.
const gaugeTTL = 5 * time.Second

// gauges reads the database and the consumer for Prometheus: orders by
// status, dead letters, outbox and replay backlogs, consumer backlog. A
// reading serves every scrape for ttl; scrapes that come while one is taken
// wait for it and share it, so the read pool the workers use sees at most
// one reading per ttl.
type gauges struct {
	log      *slog.Logger
	db       storeStats   // nil in the receiver role
	consumer consumerInfo // nil in the receiver role
	ttl      time.Duration
	now      func() time.Time

	mu     sync.Mutex // held while reading
	readAt time.Time  // zero: never read
	stats  *store.Stats
	info   *jetstream.ConsumerInfo // nil: the last reading failed

	orders, deadLetters, outbox, replays, pending, ackPending, redelivered *prometheus.Desc
}

func newGauges(log *slog.Logger, db storeStats, consumer consumerInfo) *gauges {
	return &gauges{
		log: log, db: db, consumer: consumer, ttl: gaugeTTL, now: time.Now,
		orders:      prometheus.NewDesc("fulfillmentd_orders", "Orders by status.", []string{"status"}, nil),
		deadLetters: prometheus.NewDesc("fulfillmentd_dead_letters", "Events that could not become orders (see fulfillmentd dlq).", nil, nil),
		outbox:      prometheus.NewDesc("fulfillmentd_outbox_pending", "Order changes not yet published on the push feed.", nil, nil),
		replays:     prometheus.NewDesc("fulfillmentd_replays_pending", "Replays (dlq retry, reconcile) not yet published.", nil, nil),
		pending:     prometheus.NewDesc("fulfillmentd_consumer_pending", "Events on the stream not yet delivered to a worker.", nil, nil),
		ackPending:  prometheus.NewDesc("fulfillmentd_consumer_ack_pending", "Events delivered to workers and not yet acknowledged.", nil, nil),
		redelivered: prometheus.NewDesc("fulfillmentd_consumer_redelivered", "Events being redelivered after a failure.", nil, nil),
	}
}

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.orders, g.deadLetters, g.outbox, g.replays, g.pending, g.ackPending, g.redelivered} {
		ch <- d
	}
}

// reading returns the current reading, taking a new one when the last is
// ttl old (or the clock went back). A failed part is logged once per
// reading and left out until the next.
func (g *gauges) reading() (*store.Stats, *jetstream.ConsumerInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.readAt.IsZero() && now.Sub(g.readAt) < g.ttl && !now.Before(g.readAt) {
		return g.stats, g.info
	}
	g.readAt = now
	g.stats, g.info = nil, nil
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if g.db != nil {
		if s, err := g.db.Stats(ctx); err != nil {
			g.log.Warn("metrics: database stats", "err", err.Error())
		} else {
			g.stats = &s
		}
	}
	if g.consumer != nil {
		if info, err := g.consumer.Info(ctx); err != nil {
			g.log.Warn("metrics: consumer info", "err", err.Error())
		} else {
			g.info = info
		}
	}
	return g.stats, g.info
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	s, info := g.reading()
	if s != nil {
		for st, n := range s.OrdersByStatus {
			ch <- prometheus.MustNewConstMetric(g.orders, prometheus.GaugeValue, float64(n), string(st))
		}
		ch <- prometheus.MustNewConstMetric(g.deadLetters, prometheus.GaugeValue, float64(s.DeadLetters))
		ch <- prometheus.MustNewConstMetric(g.outbox, prometheus.GaugeValue, float64(s.OutboxPending))
		ch <- prometheus.MustNewConstMetric(g.replays, prometheus.GaugeValue, float64(s.ReplaysPending))
	}
	if info != nil {
		ch <- prometheus.MustNewConstMetric(g.pending, prometheus.GaugeValue, float64(info.NumPending))
		ch <- prometheus.MustNewConstMetric(g.ackPending, prometheus.GaugeValue, float64(info.NumAckPending))
		ch <- prometheus.MustNewConstMetric(g.redelivered, prometheus.GaugeValue, float64(info.NumRedelivered))
	}
}

// newUnauthorized is fulfillmentd_api_unauthorized_total{reason}: /v1
// requests refused for their bearer token (missing_token, unknown_token;
// forbidden: a warehouse token on the merchant API).
// Bad webhook signatures are fulfillmentd_webhooks_total{outcome="bad_signature"}.
func newUnauthorized(reg *prometheus.Registry) *prometheus.CounterVec {
	c := counters("fulfillmentd_api_unauthorized_total",
		"/v1 requests refused for their bearer token, by reason: missing_token, unknown_token, forbidden (a warehouse token on the merchant API).", "reason")
	reg.MustRegister(c)
	return c
}

// unauthorizedRequest counts one /v1 request refused for its token.
func (m *metrics) unauthorizedRequest(reason string) {
	m.unauthorized.WithLabelValues(reason).Inc()
}

// counterValues is each value of the counter family name by its label
// (the console's per-minute samples read the same counters as /metrics).
func (m *metrics) counterValues(name, label string) map[string]float64 {
	out := map[string]float64{}
	families, _ := m.reg.Gather() // a failing collector leaves its family out
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] += mt.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}
