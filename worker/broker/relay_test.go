package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

func openStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

var clock atomic.Int64

// paid records a paid order of session with two line items (quantities 1, 2).
func paid(t testing.TB, db *store.DB, session string) {
	t.Helper()
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC).Add(time.Duration(clock.Add(1)) * time.Second)
	o := fulfillment.Order{
		ID: fulfillment.OrderID(session), CheckoutSessionID: session,
		Status: fulfillment.StatusReadyToShip, PaymentStatus: fulfillment.PaymentPaid, Currency: "eur", AmountTotal: 3000,
		LineItems: []fulfillment.LineItem{{ID: "li_" + session + "_a", Quantity: 1}, {ID: "li_" + session + "_b", Quantity: 2}},
		CreatedAt: now, UpdatedAt: now,
	}
	if _, _, err := db.Record(context.Background(), "evt_"+session, fulfillment.EventSessionCompleted, o); err != nil {
		t.Fatal(err)
	}
}

func change(t *testing.T, db *store.DB, session string, f func(fulfillment.Order, time.Time) (fulfillment.Order, bool, error)) {
	t.Helper()
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC).Add(time.Duration(clock.Add(1)) * time.Second)
	if _, err := db.ChangeOrder(context.Background(), session, func(o fulfillment.Order) (fulfillment.Order, bool, error) { return f(o, now) }); err != nil {
		t.Fatal(err)
	}
}

func ack(o fulfillment.Order, at time.Time) (fulfillment.Order, bool, error) {
	return o.Acknowledge("wms", at)
}

func shipAll(tracking string) func(fulfillment.Order, time.Time) (fulfillment.Order, bool, error) {
	return func(o fulfillment.Order, at time.Time) (fulfillment.Order, bool, error) {
		next, _, created, err := o.Ship(fulfillment.ShipmentRequest{Carrier: "UPS", TrackingNumber: tracking}, "wms", at)
		return next, created, err
	}
}

func runRelay(t *testing.T, r *broker.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("relay: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("relay did not stop")
		}
	})
}

func pending(t testing.TB, db *store.DB) int {
	t.Helper()
	p, err := db.PendingChanges(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(p)
}

// feedMessage is one message of the FULFILLMENT stream.
type feedMessage struct {
	subject, msgID, orderID string
	seq                     int64
	order                   fulfillment.Order
}

func readFeed(t *testing.T, js jetstream.JetStream) []feedMessage {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, broker.FeedStreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []feedMessage
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		fm := feedMessage{subject: m.Subject, msgID: m.Header.Get(nats.MsgIdHdr), orderID: m.Header.Get(broker.HeaderOrderID)}
		fm.seq, _ = strconv.ParseInt(m.Header.Get(broker.HeaderChangeSeq), 10, 64)
		if err := json.Unmarshal(m.Data, &fm.order); err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, fm)
	}
	return out
}

// checkFeed: every change exactly once, in change order, each message
// consistent with its order.
func checkFeed(t *testing.T, msgs []feedMessage, wantChanges int) {
	t.Helper()
	if len(msgs) != wantChanges {
		t.Errorf("%d messages on the stream, want %d (one per change)", len(msgs), wantChanges)
	}
	var last int64
	for i, m := range msgs {
		if m.seq <= last {
			t.Errorf("message %d: change %d after change %d", i, m.seq, last)
		}
		last = m.seq
		if m.subject != broker.FeedSubjectPrefix+string(m.order.Status) || m.orderID != m.order.ID || m.msgID != store.ChangeID(m.order.ID, m.seq) {
			t.Errorf("message %d: subject %s, id %s, order header %s for order %s in %s", i, m.subject, m.msgID, m.orderID, m.order.ID, m.order.Status)
		}
	}
}

func TestRelayPublishesEveryChangeInOrder(t *testing.T) {
	t.Parallel()
	db := openStore(t)
	js := natstest.JetStream(t, natstest.Embedded(t, t.TempDir(), 0))
	ctx := context.Background()
	for range 2 { // idempotent
		if err := broker.SetupFeed(ctx, js, broker.FeedConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		paid(t, db, fmt.Sprintf("cs_relay_%d", i))
	}
	runRelay(t, &broker.Relay{JS: js, Outbox: db, Wake: db.OutboxWritten(), Poll: time.Hour, Batch: 2, Log: natstest.Log()})
	natstest.Eventually(t, func() bool { return pending(t, db) == 0 })

	// Changes written while it runs go out on the store's signal alone (Poll
	// is an hour).
	change(t, db, "cs_relay_1", ack)
	change(t, db, "cs_relay_1", shipAll("T1"))
	change(t, db, "cs_relay_3", shipAll("T3"))
	natstest.Eventually(t, func() bool { return pending(t, db) == 0 })

	msgs := readFeed(t, js)
	checkFeed(t, msgs, 8)
	var subjects []string
	for _, m := range msgs[5:] {
		subjects = append(subjects, m.subject)
	}
	want := fmt.Sprint([]string{"fulfillment.orders.in_fulfillment", "fulfillment.orders.shipped", "fulfillment.orders.shipped"})
	if fmt.Sprint(subjects) != want {
		t.Errorf("subjects %v, want %s", subjects, want)
	}
	if last := msgs[7].order; last.CheckoutSessionID != "cs_relay_3" || len(last.Shipments) != 1 || len(last.LineItems) != 2 {
		t.Errorf("last message's order: %+v", last)
	}
}

// startTCPServer starts a JetStream server on 127.0.0.1:port (0: any) with
// its store in dir, as an external broker would be.
func startTCPServer(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "outage", Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// The broker goes away while orders keep changing: the relay keeps the
// changes in the outbox, retries, and once the broker is back (same store,
// same address) publishes every change exactly once, in order.
func TestRelayRidesOutBrokerOutage(t *testing.T) {
	t.Parallel()
	db := openStore(t)
	dir := t.TempDir()
	ns := startTCPServer(t, dir, 0)
	port := ns.Addr().(*net.TCPAddr).Port
	js, _ := natstest.Connect(t, ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err := broker.SetupFeed(context.Background(), js, broker.FeedConfig{}); err != nil {
		t.Fatal(err)
	}

	var failures atomic.Int64
	runRelay(t, &broker.Relay{
		JS: js, Outbox: db, Wake: db.OutboxWritten(), Poll: 50 * time.Millisecond, Batch: 3,
		PublishWait: 200 * time.Millisecond,
		// Each wait is one Rand call: 40ms/2 + 0.
		Backoff: worker.Backoff{Base: 40 * time.Millisecond, Max: 40 * time.Millisecond,
			Rand: func() float64 { failures.Add(1); return 0 }},
		Log: natstest.Log(),
	})
	for i := range 4 {
		paid(t, db, fmt.Sprintf("cs_out_%d", i))
	}
	natstest.Eventually(t, func() bool { return pending(t, db) == 0 })

	ns.Shutdown()
	ns.WaitForShutdown()
	change(t, db, "cs_out_0", ack)
	change(t, db, "cs_out_0", shipAll("T0"))
	paid(t, db, "cs_out_9")
	change(t, db, "cs_out_2", shipAll("T2"))
	natstest.Eventually(t, func() bool { return failures.Load() >= 3 })
	if n := pending(t, db); n != 4 {
		t.Fatalf("%d changes pending during the outage, want all 4", n)
	}

	startTCPServer(t, dir, port) // the same address and store: the broker is back
	natstest.Eventually(t, func() bool { return pending(t, db) == 0 })
	checkFeed(t, readFeed(t, js), 8)
	if failures.Load() == 0 {
		t.Error("no publish failed during the outage")
	}
}
