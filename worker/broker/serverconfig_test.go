package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/worker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

// writeConf writes a nats-server configuration file in a temporary directory.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const wmsUser = `{ user: wms, password: "wms-pass", permissions: {
	publish: ["$JS.API.STREAM.INFO.FULFILLMENT"], subscribe: ["_INBOX.>"] } }`

// TestEmbeddedListenConfig: what the embedded broker refuses at start
// (FULFILLMENT_NATS_LISTEN and FULFILLMENT_NATS_CONFIG), and what it takes.
func TestEmbeddedListenConfig(t *testing.T) {
	t.Parallel()
	users := `authorization { users = [ ` + wmsUser + ` ] }`
	cases := []struct {
		name, listen, conf string
		want               string // "": accepted
	}{
		{"loopback without a file", "127.0.0.1:4222", "", ""},
		{"localhost without a file", "localhost:4222", "", ""},
		{"IPv6 loopback", "[::1]:4222", "", ""},
		{"every interface without a file", ":4222", "", "would listen on :4222, which is not loopback, without authorization"},
		{"an interface without users", "10.1.2.3:4222", "tls { }", "not loopback, without authorization"},
		{"every interface with users", "0.0.0.0:4222", users, ""},
		{"the file's listen", "", "listen: 127.0.0.1:4222\n" + users, ""},
		{"the file's port alone is every interface", "", "port: 4222", "would listen on :4222, which is not loopback"},
		{"no listen address", "", users, "gives no listen address"},
		{"no_auth_user beyond loopback", "0.0.0.0:4222", "no_auth_user: wms\n" + users, `with no_auth_user "wms"`},
		{"no_auth_user on loopback", "127.0.0.1:4222", "no_auth_user: wms\n" + users, ""},
		{"a single user", "0.0.0.0:4222", `authorization { user: a, password: b }`, ""},
		{"a token", "127.0.0.1:4222", `authorization { token: s3cr3t }`, "authorization { token } cannot sit beside"},
		{"jetstream and store_dir are fulfillmentd's", "127.0.0.1:4222", "jetstream { store_dir: /tmp/x }\nstore_dir: /tmp/y\n" + users,
			"sets jetstream, store_dir: fulfillmentd applies only listen"},
		{"variables", "0.0.0.0:4222", `PASS: "p"` + "\n" + `authorization { users = [ { user: a, password: $PASS } ] }`, ""},
		{"a syntax error", "127.0.0.1:4222", "authorization { users = [", "nats.conf"},
		{"accounts without JetStream", "127.0.0.1:4222", `accounts { A: { users: [ ` + wmsUser + ` ] } }`, "no account enables JetStream"},
		{"two JetStream accounts", "127.0.0.1:4222", `accounts { A: { jetstream: enabled }, B: { jetstream: { max_mem: 1G } } }`,
			"accounts A, B enable JetStream"},
		{"one JetStream account", "0.0.0.0:4222", `accounts { A: { jetstream: enabled, users: [ ` + wmsUser + ` ] }, B: { jetstream: disabled } }`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conf := ""
			if c.conf != "" {
				conf = writeConf(t, c.conf)
			}
			err := broker.CheckEmbeddedListen(c.listen, conf)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

// TestEmbeddedAccounts: with an accounts block, fulfillmentd's in-process
// user joins the account that enables JetStream, so its streams live where
// that account's warehouse users see them, and the TLS block applies to TCP
// clients (mutual TLS here) but not to the in-process connection. A store
// whose streams live in another account is refused at start.
func TestEmbeddedAccounts(t *testing.T) {
	t.Parallel()
	pki := natstest.NewPKI(t)
	store := t.TempDir()
	conf := writeConf(t, fmt.Sprintf(`listen: "127.0.0.1:-1"
tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true }
accounts { WH: { jetstream: enabled, users: [ %s ] } }
`, pki.ServerCert, pki.ServerKey, pki.CA, wmsUser))
	ns, err := broker.StartEmbedded(broker.EmbeddedOptions{StoreDir: store, ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	js := natstest.JetStream(t, ns)
	ctx := context.Background()
	if err := broker.SetupFeed(ctx, js, broker.FeedConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.Setup(ctx, js, broker.StreamConfig{Workers: 1, MaxDeliver: 3}); err != nil {
		t.Fatal(err)
	}

	url := strings.Replace(ns.ClientURL(), "nats://", "tls://", 1)
	if _, err := nats.Connect(url, nats.UserInfo("wms", "wms-pass"), nats.RootCAs(pki.CA), nats.MaxReconnects(0)); err == nil {
		t.Error("a client without a certificate connected")
	}
	nc, err := nats.Connect(url, nats.UserInfo("wms", "wms-pass"), nats.RootCAs(pki.CA), nats.ClientCert(pki.ClientCert, pki.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	wms := natstest.JetStreamOn(t, nc)
	if _, err := wms.Stream(ctx, broker.FeedStreamName); err != nil {
		t.Errorf("the warehouse user's account does not see the feed: %v", err)
	}
	for _, stream := range []string{broker.FeedStreamName, worker.StreamName} {
		if _, err := os.Stat(filepath.Join(store, "jetstream", "WH", "streams", stream)); err != nil {
			t.Errorf("stream %s is not in account WH: %v", stream, err)
		}
	}
	ns.Shutdown()
	ns.WaitForShutdown()

	users := writeConf(t, `listen: "127.0.0.1:-1"`+"\nauthorization { users = [ "+wmsUser+" ] }")
	_, err = broker.StartEmbedded(broker.EmbeddedOptions{StoreDir: store, ConfigFile: users})
	if err == nil || !strings.Contains(err.Error(), "holds stream") || !strings.Contains(err.Error(), "of account WH") {
		t.Errorf("the store's streams in account WH with fulfillmentd in the global account: %v", err)
	}
	if _, err = broker.StartEmbedded(broker.EmbeddedOptions{StoreDir: store}); err == nil || !strings.Contains(err.Error(), "of account WH") {
		t.Errorf("the store's streams in account WH, without a configuration: %v", err)
	}
}

// TestEmbeddedSelfUserInProcessOnly: with users configured, a client
// without credentials is refused over TCP, while fulfillmentd's own
// in-process connection has every permission in the global account.
func TestEmbeddedSelfUserInProcessOnly(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, `listen: "127.0.0.1:-1"`+"\nauthorization { users = [ "+wmsUser+" ] }")
	ns, err := broker.StartEmbedded(broker.EmbeddedOptions{StoreDir: t.TempDir(), ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if _, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("a client without credentials: %v", err)
	}
	js := natstest.JetStream(t, ns)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ANY", Subjects: []string{"any.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "any.thing", []byte("x")); err != nil {
		t.Errorf("fulfillmentd's own connection: %v", err)
	}
}
