package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

func event(id, typ, apiVersion string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": apiVersion, "type": typ, "created": 1700000000,
		"data": map[string]any{"object": map[string]any{"id": "cs_test_1", "object": "checkout.session", "payment_status": "paid"}},
	})
	return b
}

func TestWebhookReceiver(t *testing.T) {
	t.Parallel()
	js := natstest.NewEnv(t, broker.StreamConfig{Workers: 2}).JS
	now := time.Unix(1_800_000_000, 0)
	verifier, err := stripeevent.NewVerifier([]string{"whsec_current", "whsec_previous"}, 0, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	h := stripeWebhook(slog.New(slog.DiscardHandler), &Webhooks{Verifier: verifier, Events: broker.NewPublisher(js)})

	completed := event("evt_1", "checkout.session.completed", "2023-10-16")
	newer := event("evt_2", "checkout.session.async_payment_succeeded", "2025-03-31.basil")
	big := bytes.Repeat([]byte("x"), stripeevent.MaxBodyBytes+1)
	tests := []struct {
		name       string
		body       []byte
		sig        string
		wantCode   int
		wantStatus string // in the JSON reply, for 200s
		wantStored uint64 // messages in the stream afterwards (cumulative)
	}{
		{"valid", completed, stripeevent.Sign("whsec_current", now, completed), 200, "accepted", 1},
		{"duplicate delivery", completed, stripeevent.Sign("whsec_current", now.Add(time.Minute), completed), 200, "duplicate", 1},
		{"previous secret during rotation, other api_version", newer, stripeevent.Sign("whsec_previous", now, newer), 200, "accepted", 2},
		{"ignored type", event("evt_3", "customer.created", "2023-10-16"), stripeevent.Sign("whsec_current", now, event("evt_3", "customer.created", "2023-10-16")), 200, "ignored", 2},
		{"expired session: counted, not published", event("evt_4", "checkout.session.expired", "2023-10-16"), stripeevent.Sign("whsec_current", now, event("evt_4", "checkout.session.expired", "2023-10-16")), 200, "expired", 2},
		{"wrong secret", completed, stripeevent.Sign("whsec_other", now, completed), 400, "", 2},
		{"tampered body", append([]byte(nil), bytes.Replace(completed, []byte("paid"), []byte("PAID"), 1)...), stripeevent.Sign("whsec_current", now, completed), 400, "", 2},
		{"stale", completed, stripeevent.Sign("whsec_current", now.Add(-301*time.Second), completed), 400, "", 2},
		{"future", completed, stripeevent.Sign("whsec_current", now.Add(301*time.Second), completed), 400, "", 2},
		{"missing header", completed, "", 400, "", 2},
		{"garbled header", completed, "t=abc,v1=zz", 400, "", 2},
		{"oversized body", big, stripeevent.Sign("whsec_current", now, big), 413, "", 2},
		{"not JSON", []byte("hello"), stripeevent.Sign("whsec_current", now, []byte("hello")), 400, "", 2},
		{"not an event", []byte(`{"id":"cus_1","object":"customer"}`), stripeevent.Sign("whsec_current", now, []byte(`{"id":"cus_1","object":"customer"}`)), 400, "", 2},
		{"checkout event without a session", []byte(`{"id":"evt_9","object":"event","type":"checkout.session.completed","data":{"object":{"id":"pi_1","object":"payment_intent"}}}`),
			stripeevent.Sign("whsec_current", now, []byte(`{"id":"evt_9","object":"event","type":"checkout.session.completed","data":{"object":{"id":"pi_1","object":"payment_intent"}}}`)), 400, "", 2},
	}
	// Sequential: the stream's message count accumulates across cases.
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(tt.body))
		if tt.sig != "" {
			req.Header.Set("Stripe-Signature", tt.sig)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.wantCode {
			t.Errorf("%s: HTTP %d, want %d: %s", tt.name, rec.Code, tt.wantCode, rec.Body)
			continue
		}
		if tt.wantStatus != "" {
			var reply struct{ Status string }
			if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil || reply.Status != tt.wantStatus {
				t.Errorf("%s: reply %s, want status %q", tt.name, rec.Body, tt.wantStatus)
			}
		} else if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: error content type %q", tt.name, ct)
		}
		st, err := js.Stream(context.Background(), worker.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != tt.wantStored {
			t.Errorf("%s: stream holds %d messages, want %d", tt.name, info.State.Msgs, tt.wantStored)
		}
	}
}

// TestWebhookBrokerDown: an event that cannot be made durable gets a 503,
// never a 2xx, so Stripe delivers it again.
func TestWebhookBrokerDown(t *testing.T) {
	t.Parallel()
	env := natstest.NewEnv(t, broker.StreamConfig{Workers: 2})
	ns, js := env.Server, env.JS
	verifier, err := stripeevent.NewVerifier([]string{"whsec_current"}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := stripeWebhook(slog.New(slog.DiscardHandler), &Webhooks{Verifier: verifier, Events: broker.NewPublisher(js)})
	ns.Shutdown()
	ns.WaitForShutdown()

	body := event("evt_down", "checkout.session.completed", "2023-10-16")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", stripeevent.Sign("whsec_current", time.Now(), body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "retry") {
		t.Errorf("broker down: HTTP %d %s, want 503", rec.Code, rec.Body)
	}
}
