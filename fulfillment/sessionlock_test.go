package fulfillment

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSessionLocks(t *testing.T) {
	t.Parallel()
	var l sessionLocks
	ctx := context.Background()
	unlockA, err := l.lock(ctx, "cs_a")
	if err != nil {
		t.Fatal(err)
	}
	// Another session is not held up.
	unlockB, err := l.lock(ctx, "cs_b")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	// The same session waits; a caller that gives up gets its context's error.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := l.lock(short, "cs_a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock of a held session: %v, want the deadline", err)
	}
	got := make(chan struct{})
	go func() {
		unlock, err := l.lock(ctx, "cs_a")
		if err == nil {
			unlock()
		}
		close(got)
	}()
	unlockA()
	<-got
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.held) != 0 {
		t.Errorf("%d sessions still tracked after every unlock", len(l.held))
	}
}
