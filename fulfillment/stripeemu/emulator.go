// Package stripeemu is an in-process emulator of the part of Stripe's HTTP API
// that fulfillmentd uses: retrieving and listing Checkout Sessions and paging
// through their line items, retrieving the charges, disputes, early fraud
// warnings and invoices of their payments (money.go), and listing events. It
// answers as the API version 2023-10-16 does (object shapes, list envelopes,
// expansion, error bodies, Request-Id), checks the secret key, can
// rate-limit like Stripe (429 rate_limit), add latency and inject failures.
// It also builds the webhook events Stripe would send for its sessions and
// money objects, and keeps them for GET /v1/events.
//
// It serves the demo, the end-to-end tests and the load tool:
//
//	emu := stripeemu.New(stripeemu.Options{RateLimit: 25})
//	if err := emu.Seed(fixtures.FS, "stripe"); err != nil { ... }
//	srv := httptest.NewServer(emu)
//
// An Emulator is safe for concurrent use.
package stripeemu

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// APIVersion is the Stripe API version whose shapes the emulator serves and
// stamps on the events it builds.
const APIVersion = "2023-10-16"

// Options configure an Emulator.
type Options struct {
	// Latency is added to every request (it ends early if the client goes
	// away).
	Latency time.Duration
	// LatencyMax, when above Latency, makes the added latency a uniform
	// draw from [Latency, LatencyMax] per request, as a real API varies.
	LatencyMax time.Duration
	// RateLimit is the number of requests per second the emulated account
	// may make; above it the emulator answers 429 with Stripe's rate_limit
	// error. The bucket holds one second's worth of requests. 0 means no
	// limit.
	RateLimit float64
	// Log receives one debug line per request. Nil discards.
	Log *slog.Logger
}

// Emulator is an http.Handler that behaves like Stripe's API for Checkout
// Sessions. Create it with New.
type Emulator struct {
	latency    time.Duration
	latencyMax time.Duration
	limiter    *rate.Limiter // nil: unlimited
	log        *slog.Logger

	mu       sync.RWMutex
	sessions map[string]*session
	catalog  catalog  // products and prices (catalog.go)
	events   eventLog // every event Event built (events.go)
	money    money    // charges, disputes, fraud warnings, invoices (money.go)

	faults faultInjector // random faults (faults.go)

	failMu     sync.Mutex
	failN      int
	failStatus int

	requests    atomic.Int64
	rateLimited atomic.Int64
	reqSeq      atomic.Uint64
	pathMu      sync.Mutex
	byPath      map[string]int64
}

// New returns an empty emulator; add sessions with Seed, AddSession or
// GenerateSession.
func New(opts Options) *Emulator {
	e := &Emulator{
		latency:    opts.Latency,
		latencyMax: opts.LatencyMax,
		log:        opts.Log,
		sessions:   make(map[string]*session),
		byPath:     make(map[string]int64),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if opts.RateLimit > 0 {
		burst := int(math.Ceil(opts.RateLimit))
		e.limiter = rate.NewLimiter(rate.Limit(opts.RateLimit), burst)
	}
	return e
}

// FailNext makes the next n requests fail with a Stripe-shaped error of the
// given HTTP status: 500/502/503 api_error, 429 rate_limit, 404
// resource_missing, 401 invalid key, 400 invalid request, and so on. A status
// below 400 means 500. n <= 0 cancels pending failures.
func (e *Emulator) FailNext(n int, status int) {
	if status < 400 {
		status = http.StatusInternalServerError
	}
	e.failMu.Lock()
	defer e.failMu.Unlock()
	e.failN, e.failStatus = max(n, 0), status
}

func (e *Emulator) takeFailure() (int, bool) {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	if e.failN == 0 {
		return 0, false
	}
	e.failN--
	return e.failStatus, true
}

// Requests is the number of API requests served, errors included.
func (e *Emulator) Requests() int64 { return e.requests.Load() }

// RateLimited is the number of requests answered 429 because they exceeded
// Options.RateLimit (injected failures not included).
func (e *Emulator) RateLimited() int64 { return e.rateLimited.Load() }

// RequestsFor is the number of requests served whose URL path starts with
// prefix, e.g. "/v1/checkout/sessions/cs_test_bulk/line_items".
func (e *Emulator) RequestsFor(prefix string) int64 {
	e.pathMu.Lock()
	defer e.pathMu.Unlock()
	var n int64
	for p, c := range e.byPath {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

// ServeHTTP answers one API request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.requests.Add(1)
	e.pathMu.Lock()
	e.byPath[r.URL.Path]++
	e.pathMu.Unlock()

	reqID := fmt.Sprintf("req_emu%010d", e.reqSeq.Add(1))
	rec := &statusRecorder{ResponseWriter: w}
	h := rec.Header()
	h.Set("Request-Id", reqID)
	h.Set("Stripe-Version", APIVersion)
	if v := r.Header.Get("Stripe-Version"); v != "" {
		h.Set("Stripe-Version", v)
	}
	defer func() {
		e.log.Debug("stripe emulator", "method", r.Method, "path", r.URL.Path, "status", rec.status, "request_id", reqID)
	}()

	if !e.sleep(r.Context()) {
		rec.status = 499 // client gone; nothing to answer
		return
	}
	if e.faults.inject(rec, r) {
		return
	}
	if status, ok := e.takeFailure(); ok {
		writeError(rec, injected(status))
		return
	}
	if err := checkAuth(r.Header.Get("Authorization")); err != nil {
		writeError(rec, err)
		return
	}
	if e.limiter != nil && !e.limiter.Allow() {
		e.rateLimited.Add(1)
		writeError(rec, errRateLimit())
		return
	}
	e.route(rec, r)
}

func (e *Emulator) sleep(ctx context.Context) bool {
	d := e.latency
	if e.latencyMax > d {
		d += rand.N(e.latencyMax - d + 1)
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// checkAuth accepts "Bearer sk_..." and "Bearer rk_..." (any such key), as
// well as HTTP basic auth with the key as user name, as Stripe does.
func checkAuth(header string) *apiError {
	key := ""
	switch {
	case strings.HasPrefix(header, "Bearer "):
		key = strings.TrimSpace(strings.TrimPrefix(header, "Bearer "))
	case strings.HasPrefix(header, "Basic "):
		r := http.Request{Header: http.Header{"Authorization": {header}}}
		key, _, _ = r.BasicAuth()
	case header == "":
		return &apiError{status: http.StatusUnauthorized, Type: "invalid_request_error",
			Message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."}
	}
	if (strings.HasPrefix(key, "sk_") || strings.HasPrefix(key, "rk_")) && len(key) > len("sk_test_") {
		return nil
	}
	return &apiError{status: http.StatusUnauthorized, Type: "invalid_request_error",
		Message: "Invalid API Key provided: " + redactKey(key)}
}

// redactKey shows a key as Stripe's error messages do: prefix and last four.
func redactKey(key string) string {
	if len(key) <= 12 {
		return strings.Repeat("*", len(key))
	}
	return key[:8] + strings.Repeat("*", len(key)-12) + key[len(key)-4:]
}
