package worker_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/worker"
)

// testLog shows the pool's log lines with -v when WORKER_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("WORKER_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startServer starts an embedded server on dir and stops it at cleanup.
func startServer(tb testing.TB, dir string, sync time.Duration) *server.Server {
	tb.Helper()
	ns, err := worker.StartEmbedded(worker.EmbeddedOptions{StoreDir: dir, SyncInterval: sync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func connect(tb testing.TB, ns *server.Server) jetstream.JetStream {
	tb.Helper()
	nc, err := worker.ConnectEmbedded(ns, tb.Name())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// env is a fresh server with the stream and consumer set up.
type env struct {
	js   jetstream.JetStream
	cons jetstream.Consumer
	pub  *worker.Publisher
}

func newEnv(tb testing.TB, cfg worker.StreamConfig) env {
	tb.Helper()
	js := connect(tb, startServer(tb, tb.TempDir(), 0))
	cons, err := worker.Setup(context.Background(), js, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return env{js: js, cons: cons, pub: worker.NewPublisher(js)}
}

func (e env) publish(t *testing.T, eventType, eventID, payload string) {
	t.Helper()
	if _, err := e.pub.Publish(context.Background(), eventType, eventID, []byte(payload)); err != nil {
		t.Fatal(err)
	}
}

// waitSettled waits until every stored message is acked or terminated.
func (e env) waitSettled(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	eventually(t, func() bool {
		var err error
		info, err = e.cons.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0 &&
			info.AckFloor.Stream == info.Delivered.Stream && info.Delivered.Stream > 0
	})
	return info
}

// eventually polls cond; the limit is generous, it is no speed test.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runPool runs p in the background; stop cancels it and returns Run's error.
func runPool(t *testing.T, p *worker.Pool) (stop func() error) {
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

// deadLetters records dead letters; failures makes the first calls fail.
type deadLetters struct {
	mu       sync.Mutex
	failures int
	calls    int
	got      []fulfillment.DeadLetter
}

func (d *deadLetters) RecordDeadLetter(_ context.Context, dl fulfillment.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.failures > 0 {
		d.failures--
		return errDiskFull
	}
	d.got = append(d.got, dl)
	return nil
}

func (d *deadLetters) letters() []fulfillment.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]fulfillment.DeadLetter(nil), d.got...)
}

// delivery is what a handler saw.
type delivery struct {
	msg worker.Message
	at  time.Time
}

// recorder is a handler that records deliveries and answers with results in
// order (the last one repeats).
type recorder struct {
	mu      sync.Mutex
	seen    []delivery
	results []error
}

func (r *recorder) Handle(_ context.Context, m worker.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, delivery{msg: m, at: time.Now()})
	i := min(len(r.seen), len(r.results)) - 1
	if i < 0 {
		return nil
	}
	return r.results[i]
}

func (r *recorder) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.seen...)
}
