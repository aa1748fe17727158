package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
)

const e2eToken = "e2e-token-0123456789abcdef"

// command runs one fulfillmentd command through run and returns its
// output (stdout and stderr together) and error.
func command(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out syncBuffer
	err := run(context.Background(), args, envFunc(env), &out, &out)
	return out.String(), err
}

// mustCommand is command that must succeed and print every want.
func mustCommand(t *testing.T, env map[string]string, args []string, want ...string) string {
	t.Helper()
	out, err := command(t, env, args...)
	if err != nil {
		t.Fatalf("fulfillmentd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("fulfillmentd %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
	return out
}

// eventFor is the event Stripe sends about a session the service's Stripe
// account does not have (yet): built by an emulator of its own.
func eventFor(t *testing.T, eventID, sessionID string) []byte {
	t.Helper()
	other := stripeemu.New(stripeemu.Options{})
	if err := other.GenerateSession(sessionID, 2, true); err != nil {
		t.Fatal(err)
	}
	body, err := other.Event(eventID, fulfillment.EventSessionCompleted, sessionID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func (s *service) send(t *testing.T, body []byte) {
	t.Helper()
	if code := s.deliver(t, body, stripeevent.Sign("whsec_new_e2e", time.Now(), body)); code != http.StatusOK {
		t.Fatalf("delivery: HTTP %d", code)
	}
}

// waitFor polls cond (no speed test: the limit is generous).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func deadLetterIDs(t *testing.T, env map[string]string) []string {
	t.Helper()
	out := mustCommand(t, env, []string{"dlq", "list", "--json"})
	var dls []struct {
		EventID  string `json:"event_id"`
		Attempts int    `json:"attempts"`
		Error    string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &dls); err != nil {
		t.Fatalf("dlq list --json: %v\n%s", err, out)
	}
	ids := make([]string, len(dls))
	for i, dl := range dls {
		ids[i] = dl.EventID
	}
	return ids
}

// TestDeadLetters: events for sessions Stripe does not know become dead
// letters (a 404 is permanent); once the sessions exist, dlq retry puts
// them back, with serve stopped (published at the next start, on the same
// data dir) and with serve running; every retried event becomes exactly
// one order, and retrying again changes nothing.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	svc := startService(t, env)
	svc.token = e2eToken

	svc.send(t, eventFor(t, "evt_dl_down", "cs_test_dl_down"))
	svc.send(t, eventFor(t, "evt_dl_up", "cs_test_dl_up"))
	waitFor(t, "two dead letters", func() bool { return len(deadLetterIDs(t, env)) == 2 })

	mustCommand(t, env, []string{"dlq", "list"}, "evt_dl_down", "evt_dl_up", "checkout.session.completed", "stripe 404", "2 dead letters")
	mustCommand(t, env, []string{"dlq", "show", "evt_dl_down"}, "attempts", "first failed", "No such", `"id": "evt_dl_down"`)
	if out, err := command(t, env, "dlq", "show", "evt_nope"); err == nil || !strings.Contains(err.Error(), "no dead letter evt_nope") {
		t.Errorf("dlq show of no dead letter: %v\n%s", err, out)
	}

	// Stripe has the sessions now (they were created late, or restored).
	for _, id := range []string{"cs_test_dl_down", "cs_test_dl_up"} {
		if err := emu.GenerateSession(id, 2, true); err != nil {
			t.Fatal(err)
		}
	}

	// Serve stopped: the retry waits in the database.
	svc.stop(t)
	mustCommand(t, env, []string{"dlq", "retry", "evt_dl_down"}, "queued for replay as evt_dl_down:replay:1", "when it next starts")
	mustCommand(t, env, []string{"dlq", "retry", "evt_dl_down"}, "already queued", "0 replays queued")
	mustCommand(t, env, []string{"dlq", "list"}, "queued")
	svc = startService(t, env)
	svc.token = e2eToken
	waitOrder(t, svc, "cs_test_dl_down", fulfillment.StatusReadyToShip)

	// Serve running; flags and ids in any order.
	mustCommand(t, env, []string{"dlq", "retry", "--data-dir", env["FULFILLMENT_DATA_DIR"], "evt_dl_up"}, "queued for replay")
	waitOrder(t, svc, "cs_test_dl_up", fulfillment.StatusReadyToShip)
	waitFor(t, "dead letters gone", func() bool { return len(deadLetterIDs(t, env)) == 0 })

	mustCommand(t, env, []string{"dlq", "retry", "evt_dl_up"}, "not a dead letter (any more)", "published")
	mustCommand(t, env, []string{"dlq", "retry", "--all"}, "no dead letters")
	mustCommand(t, env, []string{"dlq", "list"}, "no dead letters")
	if out, err := command(t, env, "dlq", "retry", "evt_never"); err == nil {
		t.Errorf("retry of an unknown event succeeded:\n%s", out)
	}
	for _, bad := range [][]string{{"dlq", "retry"}, {"dlq", "purge"}, {"dlq", "purge", "--before", "soon"}, {"dlq", "frob"}, {"dlq"}} {
		if out, err := command(t, env, bad...); err == nil {
			t.Errorf("fulfillmentd %s succeeded:\n%s", strings.Join(bad, " "), out)
		}
	}
	mustCommand(t, env, []string{"dlq", "purge", "--before", "30d"}, "purged 0 dead letters")

	seen, _ := ordersPerSession(t, svc)
	if seen["cs_test_dl_down"] != 1 || seen["cs_test_dl_up"] != 1 {
		t.Errorf("orders per session: %v", seen)
	}

	other := maps.Clone(env)
	other["FULFILLMENT_DATA_DIR"] = filepath.Join(t.TempDir(), "typo")
	if out, err := command(t, other, "dlq", "list"); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("dlq list on a missing data dir: %v\n%s", err, out)
	}
	if _, err := os.Stat(other["FULFILLMENT_DATA_DIR"]); !os.IsNotExist(err) {
		t.Errorf("dlq created the missing data dir: %v", err)
	}

	// A dead letter purged by age.
	svc.send(t, eventFor(t, "evt_dl_old", "cs_test_dl_never"))
	waitFor(t, "a dead letter", func() bool { return len(deadLetterIDs(t, env)) == 1 })
	mustCommand(t, env, []string{"dlq", "purge", "--before", "1h"}, "purged 0 dead letters")
	mustCommand(t, env, []string{"dlq", "purge", "--before", "1ns"}, "purged 1 dead letter ")
}

// TestRetriedDeadLettersAreNeverLost is issue 9's reproduction: 12 events
// that fail permanently (Stripe does not know their sessions), retried
// three times with dlq retry --all while serve runs. Each replay fails again
// at about the moment it is marked published; every round must end with the
// 12 dead letters, each failed again since the round began.
func TestRetriedDeadLettersAreNeverLost(t *testing.T) {
	t.Parallel()
	_, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	svc := startService(t, env)
	const events = 12
	for i := range events {
		svc.send(t, eventFor(t, fmt.Sprintf("evt_lost_%02d", i), fmt.Sprintf("cs_test_lost_%02d", i)))
	}
	type deadLetter struct {
		EventID       string    `json:"event_id"`
		LastFailedAt  time.Time `json:"last_failed_at"`
		ReplayPending bool      `json:"replay_pending"`
	}
	list := func() []deadLetter {
		var dls []deadLetter
		out := mustCommand(t, env, []string{"dlq", "list", "--json"})
		if err := json.Unmarshal([]byte(out), &dls); err != nil {
			t.Fatalf("dlq list --json: %v\n%s", err, out)
		}
		return dls
	}
	// settled: no replay waits and every dead letter failed after since.
	settled := func(dls []deadLetter, since time.Time) bool {
		for _, dl := range dls {
			if dl.ReplayPending || dl.LastFailedAt.Before(since) {
				return false
			}
		}
		return true
	}
	var dls []deadLetter
	waitFor(t, "12 dead letters", func() bool { dls = list(); return len(dls) == events })
	for round := 1; round <= 3; round++ {
		since := time.Now()
		mustCommand(t, env, []string{"dlq", "retry", "--all"}, fmt.Sprintf("%d replays queued", events))
		deadline := time.Now().Add(30 * time.Second)
		for dls = list(); len(dls) != events || !settled(dls, since); dls = list() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d dead letters left of %d (or not failed again within 30s): %+v\n%s",
					round, len(dls), events, dls, svc.stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestReconcile: sessions Stripe completed whose events never arrived (or
// were never created), and a delayed payment that settled without its
// event reaching fulfillmentd, are found by reconcile and end up as exactly
// one order each; a second run finds nothing.
func TestReconcile(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t) // the fixtures are from 2023: outside --since
	env := serviceEnv(t, stripeSrv.URL)
	svc := startService(t, env)
	svc.token = e2eToken

	gen := func(id string, paid bool) {
		if err := emu.GenerateSession(id, 3, paid); err != nil {
			t.Fatal(err)
		}
	}
	event := func(id, typ, session string) []byte {
		body, err := emu.Event(id, typ, session, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	gen("cs_test_rec_ok", true)
	gen("cs_test_rec_lost", true)    // its event exists on Stripe; the delivery never came
	gen("cs_test_rec_noevent", true) // no event at all
	gen("cs_test_rec_async", false)  // delayed payment; settles, its event is lost
	svc.send(t, event("evt_rec_ok", fulfillment.EventSessionCompleted, "cs_test_rec_ok"))
	svc.send(t, event("evt_rec_async", fulfillment.EventSessionCompleted, "cs_test_rec_async"))
	event("evt_rec_lost", fulfillment.EventSessionCompleted, "cs_test_rec_lost")
	waitOrder(t, svc, "cs_test_rec_ok", fulfillment.StatusReadyToShip)
	waitOrder(t, svc, "cs_test_rec_async", fulfillment.StatusAwaitingPayment)
	if err := emu.SetPaymentStatus("cs_test_rec_async", "paid"); err != nil {
		t.Fatal(err)
	}
	event("evt_rec_settled", fulfillment.EventSessionAsyncPaymentSucceed, "cs_test_rec_async")

	mustCommand(t, env, []string{"reconcile", "--since", "72h", "--dry-run"},
		"dry run", "checkout payment events listed",
		"cs_test_rec_lost: no order → would queue evt_rec_lost",
		"cs_test_rec_noevent: no order → would queue reconcile:cs_test_rec_noevent:paid",
		"cs_test_rec_async: order awaiting_payment, session paid → would queue evt_rec_settled",
		"summary: checked 4, missing 2, lagging 1, would queue 3 (1 built from the session)")
	if out, _ := command(t, env, "dlq", "list"); !strings.Contains(out, "no dead letters") {
		t.Errorf("dry run changed something?\n%s", out)
	}
	mustCommand(t, env, []string{"reconcile", "--since", "3d"},
		"summary: checked 4, missing 2, lagging 1, queued 3 (1 built from the session)", replayNote)
	mustCommand(t, env, []string{"reconcile"}, "queued 0 (") // in flight, or processed already: never queued twice
	for _, id := range []string{"cs_test_rec_lost", "cs_test_rec_noevent", "cs_test_rec_async"} {
		waitOrder(t, svc, id, fulfillment.StatusReadyToShip)
	}
	mustCommand(t, env, []string{"reconcile"}, "summary: checked 4, missing 0, lagging 0, queued 0")

	var page orderList
	if code := svc.get(t, "/v1/orders?limit=500", &page); code != http.StatusOK {
		t.Fatalf("/v1/orders = %d", code)
	}
	if len(page.Orders) != 4 {
		t.Errorf("%d orders, want one per session (4)", len(page.Orders))
	}
	for _, bad := range [][]string{{"reconcile", "--since", "forever"}, {"reconcile", "extra"}} {
		if out, err := command(t, env, bad...); err == nil {
			t.Errorf("fulfillmentd %s succeeded:\n%s", strings.Join(bad, " "), out)
		}
	}
	badKey := maps.Clone(env)
	badKey["STRIPE_SECRET_KEY"] = "sk_test_"
	if out, err := command(t, badKey, "reconcile"); err == nil || !strings.Contains(err.Error(), stripeKeyProblem) {
		t.Errorf("reconcile with a rejected key: %v, want an error that says %q\n%s", err, stripeKeyProblem, out)
	}
}

// TestReconcileMoneyEvents: a refund whose event never reached
// fulfillmentd, of an order it knows, is found by reconcile through the
// emulator, the stripe-go client and the SQLite file; a refund of a charge
// no Checkout Session made is listed and left alone.
func TestReconcileMoneyEvents(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	svc := startService(t, env)
	svc.token = e2eToken
	for _, id := range []string{"cs_test_recm_a", "cs_test_recm_b"} {
		if err := emu.GenerateSession(id, 2, true); err != nil {
			t.Fatal(err)
		}
		body, err := emu.Event("evt_"+id, fulfillment.EventSessionCompleted, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		svc.send(t, body)
		waitOrder(t, svc, id, fulfillment.StatusReadyToShip)
	}
	ch, err := emu.Refund("cs_test_recm_a", 500)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emu.ObjectEvent("evt_recm_refund", fulfillment.EventChargeRefunded, ch, time.Now()); err != nil {
		t.Fatal(err) // never delivered
	}
	other, err := emu.AddCharge("pi_recm_elsewhere", 1200)
	if err == nil {
		_, err = emu.Refund(other, 0)
	}
	if err == nil {
		_, err = emu.ObjectEvent("evt_recm_elsewhere", fulfillment.EventChargeRefunded, other, time.Now())
	}
	if err != nil {
		t.Fatal(err)
	}
	mustCommand(t, env, []string{"reconcile", "--dry-run"},
		"cs_test_recm_a: missed charge.refunded ("+ch+") → would queue evt_recm_refund",
		"summary: checked 2, missing 0, lagging 0, would queue 1 (0 built from the session), in flight 0, dead letters 0; money events listed 2, missed 1")
	mustCommand(t, env, []string{"reconcile"}, "summary: checked 2, missing 0, lagging 0, queued 1 (0 built from the session)")
	// The running serve replays the refund it missed: the order is held.
	o := waitOrder(t, svc, "cs_test_recm_a", fulfillment.StatusOnHold)
	if o.AmountRefunded != 500 || !o.Hold.Has(fulfillment.HoldRefundPartial) {
		t.Fatalf("after the replayed refund: refunded %d, hold %+v", o.AmountRefunded, o.Hold)
	}
	mustCommand(t, env, []string{"reconcile"}, "summary: checked 2, missing 0, lagging 0, queued 0 (0 built from the session)")
}

// TestServeReconcileEvery: with --reconcile-every, serve finds a completed
// session whose event never reached it, on its own.
func TestServeReconcileEvery(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	if err := emu.GenerateSession("cs_test_every", 2, true); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.Event("evt_every", fulfillment.EventSessionCompleted, "cs_test_every", time.Now()); err != nil {
		t.Fatal(err)
	}
	env := serviceEnv(t, stripeSrv.URL)
	env["FULFILLMENT_RECONCILE_EVERY"] = "1s"
	svc := startService(t, env)
	svc.token = e2eToken
	waitOrder(t, svc, "cs_test_every", fulfillment.StatusReadyToShip)

	env["FULFILLMENT_RECONCILE_EVERY"] = "10ms"
	if out, err := command(t, env, "serve"); err == nil || !strings.Contains(err.Error(), "FULFILLMENT_RECONCILE_EVERY") {
		t.Errorf("serve with a 10ms reconcile interval: %v\n%s", err, out)
	}
}

// trySend delivers body signed; a connection error (the service is gone)
// is no failure here.
func trySend(url string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", stripeevent.Sign("whsec_new_e2e", time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestShutdownDuringBurst: serve is stopped (as by SIGTERM) while webhooks
// pour in and workers call a slow Stripe. run returns nil; after a restart
// on the same data dir, every event that got a 2xx is exactly one order.
func TestShutdownDuringBurst(t *testing.T) {
	t.Parallel()
	emu := stripeemu.New(stripeemu.Options{Latency: 30 * time.Millisecond})
	stripeSrv := httptest.NewServer(emu)
	t.Cleanup(stripeSrv.Close)
	const n = 40
	bodies := make([][]byte, n)
	for i := range n {
		id := fmt.Sprintf("cs_test_burst_%03d", i)
		if err := emu.GenerateSession(id, 2, true); err != nil {
			t.Fatal(err)
		}
		body, err := emu.Event(fmt.Sprintf("evt_burst_%03d", i), fulfillment.EventSessionCompleted, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = body
	}
	env := serviceEnv(t, stripeSrv.URL)
	svc := startService(t, env)
	first := svc

	var (
		mu     sync.Mutex
		acked  []int
		wg     sync.WaitGroup
		next   = make(chan int)
		halfOK = make(chan struct{})
	)
	for range 6 {
		wg.Go(func() {
			for i := range next {
				if trySend(svc.url, bodies[i]) == http.StatusOK {
					mu.Lock()
					acked = append(acked, i)
					if len(acked) == n/2 {
						close(halfOK)
					}
					mu.Unlock()
				}
			}
		})
	}
	stopped := make(chan struct{})
	go func() {
		<-halfOK
		svc.stop(t) // cancels run's context: what SIGTERM does
		close(stopped)
	}()
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	<-stopped
	mu.Lock()
	got := append([]int(nil), acked...)
	mu.Unlock()
	t.Logf("%d of %d deliveries got a 2xx before the shutdown", len(got), n)
	// A clean stop leaves no message delivered but unsettled: such a
	// message would wait out AckWait before the next start could
	// take it.
	ns, err := broker.StartEmbedded(broker.EmbeddedOptions{StoreDir: filepath.Join(env["FULFILLMENT_DATA_DIR"], "nats")})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := broker.ConnectEmbedded(ns, "inspect")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	cons, err := js.Consumer(context.Background(), worker.StreamName, worker.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the stop: %d delivered, %d acked, %d waiting", info.Delivered.Stream, info.AckFloor.Stream, info.NumPending)
	if info.NumAckPending != 0 {
		t.Errorf("%d messages delivered and neither acked nor nak'ed at the stop", info.NumAckPending)
	}
	nc.Close()
	ns.Shutdown()
	ns.WaitForShutdown()

	svc = startService(t, env)
	svc.token = e2eToken
	defer func() {
		if t.Failed() {
			out, _ := command(t, env, "dlq", "list")
			t.Logf("first run logs:\n%s\nsecond:\n%s\ndlq:\n%s", first.stderr.String(), svc.stderr.String(), out)
		}
	}()
	for _, i := range got {
		waitOrder(t, svc, fmt.Sprintf("cs_test_burst_%03d", i), fulfillment.StatusReadyToShip)
	}
	seen, _ := ordersPerSession(t, svc)
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s: %d orders", id, c)
		}
	}
	if len(seen) < len(got) {
		t.Errorf("%d orders for %d acknowledged events", len(seen), len(got))
	}
}

// startNATSServer starts a nats-server with JetStream that listens on a
// loopback port, as an external broker.
func startNATSServer(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// TestRoles runs the scale-out topology in one test: a receiver (no
// database, no Stripe key) and a worker (which needs the webhook secrets
// too: it verifies stream messages again) against an external NATS server.
// Each answers only its own routes.
func TestRoles(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	if err := emu.GenerateSession("cs_test_roles", 2, true); err != nil {
		t.Fatal(err)
	}
	natsURL := startNATSServer(t)

	workerEnv := serviceEnv(t, stripeSrv.URL)
	workerEnv["NATS_URL"] = natsURL
	workerEnv["FULFILLMENT_ROLE"] = "worker"

	receiverEnv := serviceEnv(t, stripeSrv.URL)
	receiverEnv["NATS_URL"] = natsURL
	delete(receiverEnv, "STRIPE_SECRET_KEY")
	delete(receiverEnv, "FULFILLMENT_API_TOKEN")
	receiverDir := receiverEnv["FULFILLMENT_DATA_DIR"]

	// The receiver starts first; events wait in the stream for the worker.
	receiverEnv["FULFILLMENT_ROLE"] = "receiver"
	recv := startService(t, receiverEnv)
	body, err := emu.Event("evt_roles", fulfillment.EventSessionCompleted, "cs_test_roles", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recv.send(t, body)
	wrk := startService(t, workerEnv)
	wrk.token = e2eToken
	waitOrder(t, wrk, "cs_test_roles", fulfillment.StatusReadyToShip)

	recv.token = e2eToken
	for _, c := range []struct {
		svc    *service
		path   string
		status int
	}{
		{recv, "/readyz", http.StatusOK},
		{recv, "/v1/orders", http.StatusNotFound},
		{recv, "/v1/orders/cs_test_roles", http.StatusNotFound},
		{wrk, "/readyz", http.StatusOK},
		{wrk, "/v1/orders/cs_test_roles", http.StatusOK},
	} {
		if got := c.svc.get(t, c.path, nil); got != c.status {
			t.Errorf("%s on %s: HTTP %d, want %d", c.path, map[*service]string{recv: "receiver", wrk: "worker"}[c.svc], got, c.status)
		}
	}
	if code := trySend(wrk.url, body); code != http.StatusNotFound {
		t.Errorf("webhook to the worker: HTTP %d, want 404", code)
	}
	if _, err := os.Stat(filepath.Join(receiverDir, "fulfillment.db")); !os.IsNotExist(err) {
		t.Errorf("the receiver made a database: %v", err)
	}

	noSecret := maps.Clone(workerEnv) // a worker without the webhook secrets
	delete(noSecret, "STRIPE_WEBHOOK_SECRET")
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{receiverEnv, []string{"serve", "--role", "receiver", "--nats-url", ""}, "needs an external NATS"},
		{workerEnv, []string{"serve", "--nats-url", ""}, "needs an external NATS"},
		{workerEnv, []string{"serve", "--role", "edge"}, "want all, receiver or worker"},
		{receiverEnv, []string{"serve", "--role=all"}, "STRIPE_SECRET_KEY is required"}, // the flag wins over FULFILLMENT_ROLE
		{noSecret, []string{"serve"}, "STRIPE_WEBHOOK_SECRET is required"},
	} {
		env := maps.Clone(c.env)
		if c.args[len(c.args)-1] == "" { // --nats-url "": the embedded broker
			delete(env, "NATS_URL")
			c.args = c.args[:len(c.args)-2]
		}
		out, err := command(t, env, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fulfillmentd %s: %v, want an error with %q\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
	}
}
