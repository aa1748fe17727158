package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/store"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

// TestMetrics scrapes /metrics of a running service after known traffic and
// checks each family the operators rely on moved by the right amount.
func TestMetrics(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	svc := startService(t, serviceEnv(t, stripeSrv.URL))
	svc.token = "e2e-token-0123456789abcdef"

	now := time.Now()
	body, err := emu.Event("evt_metrics_1", fulfillment.EventSessionCompleted, "cs_test_crosssell", now)
	if err != nil {
		t.Fatal(err)
	}
	sig := func() string { return stripeevent.Sign("whsec_new_e2e", time.Now(), body) }
	for _, want := range []int{200, 200} { // accepted, then duplicate
		if code := svc.deliver(t, body, sig()); code != want {
			t.Fatalf("delivery: HTTP %d", code)
		}
	}
	if code := svc.deliver(t, body, stripeevent.Sign("whsec_wrong", now, body)); code != http.StatusBadRequest {
		t.Fatalf("forged: HTTP %d", code)
	}
	waitOrder(t, svc, "cs_test_crosssell", fulfillment.StatusReadyToShip)

	resp, err := http.Get(svc.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	text := string(raw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	tests := []struct {
		series string // name{labels} as exposed
		min    float64
	}{
		{`fulfillmentd_webhooks_total{outcome="accepted"}`, 1},
		{`fulfillmentd_webhooks_total{outcome="duplicate"}`, 1},
		{`fulfillmentd_webhooks_total{outcome="bad_signature"}`, 1},
		{`fulfillmentd_webhook_duration_seconds_count`, 2},
		{`fulfillmentd_events_processed_total{outcome="created"}`, 1},
		{`fulfillmentd_event_processing_duration_seconds_count`, 1},
		{`fulfillmentd_stripe_requests_total{endpoint="GET /v1/checkout/sessions/{cs}/line_items",status="200"}`, 1},
		{`fulfillmentd_stripe_request_duration_seconds_count{endpoint="GET /v1/checkout/sessions/{cs}/line_items"}`, 1},
		{`fulfillmentd_stripe_rate_limiter_wait_seconds_count`, 1},
		{`fulfillmentd_orders{status="ready_to_ship"}`, 1},
		{`fulfillmentd_dead_letters`, 0},
		{`fulfillmentd_outbox_pending`, 0},
		{`fulfillmentd_consumer_pending`, 0},
		{`fulfillmentd_consumer_ack_pending`, 0},
		{`go_goroutines`, 1},
	}
	for _, tt := range tests {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(tt.series) + ` (\S+)$`).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s missing from /metrics", tt.series)
			continue
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || v < tt.min {
			t.Errorf("%s = %s, want ≥ %v", tt.series, m[1], tt.min)
		}
	}
}

// counted counts the readings the gauges take of a real database and a real
// consumer.
type counted struct {
	db       *store.DB
	consumer jetstream.Consumer
	stats    atomic.Int64
	infos    atomic.Int64
}

func (c *counted) Stats(ctx context.Context) (store.Stats, error) {
	c.stats.Add(1)
	return c.db.Stats(ctx)
}

func (c *counted) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	c.infos.Add(1)
	return c.consumer.Info(ctx)
}

// TestGaugesReadOncePerTTL: however many scrapes come at once, the database
// and the consumer are read at most once per gaugeTTL (clock injected), and
// a reading shows what the database held when it was taken.
func TestGaugesReadOncePerTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	js := natstest.NewEnv(t, broker.StreamConfig{Workers: 2}).JS
	consumer, err := broker.Setup(ctx, js, broker.StreamConfig{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	src := &counted{db: db, consumer: consumer}
	var clock atomic.Int64 // nanoseconds since start
	start := time.Unix(1_800_000_000, 0)
	g := newGauges(slog.New(slog.DiscardHandler), src, src)
	g.now = func() time.Time { return start.Add(time.Duration(clock.Load())) }
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)

	deadLetters := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "fulfillmentd_dead_letters" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("fulfillmentd_dead_letters missing")
		return 0
	}
	scrapes := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	tests := []struct {
		advance   time.Duration
		newDead   bool // a dead letter recorded before the scrapes
		readings  int64
		wantDeads float64
	}{
		{advance: 0, readings: 1, wantDeads: 0},
		{advance: gaugeTTL - time.Nanosecond, newDead: true, readings: 1, wantDeads: 0}, // still the first reading
		{advance: time.Nanosecond, readings: 2, wantDeads: 1},
		{advance: 3 * gaugeTTL, newDead: true, readings: 3, wantDeads: 2},
		{advance: -time.Hour, readings: 4, wantDeads: 2}, // the clock went back: read again
	}
	for i, tt := range tests {
		clock.Add(int64(tt.advance))
		if tt.newDead {
			if err := db.RecordDeadLetter(ctx, fulfillment.DeadLetter{EventID: fmt.Sprintf("evt_gauge_%d", i), LastFailedAt: start}); err != nil {
				t.Fatal(err)
			}
		}
		scrapes(50)
		if got := deadLetters(); got != tt.wantDeads {
			t.Errorf("step %d: fulfillmentd_dead_letters = %v, want %v", i, got, tt.wantDeads)
		}
		if s, c := src.stats.Load(), src.infos.Load(); s != tt.readings || c != tt.readings {
			t.Errorf("step %d: %d database and %d consumer readings after this step's 51 scrapes, want %d in all of each", i, s, c, tt.readings)
		}
	}
}
