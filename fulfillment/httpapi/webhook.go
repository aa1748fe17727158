package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// Publisher makes a verified event durable, with its Stripe-Signature
// (the worker checks it again): it returns once the broker has stored it.
type Publisher interface {
	PublishDelivery(ctx context.Context, eventType, eventID, stripeSignature string, payload []byte) (duplicate bool, err error)
}

// PublishTimeout bounds the wait for the broker's acknowledgement, well
// inside Stripe's own delivery timeout: past it the answer is 503 and Stripe
// delivers again.
const PublishTimeout = 5 * time.Second

// stripeWebhook verifies a Stripe delivery on its raw body and makes the
// checkout events durable on the broker before answering 2xx: Stripe
// resends anything that did not get a 2xx, and nothing that did.
func stripeWebhook(log *slog.Logger, d *Webhooks) http.Handler {
	verifier, events, observe := d.Verifier, d.Events, d.Observe
	var ignored, expired atomic.Int64
	rejected := newLogSampler(log, time.Now)
	if observe == nil {
		observe = func(string, time.Duration) {}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received := time.Now()
		if !jsonContentType(r.Header.Get("Content-Type")) {
			observe("unsupported_media_type", 0)
			writeProblem(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json (Stripe sends application/json; charset=utf-8)")
			return
		}
		if r.ContentLength > stripeevent.MaxBodyBytes {
			observe("too_large", 0)
			writeError(w, r, log, fulfillment.Errorf(fulfillment.CodeTooLarge, "body over 64 KiB"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, stripeevent.MaxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				observe("too_large", 0)
				writeError(w, r, log, fulfillment.Errorf(fulfillment.CodeTooLarge, "body over 64 KiB"))
				return
			}
			observe("bad_request", 0)
			writeError(w, r, log, fulfillment.Errorf(fulfillment.CodeBadRequest, "could not read body"))
			return
		}
		sig := r.Header.Get("Stripe-Signature")
		if err := verifier.Verify(sig, body); err != nil {
			observe("bad_signature", 0)
			rejected.Warn("webhook rejected", "reason", err.Error(), "remote", r.RemoteAddr)
			writeError(w, r, log, fulfillment.Errorf(fulfillment.CodeBadRequest, "%s", signatureDetail(err)))
			return
		}
		ev, err := stripeevent.ParseEnvelope(body)
		if err != nil {
			observe("bad_request", 0)
			writeError(w, r, log, &fulfillment.Error{Code: fulfillment.CodeBadRequest, Detail: err.Error(), Err: err})
			return
		}
		if ev.Type == fulfillment.EventSessionExpired {
			// An abandoned checkout: no order to make, nothing to publish.
			observe("expired", 0)
			n := expired.Add(1)
			log.Info("checkout session expired", "event_id", ev.ID, "session_id", ev.Data.Object.ID, "expired_total", n)
			writeJSON(w, http.StatusOK, map[string]string{"status": "expired", "event_id": ev.ID})
			return
		}
		if !fulfillment.Handles(ev.Type) {
			observe("ignored", 0)
			n := ignored.Add(1)
			log.Info("webhook ignored", "event_id", ev.ID, "type", ev.Type, "ignored_total", n)
			writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "event_id": ev.ID})
			return
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), PublishTimeout)
		dup, err := events.PublishDelivery(ctx, ev.Type, ev.ID, sig, body)
		cancel()
		if err != nil {
			observe("unavailable", 0)
			log.Error("webhook not durable", "event_id", ev.ID, "type", ev.Type, "err", err.Error())
			w.Header().Set("Retry-After", "5")
			writeProblem(w, http.StatusServiceUnavailable, "event could not be stored; retry later")
			return
		}
		status := "accepted"
		if dup {
			status = "duplicate"
		}
		observe(status, time.Since(received))
		log.Debug("webhook accepted", "event_id", ev.ID, "type", ev.Type, "session_id", ev.Data.Object.ID,
			"status", status, "publish_ms", time.Since(start).Milliseconds())
		writeJSON(w, http.StatusOK, map[string]string{"status": status, "event_id": ev.ID})
	})
}

// signatureDetail is what a client learns of a failed signature check:
// nothing of the secrets configured, how many signatures matched, or the
// tolerance. The precise reason is in the log.
func signatureDetail(err error) string {
	if errors.Is(err, stripeevent.ErrMissingHeader) {
		return "missing Stripe-Signature header"
	}
	return "invalid Stripe-Signature (the reason is in fulfillmentd's log)"
}

// jsonContentType accepts what Stripe sends, application/json; charset=utf-8,
// as well as application/json without a charset and no Content-Type at all
// (some relays drop it). Anything else, another charset included, is 415:
// the body is not what a Stripe webhook is.
func jsonContentType(v string) bool {
	if v == "" {
		return true
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}
