package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// BenchmarkWarehouseWebhooks: the load-run figure of issue 13. Orders
// change in a real SQLite file (3 changes each: created, paid,
// acknowledged) while two endpoints receive them: "healthy", and "flaky",
// which fails about half its requests at random (its retries on the schedule
// 10,000 times faster, so they all land within the run). Reported:
// healthy deliveries/s, p50/p99 change→delivery latency on the healthy
// endpoint, and the flaky endpoint's deliveries/s; the run fails if
// anything is lost, failed or out of order (the receivers check every
// request with the Standard Webhooks library).
//
//	paced: 100 orders/s (300 changes/s, about 10× Stripe's ceiling of
//	~25 orders/s per account); burst: as fast as the store writes;
//	drain: the orders are written first (each order's newest change
//	supersedes the older two), then the dispatcher starts: its own rate.
func BenchmarkWarehouseWebhooks(b *testing.B) {
	for _, bc := range []struct {
		name  string
		every time.Duration
		drain bool
	}{{"paced_100_orders_per_s", 10 * time.Millisecond, false}, {"burst", 0, false}, {"drain", 0, true}} {
		b.Run(bc.name, func(b *testing.B) {
			db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "fulfillment.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			healthy := newHookReceiver(b, "healthy", hookSecret("h"), nil)
			// Half of its requests fail: each attempt at random, the 5th of a
			// delivery never (or a few of 8,000 would fail 8 times in a row).
			flaky := newHookReceiver(b, "flaky", hookSecret("f"), func(_ string, attempt int) bool { return attempt < 4 && rand.IntN(2) == 0 })
			eps := []fulfillment.WebhookEndpoint{
				endpoint(b, "healthy", healthy.srv.URL, hookSecret("h")),
				endpoint(b, "flaky", flaky.srv.URL, hookSecret("f")),
			}
			if err := db.InitWebhookCursors(context.Background(), []string{"healthy", "flaky"}); err != nil {
				b.Fatal(err)
			}
			if !bc.drain {
				runDispatcher(b, db, eps, fastSchedule(), nil)
			}
			b.ResetTimer()
			start := time.Now()
			var ids []string
			for i := range b.N {
				if bc.every > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(i) * bc.every)))
				}
				ids = append(ids, changeOrders(b, db, fmt.Sprintf("bench%d", i), 1)...)
			}
			if bc.drain {
				start = time.Now()
				runDispatcher(b, db, eps, fastSchedule(), nil)
			}
			by := waitDeliveries(b, db, 5*time.Minute)
			b.StopTimer()
			if by[fulfillment.DeliveryFailed] > 0 || by[fulfillment.DeliveryPending] > 0 {
				b.Fatalf("deliveries by state: %v", by)
			}
			var lat []time.Duration
			for _, r := range []*hookReceiver{healthy, flaky} {
				got, problems := r.delivered()
				for _, p := range problems {
					b.Errorf("%s: %s", r.name, p)
				}
				latest := r.latest()
				for _, id := range ids {
					var o fulfillment.Order
					if json.Unmarshal(latest[id].data, &o) != nil || o.Status != fulfillment.StatusInFulfillment {
						b.Errorf("%s: latest change of %s not delivered", r.name, id)
					}
				}
				if r == healthy {
					for _, g := range got {
						var o fulfillment.Order
						_ = json.Unmarshal(g.data, &o)
						lat = append(lat, g.at.Sub(o.UpdatedAt))
					}
				}
				var end time.Time // the endpoint's last 2xx
				for _, g := range got {
					if g.at.After(end) {
						end = g.at
					}
				}
				b.ReportMetric(float64(len(got))/end.Sub(start).Seconds(), r.name+"_deliveries/s")
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "healthy_p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "healthy_p99_ms")
			flakyGot, _ := flaky.delivered()
			b.ReportMetric(1-float64(len(flakyGot))/float64(flaky.requests.Load()), "flaky_failed_share")
			b.ReportMetric(float64(by[fulfillment.DeliverySuperseded]), "superseded")
		})
	}
}
