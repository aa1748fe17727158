package stripeapi

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// answers is a RoundTripper that answers each request with the next status
// of its script; with hold set, it first waits until hold requests are in
// flight, so that they all count as sent at the same pace.
type answers struct {
	mu     sync.Mutex
	script []int
	hold   int
	gate   sync.WaitGroup
}

func (a *answers) RoundTrip(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	status := a.script[0]
	a.script = a.script[1:]
	hold := a.hold > 0
	a.mu.Unlock()
	if hold {
		a.gate.Done()
		a.gate.Wait()
	}
	return &http.Response{StatusCode: status, Body: http.NoBody, Request: req}, nil
}

func (a *answers) send(t *testing.T, th *throttle) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://stripe.invalid/v1/x", nil)
	if _, err := th.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
}

func TestThrottleAIMD(t *testing.T) {
	t.Parallel()
	const ceiling = 1024.0
	a := &answers{script: []int{429, 429, 429, 429, 429, 500, 200, 404}}
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
	a := &answers{script: []int{429, 429, 429, 429, 429}, hold: inFlight}
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
	a := &answers{script: []int{429, 200}}
	th := newThrottle(a, 0, new(atomic.Int64))
	a.send(t, th)
	a.send(t, th)
	if th.rate() != 0 || th.limited.Load() != 1 {
		t.Errorf("rate %v, limited %d; want 0 and 1", th.rate(), th.limited.Load())
	}
}
