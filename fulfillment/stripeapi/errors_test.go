package stripeapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
)

// TestErrorKinds: how Stripe's refusals reach the worker pool. A rejected
// key (401) or a key without the permission (403) is an outage, not a bad
// event: transient and ErrUnauthorized, the key itself never in the error.
// A 429 lock_timeout that outlives stripe-go's retries is a plain transient
// error, not a rate limit to wait out; a rate-limit 429 is one.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	const revoked = "sk_test_" + "revokedKEYrevokedKEY1234"
	tests := []struct {
		name         string
		key          string
		failStatus   int
		lockTimeout  bool
		unauthorized bool
		retryAfter   bool
		limited      int64 // RateLimited() after the call
	}{
		{name: "invalid key 401", key: "sk_", unauthorized: true},
		{name: "revoked key 401", key: revoked, failStatus: 401, unauthorized: true},
		{name: "permission 403", failStatus: 403, unauthorized: true},
		{name: "lock_timeout 429", lockTimeout: true},
		{name: "rate_limit 429", failStatus: 429, retryAfter: true, limited: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			emu, url := emulator(t, stripeemu.Options{}, "cs_test_digital")
			if tt.failStatus != 0 {
				emu.FailNext(1, tt.failStatus)
			}
			if tt.lockTimeout {
				if err := emu.SetFaults(stripeemu.Faults{LockTimeout: 1}); err != nil {
					t.Fatal(err)
				}
			}
			c := newClient(url, func(cfg *stripeapi.Config) {
				cfg.MaxRPS = 50
				cfg.MaxNetworkRetries = -1
				if tt.key != "" {
					cfg.SecretKey = tt.key
				}
			})
			_, err := c.Session(context.Background(), "cs_test_digital")
			if err == nil {
				t.Fatal("no error")
			}
			if fulfillment.IsPermanent(err) {
				t.Errorf("permanent: %v; want a retry", err)
			}
			if got := errors.Is(err, fulfillment.ErrUnauthorized); got != tt.unauthorized {
				t.Errorf("errors.Is(ErrUnauthorized) = %v, want %v (%v)", got, tt.unauthorized, err)
			}
			if _, got := fulfillment.RetryDelay(err); got != tt.retryAfter {
				t.Errorf("RetryDelay: %v, want %v (%v)", got, tt.retryAfter, err)
			}
			if got := c.RateLimited(); got != tt.limited {
				t.Errorf("RateLimited() = %d, want %d", got, tt.limited)
			}
			if strings.Contains(err.Error(), revoked) || strings.Contains(err.Error(), key) {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}
