package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
)

// TestFaultStripe runs fulfillmentd against a Stripe emulator that answers
// a share of requests with 500s and 429s, hangs others until the client's
// timeout, and slows others down. Besides the events of real sessions, some
// events name sessions Stripe does not know (404: a permanent error). Every
// real session's order is recorded exactly once; dead letters hold exactly
// the events whose error is permanent.
//
// Reduced: 100 sessions + 4 unknown. Full: 1000 sessions + 20 unknown, twice the fault rates.
func TestFaultStripe(t *testing.T) {
	t.Parallel()
	var (
		nGood = faultSize(100, 1000)
		nGone = faultSize(4, 20)
		scale = float64(faultSize(1, 2))
	)
	emu, stripeSrv := newEmulator(t)
	events, sessions := generatedEvents(t, emu, "flaky", nGood, 2)
	var goneIDs []string
	for i := range nGone {
		id := fmt.Sprintf("evt_gone_%03d", i)
		events = append(events, unknownSessionEvent(id, fmt.Sprintf("cs_test_gone_%03d", i)))
		goneIDs = append(goneIDs, id)
	}
	faults := stripeemu.Faults{
		Seed:       5,
		Error5xx:   0.10 * scale,
		RateLimit:  0.05 * scale,
		Hang:       0.03 * scale,
		Slow:       0.10 * scale,
		SlowBy:     200 * time.Millisecond,
		PathPrefix: "/v1/checkout/sessions",
	}
	if err := emu.SetFaults(faults); err != nil {
		t.Fatal(err)
	}

	env := serviceEnv(t, stripeSrv.URL)
	env["STRIPE_TIMEOUT"] = "1s" // a hung request fails after 1 s
	env["STRIPE_MAX_RPS"] = "200"
	svc := startService(t, env)
	dbPath := filepath.Join(env["FULFILLMENT_DATA_DIR"], "fulfillment.db")

	sender := newStripeSender(func() string { return svc.url }, "whsec_new_e2e")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if ok, err := sender.burst(ctx, events, 8, 0.05, nil); err != nil {
		t.Fatalf("burst: %d/%d got a 2xx: %v", ok, len(events), err)
	}

	deadline := time.Now().Add(time.Duration(faultSize(90, 600)) * time.Second)
	var l ledger
	for {
		l = waitOrders(t, dbPath, sessions, time.Until(deadline))
		if len(l.dead) >= nGone || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	lost, dups := l.tally(sessions, 2)
	got := emu.Faults()
	var dead []string
	for id := range l.dead {
		dead = append(dead, id)
	}
	sort.Strings(dead)
	t.Logf("stripe-fault figures: events=%d (unknown sessions %d) stripe_requests=%d injected=%+v orders=%d duplicates=%d lost=%d dead_letters=%d",
		len(events), nGone, emu.Requests(), got, len(l.orders), dups, lost, len(dead))
	if lost != 0 || dups != 0 {
		t.Fatalf("lost %d, duplicated %d\n%s", lost, dups, svc.stderr.String())
	}
	if len(l.orders) != nGood {
		t.Errorf("%d orders, want %d (one per known session)", len(l.orders), nGood)
	}
	if !slices.Equal(dead, goneIDs) {
		t.Errorf("dead letters %v, want exactly the unknown sessions' events %v", dead, goneIDs)
	}
	if got.Error5xx == 0 || got.RateLimit == 0 || got.Hang == 0 || got.Slow == 0 {
		t.Errorf("not every kind of fault was injected: %+v", got)
	}
}

// unknownSessionEvent is a checkout.session.completed event for a session
// that Stripe's API does not know (deleted test data, another account).
func unknownSessionEvent(eventID, sessionID string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": eventID, "object": "event", "api_version": stripeemu.APIVersion, "created": time.Now().Unix(),
		"type": fulfillment.EventSessionCompleted, "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": map[string]any{
			"id": sessionID, "object": "checkout.session", "status": "complete", "payment_status": "paid",
			"mode": "payment", "currency": "usd", "amount_total": 1000, "amount_subtotal": 1000, "created": time.Now().Unix(),
		}},
	})
	return b
}
