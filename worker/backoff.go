package worker

import (
	"context"
	"math/rand/v2"
	"time"
)

// Jitter is how a Backoff spreads its delays below the ceiling
// c = min(Max, Base·2^(attempt-1)).
type Jitter uint8

const (
	// EqualJitter draws uniformly from [c/2, c): half of each delay is
	// fixed, so the total wait has a floor that does not depend on luck.
	EqualJitter Jitter = iota
	// FullJitter draws uniformly from [0, c).
	FullJitter
	// NoJitter waits c.
	NoJitter
)

// Backoff is exponential backoff: the delay after the attempt-th failure in a
// row doubles from Base up to Max, spread by Jitter. Rand returns a value in
// [0, 1); nil → math/rand/v2.Float64.
type Backoff struct {
	Base, Max time.Duration
	Jitter    Jitter
	Rand      func() float64
}

// Redelivery is the Pool's retry delay of a message whose handler failed:
// equal jitter from 1 s, doubling to 15 min, reached from the 11th attempt
// on (2^10 s > 15 min).
//
// Half of each delay is fixed so that the total wait before a message is
// dead-lettered has a floor that does not depend on luck: Total with a Rand
// of 0. The other half spreads retries of events that failed together (a
// Stripe outage) so they do not come back in one burst.
var Redelivery = Backoff{Base: time.Second, Max: 15 * time.Minute, Jitter: EqualJitter}

// AuthRedelivery is the retry delay after Stripe rejected the API key
// (fulfillment.ErrUnauthorized): Redelivery's shape from a minute, so
// 30–60 s, 1–2 min, 2–4, 4–8, then 7.5–15 min. Such an outage lasts until
// an operator fixes the key and fails every event alike: each retry is a
// request Stripe refuses, so they are spaced from the start (a backlog of
// N events sends about N/11 min of them, not N per minute), yet a fixed key
// is picked up within a minute or two of an early failure and within
// 15 min later. The Pool waits the longer of this and Redelivery, so
// deliveries last at least as long as for any other transient failure.
var AuthRedelivery = Backoff{Base: time.Minute, Max: 15 * time.Minute, Jitter: EqualJitter}

// Delay is the wait after the attempt-th failure in a row (1-based; less
// than 1 counts as 1).
func (b Backoff) Delay(attempt int) time.Duration {
	c := b.ceiling(attempt)
	random := b.Rand
	if random == nil {
		random = rand.Float64
	}
	switch b.Jitter {
	case FullJitter:
		return time.Duration(random() * float64(c))
	case NoJitter:
		return c
	}
	return c/2 + time.Duration(random()*float64(c/2))
}

func (b Backoff) ceiling(attempt int) time.Duration {
	if n := attempt - 1; n <= 0 {
		return min(b.Base, b.Max)
	} else if n < 20 && b.Base<<n < b.Max {
		return b.Base << n
	}
	return b.Max
}

// Total is the sum of the delays after attempts 1 to deliveries-1: the time
// between a message's first delivery and its last (handler time not
// included). With Rand returning 0 it is the least such time, with Rand
// returning just under 1 the most.
func (b Backoff) Total(deliveries int) time.Duration {
	var sum time.Duration
	for a := 1; a < deliveries; a++ {
		sum += b.Delay(a)
	}
	return sum
}

// Sleep waits d unless ctx ends first; it reports whether it waited d.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Loop runs a background step again and again: after a success it waits
// Every, or until Wake; after the n-th failure in a row it waits
// Backoff.Delay(n) (Wake does not cut that short).
type Loop struct {
	Every   time.Duration
	Wake    <-chan struct{} // nil: no early wake
	Backoff Backoff
	// WaitFirst makes Run wait Every (or Wake) before the first step too.
	WaitFirst bool
	// Failed, if set, hears of each failure: how many in a row (1-based)
	// and the wait before the next try.
	Failed func(err error, failures int, retryIn time.Duration)
	// Recovered, if set, hears of the first success after failures.
	Recovered func(failures int)
}

// Run runs step at once (after Every with WaitFirst) and then as the Loop
// says until ctx ends, and returns nil. A step that returns while ctx is done ends Run without being
// counted as a failure.
func (l Loop) Run(ctx context.Context, step func(context.Context) error) error {
	// Since Go 1.23 a stopped or reset timer never delivers a stale tick:
	// no draining needed.
	timer := time.NewTimer(l.Every)
	timer.Stop()
	defer timer.Stop()
	failures := 0
	if l.WaitFirst && !l.wait(ctx, timer) {
		return nil
	}
	for {
		err := step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			wait := l.Backoff.Delay(failures)
			if l.Failed != nil {
				l.Failed(err, failures, wait)
			}
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
			continue
		}
		if failures > 0 && l.Recovered != nil {
			l.Recovered(failures)
		}
		failures = 0
		if !l.wait(ctx, timer) {
			return nil
		}
	}
}

// wait waits Every on timer, or until Wake; false if ctx ended.
func (l Loop) wait(ctx context.Context, timer *time.Timer) bool {
	timer.Reset(l.Every)
	select {
	case <-ctx.Done():
		return false
	case <-l.Wake:
		timer.Stop()
	case <-timer.C:
	}
	return true
}
