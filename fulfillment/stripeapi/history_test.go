package stripeapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// TestHistory lists every page of completed sessions and checkout events,
// and nothing older than since or of another kind.
func TestHistory(t *testing.T) {
	t.Parallel()
	emu, url := emulator(t, stripeemu.Options{}) // the fixtures are from 2023
	const n = 110                                // two pages
	for i := range n {
		id := fmt.Sprintf("cs_test_hist_%03d", i)
		if err := emu.GenerateSession(id, 1, i%2 == 0); err != nil {
			t.Fatal(err)
		}
		if _, err := emu.Event(fmt.Sprintf("evt_hist_%03d", i), fulfillment.EventSessionCompleted, id, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := emu.Event("evt_hist_expired", "checkout.session.expired", "cs_test_hist_000", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.Event("evt_hist_old", fulfillment.EventSessionCompleted, "cs_test_hist_001", time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	c := newClient(url, func(cfg *stripeapi.Config) { cfg.MaxRPS = 100 })
	since := time.Now().Add(-time.Hour)

	sessions := map[string]fulfillment.Session{}
	err := c.CompletedSessions(context.Background(), since, func(s fulfillment.Session, raw json.RawMessage) error {
		var head struct{ ID, Object string }
		if err := json.Unmarshal(raw, &head); err != nil || head.ID != s.ID || head.Object != "checkout.session" {
			t.Errorf("raw session %s: %s", s.ID, raw)
		}
		sessions[s.ID] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != n {
		t.Errorf("listed %d sessions, want the %d generated ones", len(sessions), n)
	}
	if s := sessions["cs_test_hist_001"]; s.PaymentStatus != fulfillment.PaymentUnpaid || s.Status != "complete" {
		t.Errorf("cs_test_hist_001: %+v", s)
	}
	if got := emu.RequestsFor("/v1/checkout/sessions"); got != 2 {
		t.Errorf("%d session list requests, want 2 pages", got)
	}

	events := map[string]string{}
	err = c.CheckoutEvents(context.Background(), since, func(ev fulfillment.Event, raw json.RawMessage) error {
		if dec, err := stripeevent.Decode(raw); err != nil || dec.ID != ev.ID {
			t.Errorf("raw event %s does not decode to itself: %v", ev.ID, err)
		}
		events[ev.ID] = ev.Session.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != n || events["evt_hist_007"] != "cs_test_hist_007" {
		t.Errorf("listed %d events (want %d); evt_hist_007 → %q", len(events), n, events["evt_hist_007"])
	}
	if _, ok := events["evt_hist_expired"]; ok {
		t.Error("listed an expired event")
	}
	if got := emu.RequestsFor("/v1/events"); got != 2 {
		t.Errorf("%d event list requests, want 2 pages", got)
	}

	stop := fmt.Errorf("enough")
	if err := c.CompletedSessions(context.Background(), since, func(fulfillment.Session, json.RawMessage) error { return stop }); err != stop {
		t.Errorf("fn's error: got %v", err)
	}
}

// TestMoneyHistory lists the money events since a moment: all six types,
// decoded with their object, charge and payment; no checkout event, nothing
// older.
func TestMoneyHistory(t *testing.T) {
	t.Parallel()
	emu, url := emulator(t, stripeemu.Options{}, "cs_test_crosssell")
	now := time.Now()
	ch, err := emu.Refund("cs_test_crosssell", 100)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := emu.OpenDispute(ch, "fraudulent", false)
	if err != nil {
		t.Fatal(err)
	}
	w, err := emu.WarnFraud(ch, "misc", true)
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]string{} // event id → object
	for i, x := range []struct {
		typ, object string
		at          time.Time
	}{
		{fulfillment.EventChargeRefunded, ch, now}, {fulfillment.EventDisputeCreated, dp, now},
		{fulfillment.EventDisputeUpdated, dp, now}, {fulfillment.EventDisputeClosed, dp, now},
		{fulfillment.EventEarlyFraudWarningCreated, w, now}, {fulfillment.EventEarlyFraudWarningUpdated, w, now},
		{fulfillment.EventChargeRefunded, ch, now.Add(-2 * time.Hour)}, // too old
		{"charge.succeeded", ch, now},                                  // not a money event of ours
	} {
		id := fmt.Sprintf("evt_money_%d", i)
		if _, err := emu.ObjectEvent(id, x.typ, x.object, x.at); err != nil {
			t.Fatal(err)
		}
		if i < 6 {
			built[id] = x.object
		}
	}
	if _, err := emu.Event("evt_checkout", fulfillment.EventSessionCompleted, "cs_test_crosssell", now); err != nil {
		t.Fatal(err)
	}
	c := newClient(url)
	listed := map[string]string{}
	err = c.MoneyEvents(context.Background(), now.Add(-time.Hour), func(ev fulfillment.Event, raw json.RawMessage) error {
		if ev.Charge != ch || ev.Payment != (fulfillment.Payment{PaymentIntent: crossPI}) || len(raw) == 0 {
			t.Errorf("%s (%s): charge %q, payment %+v", ev.ID, ev.Type, ev.Charge, ev.Payment)
		}
		listed[ev.ID] = ev.Object
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(listed) != fmt.Sprint(built) {
		t.Errorf("listed %v, want %v", listed, built)
	}
}
