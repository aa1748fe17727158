package httpapi

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSamples: each tick closes a minute with what the counters grew by
// and the gauges at its end; the running minute comes from a fresh
// reading; the ring keeps the last hour.
func TestSamples(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	accepted, limited, backlog := 0.0, 0.0, 0.0
	s := NewSamples(func() Reading {
		mu.Lock()
		defer mu.Unlock()
		return Reading{Webhooks: map[string]float64{"accepted": accepted, "bad_signature": 1}, Stripe429: limited, Backlog: backlog, StripeRate: 20}
	})
	t0 := time.Date(2025, 3, 14, 16, 0, 0, 0, time.UTC)
	if got := s.Hour(t0); len(got) != 0 {
		t.Fatalf("before the first tick: %+v", got)
	}
	s.Tick(t0)
	step := func(acc, lim, back float64) {
		mu.Lock()
		accepted, limited, backlog = accepted+acc, limited+lim, back
		mu.Unlock()
	}
	step(5, 1, 7)
	got := s.Hour(t0.Add(30 * time.Second))
	if len(got) != 1 || !got[0].Partial || got[0].Webhooks["accepted"] != 5 || got[0].Stripe429 != 1 || got[0].Backlog != 7 ||
		len(got[0].Webhooks) != 1 {
		t.Fatalf("running minute: %+v", got)
	}
	s.Tick(t0.Add(time.Minute))
	step(3, 0, 2)
	got = s.Hour(t0.Add(90 * time.Second))
	if len(got) != 2 || got[0].Partial || got[0].Webhooks["accepted"] != 5 || got[1].Webhooks["accepted"] != 3 || got[1].Backlog != 2 {
		t.Fatalf("two minutes: %+v", got)
	}
	for i := 2; i < 70; i++ {
		step(1, 0, float64(i))
		s.Tick(t0.Add(time.Duration(i) * time.Minute))
	}
	got = s.Hour(t0.Add(70 * time.Minute))
	if len(got) != SampleWindow || !got[len(got)-1].Partial || got[0].Minute != t0.Add(10*time.Minute) {
		t.Fatalf("after 70 minutes: %d samples from %v", len(got), got[0].Minute)
	}

	c := stackedChart("Webhooks", "deliveries", got, func(s Sample) map[string]float64 { return s.Webhooks })
	if c.Empty || len(c.Bars) != SampleWindow-1 || c.Max != "1 deliveries" || !strings.Contains(c.Desc, "Webhooks per minute: 16:10 1, 16:11 1") {
		t.Errorf("stacked chart: empty %v, %d bars, max %q, %q", c.Empty, len(c.Bars), c.Max, c.Desc)
	}
	l := lineChart("Stripe pace", "req/s", got, func(s Sample) float64 { return s.StripeRate }, 25)
	if l.Empty || strings.Count(l.Points, ",") != SampleWindow || l.Guide == nil || l.Max != "25 req/s" {
		t.Errorf("line chart: %+v", l)
	}
	if e := stackedChart("Webhooks", "deliveries", nil, func(s Sample) map[string]float64 { return s.Webhooks }); !e.Empty {
		t.Errorf("no samples: %+v", e)
	}
}
