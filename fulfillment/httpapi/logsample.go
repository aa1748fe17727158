package httpapi

import (
	"log/slog"
	"sync"
	"time"
)

// At most SampledLines lines of one kind are logged per SampledWindow for
// unauthenticated requests (bad webhook signatures, unknown API tokens): a
// flood of them cannot fill the disk, and the metrics count every one.
const (
	SampledLines  = 10
	SampledWindow = time.Minute
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
	return &logSampler{log: log, max: SampledLines, every: SampledWindow, now: now}
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
