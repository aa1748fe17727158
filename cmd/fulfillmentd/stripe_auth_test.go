package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// TestStripeKeyRejected: Stripe answers 401 (key revoked) or 403 (key
// lacks a permission) to every request. The worker does not dead-letter the
// paid event: it logs an ERROR that names the problem (never the key),
// counts it in fulfillmentd_stripe_auth_errors_total, and leaves the event
// to a long delayed retry.
func TestStripeKeyRejected(t *testing.T) {
	t.Parallel()
	const secretKey = "sk_test_" + "rotatedAwayKey0123456789"
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			emu, stripeSrv := newEmulator(t)
			emu.FailNext(1000, status)
			env := serviceEnv(t, stripeSrv.URL)
			env["STRIPE_SECRET_KEY"] = secretKey
			env["FULFILLMENT_LOG_LEVEL"] = "info" // the pool's retry line
			svc := startService(t, env)
			body, err := emu.Event("evt_key_1", fulfillment.EventSessionCompleted, "cs_test_crosssell", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			svc.send(t, body)
			var retry map[string]any
			waitFor(t, "the retry", func() bool {
				retry = logLine(svc.stderr.String(), map[string]any{"msg": "message processed", "outcome": "retry", "event_id": "evt_key_1"})
				return retry != nil
			})

			logs := svc.stderr.String()
			if logLine(logs, map[string]any{"level": "ERROR", "msg": stripeKeyProblem + "; the event is retried with a long backoff", "event_id": "evt_key_1"}) == nil {
				t.Errorf("no ERROR line naming the problem and the event:\n%s", logs)
			}
			if strings.Contains(logs, secretKey) {
				t.Errorf("the log shows the API key:\n%s", logs)
			}
			if d, _ := retry["retry_in"].(float64); time.Duration(d) < 30*time.Second {
				t.Errorf("retry in %s, want ≥ 30s (the auth backoff)", time.Duration(d))
			}
			series := `fulfillmentd_stripe_auth_errors_total{status="` + strconv.Itoa(status) + `"}`
			if v := scrape(t, svc.url, series); v < 1 {
				t.Errorf("%s = %v, want ≥ 1", series, v)
			}
			if l := readLedger(t, filepath.Join(env["FULFILLMENT_DATA_DIR"], "fulfillment.db")); len(l.dead) != 0 {
				t.Errorf("dead letters %v after a rejected key, want none", l.dead)
			}
		})
	}
}

// scrape reads one series (name{labels} as exposed) from /metrics; -1 if
// it is missing.
func scrape(t *testing.T, baseURL, series string) float64 {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(string(raw))
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s = %q: %v", series, m[1], err)
	}
	return v
}

// logLine finds the first JSON log line that has every field of want.
func logLine(logs string, want map[string]any) map[string]any {
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		match := true
		for k, v := range want {
			if rec[k] != v {
				match = false
				break
			}
		}
		if match {
			return rec
		}
	}
	return nil
}
