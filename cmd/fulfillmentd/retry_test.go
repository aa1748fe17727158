package main

import (
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/worker"
)

// TestRetriesRideOutAnOutage: an event whose every attempt fails (Stripe
// down) is retried for at least 4 hours before it becomes a dead letter,
// and for a finite time.
func TestRetriesRideOutAnOutage(t *testing.T) {
	t.Parallel()
	least := worker.BackoffTotal(maxDeliver, func() float64 { return 0 })
	most := worker.BackoffTotal(maxDeliver, func() float64 { return 0.999999 })
	t.Logf("%d deliveries span %s to %s of backoff", maxDeliver, least, most)
	if least < 4*time.Hour {
		t.Errorf("%d deliveries: retries give up after %s, want at least 4h", maxDeliver, least)
	}
	if most > 12*time.Hour {
		t.Errorf("%d deliveries: retries may last %s, want a dead letter within 12h", maxDeliver, most)
	}
}
