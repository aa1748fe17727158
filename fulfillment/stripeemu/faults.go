package stripeemu

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultMaxHang bounds a hung request when Faults.MaxHang is 0.
const DefaultMaxHang = 2 * time.Minute

// Faults are failures injected at random, as Stripe's API and the network
// produce them. Each request (under PathPrefix) draws once: with
// probability Error5xx it is answered 500 api_error; RateLimit, 429
// rate_limit; LockTimeout, 429 lock_timeout (another request holds the
// object's lock: no rate limit, and stripe-go retries it); Hang, it gets no answer until the client gives up (its
// timeout) or MaxHang passes (then a 500); Slow, it is answered normally
// after SlowBy. The rest are answered normally.
//
// The draws come from a PCG seeded with Seed: the sequence of faults is the
// same on every run, though which concurrent request meets which one is not.
type Faults struct {
	Seed        uint64
	Error5xx    float64
	RateLimit   float64
	LockTimeout float64
	Hang        float64
	Slow        float64
	SlowBy      time.Duration
	MaxHang     time.Duration // 0 → DefaultMaxHang
	PathPrefix  string        // "" → every request
}

// FaultCounts is how many faults of each kind were injected.
type FaultCounts struct {
	Error5xx, RateLimit, LockTimeout, Hang, Slow int64
}

// faultInjector holds an Emulator's Faults; its zero value injects nothing.
type faultInjector struct {
	mu     sync.Mutex
	f      Faults
	rng    *rand.Rand
	counts FaultCounts
}

// SetFaults replaces the fault schedule (and restarts its random sequence);
// the zero Faults turns injection off.
func (e *Emulator) SetFaults(f Faults) error {
	for _, p := range []float64{f.Error5xx, f.RateLimit, f.LockTimeout, f.Hang, f.Slow} {
		if p < 0 || p > 1 {
			return errors.New("set faults: probabilities must be within [0, 1]")
		}
	}
	if f.Error5xx+f.RateLimit+f.LockTimeout+f.Hang+f.Slow > 1 {
		return errors.New("set faults: probabilities add up to more than 1")
	}
	if f.SlowBy < 0 || f.MaxHang < 0 {
		return errors.New("set faults: negative duration")
	}
	if f.MaxHang == 0 {
		f.MaxHang = DefaultMaxHang
	}
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	e.faults.f = f
	e.faults.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	return nil
}

// Faults reports how many faults SetFaults' schedules have injected.
func (e *Emulator) Faults() FaultCounts {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	return e.faults.counts
}

type faultKind int

const (
	noFault faultKind = iota
	fault5xx
	fault429
	faultLock
	faultHang
	faultSlow
)

func (fi *faultInjector) draw(path string) (faultKind, Faults) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := fi.f
	if fi.rng == nil || !strings.HasPrefix(path, f.PathPrefix) {
		return noFault, f
	}
	x := fi.rng.Float64()
	for _, k := range []struct {
		p     float64
		kind  faultKind
		count *int64
	}{
		{f.Error5xx, fault5xx, &fi.counts.Error5xx},
		{f.RateLimit, fault429, &fi.counts.RateLimit},
		{f.LockTimeout, faultLock, &fi.counts.LockTimeout},
		{f.Hang, faultHang, &fi.counts.Hang},
		{f.Slow, faultSlow, &fi.counts.Slow},
	} {
		if x < k.p {
			*k.count++
			return k.kind, f
		}
		x -= k.p
	}
	return noFault, f
}

// inject applies this request's draw. It reports true when it answered (or
// the client went away) and the request must not be served.
func (fi *faultInjector) inject(w *statusRecorder, r *http.Request) bool {
	kind, f := fi.draw(r.URL.Path)
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-r.Context().Done():
			return false
		}
	}
	switch kind {
	case fault5xx:
		writeError(w, injected(http.StatusInternalServerError))
		return true
	case fault429:
		writeError(w, errRateLimit())
		return true
	case faultLock:
		writeError(w, errLockTimeout())
		return true
	case faultHang:
		if wait(f.MaxHang) {
			writeError(w, injected(http.StatusInternalServerError))
		} else {
			w.status = 499 // the client gave up, as it should
		}
		return true
	case faultSlow:
		if !wait(f.SlowBy) {
			w.status = 499
			return true
		}
	}
	return false
}
