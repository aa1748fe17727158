package broker_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

// TestConnectAuth connects to nats-servers that require each way of
// authenticating NATS offers: it succeeds with the right credentials (and
// can set up the stream and publish), and fails clearly without them.
func TestConnectAuth(t *testing.T) {
	t.Parallel()
	pki := natstest.NewPKI(t)
	seed, pub := natstest.NKeyUser(t)
	otherSeed, _ := natstest.NKeyUser(t)
	cases := []struct {
		name    string
		server  func(*server.Options) string // sets the server up; returns a creds file if any
		url     func(ns *server.Server) string
		auth    func(creds string) broker.Auth
		wantErr string // "": connects
	}{
		{name: "user and password",
			server: func(o *server.Options) string {
				o.Users = []*server.User{{Username: "fulfillmentd", Password: "s3cret-pass"}}
				return ""
			},
			url: func(ns *server.Server) string { return withUser(ns.ClientURL(), "fulfillmentd:s3cret-pass") }},
		{name: "wrong password",
			server: func(o *server.Options) string {
				o.Users = []*server.User{{Username: "fulfillmentd", Password: "s3cret-pass"}}
				return ""
			},
			url:     func(ns *server.Server) string { return withUser(ns.ClientURL(), "fulfillmentd:wrong-pass") },
			wantErr: "Authorization Violation"},
		{name: "no credentials for a user server",
			server: func(o *server.Options) string {
				o.Users = []*server.User{{Username: "fulfillmentd", Password: "s3cret-pass"}}
				return ""
			},
			wantErr: "Authorization Violation"},
		{name: "token",
			server: func(o *server.Options) string { o.Authorization = "t0ken-abcdef"; return "" },
			url:    func(ns *server.Server) string { return withUser(ns.ClientURL(), "t0ken-abcdef") }},
		{name: "no token",
			server:  func(o *server.Options) string { o.Authorization = "t0ken-abcdef"; return "" },
			wantErr: "Authorization Violation"},
		{name: "nkey seed",
			server: func(o *server.Options) string { o.Nkeys = []*server.NkeyUser{{Nkey: pub}}; return "" },
			auth:   func(string) broker.Auth { return broker.Auth{NKey: seed} }},
		{name: "unknown nkey",
			server:  func(o *server.Options) string { o.Nkeys = []*server.NkeyUser{{Nkey: pub}}; return "" },
			auth:    func(string) broker.Auth { return broker.Auth{NKey: otherSeed} },
			wantErr: "Authorization Violation"},
		{name: "creds file (operator mode)",
			server: func(o *server.Options) string { return natstest.Operator(t, o) },
			auth:   func(creds string) broker.Auth { return broker.Auth{Creds: creds} }},
		{name: "no creds (operator mode)",
			server:  func(o *server.Options) string { return natstest.Operator(t, o) },
			wantErr: "Authorization Violation"},
		{name: "TLS",
			server: func(o *server.Options) string { pki.ServerTLS(t, o, false); return "" },
			url:    func(ns *server.Server) string { return strings.Replace(ns.ClientURL(), "nats://", "tls://", 1) },
			auth:   func(string) broker.Auth { return broker.Auth{CA: pki.CA} }},
		{name: "TLS, server signed by another CA",
			server:  func(o *server.Options) string { pki.ServerTLS(t, o, false); return "" },
			url:     func(ns *server.Server) string { return strings.Replace(ns.ClientURL(), "nats://", "tls://", 1) },
			auth:    func(string) broker.Auth { return broker.Auth{CA: pki.OtherCA} },
			wantErr: "certificate signed by unknown authority"},
		{name: "mutual TLS with a user",
			server: func(o *server.Options) string {
				pki.ServerTLS(t, o, true)
				o.Users = []*server.User{{Username: "fulfillmentd", Password: "s3cret-pass"}}
				return ""
			},
			url:  func(ns *server.Server) string { return withUser(ns.ClientURL(), "fulfillmentd:s3cret-pass") },
			auth: func(string) broker.Auth { return broker.Auth{CA: pki.CA, Cert: pki.ClientCert, Key: pki.ClientKey} }},
		{name: "mutual TLS without a client certificate",
			server:  func(o *server.Options) string { pki.ServerTLS(t, o, true); return "" },
			auth:    func(string) broker.Auth { return broker.Auth{CA: pki.CA} },
			wantErr: "tls"}, // "tls: certificate required", or the server closed it first
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := &server.Options{}
			creds := c.server(opts)
			ns := natstest.Start(t, opts)
			url := ns.ClientURL()
			if c.url != nil {
				url = c.url(ns)
			}
			var auth broker.Auth
			if c.auth != nil {
				auth = c.auth(creds)
			}
			natsOpts, err := auth.Options()
			if err != nil {
				t.Fatal(err)
			}
			nc, err := broker.Connect(url, t.Name(), natstest.Log(), natsOpts...)
			if c.wantErr != "" {
				if err == nil {
					nc.Close()
					t.Fatalf("connected, want an error with %q", c.wantErr)
				}
				if !strings.Contains(err.Error(), c.wantErr) {
					t.Errorf("error %q, want %q", err, c.wantErr)
				}
				for _, secret := range []string{"s3cret-pass", "wrong-pass", "t0ken-abcdef"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error shows %q: %v", secret, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			js := natstest.JetStreamOn(t, nc)
			if _, err := broker.Setup(context.Background(), js, broker.StreamConfig{}); err != nil {
				t.Fatal(err)
			}
			if _, err := broker.NewPublisher(js).Publish(context.Background(), "checkout.session.completed", "evt_auth", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func withUser(url, userinfo string) string {
	scheme, rest, _ := strings.Cut(url, "://")
	return scheme + "://" + userinfo + "@" + rest
}

// TestAuthOptionsReportsEveryProblem: files that are missing or hold the
// wrong thing, a certificate without its key, creds and nkey together:
// each is reported, in one error.
func TestAuthOptionsReportsEveryProblem(t *testing.T) {
	t.Parallel()
	pki := natstest.NewPKI(t)
	seed, _ := natstest.NKeyUser(t)
	cases := []struct {
		name string
		auth broker.Auth
		want []string
	}{
		{"missing files", broker.Auth{Creds: "/nonexistent/u.creds", CA: "/nonexistent/ca.pem"},
			[]string{"creds: open /nonexistent/u.creds", "ca: open /nonexistent/ca.pem"}},
		{"wrong contents", broker.Auth{Creds: pki.CA, CA: seed, NKey: pki.CA},
			[]string{"creds and nkey given", "creds: " + pki.CA + ": no user JWT", "nkey: " + pki.CA, "ca: " + seed + ": no PEM certificate"}},
		{"certificate without key", broker.Auth{Cert: pki.ClientCert}, []string{"a certificate without a key"}},
		{"key without certificate", broker.Auth{Key: pki.ClientKey}, []string{"a key without a certificate"}},
		{"mismatched key", broker.Auth{Cert: pki.ClientCert, Key: pki.ServerKey}, []string{"private key does not match public key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.auth.Options()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestRedactURL: neither a password nor a token (the user part of a URL
// without a password) survives, in lists and in quoted error text.
func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                            "nats://127.0.0.1:4222",
		"nats://alice:p%40ss@10.0.0.1:4222":                "nats://redacted@10.0.0.1:4222",
		"tls://s3cr3t-token@nats.example:4222":             "tls://redacted@nats.example:4222",
		"nats://a:b@h1:4222, nats://c:d@h2:4222,nats://h3": "nats://redacted@h1:4222, nats://redacted@h2:4222,nats://h3",
		`parse "nats://u:p@ss@host:x": invalid port`:       `parse "nats://redacted@host:x": invalid port`,
	} {
		if got := broker.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConnectLogsNoCredentials: the reconnect log line names the server
// without the token (url.URL.Redacted would show it: nats.go reads a token
// from the user part of the URL).
func TestConnectLogsNoCredentials(t *testing.T) {
	t.Parallel()
	first := natstest.Start(t, &server.Options{Authorization: "t0ken-abcdef"})
	port := first.Addr().(*net.TCPAddr).Port
	logs := make(lines, 64)
	nc, err := broker.Connect(withUser(first.ClientURL(), "t0ken-abcdef"), t.Name(), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	first.Shutdown()
	first.WaitForShutdown()
	natstest.Start(t, &server.Options{Authorization: "t0ken-abcdef", Port: port})
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-logs:
			if strings.Contains(line, "t0ken-abcdef") {
				t.Errorf("the log shows the token: %s", line)
			}
			if strings.Contains(line, "nats reconnected") {
				if !strings.Contains(line, "url=nats://redacted@127.0.0.1:") {
					t.Errorf("reconnect log does not name the server, redacted: %s", line)
				}
				return
			}
		case <-timeout:
			t.Fatal("no reconnect logged within 30s")
		}
	}
}

// lines receives each log line (none is waited for: a full channel drops).
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}
