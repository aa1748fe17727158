package stripeemu_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
)

func TestSessionsHaveCharges(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{})
	ch := getOK(t, srv, "/v1/charges/ch_3OCFUqKx8wUb3Zqv0CrossS1")
	want := map[string]any{"id": "ch_3OCFUqKx8wUb3Zqv0CrossS1", "object": "charge", "amount": 99726.0,
		"amount_refunded": 0.0, "refunded": false, "payment_intent": "pi_3OCFUqKx8wUb3Zqv0CrossS1", "invoice": nil}
	for k, v := range want {
		if ch[k] != v {
			t.Errorf("charge %s = %v, want %v", k, ch[k], v)
		}
	}
	if id, err := emu.ChargeFor("cs_test_crosssell"); err != nil || id != "ch_3OCFUqKx8wUb3Zqv0CrossS1" {
		t.Errorf("ChargeFor = %q, %v", id, err)
	}
	// Subscription mode: the session's invoice, of its subscription, with a charge.
	in := getOK(t, srv, "/v1/invoices/in_1OCFYkKx8wUb3ZqvInvSub1")
	if in["object"] != "invoice" || in["subscription"] != "sub_1OCFYkKx8wUb3ZqvSubPro1" || in["charge"] != "ch_1OCFYkKx8wUb3ZqvInvSub1" {
		t.Errorf("invoice = %v", in)
	}
	sch := getOK(t, srv, "/v1/charges/ch_1OCFYkKx8wUb3ZqvInvSub1")
	if sch["invoice"] != "in_1OCFYkKx8wUb3ZqvInvSub1" || sch["amount"] != 7800.0 {
		t.Errorf("subscription charge = %v", sch)
	}
	for _, s := range []string{"cs_test_free", "cs_test_expired"} {
		if id, err := emu.ChargeFor(s); err == nil {
			t.Errorf("ChargeFor(%s) = %q, want an error: nothing was paid", s, id)
		}
	}
	for _, path := range []string{"/v1/charges/ch_nope", "/v1/disputes/dp_nope", "/v1/radar/early_fraud_warnings/issfr_nope",
		"/v1/invoices/in_nope", "/v1/disputes/ch_3OCFUqKx8wUb3Zqv0CrossS1"} {
		stripeErr(t, get(t, srv, "Bearer "+key, path), http.StatusNotFound, "invalid_request_error", "resource_missing")
	}
	stripeErr(t, get(t, srv, "Bearer "+key, "/v1/charges/ch_3OCFUqKx8wUb3Zqv0CrossS1?expand[]=customer"), http.StatusBadRequest, "invalid_request_error", "")
}

func TestListSessionsByPayment(t *testing.T) {
	t.Parallel()
	_, srv := seeded(t, stripeemu.Options{})
	tests := []struct {
		query string
		want  []string
	}{
		{"payment_intent=pi_3OCFUqKx8wUb3Zqv0CrossS1", []string{"cs_test_crosssell"}},
		{"payment_intent=pi_unknown", nil},
		{"subscription=sub_1OCFYkKx8wUb3ZqvSubPro1", []string{"cs_test_subscription"}},
		{"subscription=sub_1OCFYkKx8wUb3ZqvSubPro1&payment_intent=pi_3OCFUqKx8wUb3Zqv0CrossS1", nil},
	}
	for _, tt := range tests {
		if got := ids(t, getOK(t, srv, "/v1/checkout/sessions?"+tt.query)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.query, got, tt.want)
		}
	}
}

func TestRefundDisputeFraudWarning(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{})
	const sess = "cs_test_quantity" // amount_total 67600
	chID, err := emu.Refund(sess, 600)
	if err != nil {
		t.Fatal(err)
	}
	ch := getOK(t, srv, "/v1/charges/"+chID)
	if ch["amount_refunded"] != 600.0 || ch["refunded"] != false {
		t.Errorf("after a partial refund: %v", ch)
	}
	wID, err := emu.WarnFraud(sess, "made_with_stolen_card", true)
	if err != nil {
		t.Fatal(err)
	}
	w := getOK(t, srv, "/v1/radar/early_fraud_warnings/"+wID)
	if w["object"] != "radar.early_fraud_warning" || w["actionable"] != true || w["charge"] != chID ||
		w["fraud_type"] != "made_with_stolen_card" || w["payment_intent"] != ch["payment_intent"] {
		t.Errorf("warning = %v", w)
	}
	dID, err := emu.OpenDispute(chID, "fraudulent", true)
	if err != nil {
		t.Fatal(err)
	}
	d := getOK(t, srv, "/v1/disputes/"+dID+"?expand[]=charge")
	if d["object"] != "dispute" || d["status"] != "warning_needs_response" || d["reason"] != "fraudulent" || d["amount"] != 67600.0 {
		t.Errorf("dispute = %v", d)
	}
	if c, _ := d["charge"].(map[string]any); c["id"] != chID || c["disputed"] != true {
		t.Errorf("expanded charge = %v", d["charge"])
	}
	if w := getOK(t, srv, "/v1/radar/early_fraud_warnings/"+wID); w["actionable"] != false {
		t.Errorf("a disputed charge's warning is still actionable")
	}
	if err := emu.SetDisputeStatus(dID, "lost"); err != nil {
		t.Fatal(err)
	}
	if d := getOK(t, srv, "/v1/disputes/"+dID); d["status"] != "lost" || d["charge"] != chID {
		t.Errorf("dispute = %v", d)
	}
	d2, err := emu.OpenDispute(sess, "product_not_received", false)
	if err != nil || d2 == dID {
		t.Fatalf("second dispute %q, %v", d2, err)
	}
	if a, b := getOK(t, srv, "/v1/disputes/"+dID)["created"].(float64), getOK(t, srv, "/v1/disputes/"+d2)["created"].(float64); !(b > a) {
		t.Errorf("created %v then %v: the newer dispute must be later", a, b)
	}
	if _, err := emu.Refund(sess, 67001); err == nil {
		t.Errorf("refund beyond the amount accepted")
	}
	if _, err := emu.Refund(sess, 0); err != nil { // the rest
		t.Fatal(err)
	}
	if ch := getOK(t, srv, "/v1/charges/"+chID); ch["amount_refunded"] != 67600.0 || ch["refunded"] != true {
		t.Errorf("after refunding the rest: %v", ch)
	}
	if _, err := emu.Refund(sess, 1); err == nil {
		t.Errorf("refund of a refunded charge accepted")
	}
	for _, bad := range []error{
		emu.SetDisputeStatus(dID, "closed"),
		emu.SetDisputeStatus("dp_nope", "won"),
		func() error { _, err := emu.OpenDispute(sess, "bored", false); return err }(),
		func() error { _, err := emu.WarnFraud(sess, "vibes", true); return err }(),
		func() error { _, err := emu.Refund("cs_test_free", 1); return err }(),
		func() error { _, err := emu.Refund("ch_nope", 1); return err }(),
	} {
		if bad == nil {
			t.Errorf("a bad control call was accepted")
		}
	}
}

func TestAddChargeAndObjectEvent(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{})
	chID, err := emu.AddCharge("pi_no_session", 1234)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emu.AddCharge("pi_no_session", 1); err == nil {
		t.Errorf("AddCharge twice accepted")
	}
	if _, err := emu.Refund(chID, 0); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body, err := emu.ObjectEvent("evt_refund", "charge.refunded", chID, now)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		ID, Object, Type string
		Created          int64
		Data             struct{ Object map[string]any }
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != "evt_refund" || ev.Object != "event" || ev.Type != "charge.refunded" || ev.Created != now.Unix() ||
		ev.Data.Object["id"] != chID || ev.Data.Object["refunded"] != true {
		t.Errorf("event = %+v", ev)
	}
	dID, err := emu.OpenDispute("cs_test_digital", "duplicate", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emu.ObjectEvent("evt_dispute", "charge.dispute.created", dID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.ObjectEvent("evt_x", "charge.refunded", "ch_nope", now); err == nil {
		t.Errorf("event about an unknown object built")
	}
	got := ids(t, getOK(t, srv, "/v1/events?types[]=charge.refunded&types[]=charge.dispute.created"))
	if want := []string{"evt_dispute", "evt_refund"}; !reflect.DeepEqual(got, want) { // same second: the later built first
		t.Errorf("events = %v, want %v", got, want)
	}
	if got := ids(t, getOK(t, srv, "/v1/events?type=charge.dispute.*")); !reflect.DeepEqual(got, []string{"evt_dispute"}) {
		t.Errorf("charge.dispute.* events = %v", got)
	}
}

func TestMoneyControlsConcurrently(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(3)
		go func() { defer wg.Done(); _, _ = emu.Refund("cs_test_bulk", 100) }()
		go func() { defer wg.Done(); _, _ = emu.WarnFraud("cs_test_bulk", "misc", true) }()
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/charges/ch_3OCFWxKx8wUb3Zqv0BulkOr1", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			if resp, err := srv.Client().Do(req); err != nil {
				t.Error(err)
			} else {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if ch := getOK(t, srv, "/v1/charges/ch_3OCFWxKx8wUb3Zqv0BulkOr1"); ch["amount_refunded"] != 1000.0 {
		t.Errorf("amount_refunded = %v after 10 refunds of 100", ch["amount_refunded"])
	}
}
