package main

import (
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

// TestNATSSettingsErrors: every problem with the NATS settings is reported
// in one error, and an invalid NATS_URL is not quoted (it may hold a
// password).
func TestNATSSettingsErrors(t *testing.T) {
	t.Parallel()
	pki := natstest.NewPKI(t)
	seed, _ := natstest.NKeyUser(t)
	base := map[string]string{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "NATS_URL": "nats://127.0.0.1:1"}
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"missing and wrong files, creds with nkey", map[string]string{
			"NATS_CREDS": "/nonexistent/u.creds", "NATS_NKEY": pki.CA, "NATS_CA": seed, "NATS_CERT": pki.ClientCert,
		}, []string{"NATS_CREDS: open /nonexistent/u.creds", "NATS_NKEY: " + pki.CA, "NATS_CA: " + seed + ": no PEM certificate",
			"NATS_CREDS and NATS_NKEY are both set", "NATS_CERT, NATS_KEY: a certificate without a key"}},
		{"mismatched key", map[string]string{"NATS_CERT": pki.ClientCert, "NATS_KEY": pki.ServerKey},
			[]string{"NATS_CERT, NATS_KEY:", "does not match"}},
		{"URL user with an nkey", map[string]string{"NATS_URL": "nats://u:hunter2-pass@127.0.0.1:1", "NATS_NKEY": seed},
			[]string{"NATS_URL holds a user or token and NATS_CREDS or NATS_NKEY is set"}},
		{"bad URL is not echoed", map[string]string{"NATS_URL": "nats://u:hunter2-pass@", "NATS_CA": pki.CA},
			[]string{"NATS_URL: want nats://host:port"}},
		{"TLS files without NATS_URL", map[string]string{"NATS_URL": "", "NATS_CA": pki.CA},
			[]string{"apply to NATS_URL, which is not set"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := maps.Clone(base)
			maps.Copy(env, c.env)
			out, err := command(t, env, "serve")
			if err == nil {
				t.Fatalf("serve accepted the settings\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error()+out, "hunter2") {
				t.Errorf("the password shows:\n%v\n%s", err, out)
			}
		})
	}
}

// TestServeNATSAuth runs serve against an external nats-server that
// requires each way of authenticating (with TLS, mutual TLS, and a
// decentralized operator-mode server for .creds), and processes a signed
// webhook into an order. Wrong credentials stop serve at start with a clear
// error; no password or token shows in the error or the log.
func TestServeNATSAuth(t *testing.T) {
	t.Parallel()
	pki := natstest.NewPKI(t)
	seed, pub := natstest.NKeyUser(t)
	users := func(o *server.Options) {
		o.Users = []*server.User{{Username: "fulfillmentd", Password: "hunter2-pass"}}
	}
	cases := []struct {
		name    string
		server  func(o *server.Options) (creds string)
		env     func(url, creds string) map[string]string
		wantErr string
	}{
		{name: "creds file and mutual TLS",
			server: func(o *server.Options) string { pki.ServerTLS(t, o, true); return natstest.Operator(t, o) },
			env: func(url, creds string) map[string]string {
				return map[string]string{"NATS_URL": tlsURL(url), "NATS_CREDS": creds, "NATS_CA": pki.CA, "NATS_CERT": pki.ClientCert, "NATS_KEY": pki.ClientKey}
			}},
		{name: "nkey seed and TLS",
			server: func(o *server.Options) string {
				pki.ServerTLS(t, o, false)
				o.Nkeys = []*server.NkeyUser{{Nkey: pub}}
				return ""
			},
			env: func(url, _ string) map[string]string {
				return map[string]string{"NATS_URL": tlsURL(url), "NATS_NKEY": seed, "NATS_CA": pki.CA}
			}},
		{name: "user and password in the URL",
			server: func(o *server.Options) string { users(o); return "" },
			env: func(url, _ string) map[string]string {
				return map[string]string{"NATS_URL": strings.Replace(url, "://", "://fulfillmentd:hunter2-pass@", 1)}
			}},
		{name: "role all with the worker's permissions",
			server: func(o *server.Options) string {
				o.Users = []*server.User{{Username: "fulfillmentd", Password: "hunter2-pass", Permissions: workerPermissions}}
				return ""
			},
			env: func(url, _ string) map[string]string {
				return map[string]string{"NATS_URL": strings.Replace(url, "://", "://fulfillmentd:hunter2-pass@", 1)}
			}},
		{name: "token in the URL",
			server: func(o *server.Options) string { o.Authorization = "hunter2-token"; return "" },
			env: func(url, _ string) map[string]string {
				return map[string]string{"NATS_URL": strings.Replace(url, "://", "://hunter2-token@", 1)}
			}},
		{name: "wrong password",
			server: func(o *server.Options) string { users(o); return "" },
			env: func(url, _ string) map[string]string {
				return map[string]string{"NATS_URL": strings.Replace(url, "://", "://fulfillmentd:hunter2-wrong@", 1)}
			},
			wantErr: "connect to NATS: connect to nats://redacted@127.0.0.1:"},
		{name: "no credentials",
			server:  func(o *server.Options) string { users(o); return "" },
			env:     func(url, _ string) map[string]string { return map[string]string{"NATS_URL": url} },
			wantErr: "Authorization Violation"},
		{name: "TLS without the CA",
			server:  func(o *server.Options) string { pki.ServerTLS(t, o, false); return "" },
			env:     func(url, _ string) map[string]string { return map[string]string{"NATS_URL": tlsURL(url)} },
			wantErr: "certificate signed by unknown authority"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := &server.Options{}
			creds := c.server(opts)
			ns := natstest.Start(t, opts)
			emu, stripeSrv := newEmulator(t)
			env := serviceEnv(t, stripeSrv.URL)
			env["FULFILLMENT_LOG_LEVEL"] = "debug"
			maps.Copy(env, c.env(ns.ClientURL(), creds))
			if c.wantErr != "" {
				out, err := command(t, env, "serve")
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("serve: %v, want an error with %q\n%s", err, c.wantErr, out)
				}
				if strings.Contains(err.Error()+out, "hunter2") {
					t.Errorf("a password shows:\n%v\n%s", err, out)
				}
				return
			}
			if err := emu.GenerateSession("cs_test_natsauth", 2, true); err != nil {
				t.Fatal(err)
			}
			svc := startService(t, env)
			svc.token = e2eToken
			body, err := emu.Event("evt_natsauth", fulfillment.EventSessionCompleted, "cs_test_natsauth", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			svc.send(t, body)
			waitOrder(t, svc, "cs_test_natsauth", fulfillment.StatusReadyToShip)
			svc.stop(t)
			if logs := svc.stderr.String(); strings.Contains(logs, "hunter2") || strings.Contains(strings.ToLower(logs), "permissions violation") {
				t.Errorf("the log shows a password or token, or a permission violation:\n%s", logs)
			}
		})
	}
}

func tlsURL(url string) string { return strings.Replace(url, "nats://", "tls://", 1) }

// The subject permissions the README's "### NATS" section gives each role:
// enough for each role (TestNATSRolePermissions); $JS.API.STREAM.INFO is not
// needed.
var (
	receiverPermissions = &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			"stripe.events.>",
			"$JS.API.INFO",
			"$JS.API.STREAM.CREATE.STRIPE_EVENTS", "$JS.API.STREAM.UPDATE.STRIPE_EVENTS",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
	workerPermissions = &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			"stripe.events.>",
			"fulfillment.orders.>",
			"$JS.API.INFO",
			"$JS.API.STREAM.CREATE.STRIPE_EVENTS", "$JS.API.STREAM.UPDATE.STRIPE_EVENTS",
			"$JS.API.STREAM.CREATE.FULFILLMENT", "$JS.API.STREAM.UPDATE.FULFILLMENT",
			"$JS.API.CONSUMER.CREATE.STRIPE_EVENTS.fulfillment-workers.>",
			"$JS.API.CONSUMER.INFO.STRIPE_EVENTS.fulfillment-workers",
			"$JS.API.CONSUMER.MSG.NEXT.STRIPE_EVENTS.fulfillment-workers",
			"$JS.ACK.STRIPE_EVENTS.fulfillment-workers.>",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
)

// TestNATSRolePermissions runs a receiver and a worker as users that hold
// exactly the permissions the README documents, and processes a webhook end
// to end without a single permission violation. The permissions do
// restrict: the receiver's user cannot read the stream.
func TestNATSRolePermissions(t *testing.T) {
	t.Parallel()
	ns := natstest.Start(t, &server.Options{Users: []*server.User{
		{Username: "receiver", Password: "receiver-pass", Permissions: receiverPermissions},
		{Username: "worker", Password: "worker-pass", Permissions: workerPermissions},
	}})
	url := func(user string) string {
		return strings.Replace(ns.ClientURL(), "://", "://"+user+":"+user+"-pass@", 1)
	}
	emu, stripeSrv := newEmulator(t)
	if err := emu.GenerateSession("cs_test_perms", 2, true); err != nil {
		t.Fatal(err)
	}
	receiverEnv := serviceEnv(t, stripeSrv.URL)
	receiverEnv["NATS_URL"], receiverEnv["FULFILLMENT_ROLE"] = url("receiver"), "receiver"
	delete(receiverEnv, "STRIPE_SECRET_KEY")
	workerEnv := serviceEnv(t, stripeSrv.URL)
	workerEnv["NATS_URL"], workerEnv["FULFILLMENT_ROLE"] = url("worker"), "worker"

	recv := startService(t, receiverEnv)
	wrk := startService(t, workerEnv)
	wrk.token = e2eToken
	body, err := emu.Event("evt_perms", fulfillment.EventSessionCompleted, "cs_test_perms", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recv.send(t, body)
	waitOrder(t, wrk, "cs_test_perms", fulfillment.StatusReadyToShip)
	// A session whose webhook never came: reconcile queues a replay, which
	// the worker publishes on stripe.events.> and then processes.
	if err := emu.GenerateSession("cs_test_perms_missed", 1, true); err != nil {
		t.Fatal(err)
	}
	mustCommand(t, workerEnv, []string{"reconcile", "--since", "1h"}, "cs_test_perms_missed")
	waitOrder(t, wrk, "cs_test_perms_missed", fulfillment.StatusReadyToShip)
	if code := recv.get(t, "/readyz", nil); code != 200 {
		t.Errorf("receiver /readyz: HTTP %d", code)
	}
	if code := wrk.get(t, "/readyz", nil); code != 200 {
		t.Errorf("worker /readyz: HTTP %d", code)
	}
	recv.stop(t)
	wrk.stop(t)
	for name, logs := range map[string]string{"receiver": recv.stderr.String(), "worker": wrk.stderr.String()} {
		if strings.Contains(strings.ToLower(logs), "permissions violation") {
			t.Errorf("%s: permission violation:\n%s", name, logs)
		}
	}

	nc, err := nats.Connect(url("receiver"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	errs := make(chan error, 1)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
	if _, err := nc.SubscribeSync("stripe.events.>"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("receiver subscribing to the stream's subjects: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the receiver's user may subscribe to stripe.events.>")
	}
}

// TestREADMENATSPermissions: the README lists every subject the roles'
// permissions above allow.
func TestREADMENATSPermissions(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n### NATS\n")
	if !ok {
		t.Fatal(`README has no "### NATS" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	for _, p := range []*server.Permissions{receiverPermissions, workerPermissions} {
		for _, s := range append(p.Publish.Allow, p.Subscribe.Allow...) {
			if !strings.Contains(section, s) {
				t.Errorf("README's NATS section lacks %s", s)
			}
		}
	}
}
