package main

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
	"github.com/fulfillmentd/fulfillmentd/worker/warehousehook"
)

// TestFaultKillWebhooks SIGKILLs serve while it sends warehouse webhooks:
// orders are created by Stripe events, then acknowledged through the API,
// with kills spread over both phases. Every order's latest change reaches
// both endpoints (verified with the Standard Webhooks library), no change
// comes after a newer one of the same order, nothing is pending or failed
// at the end, and the re-sends (a 2xx'd webhook-id again) are no more than
// what could have been in flight at the kills.
func TestFaultKillWebhooks(t *testing.T) {
	t.Parallel()
	var (
		nEvents = faultSize(120, 2000)
		kills   = faultSize(4, 12)
		items   = 2
	)
	emu, stripeSrv := newEmulator(t)
	events, sessions := generatedEvents(t, emu, "hookkill", nEvents, items)
	env := serviceEnv(t, stripeSrv.URL)
	env["STRIPE_MAX_RPS"] = "2000"
	env["FULFILLMENT_ACK_WAIT"] = "5s"
	wms := newHookReceiver(t, "wms", hookSecret("wms"), nil)
	tpl := newHookReceiver(t, "3pl", hookSecret("3pl"), nil)
	env["FULFILLMENT_WAREHOUSE_WEBHOOKS"] = hooksFile(t,
		map[string]any{"name": "wms", "url": wms.srv.URL, "secret": hookSecret("wms")},
		map[string]any{"name": "3pl", "url": tpl.srv.URL, "secret": hookSecret("3pl"), "statuses": []string{"in_fulfillment"}})
	dbPath := filepath.Join(env["FULFILLMENT_DATA_DIR"], "fulfillment.db")

	var (
		mu   sync.Mutex
		cur  *proc
		url  atomic.Value
		gens []*proc
	)
	start := func() {
		p, u := startServeProc(t, "fulfillmentd-"+string(rune('a'+len(gens))), env)
		mu.Lock()
		cur, gens = p, append(gens, p)
		mu.Unlock()
		url.Store(u)
	}
	start()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(faultSize(180, 1200))*time.Second)
	defer cancel()

	// Progress: events answered 2xx, then orders acknowledged; kills at
	// evenly spread points of both.
	var progress atomic.Int64
	killed := make(chan int, 1)
	go func() {
		n := 0
		defer func() { killed <- n }()
		for k := range kills {
			th := int64((k + 1) * 2 * nEvents / (kills + 1))
			for progress.Load() < th && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			if ctx.Err() != nil {
				return
			}
			time.Sleep(rand.N(30 * time.Millisecond))
			mu.Lock()
			p := cur
			mu.Unlock()
			p.kill()
			n++
			start()
		}
	}()

	sender := newStripeSender(func() string { return url.Load().(string) }, "whsec_new_e2e")
	if ok, err := sender.burst(ctx, events, 16, 0.05, func(int) { progress.Add(1) }); err != nil {
		t.Fatalf("burst: %d/%d events got a 2xx: %v", ok, nEvents, err)
	}
	if l := waitOrders(t, dbPath, sessions, 120*time.Second); len(l.orders) != nEvents {
		t.Fatalf("%d orders of %d", len(l.orders), nEvents)
	}
	// The warehouse acknowledges every order, through restarts.
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(sessions) || ctx.Err() != nil {
					return
				}
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url.Load().(string)+"/v1/orders/"+sessions[i]+"/acknowledge", nil)
					req.Header.Set("Authorization", "Bearer e2e-token-0123456789abcdef")
					resp, err := client.Do(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							break
						}
					}
					time.Sleep(20 * time.Millisecond)
				}
				progress.Add(1)
			}
		})
	}
	wg.Wait()
	nKills := <-killed

	// Settle: every change fanned out and delivered.
	ro, err := store.OpenReadOnly(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	deadline := time.Now().Add(time.Duration(faultSize(60, 300)) * time.Second)
	var by map[string]map[fulfillment.DeliveryState]int
	for {
		ds, err := ro.Deliveries(ctx, store.DeliveryFilter{Limit: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		by = map[string]map[fulfillment.DeliveryState]int{"wms": {}, "3pl": {}}
		for _, d := range ds {
			by[d.Endpoint][d.State]++
		}
		done := func(name string, want int) bool {
			return by[name][fulfillment.DeliveryPending] == 0 && by[name][fulfillment.DeliveryDelivered]+by[name][fulfillment.DeliverySuperseded]+by[name][fulfillment.DeliveryFailed] == want
		}
		if done("wms", 2*nEvents) && done("3pl", nEvents) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries did not settle: %v", by)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	last := cur
	mu.Unlock()
	if err := last.stop(30 * time.Second); err != nil {
		t.Logf("last fulfillmentd did not exit cleanly: %v", err)
	}

	bound := nKills * warehousehook.DefaultConcurrency // per endpoint: at most the requests in flight at each kill
	for _, r := range []*hookReceiver{wms, tpl} {
		got, problems := r.delivered()
		for _, p := range problems {
			t.Errorf("%s: %s", r.name, p)
		}
		seen := map[string]int{}
		resent := 0
		for _, g := range got {
			if seen[g.id]++; seen[g.id] > 1 {
				resent++
			}
		}
		lost := 0
		latest := r.latest()
		for _, s := range sessions {
			var o fulfillment.Order
			if json.Unmarshal(latest[fulfillment.OrderID(s)].data, &o) != nil || o.Status != fulfillment.StatusInFulfillment {
				lost++
			}
		}
		t.Logf("SIGKILL webhook figures (%s): orders=%d changes=%d kills=%d requests=%d delivered_2xx=%d distinct=%d resent=%d (bound %d) lost=%d states=%v",
			r.name, nEvents, map[string]int{"wms": 2 * nEvents, "3pl": nEvents}[r.name], nKills, r.requests.Load(), len(got), len(seen), resent, bound, lost, by[r.name])
		if lost > 0 {
			t.Errorf("%s: %d orders' latest change never delivered", r.name, lost)
		}
		if resent > bound {
			t.Errorf("%s: %d re-sends after %d kills: more than was in flight (%d)", r.name, resent, nKills, bound)
		}
		if by[r.name][fulfillment.DeliveryFailed] > 0 {
			t.Errorf("%s: %d failed deliveries", r.name, by[r.name][fulfillment.DeliveryFailed])
		}
	}
	if nKills != kills {
		t.Errorf("killed %d times, want %d", nKills, kills)
	}
}
