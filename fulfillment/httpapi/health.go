package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

func healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// readyz answers 200 when ready, else 503 with the reason when
// detail is set (the admin listener) and a bare "not ready" otherwise (the
// public listener: internal error text is no one else's business). The
// reason is logged either way, a few times a minute at most.
func readyz(log *slog.Logger, ready func(context.Context) error, detail bool) http.Handler {
	notReady := newLogSampler(log, time.Now) // probes come every few seconds
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			notReady.Warn("not ready", "reason", err.Error())
			msg := "not ready"
			if detail {
				msg = err.Error()
			}
			writeProblem(w, http.StatusServiceUnavailable, msg)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}
