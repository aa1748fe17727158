package worker

import "time"

// Retry delays of the default Backoff.
const (
	BackoffBase = time.Second
	BackoffCap  = 5 * time.Minute
)

// Backoff is exponential backoff with full jitter: a delay drawn uniformly
// from [0, min(BackoffCap, BackoffBase·2^(attempt-1))). attempt is 1-based
// (the attempt that just failed); random returns a value in [0, 1), such as
// math/rand/v2.Float64.
func Backoff(attempt int, random func() float64) time.Duration {
	ceiling := BackoffCap
	if n := attempt - 1; n < 0 {
		ceiling = BackoffBase
	} else if n < 20 && BackoffBase<<n < BackoffCap {
		ceiling = BackoffBase << n
	}
	return time.Duration(random() * float64(ceiling))
}
