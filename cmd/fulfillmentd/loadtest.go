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

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/webhook"
)

// loadOptions is one load run.
type loadOptions struct {
	events, conns, items int
	rate                 float64
	target               string // "" = start an instance in-process
	secret, token        string
	emuAddr              string
	latency              time.Duration
	stripeLimit          float64
	maxRPS               float64
	workers              int
	natsSync             time.Duration
	timeout              time.Duration
}

// loadtest sends signed checkout events to a fulfillmentd, as Stripe would,
// and measures acceptance, webhook-to-order latency, Stripe API use and the
// drain time against its floor.
func loadtest(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadOptions
	var syncMode string
	fs.IntVar(&o.events, "events", 2000, "checkout sessions to complete (one event each)")
	fs.Float64Var(&o.rate, "rate", 0, "events per second (0: as fast as the connections go)")
	fs.IntVar(&o.conns, "connections", 32, "concurrent webhook connections")
	fs.IntVar(&o.items, "items", 3, "line items per session (≤100: one Stripe call per order)")
	fs.StringVar(&o.target, "target", "", "base URL of a running fulfillmentd whose STRIPE_API_BASE is this tool's emulator (default: start one in-process)")
	fs.StringVar(&o.secret, "webhook-secret", "whsec_loadtest", "with --target: a webhook secret the target accepts")
	fs.StringVar(&o.token, "api-token", "", "with --target: a /v1 bearer token of the target")
	fs.StringVar(&o.emuAddr, "emulator-addr", "127.0.0.1:0", "listen address of the Stripe emulator")
	fs.DurationVar(&o.latency, "stripe-latency", 300*time.Millisecond, "emulated Stripe API latency")
	fs.Float64Var(&o.stripeLimit, "stripe-rate-limit", 25, "emulated account's rate limit in requests/s (0: none); Stripe test mode allows 25")
	fs.Float64Var(&o.maxRPS, "stripe-max-rps", 25, "in-process instance: STRIPE_MAX_RPS")
	fs.IntVar(&o.workers, "workers", 32, "in-process instance: FULFILLMENT_WORKERS")
	fs.StringVar(&syncMode, "nats-sync", "always", "in-process instance: FULFILLMENT_NATS_SYNC (always or an interval such as 2m)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up waiting for orders after this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg config
	if err := parseSetting(&cfg, "FULFILLMENT_NATS_SYNC", syncMode); err != nil {
		return fmt.Errorf("--nats-sync: %w", err)
	}
	o.natsSync = cfg.NATSSyncInterval
	if o.events < 1 || o.conns < 1 || o.items < 1 || o.items > 100 || o.workers < 1 {
		return errors.New("--events, --connections, --workers must be ≥ 1 and --items from 1 to 100")
	}
	if o.target != "" && o.token == "" {
		return errors.New("--target needs --api-token (to watch the orders arrive) and --webhook-secret")
	}
	return runLoad(ctx, o, stdout, stderr)
}

func runLoad(ctx context.Context, o loadOptions, stdout, stderr io.Writer) error {
	emu := stripeemu.New(stripeemu.Options{Latency: o.latency, RateLimit: o.stripeLimit})
	ln, err := net.Listen("tcp", o.emuAddr)
	if err != nil {
		return fmt.Errorf("listen for the Stripe emulator: %w", err)
	}
	emuSrv := &http.Server{Handler: emu, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = emuSrv.Serve(ln) }() // ends with Close below
	defer emuSrv.Close()
	emuURL := "http://" + ln.Addr().String()

	run := fmt.Sprintf("%x", time.Now().UnixNano())[6:]
	ids := make([]string, o.events)
	for i := range ids {
		ids[i] = fmt.Sprintf("cs_load_%s_%06d", run, i)
		if err := emu.GenerateSession(ids[i], o.items, true); err != nil {
			return err
		}
	}

	base := o.target
	if base == "" {
		dir, err := os.MkdirTemp("", "fulfillmentd-load-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.token = "load_" + randomHex(16)
		cfg := config{
			StripeSecretKey: "sk_test_load", WebhookSecrets: []string{o.secret}, StripeAPIBase: emuURL,
			DataDir: filepath.Join(dir, "data"), Addr: "127.0.0.1:0", Workers: o.workers, StripeMaxRPS: o.maxRPS,
			APITokens: []apiToken{{Name: "loadtest", Token: o.token}}, Tolerance: webhook.DefaultTolerance,
			NATSSyncInterval: o.natsSync,
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
	fmt.Fprintf(stdout, "sending %d events, %d line items each, %d connections, rate %s; Stripe emulator: latency %s, limit %s req/s\n",
		o.events, o.items, o.conns, rateText(o.rate), o.latency, rateText(o.stripeLimit))

	l := &loadRun{opts: o, base: base, emu: emu, ids: ids, run: run,
		accepted: make([]time.Time, o.events), recorded: make([]time.Time, o.events),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.conns}}}
	return l.do(ctx, stdout, stderr)
}

type loadRun struct {
	opts     loadOptions
	base     string
	emu      *stripeemu.Emulator
	ids      []string
	run      string
	client   *http.Client
	acceptMu sync.Mutex
	acceptNs []time.Duration
	accepted []time.Time // when the i-th event got its 2xx
	recorded []time.Time // when the i-th order was first seen in the feed
	sent     atomic.Int64
	okCount  atomic.Int64
	retries  atomic.Int64
	orders   atomic.Int64
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
	next := make(chan int)
	var wg sync.WaitGroup
	for range l.opts.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				l.deliver(ctx, i)
			}
		}()
	}
	for i := range l.ids {
		if limiter != nil && limiter.Wait(ctx) != nil {
			break
		}
		select {
		case next <- i:
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
	if err != nil {
		l.report(stdout, sendTime, drain) // what was measured still counts
		return fmt.Errorf("waiting for orders: %w (%d of %d recorded)", err, l.orders.Load(), len(l.ids))
	}
	l.report(stdout, sendTime, drain)
	return nil
}

// deliver posts event i until it gets a 2xx, as Stripe retries (quickly here).
func (l *loadRun) deliver(ctx context.Context, i int) {
	body, err := l.emu.Event(fmt.Sprintf("evt_load_%s_%06d", l.run, i), fulfillment.EventSessionCompleted, l.ids[i], time.Now())
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
		req.Header.Set("Stripe-Signature", webhook.Sign(l.opts.secret, t0, body))
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
		l.acceptMu.Lock()
		l.acceptNs = append(l.acceptNs, now.Sub(t0))
		l.accepted[i] = now
		l.acceptMu.Unlock()
		l.okCount.Add(1)
		return
	}
}

// watchOrders follows the warehouse feed until every session has its order.
func (l *loadRun) watchOrders(ctx context.Context) error {
	index := make(map[string]int, len(l.ids))
	for i, id := range l.ids {
		index[id] = i
	}
	cursor := ""
	for l.orders.Load() < int64(len(l.ids)) {
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
		l.acceptMu.Lock()
		for _, o := range page.Orders {
			if i, ok := index[o.CheckoutSessionID]; ok && l.recorded[i].IsZero() {
				l.recorded[i] = now
				l.orders.Add(1)
			}
		}
		l.acceptMu.Unlock()
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
			fmt.Fprintf(w, "\r%6.1fs  accepted %d/%d  orders %d  retries %d  stripe calls %d  429s %d   ",
				time.Since(start).Seconds(), l.okCount.Load(), len(l.ids), l.orders.Load(), l.retries.Load(),
				l.emu.Requests(), l.emu.RateLimited())
		}
	}
}

func (l *loadRun) report(w io.Writer, sendTime, drain time.Duration) {
	n := len(l.ids)
	var toOrder []time.Duration
	for i := range l.ids {
		if !l.accepted[i].IsZero() && !l.recorded[i].IsZero() {
			toOrder = append(toOrder, max(l.recorded[i].Sub(l.accepted[i]), 0))
		}
	}
	calls := l.emu.Requests()
	perOrder := float64(calls) / float64(max(l.orders.Load(), 1))
	needed := float64(n * ((l.opts.items + 99) / 100))
	fmt.Fprintf(w, "\nresults (%d events, %d orders recorded)\n", n, l.orders.Load())
	fmt.Fprintf(w, "  accepted/s                 %.0f  (%d accepted in %s, %d retried deliveries)\n", float64(n)/sendTime.Seconds(), l.okCount.Load(), sendTime.Round(time.Millisecond), l.retries.Load())
	fmt.Fprintf(w, "  accept latency             p50 %s  p95 %s  p99 %s\n", pct(l.acceptNs, 50), pct(l.acceptNs, 95), pct(l.acceptNs, 99))
	fmt.Fprintf(w, "  webhook-to-order latency   p50 %s  p99 %s  (feed polled every 10 ms)\n", pct(toOrder, 50), pct(toOrder, 99))
	fmt.Fprintf(w, "  Stripe calls per order     %.2f  (%d calls)\n", perOrder, calls)
	fmt.Fprintf(w, "  429s received             %d\n", l.emu.RateLimited())
	if rss := peakRSS(); rss != "" {
		where := "this process: fulfillmentd, load generator and emulator together"
		if l.opts.target != "" {
			where = "this load tool only; read the target's from its /metrics (process_resident_memory_bytes)"
		}
		fmt.Fprintf(w, "  peak RSS                   %s  (%s)\n", rss, where)
	}
	if l.opts.stripeLimit > 0 {
		floor := time.Duration(needed / l.opts.stripeLimit * float64(time.Second))
		fmt.Fprintf(w, "  drain time                 %s  floor %s (%.0f calls ÷ %s req/s)  ratio %.2f\n",
			drain.Round(time.Millisecond), floor.Round(time.Millisecond), needed, rateText(l.opts.stripeLimit), drain.Seconds()/floor.Seconds())
	} else {
		fmt.Fprintf(w, "  drain time                 %s\n", drain.Round(time.Millisecond))
	}
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
