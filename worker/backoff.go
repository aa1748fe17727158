package worker

import "time"

// Retry delays of the default Backoff.
const (
	BackoffBase = time.Second
	// BackoffCap is the longest wait between two attempts: reached from the
	// 11th attempt on (2^10 s > 15 min).
	BackoffCap = 15 * time.Minute
)

// Backoff is exponential backoff with "equal" jitter: a delay drawn
// uniformly from [c/2, c) where c = min(BackoffCap, BackoffBase·2^(attempt-1)).
// attempt is 1-based (the attempt that just failed); random returns a value
// in [0, 1), such as math/rand/v2.Float64.
//
// Half of each delay is fixed so that the total wait before a message is
// dead-lettered has a floor that does not depend on luck: BackoffTotal with
// a random of 0. The other half spreads retries of events that failed
// together (a Stripe outage) so they do not come back in one burst.
func Backoff(attempt int, random func() float64) time.Duration {
	c := backoffCeiling(attempt)
	return c/2 + time.Duration(random()*float64(c/2))
}

func backoffCeiling(attempt int) time.Duration {
	if n := attempt - 1; n <= 0 {
		return BackoffBase
	} else if n < 20 && BackoffBase<<n < BackoffCap {
		return BackoffBase << n
	}
	return BackoffCap
}

// BackoffTotal is the sum of the delays Backoff gives after attempts 1 to
// deliveries-1: the time between a message's first delivery and its last
// (handler time not included). With random returning 0 it is the least such
// time, with random returning just under 1 the most.
func BackoffTotal(deliveries int, random func() float64) time.Duration {
	var total time.Duration
	for a := 1; a < deliveries; a++ {
		total += Backoff(a, random)
	}
	return total
}
