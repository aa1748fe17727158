package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
)

// BenchmarkWebhookAccept measures the receiver over real HTTP (verify the
// signature, make the event durable on the embedded broker, answer 200)
// beside its two reference points, at the same concurrency in the same run:
//
//   - bare: a net/http handler that only verifies the signature and decodes
//     the JSON (the receiver's ceiling without a broker);
//   - broker_publish: the embedded broker's own synchronous publish rate from
//     32 goroutines (the disk's floor when every write is fsynced).
//
// Reported: events per second. Issue 6's ratios: receiver/sync_2m ≥ 40 % of
// bare; receiver/sync_always ≥ 80 % of broker_publish/sync_always.
func BenchmarkWebhookAccept(b *testing.B) {
	const parallelism = 16 // × GOMAXPROCS 2 = 32 concurrent deliveries
	emu := stripeemu.New(stripeemu.Options{})
	if err := emu.GenerateSession("cs_bench", 3, true); err != nil {
		b.Fatal(err)
	}
	event := func(n int64) []byte {
		body, err := emu.Event(fmt.Sprintf("evt_bench_%d", n), fulfillment.EventSessionCompleted, "cs_bench", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		return body
	}
	verifier, _ := stripeevent.NewVerifier([]string{"whsec_bench"}, 0, nil)
	post := func(b *testing.B, h http.Handler) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		var seq atomic.Int64
		b.SetParallelism(parallelism)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				body := event(seq.Add(1))
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/stripe", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
				req.Header.Set("Stripe-Signature", stripeevent.Sign("whsec_bench", time.Now(), body))
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("HTTP %d", resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	}

	b.Run("bare", func(b *testing.B) {
		post(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, stripeevent.MaxBodyBytes))
			if err != nil || verifier.Verify(r.Header.Get("Stripe-Signature"), body) != nil {
				http.Error(w, "bad", http.StatusBadRequest)
				return
			}
			ev, err := stripeevent.ParseEnvelope(body)
			if err != nil {
				http.Error(w, "bad", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "accepted", "event_id": ev.ID})
		}))
	})
	for _, mode := range []struct {
		name string
		sync time.Duration
	}{{"sync_always", 0}, {"sync_2m", 2 * time.Minute}} {
		b.Run("receiver/"+mode.name, func(b *testing.B) {
			js := benchBroker(b, mode.sync)
			post(b, httpapi.NewHandler(httpapi.Deps{
				Log:      slog.New(slog.DiscardHandler),
				Webhooks: &httpapi.Webhooks{Verifier: verifier, Events: broker.NewPublisher(js)},
			}))
		})
		b.Run("broker_publish/"+mode.name, func(b *testing.B) {
			js := benchBroker(b, mode.sync)
			pub := broker.NewPublisher(js)
			var seq atomic.Int64
			b.SetParallelism(parallelism)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					if _, err := pub.Publish(context.Background(), fulfillment.EventSessionCompleted, fmt.Sprintf("evt_pub_%d", n), event(n)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// benchBroker is an embedded broker with the stream set up.
func benchBroker(b *testing.B, sync time.Duration) jetstream.JetStream {
	b.Helper()
	ns, err := broker.StartEmbedded(broker.EmbeddedOptions{StoreDir: b.TempDir(), SyncInterval: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := broker.ConnectEmbedded(ns, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := broker.Setup(context.Background(), js, broker.StreamConfig{Workers: 8}); err != nil {
		b.Fatal(err)
	}
	return js
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
		Tolerance: stripeevent.DefaultTolerance,
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
		req.Header.Set("Stripe-Signature", stripeevent.Sign("whsec_bench", t0, body))
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
