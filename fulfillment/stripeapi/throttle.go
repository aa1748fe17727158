package stripeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// floorDivisor bounds how far 429s slow the limiter: down to MaxRPS/16.
const floorDivisor = 16

// maxErrorPeek bounds how much of a 429's body the throttle reads to find
// its error code (Stripe's error objects are a few hundred bytes).
const maxErrorPeek = 16 << 10

// throttle paces every request through one limiter and counts them. It sits
// under stripe-go, so stripe-go's retries wait for their turn too.
//
// With a ceiling (MaxRPS > 0) the pace adapts to what Stripe accepts
// (AIMD, as TCP does): a rate-limit 429 (see rateLimited) halves the rate,
// at most once per round of requests sent at that rate, down to ceiling/16;
// every answer that is not a 429 or a 5xx adds 1/rate request per second
// back, so at full pace the rate grows by about 1 req/s each second until it
// is at the ceiling again. A 429 lock_timeout (one object's lock, which
// stripe-go retries) and a 5xx say nothing about the pace: they leave it as
// it is. Recovery is counted in answers, not in time: an idle client stays
// slow until traffic shows Stripe accepts more.
type throttle struct {
	next     http.RoundTripper
	limiter  *rate.Limiter
	requests *atomic.Int64
	limited  atomic.Int64 // rate-limit 429 answers
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
		if rateLimited(resp) {
			t.limited.Add(1)
			t.decrease(gen)
		}
	case resp.StatusCode < 500:
		t.increase()
	}
	return resp, nil
}

// rateLimited reports whether a 429 is Stripe's rate limit (the account's
// or an endpoint's), the only 429 that asks for a slower pace. Stripe marks
// those with a Stripe-Rate-Limited-Reason header and the error code
// rate_limit; a 429 lock_timeout has neither. Without the header the error
// code decides: the body's start is read and put back in front of the rest,
// so stripe-go decodes the whole answer. A 429 whose body names no code
// (not Stripe's error object: a proxy, say) counts as a rate limit.
func rateLimited(resp *http.Response) bool {
	if resp.Header.Get("Stripe-Rate-Limited-Reason") != "" {
		return true
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		return true
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorPeek))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if err != nil {
		return true
	}
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(head, &body) != nil || body.Error.Code == "" {
		return true
	}
	return body.Error.Code == "rate_limit"
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
