package main

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFaultKill SIGKILLs fulfillmentd (a child process with embedded NATS
// and SQLite in one data dir) several times during a burst of signed
// deliveries and restarts it on the same data dir, while a sender retries
// every non-2xx and every connection error with a new signature, as Stripe
// does, and sends some events twice. Every event that got a 2xx must become
// exactly one order with its line items once, none twice.
//
// Reduced: 240 events, 3 kills. FULFILLMENT_FAULTS=full: 3000 events, 12 kills.
func TestFaultKill(t *testing.T) {
	t.Parallel()
	var (
		nEvents = faultSize(240, 3000)
		kills   = faultSize(3, 12)
		items   = 3
	)
	emu, stripeSrv := newEmulator(t)
	events, sessions := generatedEvents(t, emu, "kill", nEvents, items)
	env := serviceEnv(t, stripeSrv.URL)
	env["STRIPE_MAX_RPS"] = "2000"
	env["FULFILLMENT_LOG_LEVEL"] = "warn"
	// Events a killed process had taken come back after the ack wait.
	env["FULFILLMENT_ACK_WAIT"] = "5s"
	dataDir := env["FULFILLMENT_DATA_DIR"]

	var (
		mu   sync.Mutex
		cur  *proc
		url  atomic.Value // string: the endpoint Stripe posts to right now
		gens []*proc
	)
	start := func() {
		p, u := startServeProc(t, "fulfillmentd-"+string(rune('a'+len(gens))), env)
		mu.Lock()
		cur = p
		gens = append(gens, p)
		mu.Unlock()
		url.Store(u)
	}
	start()

	sender := newStripeSender(func() string { return url.Load().(string) }, "whsec_new_e2e")
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(faultSize(120, 1200))*time.Second)
	defer cancel()

	// Kill at evenly spread points of the burst, each a little after the
	// threshold so that it lands among publishes and handlers alike.
	var acked atomic.Int64
	ackedSessions := make([]bool, nEvents)
	killed := make(chan int, 1)
	thresholds := make(chan int64, kills)
	for k := range kills {
		thresholds <- int64((k + 1) * nEvents / (kills + 1))
	}
	close(thresholds)
	go func() {
		n := 0
		defer func() { killed <- n }() // also when a restart fails the test
		for th := range thresholds {
			for acked.Load() < th && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			if ctx.Err() != nil {
				break
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

	ok, err := sender.burst(ctx, events, 16, 0.1, func(i int) {
		mu.Lock()
		ackedSessions[i] = true
		mu.Unlock()
		acked.Add(1)
	})
	if err != nil {
		t.Fatalf("burst: %d/%d events got a 2xx: %v", ok, nEvents, err)
	}
	nKills := <-killed

	dbPath := filepath.Join(dataDir, "fulfillment.db")
	ackedIDs, l, lost, dups := settleAfterKills(t, dbPath, sessions, ackedSessions, &mu, func() *proc { return cur }, items,
		time.Duration(faultSize(60, 300))*time.Second)
	t.Logf("SIGKILL figures: events=%d delivered(2xx)=%d deliveries=%d non_2xx=%d conn_errors=%d codes=%v kills=%d orders=%d duplicates=%d lost=%d dead_letters=%d",
		nEvents, len(ackedIDs), sender.attempts.Load(), sender.non2xx.Load(), sender.connErrs.Load(), sender.codeCounts(),
		nKills, len(l.orders), dups, lost, len(l.dead))
	if nKills != kills {
		t.Errorf("killed %d times, want %d", nKills, kills)
	}
	l.mustBeExactlyOnce(t, lost, dups, items, gens)
}
