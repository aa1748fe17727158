package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/webhook"
	"github.com/fulfillmentd/fulfillmentd/worker"
)

// BenchmarkWebhookAccept measures the receiver over real HTTP: verify the
// signature, make the event durable on the embedded broker, answer 200.
// Reported: accepted events per second, at fsync-every-write (the default)
// and at a 2 minute sync interval.
func BenchmarkWebhookAccept(b *testing.B) {
	for _, mode := range []struct {
		name string
		sync time.Duration
	}{{"sync_always", 0}, {"sync_2m", 2 * time.Minute}} {
		b.Run(mode.name, func(b *testing.B) {
			ns, err := worker.StartEmbedded(worker.EmbeddedOptions{StoreDir: b.TempDir(), SyncInterval: mode.sync})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
			nc, err := worker.ConnectEmbedded(ns, "bench")
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			if _, err := worker.Setup(context.Background(), js, worker.StreamConfig{Workers: 8}); err != nil {
				b.Fatal(err)
			}
			verifier, _ := webhook.NewVerifier([]string{"whsec_bench"}, 0, nil)
			srv := httptest.NewServer(handleStripeWebhook(slog.New(slog.DiscardHandler), verifier, worker.NewPublisher(js), nil))
			defer srv.Close()
			emu := stripeemu.New(stripeemu.Options{})
			if err := emu.GenerateSession("cs_bench", 3, true); err != nil {
				b.Fatal(err)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var seq atomic.Int64
			b.SetParallelism(16) // 32 concurrent deliveries on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					body, err := emu.Event(fmt.Sprintf("evt_bench_%d", seq.Add(1)), fulfillment.EventSessionCompleted, "cs_bench", time.Now())
					if err != nil {
						b.Error(err)
						return
					}
					req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
					req.Header.Set("Stripe-Signature", webhook.Sign("whsec_bench", time.Now(), body))
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("HTTP %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "accepted/s")
		})
	}
}

// BenchmarkWebhookToOrder measures one event at a time from the delivery to
// the committed order: receiver, broker, worker, Stripe emulator (over HTTP
// with stripe-go), SQLite with synchronous=FULL. Reported: p50 and p99.
func BenchmarkWebhookToOrder(b *testing.B) {
	emu := stripeemu.New(stripeemu.Options{})
	stripeSrv := httptest.NewServer(emu)
	defer stripeSrv.Close()
	dir := b.TempDir()
	cfg := config{
		StripeSecretKey: "sk_test_bench", WebhookSecrets: []string{"whsec_bench"}, StripeAPIBase: stripeSrv.URL,
		DataDir: filepath.Join(dir, "data"), Addr: "127.0.0.1:0", Workers: 8, StripeMaxRPS: 10000,
		Tolerance: webhook.DefaultTolerance,
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, func(u string) { urls <- u }) }()
	url := <-urls + "/webhooks/stripe"
	defer func() { cancel(); <-done }()

	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("cs_bench_%06d", i)
		if err := emu.GenerateSession(ids[i], 5, true); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i, id := range ids {
		body, _ := emu.Event(fmt.Sprintf("evt_bench_%06d", i), fulfillment.EventSessionCompleted, id, time.Now())
		t0 := time.Now()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", webhook.Sign("whsec_bench", t0, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("deliver: %v %v", err, resp)
		}
		resp.Body.Close()
		for {
			if _, err := a.db.OrderBySession(ctx, id); err == nil {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}
