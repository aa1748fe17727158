package main

// Shared parts of the fault tests (fault_*_test.go): child processes, a
// webhook sender that retries as Stripe does, and counting what the
// database holds. Each fault test runs at a reduced size by default and at
// full size with FULFILLMENT_FAULTS=full (see the README's "Fault tests").

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// faultsFull reports whether the fault tests run at full size.
func faultsFull() bool { return os.Getenv("FULFILLMENT_FAULTS") == "full" }

// faultSize is reduced in the default run, full with FULFILLMENT_FAULTS=full.
func faultSize(reduced, full int) int {
	if faultsFull() {
		return full
	}
	return reduced
}

// proc is a child process: the test binary in one of TestMain's modes.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  string // stdout and stderr
	done chan struct{}
	err  error // Wait's error, once done is closed

	mu    sync.Mutex
	lines []string
	seen  chan struct{} // closed and replaced on every stdout line
}

// startProc starts the test binary in mode with args and env added to the
// test's environment, and waits up to 60 s for a stdout line matching ready.
// It returns the line's submatches.
func startProc(t *testing.T, name, mode string, args []string, env map[string]string, ready *regexp.Regexp) (*proc, []string) {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{}), seen: make(chan struct{})}
	p.log = filepath.Join(t.TempDir(), name+".log")
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), execEnv+"="+mode)
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stderr = logf
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.seen)
			p.seen = make(chan struct{})
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		// A child built with -race reports races on its stderr only.
		b, _ := os.ReadFile(p.log)
		if i := bytes.Index(b, []byte("WARNING: DATA RACE")); i >= 0 {
			t.Errorf("%s: data race\n%s", name, b[i:min(len(b), i+8000)])
		}
	})
	m, err := p.waitLine(ready, 60*time.Second)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, p.logs())
	}
	return p, m
}

// waitLine waits for a stdout line matching re.
func (p *proc) waitLine(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.After(timeout)
	for i := 0; ; {
		p.mu.Lock()
		for ; i < len(p.lines); i++ {
			if m := re.FindStringSubmatch(p.lines[i]); m != nil {
				p.mu.Unlock()
				return m, nil
			}
		}
		seen := p.seen
		p.mu.Unlock()
		select {
		case <-seen:
		case <-p.done:
			return nil, fmt.Errorf("exited (%v) before printing %q", p.err, re)
		case <-deadline:
			return nil, fmt.Errorf("no line matching %q within %s", re, timeout)
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to timeout for the exit; it reports the
// exit error (nil for status 0).
func (p *proc) stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM", p.name, timeout)
	}
}

// logs is the tail of the child's output, for failure messages.
func (p *proc) logs() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 8000 {
		b = append([]byte("...\n"), b[len(b)-8000:]...)
	}
	return fmt.Sprintf("--- %s log (%s):\n%s", p.name, p.log, b)
}

// freePort returns a loopback TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var listeningRe = regexp.MustCompile(`listening on (http://\S+)`)

// startServeProc starts fulfillmentd serve as a child process.
func startServeProc(t *testing.T, name string, env map[string]string) (*proc, string) {
	t.Helper()
	p, m := startProc(t, name, "serve", []string{"serve"}, env, listeningRe)
	return p, m[1]
}

// stripeSender delivers webhooks as Stripe does: every delivery attempt is
// signed anew, and anything but a 2xx (a connection error included) is
// retried after a growing pause until the deadline.
type stripeSender struct {
	url     func() string // the endpoint's base URL right now
	secret  string
	client  *http.Client
	backoff time.Duration // first pause; doubles up to 1 s

	attempts atomic.Int64
	non2xx   atomic.Int64 // answers other than 2xx
	connErrs atomic.Int64 // no answer at all
	codes    sync.Map     // status code → *atomic.Int64
}

func newStripeSender(url func() string, secret string) *stripeSender {
	return &stripeSender{
		url:     url,
		secret:  secret,
		client:  &http.Client{Timeout: 10 * time.Second},
		backoff: 20 * time.Millisecond,
	}
}

// deliver posts body until it gets a 2xx or ctx ends.
func (s *stripeSender) deliver(ctx context.Context, body []byte) error {
	pause := s.backoff
	for {
		code, err := s.once(ctx, body)
		if err == nil && code/100 == 2 {
			return nil
		}
		if err != nil {
			s.connErrs.Add(1)
		} else {
			s.non2xx.Add(1)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("never got a 2xx (last: HTTP %d, %v): %w", code, err, ctx.Err())
		case <-time.After(pause + rand.N(pause)):
		}
		pause = min(2*pause, time.Second)
	}
}

func (s *stripeSender) once(ctx context.Context, body []byte) (int, error) {
	s.attempts.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url()+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", stripeevent.Sign(s.secret, time.Now(), body))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	n, _ := s.codes.LoadOrStore(resp.StatusCode, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	return resp.StatusCode, nil
}

// codeCounts is how often each status code was answered.
func (s *stripeSender) codeCounts() map[int]int64 {
	out := map[int]int64{}
	s.codes.Range(func(k, v any) bool {
		out[k.(int)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// burst delivers every event with workers concurrent senders; each event is
// delivered until it gets a 2xx, and again (a duplicate, as Stripe sends
// sometimes) with probability dupRate. It returns how many events got a 2xx
// and calls acked for each.
func (s *stripeSender) burst(ctx context.Context, events [][]byte, workers int, dupRate float64, acked func(i int)) (int, error) {
	var (
		next   atomic.Int64
		ok     atomic.Int64
		wg     sync.WaitGroup
		errMu  sync.Mutex
		errAll []error
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(events) || ctx.Err() != nil {
					return
				}
				if err := s.deliver(ctx, events[i]); err != nil {
					errMu.Lock()
					errAll = append(errAll, fmt.Errorf("event %d: %w", i, err))
					errMu.Unlock()
					continue
				}
				ok.Add(1)
				if acked != nil {
					acked(i)
				}
				if rand.Float64() < dupRate {
					_ = s.deliver(ctx, events[i])
				}
			}
		})
	}
	wg.Wait()
	return int(ok.Load()), errors.Join(errAll...)
}

// generatedEvents adds n paid sessions of items line items each to emu and
// returns one checkout.session.completed event per session, and the
// sessions' ids.
func generatedEvents(t *testing.T, emu *stripeemu.Emulator, prefix string, n, items int) (events [][]byte, sessions []string) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("cs_test_%s_%05d", prefix, i)
		if err := emu.GenerateSession(id, items, true); err != nil {
			t.Fatal(err)
		}
		body, err := emu.Event(fmt.Sprintf("evt_%s_%05d", prefix, i), fulfillment.EventSessionCompleted, id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, body)
		sessions = append(sessions, id)
	}
	return events, sessions
}

// ledger is what the database holds, read straight from the SQLite file.
type ledger struct {
	orders    map[string]int       // checkout session id → rows in orders
	lineItems map[string]int       // checkout session id → rows in line_items
	dead      map[string]int       // event id → rows in dead_letters
	created   map[string]time.Time // checkout session id → its order's created_at
}

// readLedger reads the SQLite file at path (with the program stopped, or
// beside it: reads do not block its writer in WAL mode).
func readLedger(t *testing.T, path string) ledger {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_busy_timeout=10000&_query_only=on")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := ledger{orders: map[string]int{}, lineItems: map[string]int{}, dead: map[string]int{}}
	scan := func(q string, into map[string]int) {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				t.Fatal(err)
			}
			into[k] = n
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	scan(`SELECT checkout_session_id, count(*) FROM orders GROUP BY checkout_session_id`, l.orders)
	scan(`SELECT o.checkout_session_id, count(*) FROM line_items li JOIN orders o ON o.id = li.order_id GROUP BY o.checkout_session_id`, l.lineItems)
	scan(`SELECT event_id, count(*) FROM dead_letters GROUP BY event_id`, l.dead)
	rows, err := db.Query(`SELECT checkout_session_id, min(created_at) FROM orders GROUP BY checkout_session_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	l.created = map[string]time.Time{}
	for rows.Next() {
		var id, at string
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		if l.created[id], err = time.Parse(time.RFC3339Nano, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return l
}

// tally checks the ledger against the sessions whose events got a 2xx:
// lost is how many of those have no order, duplicates how many orders or
// line items are more than one per session or per line.
func (l ledger) tally(acked []string, items int) (lost, duplicates int) {
	for _, id := range acked {
		if l.orders[id] == 0 {
			lost++
		}
	}
	for id, n := range l.orders {
		if n > 1 {
			duplicates += n - 1
		}
		if li := l.lineItems[id]; items > 0 && li > items {
			duplicates += li - items
		}
	}
	return lost, duplicates
}

// mustBeExactlyOnce fails the test unless tally found nothing lost or
// duplicated (showing each process's logs then), every order has its items
// line items, and nothing is dead-lettered.
func (l ledger) mustBeExactlyOnce(t *testing.T, lost, dups, items int, gens []*proc) {
	t.Helper()
	if lost != 0 || dups != 0 {
		for _, p := range gens {
			t.Log(p.logs())
		}
		t.Fatalf("lost %d, duplicated %d", lost, dups)
	}
	for id, n := range l.lineItems {
		if n != items {
			t.Errorf("%s: %d line items, want %d", id, n, items)
		}
	}
	if len(l.dead) != 0 {
		t.Errorf("dead letters: %v", l.dead)
	}
}

// waitOrders polls the SQLite file until every session has an order, or
// timeout.
func waitOrders(t *testing.T, path string, sessions []string, timeout time.Duration) ledger {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l := readLedger(t, path)
		missing := 0
		for _, id := range sessions {
			if l.orders[id] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return l
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settleAfterKills ends a kill test: it waits until every session whose
// delivery was answered 2xx has its order (within timeout), stops the last
// process, which last returns under mu, and reads the ledger with its
// tally.
func settleAfterKills(t *testing.T, dbPath string, sessions []string, acked []bool, mu *sync.Mutex,
	last func() *proc, items int, timeout time.Duration) (ackedIDs []string, l ledger, lost, dups int) {
	t.Helper()
	mu.Lock()
	for i, a := range acked {
		if a {
			ackedIDs = append(ackedIDs, sessions[i])
		}
	}
	mu.Unlock()
	waitOrders(t, dbPath, ackedIDs, timeout)
	mu.Lock()
	p := last()
	mu.Unlock()
	if err := p.stop(30 * time.Second); err != nil {
		t.Logf("last fulfillmentd did not exit cleanly: %v", err)
	}
	l = readLedger(t, dbPath)
	lost, dups = l.tally(ackedIDs, items)
	return ackedIDs, l, lost, dups
}
