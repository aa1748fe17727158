package stripeapi

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// reply is one scripted answer: a status and, if set, the body and the
// Stripe-Rate-Limited-Reason header.
type reply struct {
	status       int
	body, reason string
}

// statuses scripts bare answers (no body, no header).
func statuses(codes ...int) []reply {
	r := make([]reply, len(codes))
	for i, c := range codes {
		r[i] = reply{status: c}
	}
	return r
}

// Stripe's 429 bodies, shortened.
const (
	rateLimitBody   = `{"error":{"code":"rate_limit","message":"Request rate limit exceeded.","type":"invalid_request_error"}}`
	lockTimeoutBody = `{"error":{"code":"lock_timeout","message":"This object cannot be accessed right now.","type":"invalid_request_error"}}`
)

// answers is a RoundTripper that answers each request with the next reply
// of its script; with hold set, it first waits until hold requests are in
// flight, so that they all count as sent at the same pace.
type answers struct {
	mu     sync.Mutex
	script []reply
	hold   int
	gate   sync.WaitGroup
}

func (a *answers) RoundTrip(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	r := a.script[0]
	a.script = a.script[1:]
	hold := a.hold > 0
	a.mu.Unlock()
	if hold {
		a.gate.Done()
		a.gate.Wait()
	}
	resp := &http.Response{StatusCode: r.status, Header: http.Header{}, Body: http.NoBody, Request: req}
	if r.body != "" {
		resp.Body = io.NopCloser(strings.NewReader(r.body))
	}
	if r.reason != "" {
		resp.Header.Set("Stripe-Rate-Limited-Reason", r.reason)
	}
	return resp, nil
}

func (a *answers) send(t *testing.T, th *throttle) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://stripe.invalid/v1/x", nil)
	resp, err := th.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestThrottleAIMD(t *testing.T) {
	t.Parallel()
	const ceiling = 1024.0
	a := &answers{script: statuses(429, 429, 429, 429, 429, 500, 200, 404)}
	th := newThrottle(a, ceiling, new(atomic.Int64))
	want := []float64{512, 256, 128, 64, 64} // halved down to the floor, ceiling/16
	for i, w := range want {
		a.send(t, th)
		if got := th.rate(); got != w {
			t.Fatalf("after 429 #%d: rate %v, want %v", i+1, got, w)
		}
	}
	a.send(t, th) // 500: Stripe's trouble, not our pace
	if got := th.rate(); got != 64 {
		t.Errorf("after a 500: rate %v, want 64", got)
	}
	a.send(t, th) // 200
	a.send(t, th) // 404: an answer all the same
	if got, want := th.rate(), 64+1.0/64+1/(64+1.0/64); got != want {
		t.Errorf("after two answers: rate %v, want %v (+1/rate each)", got, want)
	}
	if got := th.limited.Load(); got != 5 {
		t.Errorf("limited = %d, want 5", got)
	}
	if got := float64(th.limiter.Limit()); got != th.rate() {
		t.Errorf("limiter at %v, throttle says %v", got, th.rate())
	}
}

// TestThrottleOneCutPerRound: 429s for requests that were all sent before
// the first of them came back halve the rate once, not once each.
func TestThrottleOneCutPerRound(t *testing.T) {
	t.Parallel()
	const inFlight = 4
	a := &answers{script: statuses(429, 429, 429, 429, 429), hold: inFlight}
	a.gate.Add(inFlight)
	th := newThrottle(a, 1024, new(atomic.Int64))
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() { a.send(t, th) })
	}
	wg.Wait()
	if got := th.rate(); got != 512 {
		t.Fatalf("after %d concurrent 429s: rate %v, want 512", inFlight, got)
	}
	a.mu.Lock()
	a.hold = 0
	a.mu.Unlock()
	a.send(t, th) // sent after the cut: a new round
	if got := th.rate(); got != 256 {
		t.Fatalf("after a later 429: rate %v, want 256", got)
	}
}

func TestThrottleUnlimitedDoesNotAdapt(t *testing.T) {
	t.Parallel()
	a := &answers{script: statuses(429, 200)}
	th := newThrottle(a, 0, new(atomic.Int64))
	a.send(t, th)
	a.send(t, th)
	if th.rate() != 0 || th.limited.Load() != 1 {
		t.Errorf("rate %v, limited %d; want 0 and 1", th.rate(), th.limited.Load())
	}
}

// TestThrottleYieldsOnlyToRateLimits: of the 429s, only Stripe's rate limit
// (its header, or the code rate_limit) halves the pace; a 429 lock_timeout
// leaves it, as a 5xx does, and every body reaches stripe-go whole.
func TestThrottleYieldsOnlyToRateLimits(t *testing.T) {
	t.Parallel()
	const ceiling = 64.0
	tests := []struct {
		name    string
		reply   reply
		want    float64 // pace after the answer, from the ceiling
		limited int64
	}{
		{"rate_limit with header", reply{429, rateLimitBody, "global-rate"}, ceiling / 2, 1},
		{"rate_limit code, no header", reply{429, rateLimitBody, ""}, ceiling / 2, 1},
		{"header, no body", reply{429, "", "endpoint-rate"}, ceiling / 2, 1},
		{"429 without Stripe's error object", reply{429, "Too Many Requests", ""}, ceiling / 2, 1},
		{"429 without a body", reply{429, "", ""}, ceiling / 2, 1},
		{"lock_timeout", reply{429, lockTimeoutBody, ""}, ceiling, 0},
		{"other 429 code", reply{429, `{"error":{"code":"idempotency_key_in_use"}}`, ""}, ceiling, 0},
		{"500", reply{500, `{"error":{"type":"api_error"}}`, ""}, ceiling, 0},
		{"503", reply{503, "", ""}, ceiling, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &answers{script: []reply{tt.reply}}
			th := newThrottle(a, ceiling, new(atomic.Int64))
			resp := a.send(t, th)
			if got := th.rate(); got != tt.want {
				t.Errorf("rate %v, want %v", got, tt.want)
			}
			if got := th.limited.Load(); got != tt.limited {
				t.Errorf("limited = %d, want %d", got, tt.limited)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != tt.reply.body {
				t.Errorf("body after the throttle: %q, %v; want %q", body, err, tt.reply.body)
			}
		})
	}
}

// TestThrottleLongBodyIntact: a 429 body longer than what the throttle
// peeks at still reads whole.
func TestThrottleLongBodyIntact(t *testing.T) {
	t.Parallel()
	long := `{"error":{"code":"lock_timeout","message":"` + strings.Repeat("x", 2*maxErrorPeek) + `"}}`
	a := &answers{script: []reply{{status: 429, body: long}}}
	th := newThrottle(a, 64, new(atomic.Int64))
	body, err := io.ReadAll(a.send(t, th).Body)
	if err != nil || string(body) != long {
		t.Fatalf("read %d bytes, %v; want %d", len(body), err, len(long))
	}
	// Too long to find the code in the peeked part: counted as a rate limit.
	if th.rate() != 32 {
		t.Errorf("rate %v, want 32", th.rate())
	}
}
