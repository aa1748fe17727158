package natstest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
)

// Log shows the pool's log lines with -v when WORKER_TEST_LOG is set.
func Log() *slog.Logger {
	if os.Getenv("WORKER_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Embedded starts broker.StartEmbedded on dir and stops it at cleanup.
func Embedded(tb testing.TB, dir string, sync time.Duration) *broker.Embedded {
	tb.Helper()
	ns, err := broker.StartEmbedded(broker.EmbeddedOptions{StoreDir: dir, SyncInterval: sync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// JetStream connects to ns in-process (broker.ConnectEmbedded); the
// connection closes at cleanup.
func JetStream(tb testing.TB, ns *broker.Embedded) jetstream.JetStream {
	tb.Helper()
	nc, err := broker.ConnectEmbedded(ns, tb.Name())
	if err != nil {
		tb.Fatal(err)
	}
	return JetStreamOn(tb, nc)
}

// Connect connects to url with opts over TCP; the connection closes at
// cleanup.
func Connect(tb testing.TB, url string, opts ...nats.Option) (jetstream.JetStream, *nats.Conn) {
	tb.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return JetStreamOn(tb, nc), nc
}

// JetStreamOn is a JetStream context on nc; nc closes at cleanup.
func JetStreamOn(tb testing.TB, nc *nats.Conn) jetstream.JetStream {
	tb.Helper()
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// Env is a fresh embedded server with the stream and consumer set up.
type Env struct {
	Server *broker.Embedded
	JS     jetstream.JetStream
	Cons   jetstream.Consumer
	Pub    *broker.Publisher
}

// NewEnv starts an Env with broker.Setup(cfg).
func NewEnv(tb testing.TB, cfg broker.StreamConfig) Env {
	tb.Helper()
	ns := Embedded(tb, tb.TempDir(), 0)
	js := JetStream(tb, ns)
	cons, err := broker.Setup(context.Background(), js, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return Env{Server: ns, JS: js, Cons: cons, Pub: broker.NewPublisher(js)}
}

// Publish publishes an event or fails the test.
func (e Env) Publish(t *testing.T, eventType, eventID, payload string) {
	t.Helper()
	if _, err := e.Pub.Publish(context.Background(), eventType, eventID, []byte(payload)); err != nil {
		t.Fatal(err)
	}
}

// WaitSettled waits until every stored message is acked or terminated. The
// stream's last sequence is read first: a consumer's pending count can lag
// a publish that was just acknowledged.
func (e Env) WaitSettled(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	Eventually(t, func() bool {
		st, err := e.JS.Stream(context.Background(), worker.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		last := st.CachedInfo().State.LastSeq
		info, err = e.Cons.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0 &&
			info.AckFloor.Stream == info.Delivered.Stream && info.Delivered.Stream >= max(last, 1)
	})
	return info
}

// Eventually polls cond; the limit is generous, it is no speed test.
func Eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// RunPool runs p in the background; stop cancels it and returns Run's error.
func RunPool(t *testing.T, p *worker.Pool) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// ErrDiskFull is the failure of DeadLetters' first Failures calls.
var ErrDiskFull = errors.New("disk full")

// DeadLetters records dead letters; Failures makes the first calls fail.
type DeadLetters struct {
	mu       sync.Mutex
	Failures int
	got      []fulfillment.DeadLetter
}

// RecordDeadLetter implements worker.DeadLetters.
func (d *DeadLetters) RecordDeadLetter(_ context.Context, dl fulfillment.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Failures > 0 {
		d.Failures--
		return ErrDiskFull
	}
	d.got = append(d.got, dl)
	return nil
}

// Letters returns the recorded dead letters.
func (d *DeadLetters) Letters() []fulfillment.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]fulfillment.DeadLetter(nil), d.got...)
}

// Delivery is what a handler saw.
type Delivery struct {
	Msg worker.Message
	At  time.Time
}

// Recorder is a handler that records deliveries and answers with Results in
// order (the last one repeats).
type Recorder struct {
	mu      sync.Mutex
	seen    []Delivery
	Results []error
}

// Handle implements worker.Handler.
func (r *Recorder) Handle(_ context.Context, m worker.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, Delivery{Msg: m, At: time.Now()})
	i := min(len(r.seen), len(r.Results)) - 1
	if i < 0 {
		return nil
	}
	return r.Results[i]
}

// Deliveries returns what the handler saw.
func (r *Recorder) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.seen...)
}
