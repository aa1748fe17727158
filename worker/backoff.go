package worker

import "time"

// Retry delays of the default Backoff.
const (
	BackoffBase = time.Second
	// BackoffCap is the longest wait between two attempts: reached from the
	// 11th attempt on (2^10 s > 15 min).
	BackoffCap = 15 * time.Minute
	// AuthBackoffBase is where AuthBackoff starts: a minute, 60 times
	// BackoffBase, doubling to BackoffCap from the 5th attempt on.
	AuthBackoffBase = time.Minute
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
	return jittered(backoffCeiling(BackoffBase, attempt), random)
}

// AuthBackoff is the retry delay after Stripe rejected the API key
// (fulfillment.ErrUnauthorized): Backoff's shape from AuthBackoffBase, so
// 30–60 s, 1–2 min, 2–4, 4–8, then 7.5–15 min. Such an outage lasts until
// an operator fixes the key and fails every event alike: each retry is a
// request Stripe refuses, so they are spaced from the start (a backlog of
// N events sends about N/11 min of them, not N per minute), yet a fixed key
// is picked up within a minute or two of an early failure and within
// BackoffCap later. Every delay is at least Backoff's for the same attempt,
// so deliveries last at least as long as for any other transient failure.
func AuthBackoff(attempt int, random func() float64) time.Duration {
	return jittered(backoffCeiling(AuthBackoffBase, attempt), random)
}

// jittered draws uniformly from [c/2, c).
func jittered(c time.Duration, random func() float64) time.Duration {
	return c/2 + time.Duration(random()*float64(c/2))
}

func backoffCeiling(base time.Duration, attempt int) time.Duration {
	if n := attempt - 1; n <= 0 {
		return min(base, BackoffCap)
	} else if n < 20 && base<<n < BackoffCap {
		return base << n
	}
	return BackoffCap
}

// BackoffTotal is the sum of the delays Backoff gives after attempts 1 to
// deliveries-1: the time between a message's first delivery and its last
// (handler time not included). With random returning 0 it is the least such
// time, with random returning just under 1 the most.
func BackoffTotal(deliveries int, random func() float64) time.Duration {
	return total(deliveries, random, Backoff)
}

// AuthBackoffTotal is BackoffTotal for AuthBackoff: how long an event is
// retried through an API-key outage before it becomes a dead letter.
func AuthBackoffTotal(deliveries int, random func() float64) time.Duration {
	return total(deliveries, random, AuthBackoff)
}

func total(deliveries int, random func() float64, backoff func(int, func() float64) time.Duration) time.Duration {
	var sum time.Duration
	for a := 1; a < deliveries; a++ {
		sum += backoff(a, random)
	}
	return sum
}
