package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/worker"
)

// TestForgedStreamMessages (issue 10, finding 1): with an external NATS,
// any client allowed to publish on stripe.events.> can put an event on the
// stream. A forged checkout.session.completed saying "paid" for a real
// unpaid session, published straight to NATS (unsigned, signed with a wrong
// webhook secret, or with a made-up Fulfillment-Signature), leaves the order
// awaiting_payment and is dead-lettered with the reason; retrying it does
// not help. What Stripe signed, what a dead letter of a signed delivery
// replays, and what reconcile read from Stripe's API (also in place of an
// untrusted dead letter of a genuine event) are still processed.
func TestForgedStreamMessages(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	const session = "cs_test_trust"
	if err := emu.GenerateSession(session, 2, false); err != nil {
		t.Fatal(err)
	}
	natsURL := startNATSServer(t)
	env := serviceEnv(t, stripeSrv.URL)
	env["NATS_URL"] = natsURL
	svc := startService(t, env)
	svc.token = e2eToken

	// A real, signed delivery: the session is unpaid.
	unpaid, err := emu.Event("evt_trust_unpaid", fulfillment.EventSessionCompleted, session, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc.send(t, unpaid)
	waitOrder(t, svc, session, fulfillment.StatusAwaitingPayment)

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(eventID string, body []byte, headers map[string]string) {
		t.Helper()
		msg := nats.NewMsg(worker.SubjectPrefix + fulfillment.EventSessionCompleted)
		msg.Data = body
		for k, v := range headers {
			msg.Header.Set(k, v)
		}
		if _, err := js.PublishMsg(context.Background(), msg, jetstream.WithMsgID(eventID)); err != nil {
			t.Fatal(err)
		}
	}
	forge := func(eventID string, headers func(body []byte) map[string]string) {
		t.Helper()
		body := eventFor(t, eventID, session) // the same session, paid
		if !bytes.Contains(body, []byte(`"payment_status":"paid"`)) {
			t.Fatalf("forged event does not say paid:\n%s", body)
		}
		publish(eventID, body, headers(body))
	}
	forge("evt_forged_bare", func([]byte) map[string]string { return nil })
	forge("evt_forged_sig", func(body []byte) map[string]string {
		return map[string]string{worker.HeaderStripeSignature: stripeevent.Sign("whsec_guess", time.Now(), body)}
	})
	forge("evt_forged_own", func([]byte) map[string]string {
		return map[string]string{worker.HeaderFulfillmentSignature: "v1=" + strings.Repeat("ab", 32)}
	})

	type deadLetter struct {
		EventID string `json:"event_id"`
		Error   string `json:"error"`
	}
	deadLetters := func() map[string]string {
		out := mustCommand(t, env, []string{"dlq", "list", "--json"})
		var dls []deadLetter
		if err := json.Unmarshal([]byte(out), &dls); err != nil {
			t.Fatalf("dlq list --json: %v\n%s", err, out)
		}
		m := map[string]string{}
		for _, dl := range dls {
			m[dl.EventID] = dl.Error
		}
		return m
	}
	waitFor(t, "three dead letters", func() bool { return len(deadLetters()) == 3 })
	for id, reason := range deadLetters() {
		if !strings.Contains(reason, "untrusted message: no valid Stripe-Signature for any configured webhook secret") {
			t.Errorf("dead letter %s: reason %q", id, reason)
		}
	}
	if reason := deadLetters()["evt_forged_own"]; !strings.Contains(reason, "Fulfillment-Signature is not this worker's") {
		t.Errorf("forged Fulfillment-Signature: reason %q", reason)
	}
	if got := scrape(t, svc.url, `fulfillmentd_events_processed_total{outcome="untrusted"}`); got != 3 {
		t.Errorf("untrusted messages counted %v times, want 3", got)
	}
	stillUnpaid := func(when string) {
		t.Helper()
		var o fulfillment.Order
		if code := svc.get(t, "/v1/orders/"+session, &o); code != http.StatusOK || o.Status != fulfillment.StatusAwaitingPayment {
			t.Fatalf("%s: order is %d %s, want awaiting_payment\n%s", when, code, o.Status, svc.stderr.String())
		}
	}
	stillUnpaid("after the forged messages")

	// A retry replays the forged message's own headers: refused again.
	mustCommand(t, env, []string{"dlq", "retry", "evt_forged_sig"}, "queued for replay")
	waitFor(t, "the retried forgery dead-lettered again", func() bool {
		return strings.Count(svc.stderr.String(), `"event_id":"evt_forged_sig"`) >= 2
	})
	stillUnpaid("after retrying a forged dead letter")

	// A signed delivery that failed (Stripe did not know the session yet)
	// is replayed with its Stripe-Signature, and processed.
	const late = "cs_test_trust_late"
	svc.send(t, eventFor(t, "evt_trust_late", late))
	waitFor(t, "the late event dead-lettered", func() bool { _, ok := deadLetters()["evt_trust_late"]; return ok })
	if err := emu.GenerateSession(late, 2, true); err != nil {
		t.Fatal(err)
	}
	mustCommand(t, env, []string{"dlq", "retry", "evt_trust_late"}, "queued for replay")
	waitOrder(t, svc, late, fulfillment.StatusReadyToShip)

	// The payment settles; its event reaches the stream only unsigned (a
	// copy from someone else): dead-lettered, and no retry can help.
	// Reconcile queues the event as Stripe's API lists it in its place,
	// signed by the worker, and it is processed.
	if err := emu.SetPaymentStatus(session, "paid"); err != nil {
		t.Fatal(err)
	}
	settled, err := emu.Event("evt_trust_settled", fulfillment.EventSessionAsyncPaymentSucceed, session, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	publish("evt_trust_settled", settled, nil)
	waitFor(t, "the unsigned copy dead-lettered", func() bool { _, ok := deadLetters()["evt_trust_settled"]; return ok })
	stillUnpaid("after an unsigned copy of a genuine event")
	mustCommand(t, env, []string{"reconcile"}, "queued evt_trust_settled")
	waitOrder(t, svc, session, fulfillment.StatusReadyToShip)
	waitFor(t, "its dead letter replaced", func() bool { _, ok := deadLetters()["evt_trust_settled"]; return !ok })
}
