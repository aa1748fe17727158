package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

const trustSecret = "whsec_trust_test"

func signer(t *testing.T, fill byte) *broker.FulfillmentSigner {
	t.Helper()
	s, err := broker.NewFulfillmentSigner(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawPublish puts a message on the stream as any client allowed to publish
// on its subjects could, with the headers it likes.
func rawPublish(t *testing.T, js jetstream.JetStream, eventID string, body []byte, headers map[string]string) {
	t.Helper()
	msg := nats.NewMsg(worker.SubjectPrefix + completed)
	msg.Data = body
	for k, v := range headers {
		msg.Header.Set(k, v)
	}
	if _, err := js.PublishMsg(context.Background(), msg, jetstream.WithMsgID(eventID)); err != nil {
		t.Fatal(err)
	}
}

// TestTrusted: only messages with a valid Stripe-Signature (of any age) or
// a valid Fulfillment-Signature of this worker's key reach the handler;
// everything else is dead-lettered with the reason and the signatures it
// carried, and a replay of such a dead letter is refused again. The
// Replayer signs what reconcile read from Stripe's API, and passes a dead
// letter's own signatures on.
func TestTrusted(t *testing.T) {
	t.Parallel()
	e := natstest.NewEnv(t, broker.StreamConfig{MaxDeliver: 1})
	verifier, err := stripeevent.NewVerifier([]string{"whsec_old_trust", trustSecret}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	own, other := signer(t, 1), signer(t, 2)
	body := func(id string) []byte { return fmt.Appendf(nil, `{"id":%q,"object":"event"}`, id) }
	deliver := func(id string, sig string) {
		if _, err := e.Pub.PublishDelivery(context.Background(), completed, id, sig, body(id)); err != nil {
			t.Fatal(err)
		}
	}

	deliver("evt_signed", stripeevent.Sign(trustSecret, time.Now(), body("evt_signed")))
	deliver("evt_week_old", stripeevent.Sign(trustSecret, time.Now().Add(-7*24*time.Hour), body("evt_week_old")))
	deliver("evt_unsigned", "")
	deliver("evt_forged", stripeevent.Sign("whsec_attacker", time.Now(), body("evt_forged")))
	deliver("evt_other_body", stripeevent.Sign(trustSecret, time.Now(), body("evt_signed")))
	rawPublish(t, e.JS, "evt_forged_own", body("evt_forged_own"),
		map[string]string{worker.HeaderFulfillmentSignature: other.Sign("evt_forged_own", body("evt_forged_own"))})
	rawPublish(t, e.JS, "evt_moved_own", body("evt_signed"),
		map[string]string{worker.HeaderFulfillmentSignature: own.Sign("evt_signed", body("evt_signed"))})
	rawPublish(t, e.JS, "evt_bad_own_good_stripe", body("evt_bad_own_good_stripe"), map[string]string{
		worker.HeaderFulfillmentSignature: "v1=00",
		worker.HeaderStripeSignature:      stripeevent.Sign(trustSecret, time.Now(), body("evt_bad_own_good_stripe")),
	})

	rec := &natstest.Recorder{}
	dls := &natstest.DeadLetters{}
	natstest.RunPool(t, &worker.Pool{Consumer: e.Cons, Handler: broker.Trusted(verifier, own, rec), DeadLetters: dls, Log: natstest.Log()})
	// Every message settles in the handler or as a dead letter; the
	// consumer's state alone can be read between a fetch and its handling.
	settled := func(handled, dead int) {
		t.Helper()
		natstest.Eventually(t, func() bool { return len(rec.Deliveries()) >= handled && len(dls.Letters()) >= dead })
		e.WaitSettled(t)
	}
	settled(3, 5)

	wantTrusted := []string{"evt_bad_own_good_stripe", "evt_signed", "evt_week_old"}
	wantUntrusted := []string{"evt_forged", "evt_forged_own", "evt_moved_own", "evt_other_body", "evt_unsigned"}
	check := func(stage string, trusted, untrusted []string) map[string]fulfillment.DeadLetter {
		t.Helper()
		var seen []string
		for _, d := range rec.Deliveries() {
			seen = append(seen, d.Msg.EventID)
		}
		slices.Sort(seen)
		slices.Sort(trusted)
		if !slices.Equal(seen, trusted) {
			t.Errorf("%s: handler saw %v, want %v", stage, seen, trusted)
		}
		byID := map[string]fulfillment.DeadLetter{}
		var dead []string
		for _, dl := range dls.Letters() {
			dead = append(dead, dl.EventID)
			byID[dl.EventID] = dl
			if !strings.Contains(dl.Error, "untrusted message: no valid Stripe-Signature for any configured webhook secret") {
				t.Errorf("%s: dead letter %s: error %q lacks the reason", stage, dl.EventID, dl.Error)
			}
		}
		slices.Sort(dead)
		if !slices.Equal(dead, untrusted) {
			t.Errorf("%s: dead letters %v, want %v", stage, dead, untrusted)
		}
		return byID
	}
	byID := check("stream", wantTrusted, wantUntrusted)
	if s := byID["evt_forged"].Signatures; s.Stripe == "" || s.Fulfillment != "" {
		t.Errorf("forged dead letter kept signatures %+v, want its Stripe-Signature", s)
	}
	if s := byID["evt_forged_own"].Signatures; s.Fulfillment == "" {
		t.Errorf("forged-own dead letter kept signatures %+v, want its Fulfillment-Signature", s)
	}
	if !strings.Contains(byID["evt_forged_own"].Error, "Fulfillment-Signature is not this worker's") {
		t.Errorf("forged-own reason %q", byID["evt_forged_own"].Error)
	}

	// Replays: a dead letter's retry carries its own signatures (a forged
	// one stays forged, a good one still verifies), reconcile's are signed
	// by the Replayer, and without a Signer those are not published.
	q := &replayQueue{pending: []fulfillment.Replay{
		{ID: 1, EventID: "evt_forged", EventType: completed, Payload: body("evt_forged"), Reason: "dlq retry", Signatures: byID["evt_forged"].Signatures},
		{ID: 2, EventID: "evt_forged_own", EventType: completed, Payload: body("evt_forged_own"), Reason: "dlq retry", Signatures: byID["evt_forged_own"].Signatures},
		{ID: 3, EventID: "evt_unsigned", EventType: completed, Payload: body("evt_unsigned"), Reason: "dlq retry"},
		{ID: 4, EventID: "evt_retried", EventType: completed, Payload: body("evt_retried"), Reason: "dlq retry",
			Signatures: fulfillment.Signatures{Stripe: stripeevent.Sign("whsec_old_trust", time.Now().Add(-48*time.Hour), body("evt_retried"))}},
		{ID: 5, EventID: "reconcile:cs_1:paid", EventType: completed, Payload: body("reconcile:cs_1:paid"), Reason: "reconcile", FromStripeAPI: true},
	}}
	unsignedQ := &replayQueue{pending: []fulfillment.Replay{
		{ID: 9, EventID: "evt_api", EventType: completed, Payload: body("evt_api"), Reason: "reconcile", FromStripeAPI: true},
	}}
	if n, err := (&broker.Replayer{Store: unsignedQ, Publisher: e.Pub, Log: natstest.Log()}).PublishPending(context.Background()); n != 0 || !fulfillment.IsPermanent(err) {
		t.Errorf("replay from Stripe's API without a signer: published %d, %v; want none and a permanent error", n, err)
	}
	if n, err := (&broker.Replayer{Store: q, Publisher: e.Pub, Signer: own, Log: natstest.Log()}).PublishPending(context.Background()); n != 5 || err != nil {
		t.Fatalf("replays: published %d, %v; want 5", n, err)
	}
	settled(5, 8)
	check("replays", append(wantTrusted, "evt_retried", "reconcile:cs_1:paid"),
		[]string{"evt_forged", "evt_forged", "evt_forged_own", "evt_forged_own", "evt_moved_own", "evt_other_body", "evt_unsigned", "evt_unsigned"})
}

func TestFulfillmentSigner(t *testing.T) {
	t.Parallel()
	if _, err := broker.NewFulfillmentSigner(make([]byte, 31)); err == nil {
		t.Error("a 31-byte key was accepted")
	}
	s := signer(t, 7)
	sig := s.Sign("evt_1", []byte("body"))
	for _, tt := range []struct {
		header, id, body string
		want             bool
	}{
		{sig, "evt_1", "body", true},
		{sig, "evt_2", "body", false},
		{sig, "evt_1", "bodY", false},
		{strings.TrimPrefix(sig, "v1="), "evt_1", "body", false},
		{"v1=" + strings.Repeat("0", 64), "evt_1", "body", false},
		{"v1=zz", "evt_1", "body", false},
		{"", "evt_1", "body", false},
		{signer(t, 8).Sign("evt_1", []byte("body")), "evt_1", "body", false},
	} {
		if got := s.Verify(tt.header, tt.id, []byte(tt.body)); got != tt.want {
			t.Errorf("Verify(%q, %q, %q) = %t, want %t", tt.header, tt.id, tt.body, got, tt.want)
		}
	}
}
