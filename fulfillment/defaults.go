package fulfillment

import (
	"log/slog"
	"time"
)

// NowOr is f(), or time.Now() when f is nil: the clock of a type whose Now
// field is optional.
func NowOr(f func() time.Time) time.Time {
	if f == nil {
		return time.Now()
	}
	return f()
}

// LoggerOr is l, or a logger that discards everything when l is nil: the
// logger of a type whose Log field is optional.
func LoggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
