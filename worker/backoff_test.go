package worker_test

import (
	"os"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/worker"
)

func writeFile(path string) error { return os.WriteFile(path, []byte("x"), 0o600) }

func TestBackoff(t *testing.T) {
	t.Parallel()
	almostOne := func() float64 { return 0.999999 }
	half := func() float64 { return 0.5 }
	zero := func() float64 { return 0 }
	tests := []struct {
		attempt int
		random  func() float64
		min     time.Duration
		max     time.Duration
	}{
		{1, almostOne, 999 * time.Millisecond, time.Second},
		{2, almostOne, 1999 * time.Millisecond, 2 * time.Second},
		{3, half, 2 * time.Second, 2 * time.Second},
		{9, almostOne, 255 * time.Second, 256 * time.Second},
		{10, almostOne, 299 * time.Second, 5 * time.Minute}, // 512s capped
		{1000, almostOne, 299 * time.Second, 5 * time.Minute},
		{0, almostOne, 999 * time.Millisecond, time.Second},
		{5, zero, 0, 0}, // full jitter reaches down to zero
	}
	for _, tt := range tests {
		got := worker.Backoff(tt.attempt, tt.random)
		if got < tt.min || got > tt.max {
			t.Errorf("Backoff(%d) = %s, want in [%s, %s]", tt.attempt, got, tt.min, tt.max)
		}
	}
}
