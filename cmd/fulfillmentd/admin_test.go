package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestAdminListener: with FULFILLMENT_ADMIN_ADDR the probes and metrics are
// served there, and 404 on the public listener, which still takes webhooks
// and serves /v1.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	_, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	env["FULFILLMENT_ADMIN_ADDR"] = "127.0.0.1:0"
	svc := startService(t, env)
	defer svc.stop(t)
	m := regexp.MustCompile(`admin endpoints \(/healthz /readyz /metrics\) on (http://\S+)`).FindStringSubmatch(svc.stdout.String())
	if m == nil {
		t.Fatalf("no admin address printed:\n%s", svc.stdout.String())
	}
	admin := m[1]
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, body := get(svc.url + path); code != http.StatusNotFound {
			t.Errorf("public %s: HTTP %d, want 404: %s", path, code, body)
		}
		if code, body := get(admin + path); code != http.StatusOK {
			t.Errorf("admin %s: HTTP %d, want 200: %s", path, code, body)
		}
	}
	if _, body := get(admin + "/metrics"); !strings.Contains(body, "fulfillmentd_consumer_pending") {
		t.Errorf("admin /metrics has no consumer gauges:\n%.500s", body)
	}
	for _, path := range []string{"/webhooks/stripe", "/v1/orders"} {
		if code, body := get(admin + path); code != http.StatusNotFound {
			t.Errorf("admin %s: HTTP %d, want 404: %s", path, code, body)
		}
	}
	if code, _ := get(svc.url + "/v1/openapi.json"); code != http.StatusOK {
		t.Errorf("public /v1/openapi.json: HTTP %d", code)
	}
	if code := svc.deliver(t, []byte(`{}`), "t=1,v1=00"); code != http.StatusBadRequest {
		t.Errorf("public webhook with a bad signature: HTTP %d, want 400", code)
	}
}

// TestReadyzDetail: the public /readyz says "not ready" and nothing of
// why; the admin one says why; both log it.
func TestReadyzDetail(t *testing.T) {
	t.Parallel()
	secret := errors.New("database: open /srv/secret/path/fulfillment.db: disk I/O error")
	for _, tt := range []struct {
		detail bool
		want   string
	}{{false, "not ready"}, {true, secret.Error()}} {
		var logs strings.Builder
		log := slog.New(slog.NewTextHandler(&logs, nil))
		h := opsRoutes(log, func(context.Context) error { return secret }, nil, tt.detail)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var p problem
		if rec.Code != http.StatusServiceUnavailable || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Detail != tt.want {
			t.Errorf("detail=%v: HTTP %d %s, want 503 with detail %q", tt.detail, rec.Code, rec.Body, tt.want)
		}
		if !strings.Contains(logs.String(), "disk I/O error") {
			t.Errorf("detail=%v: reason not logged: %s", tt.detail, logs.String())
		}
	}
}
