package stripeemu_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
)

func TestSetFaultsRejectsBadSchedules(t *testing.T) {
	t.Parallel()
	emu := stripeemu.New(stripeemu.Options{})
	for _, f := range []stripeemu.Faults{
		{Error5xx: -0.1},
		{RateLimit: 1.5},
		{Error5xx: 0.6, Hang: 0.6},
		{LockTimeout: 0.5, RateLimit: 0.3, Slow: 0.3},
		{Slow: 0.1, SlowBy: -time.Second},
	} {
		if err := emu.SetFaults(f); err == nil {
			t.Errorf("SetFaults(%+v) accepted", f)
		}
	}
}

// TestFaultsKinds: every kind of fault answers as Stripe (or a dead
// network) would, and the same seed gives the same sequence.
func TestFaultsKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults stripeemu.Faults
		check  func(t *testing.T, a answer)
	}{
		{"500", stripeemu.Faults{Error5xx: 1}, func(t *testing.T, a answer) {
			stripeErr(t, a, http.StatusInternalServerError, "api_error", "")
		}},
		{"429", stripeemu.Faults{RateLimit: 1}, func(t *testing.T, a answer) {
			stripeErr(t, a, http.StatusTooManyRequests, "invalid_request_error", "rate_limit")
			if got := a.header.Get("Stripe-Rate-Limited-Reason"); got == "" {
				t.Error("rate_limit 429 without Stripe-Rate-Limited-Reason")
			}
		}},
		{"429 lock_timeout", stripeemu.Faults{LockTimeout: 1}, func(t *testing.T, a answer) {
			stripeErr(t, a, http.StatusTooManyRequests, "invalid_request_error", "lock_timeout")
			if got := a.header.Get("Stripe-Rate-Limited-Reason"); got != "" {
				t.Errorf("lock_timeout 429 with Stripe-Rate-Limited-Reason %q", got)
			}
		}},
		{"slow, then answered", stripeemu.Faults{Slow: 1, SlowBy: 50 * time.Millisecond}, func(t *testing.T, a answer) {
			if a.status != http.StatusOK {
				t.Errorf("slow request: status %d", a.status)
			}
		}},
		{"outside PathPrefix", stripeemu.Faults{Error5xx: 1, PathPrefix: "/v1/events"}, func(t *testing.T, a answer) {
			if a.status != http.StatusOK {
				t.Errorf("status %d, want no fault outside the prefix", a.status)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			emu, srv := seeded(t, stripeemu.Options{})
			if err := emu.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			tt.check(t, get(t, srv, "Bearer "+key, "/v1/checkout/sessions/cs_test_digital"))
		})
	}
}

func TestFaultHangLastsUntilTheClientGivesUp(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{})
	if err := emu.SetFaults(stripeemu.Faults{Hang: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/checkout/sessions/cs_test_digital", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("hung request answered %d", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung request: %v, want the client's deadline", err)
	}
	if got := emu.Faults(); got.Hang != 1 {
		t.Errorf("counts %+v, want one hang", got)
	}
}

func TestFaultsRepeatWithTheSeed(t *testing.T) {
	t.Parallel()
	run := func() []int {
		emu, srv := seeded(t, stripeemu.Options{})
		if err := emu.SetFaults(stripeemu.Faults{Seed: 42, Error5xx: 0.3, RateLimit: 0.3}); err != nil {
			t.Fatal(err)
		}
		var codes []int
		for range 20 {
			codes = append(codes, get(t, srv, "Bearer "+key, "/v1/checkout/sessions/cs_test_digital").status)
		}
		return codes
	}
	a, b := run(), run()
	seen := map[int]bool{}
	for i := range a {
		seen[a[i]] = true
		if a[i] != b[i] {
			t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
		}
	}
	if !seen[200] || !seen[500] || !seen[429] {
		t.Errorf("20 draws at 30%%/30%% gave %v", a)
	}
}

func TestLatencyRange(t *testing.T) {
	t.Parallel()
	_, srv := seeded(t, stripeemu.Options{Latency: 20 * time.Millisecond, LatencyMax: 60 * time.Millisecond})
	var lo, hi time.Duration
	for i := range 12 {
		start := time.Now()
		if a := get(t, srv, "Bearer "+key, "/v1/checkout/sessions/cs_test_digital"); a.status != http.StatusOK {
			t.Fatalf("status %d", a.status)
		}
		d := time.Since(start)
		if i == 0 || d < lo {
			lo = d
		}
		hi = max(hi, d)
	}
	if lo < 20*time.Millisecond {
		t.Errorf("fastest answer %s, below the 20ms floor", lo)
	}
	if hi == lo {
		t.Errorf("every answer took %s: latency does not vary", lo)
	}
}
