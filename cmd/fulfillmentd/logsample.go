package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Lines of one kind logged per minute for unauthenticated requests (bad
// webhook signatures, unknown API tokens): a flood of them cannot fill the
// disk, and the metrics count every one.
const (
	sampledLines  = 10
	sampledWindow = time.Minute
)

// logSampler logs at most max warnings per window; the ones past that are
// counted, and the next line logged says how many were left out
// ("suppressed"). Safe for concurrent use.
type logSampler struct {
	log   *slog.Logger
	max   int
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	start      time.Time // of the current window
	logged     int       // lines in the current window
	suppressed int       // lines left out since the last one logged
}

func newLogSampler(log *slog.Logger, now func() time.Time) *logSampler {
	return &logSampler{log: log, max: sampledLines, every: sampledWindow, now: now}
}

// Warn logs msg with args at WARN unless this window's lines are used up.
func (s *logSampler) Warn(msg string, args ...any) {
	s.mu.Lock()
	if now := s.now(); now.Sub(s.start) >= s.every {
		s.start, s.logged = now, 0
	}
	if s.logged >= s.max {
		s.suppressed++
		s.mu.Unlock()
		return
	}
	s.logged++
	left := s.suppressed
	s.suppressed = 0
	s.mu.Unlock()
	if left > 0 {
		args = append(args, "suppressed", left)
	}
	s.log.Warn(msg, args...)
}

// newUnauthorized is fulfillmentd_api_unauthorized_total{reason}: /v1
// requests refused for their bearer token (missing_token, unknown_token).
// Bad webhook signatures are fulfillmentd_webhooks_total{outcome="bad_signature"}.
func newUnauthorized(reg *prometheus.Registry) *prometheus.CounterVec {
	c := counters("fulfillmentd_api_unauthorized_total",
		"Warehouse API requests refused for their bearer token, by reason: missing_token, unknown_token.", "reason")
	reg.MustRegister(c)
	return c
}

// unauthorizedRequest counts one /v1 request refused for its token.
func (m *metrics) unauthorizedRequest(reason string) {
	m.unauthorized.WithLabelValues(reason).Inc()
}
