package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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
		h := NewOps(log, func(context.Context) error { return secret }, nil, tt.detail)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var p Problem
		if rec.Code != http.StatusServiceUnavailable || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Detail != tt.want {
			t.Errorf("detail=%v: HTTP %d %s, want 503 with detail %q", tt.detail, rec.Code, rec.Body, tt.want)
		}
		if !strings.Contains(logs.String(), "disk I/O error") {
			t.Errorf("detail=%v: reason not logged: %s", tt.detail, logs.String())
		}
	}
}
