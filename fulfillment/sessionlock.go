package fulfillment

import (
	"context"
	"sync"
)

// sessionLocks serialises work on one Checkout Session within a process.
// Correctness does not depend on it (the store's Record serialises and
// merges); it saves Stripe calls: of two events of one session handled at
// once (a duplicate delivery, a delayed payment's completed and succeeded
// events), the second waits for the first to record the order and then
// needs no request of its own. Its zero value is ready to use.
type sessionLocks struct {
	mu   sync.Mutex
	held map[string]*sessionLock
}

type sessionLock struct {
	ch      chan struct{} // holds a token while the session is locked
	waiters int           // callers holding or waiting for ch
}

// lock waits until no other caller holds the session, or ctx ends. The
// returned func releases it.
func (l *sessionLocks) lock(ctx context.Context, sessionID string) (unlock func(), err error) {
	l.mu.Lock()
	if l.held == nil {
		l.held = make(map[string]*sessionLock)
	}
	sl := l.held[sessionID]
	if sl == nil {
		sl = &sessionLock{ch: make(chan struct{}, 1)}
		l.held[sessionID] = sl
	}
	sl.waiters++
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		sl.waiters--
		if sl.waiters == 0 {
			delete(l.held, sessionID)
		}
		l.mu.Unlock()
	}
	select {
	case sl.ch <- struct{}{}:
		return func() { <-sl.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
