package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// readmeNATSConfig is the sample nats.conf of the README's "Reading the
// feed from the embedded broker", with $WMS_PASS defined in front.
func readmeNATSConfig(t *testing.T, wmsPass string) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n### Reading the feed from the embedded broker\n")
	if !ok {
		t.Fatal(`README has no "### Reading the feed from the embedded broker" section`)
	}
	for rest := section; ; {
		_, block, ok := strings.Cut(rest, "\n```\n")
		if !ok {
			t.Fatal("the README section has no nats.conf block")
		}
		block, rest, _ = strings.Cut(block, "\n```\n")
		if strings.Contains(block, "authorization {") {
			path := filepath.Join(t.TempDir(), "nats.conf")
			if err := os.WriteFile(path, []byte(fmt.Sprintf("WMS_PASS = %q\n%s\n", wmsPass, block)), 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}
	}
}

// asyncErrors collects a connection's asynchronous errors (permission
// violations come that way).
type asyncErrors struct {
	mu   sync.Mutex
	errs []error
}

func (a *asyncErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs = append(a.errs, err)
}

// waitViolation waits for a permission violation that names subject.
func (a *asyncErrors) waitViolation(t *testing.T, subject string) {
	t.Helper()
	waitFor(t, "a permissions violation on "+subject, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, err := range a.errs {
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return true
			}
		}
		return false
	})
}

// TestPushFeedEmbeddedListen runs serve with the embedded broker listening
// on loopback with the README's sample configuration, turns a signed
// webhook into an order, and reads that order change from FULFILLMENT over
// TCP as the warehouse user, through its own durable consumer, the way the
// README's nats consumer add / next do. That user can do nothing else:
// publishing on stripe.events.>, reading STRIPE_EVENTS, another consumer
// and deleting the stream are permission violations. fulfillmentd's own
// in-process connection authenticates (the order was made).
func TestPushFeedEmbeddedListen(t *testing.T) {
	t.Parallel()
	const wmsPass = "wms-pass-0123456789"
	emu, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env["FULFILLMENT_NATS_LISTEN"] = addr
	env["FULFILLMENT_NATS_CONFIG"] = readmeNATSConfig(t, wmsPass)
	svc := startService(t, env)
	const session = "cs_test_crosssell"
	body, err := emu.Event("evt_embedded_feed", fulfillment.EventSessionCompleted, session, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc.send(t, body)
	svc.token = e2eToken
	o := waitOrder(t, svc, session, fulfillment.StatusReadyToShip)

	if _, err := nats.Connect("nats://"+addr, nats.MaxReconnects(0)); err == nil || !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("a client without credentials: %v, want an authorization violation", err)
	}

	var async asyncErrors
	nc, err := nats.Connect("nats://"+addr, nats.UserInfo("wms", wmsPass), nats.ErrorHandler(async.handler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// nats consumer add FULFILLMENT wms --filter 'fulfillment.orders.>' --deliver all --ack explicit --pull
	cons, err := js.CreateOrUpdateConsumer(ctx, "FULFILLMENT", jetstream.ConsumerConfig{
		Durable: "wms", FilterSubject: "fulfillment.orders.>", DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	// nats consumer next FULFILLMENT wms
	m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got fulfillment.Order
	if err := json.Unmarshal(m.Data(), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != o.ID || got.Status != fulfillment.StatusReadyToShip || m.Subject() != "fulfillment.orders.ready_to_ship" ||
		m.Headers().Get("Fulfillment-Order-Id") != o.ID || m.Headers().Get(nats.MsgIdHdr) == "" {
		t.Errorf("feed message %s %v: order %s %s", m.Subject(), m.Headers(), got.ID, got.Status)
	}
	if err := m.DoubleAck(ctx); err != nil {
		t.Errorf("ack: %v", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Consumer != 1 {
		t.Errorf("consumer ack floor %d, want 1", info.AckFloor.Consumer)
	}

	// Everything else is refused. A publish the user may not make is
	// dropped by the server, which says so asynchronously.
	if err := nc.Publish("stripe.events.checkout.session.completed", body); err != nil {
		t.Fatal(err)
	}
	async.waitViolation(t, `Publish to "stripe.events.checkout.session.completed"`)
	if _, err := nc.SubscribeSync("stripe.events.>"); err != nil {
		t.Fatal(err)
	}
	async.waitViolation(t, `Subscription to "stripe.events.>"`)
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, time.Second) }
	for _, c := range []struct {
		subject string
		call    func(context.Context) error
	}{
		{"$JS.API.STREAM.INFO.STRIPE_EVENTS", func(ctx context.Context) error { _, err := js.Stream(ctx, "STRIPE_EVENTS"); return err }},
		{"$JS.API.CONSUMER.CREATE.STRIPE_EVENTS.wms", func(ctx context.Context) error {
			_, err := js.CreateOrUpdateConsumer(ctx, "STRIPE_EVENTS", jetstream.ConsumerConfig{Durable: "wms", AckPolicy: jetstream.AckExplicitPolicy})
			return err
		}},
		{"$JS.API.CONSUMER.INFO.STRIPE_EVENTS.fulfillment-workers", func(ctx context.Context) error {
			_, err := js.Consumer(ctx, "STRIPE_EVENTS", "fulfillment-workers")
			return err
		}},
		{"$JS.API.CONSUMER.CREATE.FULFILLMENT.other", func(ctx context.Context) error {
			_, err := js.CreateOrUpdateConsumer(ctx, "FULFILLMENT", jetstream.ConsumerConfig{Durable: "other", FilterSubject: "fulfillment.orders.>"})
			return err
		}},
		{"$JS.API.STREAM.DELETE.FULFILLMENT", func(ctx context.Context) error { return js.DeleteStream(ctx, "FULFILLMENT") }},
		{"$JS.API.STREAM.PURGE.STRIPE_EVENTS", func(ctx context.Context) error {
			_, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE.STRIPE_EVENTS", nil)
			return err
		}},
	} {
		cctx, cancel := short()
		err := c.call(cctx)
		cancel()
		if err == nil {
			t.Errorf("%s: allowed", c.subject)
			continue
		}
		async.waitViolation(t, c.subject)
	}

	// The service is unharmed: still ready, the stream still there.
	if code := svc.get(t, "/readyz", nil); code != 200 {
		t.Errorf("/readyz: HTTP %d", code)
	}
	if _, err := cons.Info(ctx); err != nil {
		t.Errorf("consumer after the refusals: %v", err)
	}
	svc.stop(t)
	if strings.Contains(strings.ToLower(svc.stderr.String()), "authorization violation") {
		t.Errorf("fulfillmentd's own connection was refused:\n%s", svc.stderr.String())
	}
}

// TestEmbeddedListenSettings: the listen address and the configuration
// file are checked at start with every other setting, and refused with
// NATS_URL.
func TestEmbeddedListenSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	users := write("users.conf", `authorization { users = [ { user: wms, password: "p-0123456789" } ] }`)
	base := map[string]string{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "FULFILLMENT_DATA_DIR": filepath.Join(dir, "data")}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad address", map[string]string{"FULFILLMENT_NATS_LISTEN": "4222"}, "FULFILLMENT_NATS_LISTEN: want host:port"},
		{"bad port", map[string]string{"FULFILLMENT_NATS_LISTEN": "127.0.0.1:99999"}, "FULFILLMENT_NATS_LISTEN: want host:port with a port from 1 to 65535"},
		{"every interface without users", map[string]string{"FULFILLMENT_NATS_LISTEN": ":4222"}, "would listen on :4222, which is not loopback, without authorization"},
		{"missing file", map[string]string{"FULFILLMENT_NATS_LISTEN": "127.0.0.1:4222", "FULFILLMENT_NATS_CONFIG": filepath.Join(dir, "none.conf")}, "none.conf"},
		{"with NATS_URL", map[string]string{"NATS_URL": "nats://127.0.0.1:1", "FULFILLMENT_NATS_LISTEN": "127.0.0.1:4222", "FULFILLMENT_NATS_CONFIG": users},
			"FULFILLMENT_NATS_LISTEN and FULFILLMENT_NATS_CONFIG configure the embedded broker, which NATS_URL replaces"},
		{"split role", map[string]string{"FULFILLMENT_ROLE": "worker", "FULFILLMENT_NATS_LISTEN": "127.0.0.1:4222"}, "--role worker needs an external NATS (NATS_URL)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := maps.Clone(base)
			maps.Copy(env, c.env)
			out, err := command(t, env, "serve")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("serve: %v, want an error with %q\n%s", err, c.want, out)
			}
		})
	}
}
