package stripeapi_test

import (
	"context"
	"errors"
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
				var ra *fulfillment.RetryAfterError
				switch {
				case err == nil:
					done.Add(1)
				case errors.As(err, &ra):
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
