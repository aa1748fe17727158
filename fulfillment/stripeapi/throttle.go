package stripeapi

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// floorDivisor bounds how far 429s slow the limiter: down to MaxRPS/16.
const floorDivisor = 16

// throttle paces every request through one limiter and counts them. It sits
// under stripe-go, so stripe-go's retries wait for their turn too.
//
// With a ceiling (MaxRPS > 0) the pace adapts to what Stripe accepts
// (AIMD, as TCP does): a 429 halves the rate, at most once per round of
// requests sent at that rate, down to ceiling/16; every answer that is not a
// 429 or a 5xx adds 1/rate request per second back, so at full pace the
// rate grows by about 1 req/s each second until it is at the ceiling again.
// Recovery is counted in answers, not in time: an idle client stays slow
// until traffic shows Stripe accepts more.
type throttle struct {
	next     http.RoundTripper
	limiter  *rate.Limiter
	requests *atomic.Int64
	limited  atomic.Int64 // 429 answers
	onWait   func(time.Duration)

	ceiling, floor float64 // 0: no limit, nothing adapts

	mu  sync.Mutex
	cur float64
	gen uint64 // bumped by each decrease
}

func newThrottle(next http.RoundTripper, maxRPS float64, requests *atomic.Int64) *throttle {
	t := &throttle{next: next, requests: requests, limiter: rate.NewLimiter(rate.Inf, burst)}
	if maxRPS > 0 {
		t.ceiling, t.floor, t.cur = maxRPS, maxRPS/floorDivisor, maxRPS
		t.limiter.SetLimit(rate.Limit(maxRPS))
	}
	return t
}

func (t *throttle) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	waitStart := time.Now()
	err := t.limiter.Wait(ctx)
	if t.onWait != nil {
		t.onWait(time.Since(waitStart))
	}
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		if ctx.Err() == nil { // the wait would outlast ctx's deadline
			err = fmt.Errorf("%v: %w", err, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("stripe rate limiter: %w", err)
	}
	t.requests.Add(1)
	gen := t.generation()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		t.limited.Add(1)
		t.decrease(gen)
	case resp.StatusCode < 500:
		t.increase()
	}
	return resp, nil
}

func (t *throttle) generation() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gen
}

// decrease halves the rate, unless it was already cut after the request
// that met the 429 was sent: the answers of one round of requests sent at
// a rate Stripe refused count once.
func (t *throttle) decrease(sentAt uint64) {
	if t.ceiling == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if sentAt != t.gen {
		return
	}
	t.gen++
	t.cur = max(t.floor, t.cur/2)
	t.limiter.SetLimit(rate.Limit(t.cur))
}

func (t *throttle) increase() {
	if t.ceiling == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur >= t.ceiling {
		return
	}
	t.cur = min(t.ceiling, t.cur+1/t.cur)
	t.limiter.SetLimit(rate.Limit(t.cur))
}

// rate is the current pace in requests per second; 0 means unlimited.
func (t *throttle) rate() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur
}
