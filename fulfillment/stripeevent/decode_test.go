package stripeevent_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	emu := stripeemu.New(stripeemu.Options{})
	if err := emu.Seed(fixtures.FS, "stripe"); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000100, 0).UTC()
	event := func(id, typ, session string) string {
		b, err := emu.Event(id, typ, session, at)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	completed := event("evt_1OCFZ0Kx8wUb3ZqvCompl01", "checkout.session.completed", "cs_test_crosssell")
	digital := event("evt_1OCFZ1Kx8wUb3ZqvDigit01", "checkout.session.completed", "cs_test_digital")
	asyncOK := event("evt_1OCFZ2Kx8wUb3ZqvAsync01", "checkout.session.async_payment_succeeded", "cs_test_unpaid")
	version := func(v string) string {
		return strings.Replace(completed, `"api_version":"2023-10-16"`, `"api_version":"`+v+`"`, 1)
	}
	// 2025-03-31 moved shipping_details under collected_information.
	basil := strings.Replace(version("2025-03-31.basil"), `"shipping_details":`, `"collected_information":{"shipping_details":`, 1)
	basil = strings.Replace(basil, `"name":"Jane Doe"},"shipping_options"`, `"name":"Jane Doe"}},"shipping_options"`, 1)

	crosssell := fulfillment.Session{
		ID: "cs_test_crosssell", Status: "complete", PaymentStatus: fulfillment.PaymentPaid, Mode: "payment",
		Currency: "usd", AmountSubtotal: 99800, AmountDiscount: 8990, AmountTax: 7416, AmountShipping: 1500, AmountTotal: 99726,
		Customer: fulfillment.Customer{Email: "jane.doe@example.com", Name: "Jane Doe", Phone: "+14155550132"},
		Shipping: &fulfillment.Shipping{Name: "Jane Doe", Address: fulfillment.Address{Line1: "510 Townsend St",
			Line2: "Apt 4", City: "San Francisco", State: "CA", PostalCode: "94103", Country: "US"}},
		ClientReferenceID: "cart_8f3k2",
		Metadata:          map[string]string{"order_ref": "web-1001", "channel": "web"},
		Created:           time.Unix(1700000000, 0).UTC(),
		Payment:           fulfillment.Payment{PaymentIntent: "pi_3OCFUqKx8wUb3Zqv0CrossS1"},
	}

	tests := []decodeTest{ // wantErr: a substring; "" means success
		{name: "completed", body: completed, check: func(t *testing.T, ev fulfillment.Event) {
			if ev.ID != "evt_1OCFZ0Kx8wUb3ZqvCompl01" || ev.Type != fulfillment.EventSessionCompleted || !ev.Created.Equal(at) {
				t.Errorf("envelope: %+v", ev)
			}
			checkSession(t, ev.Session, crosssell)
		}},
		{name: "digital: no shipping", body: digital, check: func(t *testing.T, ev fulfillment.Event) {
			if ev.Session.Shipping != nil || ev.Session.Metadata != nil || ev.Session.Customer.Email != "reader@example.com" {
				t.Errorf("session: %+v", ev.Session)
			}
		}},
		{name: "subscription: the invoice", body: event("evt_sub", "checkout.session.completed", "cs_test_subscription"),
			check: func(t *testing.T, ev fulfillment.Event) {
				if want := (fulfillment.Payment{Invoice: "in_1OCFYkKx8wUb3ZqvInvSub1"}); ev.Session.Payment != want {
					t.Errorf("payment %+v, want %+v", ev.Session.Payment, want)
				}
			}},
		{name: "expanded payment_intent",
			body:  strings.Replace(completed, `"payment_intent":"pi_3OCFUqKx8wUb3Zqv0CrossS1"`, `"payment_intent":{"id":"pi_3OCFUqKx8wUb3Zqv0CrossS1","object":"payment_intent"}`, 1),
			check: func(t *testing.T, ev fulfillment.Event) { checkSession(t, ev.Session, crosssell) }},
		{name: "async payment succeeded", body: asyncOK, check: func(t *testing.T, ev fulfillment.Event) {
			if ev.Type != fulfillment.EventSessionAsyncPaymentSucceed || ev.Session.ID != "cs_test_unpaid" ||
				ev.Session.PaymentStatus != fulfillment.PaymentUnpaid {
				t.Errorf("event: %+v", ev)
			}
		}},
		{name: "api_version 2020-08-27", body: version("2020-08-27"), check: func(t *testing.T, ev fulfillment.Event) {
			checkSession(t, ev.Session, crosssell)
		}},
		{name: "api_version 2024-06-20", body: version("2024-06-20"), check: func(t *testing.T, ev fulfillment.Event) {
			checkSession(t, ev.Session, crosssell)
		}},
		{name: "api_version 2025-03-31.basil: collected_information", body: basil, check: func(t *testing.T, ev fulfillment.Event) {
			if !strings.Contains(basil, `"collected_information":{"shipping_details":{`) {
				t.Fatal("test body not rewritten")
			}
			checkSession(t, ev.Session, crosssell)
		}},
		{name: "field types from another version do not matter",
			body:  strings.Replace(completed, `"automatic_tax":{"enabled":false,"status":null}`, `"automatic_tax":"on"`, 1),
			check: func(t *testing.T, ev fulfillment.Event) { checkSession(t, ev.Session, crosssell) }},
		{name: "other event type: envelope only",
			body: `{"id":"evt_2","object":"event","api_version":"2024-06-20","created":1700000000,"type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","object":"payment_intent"}}}`,
			check: func(t *testing.T, ev fulfillment.Event) {
				if ev.ID != "evt_2" || ev.Type != "payment_intent.succeeded" || ev.Session.ID != "" {
					t.Errorf("event: %+v", ev)
				}
			}},
		{name: "not JSON", body: `id=evt_1&type=checkout.session.completed`, wantErr: "not a JSON object"},
		{name: "JSON array", body: `[{"id":"evt_1"}]`, wantErr: "not a JSON object"},
		{name: "object is not event", body: strings.Replace(completed, `"object":"event"`, `"object":"checkout.session"`, 1), wantErr: `object is "checkout.session"`},
		{name: "missing id", body: strings.Replace(completed, `"id":"evt_1OCFZ0Kx8wUb3ZqvCompl01",`, ``, 1), wantErr: "missing id"},
		{name: "missing type", body: strings.Replace(completed, `"type":"checkout.session.completed"`, `"type":""`, 1), wantErr: "missing id or type"},
		{name: "data.object is a payment intent",
			body:    `{"id":"evt_3","object":"event","created":1,"type":"checkout.session.completed","data":{"object":{"id":"pi_1","object":"payment_intent"}}}`,
			wantErr: "not a checkout.session"},
		{name: "data.object missing",
			body:    `{"id":"evt_4","object":"event","created":1,"type":"checkout.session.completed","data":{}}`,
			wantErr: "not a checkout.session"},
		{name: "data.object is a string",
			body:    `{"id":"evt_5","object":"event","created":1,"type":"checkout.session.completed","data":{"object":"cs_test_1"}}`,
			wantErr: "not a checkout.session"},
	}
	tests = append(tests, moneyDecodeTests(t, emu, at)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := stripeevent.Decode([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if !fulfillment.IsPermanent(err) {
					t.Errorf("error is not permanent: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, ev)
		})
	}
}

type decodeTest = struct {
	name    string
	body    string
	wantErr string
	check   func(t *testing.T, ev fulfillment.Event)
}

// moneyDecodeTests are the events about charges, disputes and early fraud
// warnings, as the emulator builds them and as other shapes Stripe sends.
func moneyDecodeTests(t *testing.T, emu *stripeemu.Emulator, at time.Time) []decodeTest {
	t.Helper()
	const (
		pi        = "pi_3OCFUqKx8wUb3Zqv0CrossS1"
		ch        = "ch_3OCFUqKx8wUb3Zqv0CrossS1"
		subCharge = "ch_1OCFYkKx8wUb3ZqvInvSub1"
	)
	event := func(id, typ, object string) string {
		b, err := emu.ObjectEvent(id, typ, object, at)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if _, err := emu.Refund(ch, 100); err != nil {
		t.Fatal(err)
	}
	dp, err := emu.OpenDispute(ch, "fraudulent", false)
	if err != nil {
		t.Fatal(err)
	}
	warning, err := emu.WarnFraud(subCharge, "misc", true)
	if err != nil {
		t.Fatal(err)
	}
	want := func(object, charge string, p fulfillment.Payment, typ string) func(*testing.T, fulfillment.Event) {
		return func(t *testing.T, ev fulfillment.Event) {
			if ev.Type != typ || ev.Object != object || ev.Charge != charge || ev.Payment != p || ev.Session.ID != "" || !ev.Created.Equal(at) {
				t.Errorf("event %+v, want object %s, charge %s, payment %+v", ev, object, charge, p)
			}
		}
	}
	byPI := fulfillment.Payment{PaymentIntent: pi}
	subPayment := fulfillment.Payment{PaymentIntent: "pi_1OCFYkKx8wUb3ZqvInvSub1", Invoice: "in_1OCFYkKx8wUb3ZqvInvSub1"}
	refunded := event("evt_refunded", fulfillment.EventChargeRefunded, ch)
	disputed := event("evt_dispute", fulfillment.EventDisputeCreated, dp)
	expandedCharge := `{"id":"evt_dx","object":"event","created":` + fmt.Sprint(at.Unix()) + `,"type":"charge.dispute.closed","data":{"object":` +
		`{"id":"dp_x","object":"dispute","payment_intent":null,"charge":{"id":"ch_x","object":"charge","payment_intent":{"id":"pi_x","object":"payment_intent"},"invoice":"in_x"}}}}`
	return []decodeTest{
		{name: "charge.refunded", body: refunded, check: want(ch, ch, byPI, fulfillment.EventChargeRefunded)},
		{name: "subscription charge", body: event("evt_sub_refunded", fulfillment.EventChargeRefunded, subCharge),
			check: want(subCharge, subCharge, subPayment, fulfillment.EventChargeRefunded)},
		{name: "charge.dispute.created", body: disputed, check: want(dp, ch, byPI, fulfillment.EventDisputeCreated)},
		{name: "radar.early_fraud_warning.created", body: event("evt_efw", fulfillment.EventEarlyFraudWarningCreated, warning),
			check: want(warning, subCharge, fulfillment.Payment{PaymentIntent: subPayment.PaymentIntent}, fulfillment.EventEarlyFraudWarningCreated)},
		{name: "dispute with an expanded charge", body: expandedCharge,
			check: want("dp_x", "ch_x", fulfillment.Payment{PaymentIntent: "pi_x", Invoice: "in_x"}, fulfillment.EventDisputeClosed)},
		{name: "charge event about a dispute", body: strings.Replace(disputed, `"type":"charge.dispute.created"`, `"type":"charge.refunded"`, 1),
			wantErr: `is not a charge (object "dispute"`},
		{name: "dispute without a charge", body: strings.Replace(disputed, `"charge":"`+ch+`"`, `"charge":null`, 1),
			wantErr: "names no charge"},
		{name: "warning event about a charge", body: strings.Replace(refunded, `"type":"charge.refunded"`, `"type":"radar.early_fraud_warning.updated"`, 1),
			wantErr: "is not a radar.early_fraud_warning"},
		{name: "money object without an id", body: strings.Replace(refunded, `"id":"`+ch+`"`, `"id":""`, 1),
			wantErr: "is not a charge"},
		{name: "money object is a string",
			body:    `{"id":"evt_6","object":"event","created":1,"type":"charge.dispute.updated","data":{"object":"dp_1"}}`,
			wantErr: "not a dispute: not an object"},
	}
}

func checkSession(t *testing.T, got, want fulfillment.Session) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("session:\n got %+v (shipping %+v)\nwant %+v (shipping %+v)", got, got.Shipping, want, want.Shipping)
	}
}
