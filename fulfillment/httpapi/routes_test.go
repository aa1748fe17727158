package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// TestNewHandlerServesItsParts: a part left nil is not served (404), and a
// NotServed prefix answers 404 with its own sentence, before any route.
func TestNewHandlerServesItsParts(t *testing.T) {
	t.Parallel()
	const elsewhere = "served by another role"
	for _, tt := range []struct {
		name   string
		deps   Deps
		method string
		path   string
		status int
		detail string
	}{
		{"no webhooks", Deps{API: &API{}}, "POST", "/webhooks/stripe", 404, "no such endpoint: POST /webhooks/stripe"},
		{"no API", Deps{Webhooks: &Webhooks{}}, "GET", "/v1/openapi.json", 404, "no such endpoint: GET /v1/openapi.json"},
		{"no ops", Deps{API: &API{}}, "GET", "/healthz", 404, "no such endpoint: GET /healthz"},
		{"not served", Deps{API: &API{}, NotServed: map[string]string{"/v1/": elsewhere}}, "GET", "/v1/openapi.json", 404, elsewhere},
		{"not served, unknown path", Deps{NotServed: map[string]string{"/webhooks/": elsewhere}}, "GET", "/webhooks/x", 404, elsewhere},
		{"other prefix still served", Deps{API: &API{}, NotServed: map[string]string{"/webhooks/": elsewhere}}, "GET", "/v1/orders", 401, "missing bearer token"},
	} {
		rec := httptest.NewRecorder()
		NewHandler(tt.deps).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		var p Problem
		if rec.Code != tt.status || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Detail != tt.detail {
			t.Errorf("%s: %s %s: HTTP %d %s, want %d with detail %q", tt.name, tt.method, tt.path, rec.Code, rec.Body, tt.status, tt.detail)
		}
	}
}
