package httpapi

import (
	"context"
	"sync"
	"time"
)

// Reading is the process's counters and gauges at one instant: counters
// are totals since start (the /metrics counters), gauges what they are now.
type Reading struct {
	Webhooks   map[string]float64 // fulfillmentd_webhooks_total by outcome
	Events     map[string]float64 // fulfillmentd_events_processed_total by outcome
	Stripe429  float64            // rate-limit 429 answers from Stripe
	StripeRate float64            // the shared limiter's pace, requests/s
	Backlog    float64            // events on the stream not yet acknowledged
}

// Sample is one minute: what the counters grew by in it, and the gauges
// at its end.
type Sample struct {
	Minute     time.Time // the minute's start
	Webhooks   map[string]float64
	Events     map[string]float64
	Stripe429  float64
	StripeRate float64
	Backlog    float64
	Partial    bool // the minute still running
}

// SampleWindow is how many minutes Samples keeps: the overview's last hour.
const SampleWindow = 60

// Samples is a ring of the last SampleWindow per-minute samples of a process,
// fed by Tick once a minute (Run) from read.
type Samples struct {
	read func() Reading

	mu      sync.Mutex
	last    Reading   // at lastAt: what the next sample's deltas start from
	lastAt  time.Time // zero: no reading yet
	ring    [SampleWindow]Sample
	n, next int
}

// NewSamples returns Samples reading with read.
func NewSamples(read func() Reading) *Samples { return &Samples{read: read} }

// Tick closes the current minute: it takes a reading and adds the sample
// of the time since the previous one. The first Tick only takes the
// starting reading.
func (s *Samples) Tick(now time.Time) {
	r := s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastAt.IsZero() {
		s.ring[s.next] = sampleBetween(s.last, r, s.lastAt)
		s.next = (s.next + 1) % SampleWindow
		s.n = min(s.n+1, SampleWindow)
	}
	s.last, s.lastAt = r, now
}

// Run ticks every minute until ctx ends, at once first.
func (s *Samples) Run(ctx context.Context) error {
	s.Tick(time.Now())
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s.Tick(now)
		}
	}
}

// Hour returns the kept samples, oldest first, and the minute running now
// (Partial) from a fresh reading.
func (s *Samples) Hour(now time.Time) []Sample {
	r := s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sample, 0, s.n+1)
	for i := range s.n {
		out = append(out, s.ring[(s.next-s.n+i+SampleWindow)%SampleWindow])
	}
	if !s.lastAt.IsZero() {
		cur := sampleBetween(s.last, r, s.lastAt)
		cur.Partial = true
		out = append(out, cur)
	}
	if len(out) > SampleWindow {
		out = out[len(out)-SampleWindow:]
	}
	return out
}

func sampleBetween(from, to Reading, start time.Time) Sample {
	return Sample{Minute: start.Truncate(time.Second), Webhooks: deltas(from.Webhooks, to.Webhooks),
		Events: deltas(from.Events, to.Events), Stripe429: max(0, to.Stripe429-from.Stripe429),
		StripeRate: to.StripeRate, Backlog: to.Backlog}
}

func deltas(from, to map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(to))
	for k, v := range to {
		if d := v - from[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}
