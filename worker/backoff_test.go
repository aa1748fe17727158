package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// TestBackoffJitter: full jitter draws from [0, c), no jitter waits c.
func TestBackoffJitter(t *testing.T) {
	t.Parallel()
	relay := worker.Backoff{Base: 100 * time.Millisecond, Max: 30 * time.Second, Jitter: worker.FullJitter}
	tests := []struct {
		b       worker.Backoff
		attempt int
		random  float64
		want    time.Duration
	}{
		{relay, 1, 0, 0},
		{relay, 1, 0.5, 50 * time.Millisecond},
		{relay, 3, 0.5, 200 * time.Millisecond},
		{relay, 20, 0.5, 15 * time.Second},
		{worker.Backoff{Base: time.Second, Max: time.Second, Jitter: worker.NoJitter}, 7, 0.3, time.Second},
		{worker.Backoff{Base: time.Second, Max: time.Minute, Jitter: worker.NoJitter}, 3, 0.3, 4 * time.Second},
	}
	for _, tt := range tests {
		if got := withRand(tt.b, func() float64 { return tt.random }).Delay(tt.attempt); got != tt.want {
			t.Errorf("%+v.Delay(%d) with random %v = %s, want %s", tt.b, tt.attempt, tt.random, got, tt.want)
		}
	}
}

// TestLoop: failures in a row are counted and waited out with the backoff,
// the first success after them is reported, Wake runs the step again at
// once, WaitFirst holds the first step back, and Run returns nil when ctx
// ends.
func TestLoop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake := make(chan struct{})
	results := []error{nil, errors.New("one"), errors.New("two"), nil, nil}
	steps := make(chan int, len(results))
	var failed []string
	var recovered []int
	l := worker.Loop{
		Every: time.Hour, Wake: wake, WaitFirst: true,
		Backoff: worker.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond, Jitter: worker.NoJitter},
		Failed: func(err error, failures int, retryIn time.Duration) {
			failed = append(failed, fmt.Sprintf("%v %d %s", err, failures, retryIn))
		},
		Recovered: func(failures int) { recovered = append(recovered, failures) },
	}
	n := 0
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(context.Context) error {
			n++
			steps <- n
			if n > len(results) {
				return nil
			}
			return results[n-1]
		})
	}()
	select {
	case n := <-steps:
		t.Fatalf("step %d ran before the first wake", n)
	case <-time.After(20 * time.Millisecond):
	}
	wake <- struct{}{} // step 1: success, then waits an hour or a wake
	if got := <-steps; got != 1 {
		t.Fatalf("step %d, want 1", got)
	}
	wake <- struct{}{} // steps 2 and 3 fail, 4 succeeds after the backoff
	for want := 2; want <= 4; want++ {
		if got := <-steps; got != want {
			t.Fatalf("step %d, want %d", got, want)
		}
	}
	wake <- struct{}{} // step 5; the wake is taken only once step 4 is done
	if got := <-steps; got != 5 {
		t.Fatalf("step %d, want 5", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if want := []string{"one 1 1ms", "two 2 2ms"}; !slices.Equal(failed, want) {
		t.Errorf("failures %q, want %q", failed, want)
	}
	if want := []int{2}; !slices.Equal(recovered, want) {
		t.Errorf("recovered %v, want %v", recovered, want)
	}
}
