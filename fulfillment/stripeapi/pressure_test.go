package stripeapi_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
)

// TestBurstConvergesUnderStripesLimit: STRIPE_MAX_RPS set ten times too
// high. A burst through the shared client meets Stripe's 429s, the client
// slows down, and the 429s stay a handful instead of most of the burst
// (at 500 req/s against a 50 req/s account, about 40 of the first 100
// requests would be refused, and most of every later second's). Every
// refused request is retried, as the worker pool does, until all succeed.
func TestBurstConvergesUnderStripesLimit(t *testing.T) {
	t.Parallel()
	const account, maxRPS, total, workers = 50, 500, 100, 8
	emu, url := emulator(t, stripeemu.Options{RateLimit: account}, "cs_test_digital")
	c := newClient(url, func(cfg *stripeapi.Config) { cfg.MaxRPS = maxRPS; cfg.MaxNetworkRetries = -1 })

	var done atomic.Int64
	var mu sync.Mutex
	var failures []error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for done.Load() < total {
				_, err := c.Session(context.Background(), "cs_test_digital")
				_, limited := fulfillment.RetryDelay(err)
				switch {
				case err == nil:
					done.Add(1)
				case limited:
				default:
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed other than 429, first: %v", len(failures), failures[0])
	}
	limited := c.RateLimited()
	t.Logf("%d answered, %d of them 429; pace now %.1f req/s (ceiling %d, account %d)",
		c.Requests(), limited, c.Rate(), maxRPS, account)
	if limited != emu.RateLimited() {
		t.Errorf("client counted %d 429s, emulator sent %d", limited, emu.RateLimited())
	}
	if limited == 0 {
		// The client never outpaced the account: this machine is too busy to
		// send more than the account's 50 req/s (the emulator's bucket holds
		// one second's worth), so there was nothing to adapt to.
		t.Skipf("no 429 in %d requests: this machine was too busy to send faster than the account's %d req/s", c.Requests(), account)
	}
	if limited > total/4 { // a fixed pace: hundreds, retries included
		t.Errorf("%d 429s for %d requests: the client did not slow down", limited, total)
	}
	if c.Rate() > 2*account {
		t.Errorf("pace %.1f req/s after the burst, want it near the account's %d", c.Rate(), account)
	}
}

// TestPaceYieldsOnlyToRateLimits: a burst through the shared client against
// an account with no limit but injected faults. 500s and 429 lock_timeout
// (retried by stripe-go, then by the caller as the pool would) leave the
// pace at MaxRPS the whole time, so N requests take N/MaxRPS; injected
// rate-limit 429s still halve it.
func TestPaceYieldsOnlyToRateLimits(t *testing.T) {
	t.Parallel()
	const maxRPS, total, workers = 100, 150, 8
	tests := []struct {
		name     string
		faults   stripeemu.Faults
		fullPace bool
	}{
		{"5% 500s and 5% lock_timeout", stripeemu.Faults{Seed: 9, Error5xx: 0.05, LockTimeout: 0.05}, true},
		{"2% lock_timeout", stripeemu.Faults{Seed: 9, LockTimeout: 0.02}, true},
		{"2% rate_limit", stripeemu.Faults{Seed: 9, RateLimit: 0.02}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			emu, url := emulator(t, stripeemu.Options{}, "cs_test_digital")
			if err := emu.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			c := newClient(url, func(cfg *stripeapi.Config) { cfg.MaxRPS = maxRPS })

			var done atomic.Int64
			var mu sync.Mutex
			minRate := float64(maxRPS)
			var failures []error
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for done.Load() < total {
						_, err := c.Session(context.Background(), "cs_test_digital")
						mu.Lock()
						minRate = min(minRate, c.Rate())
						if fulfillment.IsPermanent(err) {
							failures = append(failures, err)
							mu.Unlock()
							return
						}
						mu.Unlock()
						if err == nil {
							done.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if len(failures) > 0 {
				t.Fatalf("%d permanent failures, first: %v", len(failures), failures[0])
			}
			got := emu.Faults()
			t.Logf("%d requests (%d 500s, %d lock_timeout, %d rate_limit injected): floor %.2f s at %d req/s; "+
				"client counted %d rate limits; pace at least %.1f, now %.1f req/s",
				c.Requests(), got.Error5xx, got.LockTimeout, got.RateLimit, float64(c.Requests())/maxRPS, maxRPS,
				c.RateLimited(), minRate, c.Rate())
			if c.RateLimited() != got.RateLimit {
				t.Errorf("client counted %d rate limits, emulator sent %d", c.RateLimited(), got.RateLimit)
			}
			if tt.fullPace {
				if got.Error5xx+got.LockTimeout == 0 {
					t.Fatal("no fault injected: nothing tested")
				}
				if minRate != maxRPS || c.Rate() != maxRPS {
					t.Errorf("pace fell to %.1f req/s (now %.1f), want %d throughout: only rate limits slow it", minRate, c.Rate(), maxRPS)
				}
				return
			}
			if got.RateLimit == 0 {
				t.Fatal("no rate limit injected: nothing tested")
			}
			// Halved at least once; +1/rate per answer since cannot bring it
			// back from 50 to 60 within this burst (that takes ~550 answers).
			if c.Rate() > 0.6*maxRPS {
				t.Errorf("pace %.1f req/s after %d rate limits, want it about halved (≤ %.0f)", c.Rate(), got.RateLimit, 0.6*maxRPS)
			}
		})
	}
}
