package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// loadOptions is one load run.
type loadOptions struct {
	events, conns, items int
	rate                 float64
	target               string // "" = start an instance in-process
	secret, token        string
	emuAddr              string
	latency, latencyMax  time.Duration
	stripeLimit          float64
	maxRPS               float64
	maxRPSKnown          bool // in-process, or --stripe-max-rps given with --target
	faults               stripeemu.Faults
	mix                  mixOptions
	workers              int
	natsSync             string // FULFILLMENT_NATS_SYNC of the in-process instance
	timeout              time.Duration
}

// loadtest sends signed checkout events to a fulfillmentd, as Stripe would,
// and measures acceptance, webhook-to-order latency, Stripe API use and the
// drain time against its floor.
func loadtest(ctx context.Context, args []string, e env) error {
	fs := newFlags("loadtest", "", e)
	var o loadOptions
	var syncMode string
	fs.IntVar(&o.events, "events", 2000, "checkout sessions to complete (one checkout.session.completed each)")
	fs.Float64Var(&o.rate, "rate", 0, "events per second (0: as fast as the connections go)")
	fs.IntVar(&o.conns, "connections", 32, "concurrent webhook connections")
	fs.IntVar(&o.items, "items", 3, "line items per session (≤100: one Stripe call per order)")
	fs.StringVar(&o.target, "target", "", "base URL of a running fulfillmentd whose STRIPE_API_BASE is this tool's emulator (default: start one in-process)")
	fs.StringVar(&o.secret, "webhook-secret", "whsec_loadtest", "with --target: a webhook secret the target accepts")
	fs.StringVar(&o.token, "api-token", "", "with --target: a /v1 bearer token of the target")
	fs.StringVar(&o.emuAddr, "emulator-addr", "127.0.0.1:0", "listen address of the Stripe emulator")
	fs.DurationVar(&o.latency, "stripe-latency", 300*time.Millisecond, "emulated Stripe API latency")
	fs.DurationVar(&o.latencyMax, "stripe-latency-max", 0, "above --stripe-latency: each request's latency is drawn from [--stripe-latency, this] (default 0: fixed)")
	fs.Float64Var(&o.stripeLimit, "stripe-rate-limit", 25, "emulated account's rate limit in requests/s (0: none); Stripe test mode allows 25")
	fs.Float64Var(&o.faults.Error5xx, "stripe-500", 0, "share (0–1) of Stripe requests answered 500 api_error (default 0)")
	fs.Float64Var(&o.faults.LockTimeout, "stripe-lock-timeout", 0, "share (0–1) of Stripe requests answered 429 lock_timeout (default 0)")
	fs.Float64Var(&o.faults.RateLimit, "stripe-429", 0, "share (0–1) of Stripe requests answered 429 rate_limit, beyond the account's limit (default 0)")
	fs.Float64Var(&o.maxRPS, "stripe-max-rps", 25, "in-process instance: STRIPE_MAX_RPS (with --target: the target's, for the drain floor)")
	fs.Float64Var(&o.mix.free, "free", 0, "share (0–1) of sessions with payment_status no_payment_required (default 0)")
	fs.Float64Var(&o.mix.pending, "pending", 0, "share (0–1) of sessions completed unpaid that never settle: the order ends awaiting_payment (default 0)")
	fs.Float64Var(&o.mix.delayed, "delayed", 0, "share (0–1) of sessions completed unpaid, then async_payment_succeeded or _failed (default 0)")
	fs.Float64Var(&o.mix.delayedFail, "delayed-fail", 0.5, "share (0–1) of the delayed sessions whose payment fails: the order ends canceled")
	fs.Float64Var(&o.mix.large, "large", 0, fmt.Sprintf("share (0–1) of sessions with %d–%d line items, more than one page (default 0)", largeMin, largeMax))
	fs.Float64Var(&o.mix.duplicates, "duplicates", 0, "share (0–1) of events delivered twice (default 0)")
	fs.BoolVar(&o.mix.reorder, "reorder", false, fmt.Sprintf("shuffle each run of %d consecutive deliveries, so an async event may come before its completed (default off)", reorderWindow))
	fs.Uint64Var(&o.mix.seed, "seed", 1, "seed of the mix and of the emulator's faults")
	fs.IntVar(&o.workers, "workers", 32, "in-process instance: FULFILLMENT_WORKERS")
	fs.StringVar(&syncMode, "nats-sync", "always", "in-process instance: FULFILLMENT_NATS_SYNC (always or an interval such as 2m)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up waiting for final order statuses after this")
	if err := parseFlags(fs, args, e); err != nil {
		return err
	}
	if err := parseSetting(&config{}, "FULFILLMENT_NATS_SYNC", syncMode); err != nil {
		return fmt.Errorf("--nats-sync: %w", err)
	}
	o.natsSync = syncMode
	o.maxRPSKnown = o.target == ""
	fs.Visit(func(f *flag.Flag) { o.maxRPSKnown = o.maxRPSKnown || f.Name == "stripe-max-rps" })
	if o.events < 1 || o.conns < 1 || o.items < 1 || o.items > 100 || o.workers < 1 {
		return errors.New("--events, --connections, --workers must be ≥ 1 and --items from 1 to 100")
	}
	if o.latencyMax != 0 && o.latencyMax < o.latency {
		return errors.New("--stripe-latency-max must be at least --stripe-latency")
	}
	if err := o.mix.check(); err != nil {
		return err
	}
	o.faults.Seed = o.mix.seed
	if o.target != "" && o.token == "" {
		return errors.New("--target needs --api-token (to watch the orders arrive) and --webhook-secret")
	}
	return runLoad(ctx, o, e.stdout, e.stderr)
}

func runLoad(ctx context.Context, o loadOptions, stdout, stderr io.Writer) error {
	emu := stripeemu.New(stripeemu.Options{Latency: o.latency, LatencyMax: o.latencyMax, RateLimit: o.stripeLimit})
	if err := emu.SetFaults(o.faults); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.emuAddr)
	if err != nil {
		return fmt.Errorf("listen for the Stripe emulator: %w", err)
	}
	emuSrv := &http.Server{Handler: emu, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = emuSrv.Serve(ln) }() // ends with Close below
	defer emuSrv.Close()
	emuURL := "http://" + ln.Addr().String()

	run := fmt.Sprintf("%x", time.Now().UnixNano())[6:]
	plan := planLoad(o.events, o.items, o.mix, run)
	if err := plan.seed(emu); err != nil {
		return err
	}

	base := o.target
	if base == "" {
		dir, err := os.MkdirTemp("", "fulfillmentd-load-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.token = "load_" + randomHex(16)
		cfg, err := configFrom(map[string]string{
			"STRIPE_SECRET_KEY": "sk_test_load", "STRIPE_WEBHOOK_SECRET": o.secret, "STRIPE_API_BASE": emuURL,
			"FULFILLMENT_DATA_DIR": filepath.Join(dir, "data"), "FULFILLMENT_ADDR": "127.0.0.1:0",
			"FULFILLMENT_WORKERS": strconv.Itoa(o.workers), "STRIPE_MAX_RPS": strconv.FormatFloat(o.maxRPS, 'g', -1, 64),
			"FULFILLMENT_API_TOKEN": "loadtest:" + o.token, "FULFILLMENT_NATS_SYNC": o.natsSync,
		})
		if err != nil {
			return fmt.Errorf("in-process instance: %w", err)
		}
		started := time.Now()
		a, err := start(ctx, cfg, newLogger(stderr, "text", "error"))
		if err != nil {
			return err
		}
		runCtx, stop := context.WithCancel(ctx)
		urls, done := make(chan string, 1), make(chan error, 1)
		go func() { done <- a.run(runCtx, func(u string) { urls <- u }) }()
		defer func() { stop(); <-done }()
		base = <-urls
		fmt.Fprintf(stdout, "in-process fulfillmentd at %s (start to ready %s), Stripe emulator at %s\n", base, time.Since(started).Round(time.Millisecond), emuURL)
	} else {
		fmt.Fprintf(stdout, "target %s, Stripe emulator at %s\n", base, emuURL)
	}
	latency := o.latency.String()
	if o.latencyMax > o.latency {
		latency += "–" + o.latencyMax.String()
	}
	fmt.Fprintf(stdout, "sending %d events, %d line items each, %d connections, rate %s; Stripe emulator: latency %s, limit %s req/s",
		o.events, o.items, o.conns, rateText(o.rate), latency, rateText(o.stripeLimit))
	if f := o.faults; f.Error5xx+f.LockTimeout+f.RateLimit > 0 {
		fmt.Fprintf(stdout, ", faults: %g 500, %g 429 lock_timeout, %g 429 rate_limit", f.Error5xx, f.LockTimeout, f.RateLimit)
	}
	fmt.Fprintln(stdout)
	c := plan.counts()
	if len(plan.deliveries) != o.events {
		order := "in order"
		if o.mix.reorder {
			order = fmt.Sprintf("shuffled in runs of %d", reorderWindow)
		}
		fmt.Fprintf(stdout, "mix (seed %d): %d paid, %d free, %d pending, %d delayed (%d succeed, %d fail), %d large (%d–%d lines); %d deliveries (%d completed, %d async, %d duplicates), %s\n",
			o.mix.seed, c.byStory[storyPaid], c.byStory[storyFree], c.byStory[storyPending],
			c.byStory[storyDelayedOK]+c.byStory[storyDelayedFail], c.byStory[storyDelayedOK], c.byStory[storyDelayedFail],
			c.large, largeMin, largeMax, len(plan.deliveries), c.completed, c.async, c.duplicateDeliveries, order)
	}

	l := &loadRun{opts: o, base: base, emu: emu, plan: &plan, run: run,
		firstAccepted: make([]time.Time, o.events), final: make([]time.Time, o.events),
		states: make([]sessionState, o.events),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.conns}}}
	return l.do(ctx, stdout, stderr)
}

type loadRun struct {
	opts          loadOptions
	base          string
	emu           *stripeemu.Emulator
	plan          *loadPlan
	run           string
	client        *http.Client
	mu            sync.Mutex
	acceptNs      []time.Duration
	firstAccepted []time.Time // when an event of the i-th session first got its 2xx
	final         []time.Time // when the i-th session's order was first seen in its final state
	states        []sessionState
	sent          atomic.Int64
	okCount       atomic.Int64
	retries       atomic.Int64
	orders        atomic.Int64 // sessions with an order
	finals        atomic.Int64 // sessions whose order is in its final state
}

func (l *loadRun) do(ctx context.Context, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, l.opts.timeout)
	defer cancel()
	start := time.Now()
	watchDone := make(chan error, 1)
	go func() { watchDone <- l.watchOrders(ctx) }()
	progressDone := make(chan struct{})
	go l.progress(ctx, stderr, start, progressDone)

	var limiter *rate.Limiter
	if l.opts.rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(l.opts.rate), 1)
	}
	next := make(chan *loadEvent)
	var wg sync.WaitGroup
	for range l.opts.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range next {
				l.deliver(ctx, ev)
			}
		}()
	}
	for _, ev := range l.plan.deliveries {
		if limiter != nil && limiter.Wait(ctx) != nil {
			break
		}
		select {
		case next <- ev:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	sendTime := time.Since(start)
	err := <-watchDone
	drain := time.Since(start)
	close(progressDone)
	fmt.Fprintln(stderr)
	v := l.report(stdout, sendTime, drain) // what was measured counts even on a timeout
	if err != nil {
		return fmt.Errorf("waiting for final order statuses: %w (%d of %d sessions final, %d lost)", err, l.finals.Load(), len(l.states), v.lost)
	}
	if !v.ok() {
		return fmt.Errorf("orders wrong: %d lost, %d wrong status, %d missing lines, %d duplicated", v.lost, v.wrongStatus, v.missingLines, v.duplicated)
	}
	return nil
}

// deliver posts an event until it gets a 2xx, as Stripe retries (quickly
// here).
func (l *loadRun) deliver(ctx context.Context, ev *loadEvent) {
	body, err := l.plan.body(l.emu, ev)
	if err != nil {
		return
	}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			l.retries.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
		l.sent.Add(1)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/webhooks/stripe", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		t0 := time.Now()
		req.Header.Set("Stripe-Signature", stripeevent.Sign(l.opts.secret, t0, body))
		resp, err := l.client.Do(req)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			continue
		}
		now := time.Now()
		l.mu.Lock()
		l.acceptNs = append(l.acceptNs, now.Sub(t0))
		if l.firstAccepted[ev.session].IsZero() {
			l.firstAccepted[ev.session] = now
		}
		l.mu.Unlock()
		l.okCount.Add(1)
		return
	}
}

// watchOrders follows the warehouse feed (each order in its latest state,
// oldest change first) until every session's order is in its final state.
func (l *loadRun) watchOrders(ctx context.Context) error {
	index := make(map[string]int, len(l.plan.sessions))
	for i, s := range l.plan.sessions {
		index[s.id] = i
	}
	cursor := ""
	for l.finals.Load() < int64(len(l.states)) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"/v1/orders?limit=500&after="+cursor, nil)
		req.Header.Set("Authorization", "Bearer "+l.opts.token)
		resp, err := l.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		var page orderList
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("read feed: HTTP %d %v", resp.StatusCode, err)
		}
		now := time.Now()
		l.mu.Lock()
		for _, o := range page.Orders {
			i, ok := index[o.CheckoutSessionID]
			if !ok {
				continue
			}
			st, s := &l.states[i], l.plan.sessions[i]
			seen, was := st.firstSeen, st.reached
			reached := st.observe(o, s.story.want(), s.lines)
			if !seen {
				l.orders.Add(1)
			}
			switch {
			case reached && !was:
				l.finals.Add(1)
				if l.final[i].IsZero() {
					l.final[i] = now
				}
			case was && !reached:
				l.finals.Add(-1)
			}
		}
		l.mu.Unlock()
		cursor = page.NextCursor
		if len(page.Orders) < 500 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

func (l *loadRun) progress(ctx context.Context, w io.Writer, start time.Time, done <-chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			fmt.Fprintf(w, "\r%6.1fs  accepted %d/%d  orders %d  final %d/%d  retries %d  stripe calls %d  429s %d   ",
				time.Since(start).Seconds(), l.okCount.Load(), len(l.plan.deliveries), l.orders.Load(), l.finals.Load(),
				len(l.states), l.retries.Load(), l.emu.Requests(), l.emu.RateLimited()+l.emu.Faults().RateLimit+l.emu.Faults().LockTimeout)
		}
	}
}

// floorRate is the pace the drain cannot beat: the lower of the account's
// limit and STRIPE_MAX_RPS, and which it is.
func (o loadOptions) floorRate() (float64, string) {
	acct, own := o.stripeLimit, o.maxRPS
	if !o.maxRPSKnown {
		own = 0
	}
	switch {
	case acct > 0 && (own <= 0 || acct <= own):
		return acct, "the account's limit"
	case own > 0:
		return own, "STRIPE_MAX_RPS"
	}
	return 0, ""
}

func (l *loadRun) report(w io.Writer, sendTime, drain time.Duration) verdict {
	n := len(l.plan.sessions)
	l.mu.Lock()
	defer l.mu.Unlock()
	var toFinal []time.Duration
	for i := range l.plan.sessions {
		if !l.firstAccepted[i].IsZero() && !l.final[i].IsZero() {
			toFinal = append(toFinal, max(l.final[i].Sub(l.firstAccepted[i]), 0))
		}
	}
	v := judge(l.plan.sessions, l.states)
	c := l.plan.counts()
	calls := l.emu.Requests()
	faults := l.emu.Faults()
	var sessionReads, linePages int64
	for _, s := range l.plan.sessions {
		p := "/v1/checkout/sessions/" + s.id
		li := l.emu.RequestsFor(p + "/line_items")
		linePages += li
		sessionReads += l.emu.RequestsFor(p) - li
	}
	orders := max(l.orders.Load(), 1)
	failedCalls := l.emu.RateLimited() + faults.RateLimit + faults.LockTimeout + faults.Error5xx
	deliveries := len(l.plan.deliveries)

	fmt.Fprintf(w, "\nresults (%d sessions, %d orders recorded, %d in their final status)\n", n, l.orders.Load(), l.finals.Load())
	fmt.Fprintf(w, "  accepted/s                 %.0f  (%d of %d deliveries accepted in %s, %d retried deliveries)\n",
		float64(l.okCount.Load())/sendTime.Seconds(), l.okCount.Load(), deliveries, sendTime.Round(time.Millisecond), l.retries.Load())
	fmt.Fprintf(w, "  accept latency             p50 %s  p95 %s  p99 %s\n", pct(l.acceptNs, 50), pct(l.acceptNs, 95), pct(l.acceptNs, 99))
	fmt.Fprintf(w, "  webhook-to-order latency   p50 %s  p99 %s  (first event accepted → final status in the feed, polled every 10 ms)\n", pct(toFinal, 50), pct(toFinal, 99))
	fmt.Fprintf(w, "  orders                     %d final, %d lost (no order), %d wrong status%s, %d missing lines, %d duplicated\n",
		v.final, v.lost, v.wrongStatus, v.wrongText(), v.missingLines, v.duplicated)
	fmt.Fprintf(w, "  Stripe calls per order     %.2f  (%d calls: %d session reads, %d line-item pages, %d other; %d answered 429 or 500, %.2f per order without them)\n",
		float64(calls)/float64(orders), calls, sessionReads, linePages, calls-sessionReads-linePages, failedCalls, float64(calls-failedCalls)/float64(orders))
	fmt.Fprintf(w, "  fewest calls for this mix  %.2f per order  (%d calls = Σ⌈lines÷100⌉; %d large sessions need %d extra pages)\n",
		float64(c.minCalls)/float64(n), c.minCalls, c.large, c.largePages)
	fmt.Fprintf(w, "  429s received              %d  (rate_limit %d: %d over the account's limit, %d injected; lock_timeout %d injected)\n",
		l.emu.RateLimited()+faults.RateLimit+faults.LockTimeout, l.emu.RateLimited()+faults.RateLimit, l.emu.RateLimited(), faults.RateLimit, faults.LockTimeout)
	fmt.Fprintf(w, "  500s injected              %d\n", faults.Error5xx)
	if rss := peakRSS(); rss != "" {
		where := "this process: fulfillmentd, load generator and emulator together"
		if l.opts.target != "" {
			where = "this load tool only; read the target's from its /metrics (process_resident_memory_bytes)"
		}
		fmt.Fprintf(w, "  peak RSS                   %s  (%s)\n", rss, where)
	}
	if r, which := l.opts.floorRate(); r > 0 {
		floor := time.Duration(float64(calls) / r * float64(time.Second))
		least := time.Duration(float64(c.minCalls) / r * float64(time.Second))
		fmt.Fprintf(w, "  drain time                 %s  floor %s (%d calls ÷ %s req/s, %s)  ratio %.2f\n",
			drain.Round(time.Millisecond), floor.Round(time.Millisecond), calls, rateText(r), which, drain.Seconds()/floor.Seconds())
		fmt.Fprintf(w, "                             with the fewest calls (%d): floor %s  ratio %.2f\n",
			c.minCalls, least.Round(time.Millisecond), drain.Seconds()/least.Seconds())
	} else {
		fmt.Fprintf(w, "  drain time                 %s\n", drain.Round(time.Millisecond))
	}
	return v
}

// peakRSS is the process's high-water resident set size (Linux), or "".
func peakRSS() string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return ""
			}
			return fmt.Sprintf("%.0f MB", float64(kb)/1024)
		}
	}
	return ""
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)*p/100, len(s)-1)
	return s[i].Round(10 * time.Microsecond).String()
}

func rateText(r float64) string {
	if r <= 0 {
		return "unlimited"
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", r), "0"), ".")
}
