package worker_test

import (
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/worker"
)

// withRand is b drawing from random.
func withRand(b worker.Backoff, random func() float64) worker.Backoff {
	b.Rand = random
	return b
}

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
		{1, zero, 500 * time.Millisecond, 500 * time.Millisecond},
		{2, almostOne, 1999 * time.Millisecond, 2 * time.Second},
		{3, half, 3 * time.Second, 3 * time.Second}, // 4s ceiling: 2s + 0.5·2s
		{9, almostOne, 255 * time.Second, 256 * time.Second},
		{10, zero, 256 * time.Second, 256 * time.Second},
		{11, almostOne, 899 * time.Second, 15 * time.Minute}, // 1024s capped
		{11, zero, 450 * time.Second, 450 * time.Second},
		{1000, almostOne, 899 * time.Second, 15 * time.Minute},
		{0, almostOne, 999 * time.Millisecond, time.Second},
		{-3, zero, 500 * time.Millisecond, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		got := withRand(worker.Redelivery, tt.random).Delay(tt.attempt)
		if got < tt.min || got > tt.max {
			t.Errorf("Backoff(%d) = %s, want in [%s, %s]", tt.attempt, got, tt.min, tt.max)
		}
	}
}

// TestAuthBackoff: after a rejected API key, retries start at a minute and
// double to the same cap; never sooner than Backoff for the same attempt.
func TestAuthBackoff(t *testing.T) {
	t.Parallel()
	almostOne := func() float64 { return 0.999999 }
	zero := func() float64 { return 0 }
	tests := []struct {
		attempt int
		random  func() float64
		min     time.Duration
		max     time.Duration
	}{
		{1, zero, 30 * time.Second, 30 * time.Second},
		{1, almostOne, 59 * time.Second, time.Minute},
		{2, zero, time.Minute, time.Minute},
		{4, almostOne, 479 * time.Second, 8 * time.Minute},
		{5, zero, 450 * time.Second, 450 * time.Second}, // 16 min capped at 15
		{5, almostOne, 899 * time.Second, 15 * time.Minute},
		{1000, almostOne, 899 * time.Second, 15 * time.Minute},
		{0, zero, 30 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		got := withRand(worker.AuthRedelivery, tt.random).Delay(tt.attempt)
		if got < tt.min || got > tt.max {
			t.Errorf("AuthBackoff(%d) = %s, want in [%s, %s]", tt.attempt, got, tt.min, tt.max)
		}
		if b := withRand(worker.Redelivery, tt.random).Delay(tt.attempt); got < b {
			t.Errorf("AuthBackoff(%d) = %s, shorter than Backoff's %s", tt.attempt, got, b)
		}
	}
}

func TestBackoffTotal(t *testing.T) {
	t.Parallel()
	zero := func() float64 { return 0 }
	// Floors: 0.5+1+...+256 = 511.5 s for the first 10 delays, then 450 s each.
	tests := []struct {
		deliveries int
		want       time.Duration
	}{
		{1, 0},
		{2, 500 * time.Millisecond},
		{11, 511500 * time.Millisecond},
		{12, 961500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := withRand(worker.Redelivery, zero).Total(tt.deliveries); got != tt.want {
			t.Errorf("BackoffTotal(%d) = %s, want %s", tt.deliveries, got, tt.want)
		}
	}
}
