package stripeevent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// FuzzVerify feeds arbitrary headers and bodies to Verify. Properties:
//   - it never panics and only returns nil or one of the sentinels;
//   - it accepts a header only if the header carries, as a v1, the real HMAC
//     of the body under a configured secret;
//   - a header made by Sign for the fuzzed body verifies, and stops verifying
//     when one byte of the body changes.
//
// Seeds live in testdata/fuzz/FuzzVerify and in the f.Add calls below.
func FuzzVerify(f *testing.F) {
	body := []byte(goldenBody)
	f.Add(stripeevent.Sign(oldSecret, clock, body), body)
	f.Add(stripeevent.SignAll([]string{newSecret, oldSecret}, clock, body), body)
	f.Add("t=1700000000,v1="+goldenSig+",v0=abc", body)
	f.Add(" t = 1700000000 , v1 = "+goldenSig, body)
	f.Add("t=1699999699,v1="+stripeevent.Signature(oldSecret, 1699999699, body), body)
	f.Add("t=,v1=", []byte{})
	f.Add(",,,", []byte("x"))
	f.Add("t=9223372036854775807,v1=00", []byte(nil))
	f.Add("v1=zz,t=-1", []byte{0xff, 0x00})

	v := newVerifier(f, oldSecret, newSecret)
	sentinels := []error{
		stripeevent.ErrMissingHeader, stripeevent.ErrMalformedHeader, stripeevent.ErrNoValidSignature,
		stripeevent.ErrTooOld, stripeevent.ErrTooNew,
	}

	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := v.Verify(header, body)
		if err != nil {
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("Verify(%q) = %v: not a sentinel", header, err)
			}
		} else if !carriesSignature(header, body) {
			t.Fatalf("Verify(%q, %q) accepted a header without a genuine v1", header, body)
		}

		signed := stripeevent.Sign(newSecret, clock, body)
		if err := v.Verify(signed, body); err != nil {
			t.Fatalf("Verify(Sign(body)) = %v", err)
		}
		if len(body) > 0 {
			tampered := append([]byte(nil), body...)
			tampered[len(tampered)/2] ^= 0x01
			if err := v.Verify(signed, tampered); !errors.Is(err, stripeevent.ErrNoValidSignature) {
				t.Fatalf("Verify(Sign(body), tampered) = %v, want ErrNoValidSignature", err)
			}
		}
	})
}

// carriesSignature is a deliberately naive re-reading of the header: some
// "v1=" value equals, ignoring case and spaces, the HMAC of "<t>.<body>" under
// a configured secret, for some t in the header.
func carriesSignature(header string, body []byte) bool {
	var ts []int64
	var sigs []string
	for _, pair := range strings.Split(header, ",") {
		k, val, _ := strings.Cut(pair, "=")
		switch strings.TrimSpace(k) {
		case "t":
			if n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64); err == nil {
				ts = append(ts, n)
			}
		case "v1":
			sigs = append(sigs, strings.ToLower(strings.TrimSpace(val)))
		}
	}
	for _, t := range ts {
		for _, s := range []string{oldSecret, newSecret} {
			want := stripeevent.Signature(s, t, body)
			for _, sig := range sigs {
				if sig == want {
					return true
				}
			}
		}
	}
	return false
}

// FuzzDecodeEvent feeds arbitrary bodies to Decode, which the worker
// runs on every stored webhook. Properties: it never panics; every error is
// permanent (a body that is not an event never becomes one, so retrying is
// pointless); an accepted event has an id and a type, and a checkout.session
// event has its session's id; decoding is deterministic.
//
// Seeds: every fixture session wrapped as each event type, and
// testdata/fuzz/FuzzDecodeEvent.
func FuzzDecodeEvent(f *testing.F) {
	sessions := fixtureSessions(f)
	types := []string{fulfillment.EventSessionCompleted, fulfillment.EventSessionAsyncPaymentSucceed,
		fulfillment.EventSessionAsyncPaymentFailed, "checkout.session.expired", "customer.created"}
	for i, s := range sessions {
		f.Add([]byte(fmt.Sprintf(`{"id":"evt_seed_%d","object":"event","api_version":"2023-10-16","created":1700000000,"type":%q,"data":{"object":%s}}`,
			i, types[i%len(types)], s)))
	}
	for _, body := range moneyEvents(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := stripeevent.Decode(body)
		if err != nil {
			if !fulfillment.IsPermanent(err) {
				t.Fatalf("Decode error is not permanent: %v", err)
			}
			return
		}
		if ev.ID == "" || ev.Type == "" {
			t.Fatalf("accepted an event without id or type: %+v", ev)
		}
		if strings.HasPrefix(ev.Type, "checkout.session.") && ev.Session.ID == "" {
			t.Fatalf("accepted a %s event without a session id", ev.Type)
		}
		if fulfillment.MoneyObject(ev.Type) != "" && (ev.Object == "" || ev.Charge == "") {
			t.Fatalf("accepted a %s event without its object or charge: %+v", ev.Type, ev)
		}
		if env, err := stripeevent.ParseEnvelope(body); fulfillment.Handles(ev.Type) && (err != nil || env.Data.Object.ID == "") {
			t.Fatalf("Decode accepted a %s event the receiver refuses: %v", ev.Type, err)
		}
		var head struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(body, &head); err != nil || head.ID != ev.ID || head.Type != ev.Type {
			t.Fatalf("id/type %q/%q, but the body says %q/%q (%v)", ev.ID, ev.Type, head.ID, head.Type, err)
		}
		again, err := stripeevent.Decode(body)
		if err != nil || !reflect.DeepEqual(ev, again) {
			t.Fatalf("decoding twice differs: %+v / %+v, %v", ev, again, err)
		}
	})
}

// moneyEvents are an event of each money type, as the emulator builds them
// about the fixtures' charges.
func moneyEvents(f *testing.F) [][]byte {
	f.Helper()
	emu := stripeemu.New(stripeemu.Options{})
	if err := emu.Seed(fixtures.FS, "stripe"); err != nil {
		f.Fatal(err)
	}
	ch, err := emu.Refund("cs_test_crosssell", 100)
	if err != nil {
		f.Fatal(err)
	}
	dp, err := emu.OpenDispute(ch, "general", true)
	if err != nil {
		f.Fatal(err)
	}
	w, err := emu.WarnFraud("cs_test_subscription", "misc", true)
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for i, x := range []struct{ typ, object string }{
		{fulfillment.EventChargeRefunded, ch}, {fulfillment.EventDisputeCreated, dp}, {fulfillment.EventDisputeUpdated, dp},
		{fulfillment.EventDisputeClosed, dp}, {fulfillment.EventEarlyFraudWarningCreated, w}, {fulfillment.EventEarlyFraudWarningUpdated, w},
	} {
		body, err := emu.ObjectEvent(fmt.Sprintf("evt_money_%d", i), x.typ, x.object, time.Unix(1700000000, 0))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, body)
	}
	return out
}

// fixtureSessions are the sessions of testdata/stripe/*.json.
func fixtureSessions(f *testing.F) []json.RawMessage {
	f.Helper()
	names, err := fs.Glob(fixtures.FS, path.Join("stripe", "*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("fixtures: %v (%d files)", err, len(names))
	}
	var sessions []json.RawMessage
	for _, name := range names {
		data, err := fs.ReadFile(fixtures.FS, name)
		if err != nil {
			f.Fatal(err)
		}
		var fx struct {
			Session json.RawMessage `json:"session"`
		}
		if err := json.Unmarshal(data, &fx); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		sessions = append(sessions, fx.Session)
	}
	return sessions
}
