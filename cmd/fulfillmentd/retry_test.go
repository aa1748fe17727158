package main

import (
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/worker"
)

// TestRetriesRideOutAnOutage: an event whose every attempt fails (Stripe
// down, or rejecting the API key) is retried for at least 4 hours before it
// becomes a dead letter, and for a finite time.
func TestRetriesRideOutAnOutage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		outage  string
		backoff worker.Backoff
	}{
		{"Stripe down", worker.Redelivery},
		{"API key rejected", worker.AuthRedelivery},
	}
	for _, tt := range tests {
		b := tt.backoff
		b.Rand = func() float64 { return 0 }
		least := b.Total(maxDeliver)
		b.Rand = func() float64 { return 0.999999 }
		most := b.Total(maxDeliver)
		t.Logf("%s: %d deliveries span %s to %s of backoff", tt.outage, maxDeliver, least, most)
		if least < 4*time.Hour {
			t.Errorf("%s: %d deliveries: retries give up after %s, want at least 4h", tt.outage, maxDeliver, least)
		}
		if most > 12*time.Hour {
			t.Errorf("%s: %d deliveries: retries may last %s, want a dead letter within 12h", tt.outage, maxDeliver, most)
		}
	}
}
