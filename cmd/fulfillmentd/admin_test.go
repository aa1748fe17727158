package main

import (
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAdminListener: with FULFILLMENT_ADMIN_ADDR the probes and metrics are
// served there, and 404 on the public listener, which still serves what the
// role serves; in each role.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	_, stripeSrv := newEmulator(t)
	natsURL := startNATSServer(t)
	for _, role := range []string{roleAll, roleReceiver, roleWorker} {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			env := serviceEnv(t, stripeSrv.URL)
			env["FULFILLMENT_ADMIN_ADDR"] = "127.0.0.1:0"
			env["FULFILLMENT_ROLE"] = role
			if role != roleAll {
				env["NATS_URL"] = natsURL
			}
			svc := startService(t, env)
			defer svc.stop(t)
			checkAdminListener(t, svc, role)
		})
	}
}

func checkAdminListener(t *testing.T, svc *service, role string) {
	t.Helper()
	m := regexp.MustCompile(`admin endpoints \(/healthz /readyz /metrics\) on (http://\S+)`).FindStringSubmatch(svc.stdout.String())
	if m == nil {
		t.Fatalf("no admin address printed:\n%s", svc.stdout.String())
	}
	admin := m[1]
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, body := get(svc.url + path); code != http.StatusNotFound {
			t.Errorf("public %s: HTTP %d, want 404: %s", path, code, body)
		}
		if code, body := get(admin + path); code != http.StatusOK {
			t.Errorf("admin %s: HTTP %d, want 200: %s", path, code, body)
		}
	}
	if _, body := get(admin + "/metrics"); !strings.Contains(body, "fulfillmentd_webhook_duration_seconds") {
		t.Errorf("admin /metrics has no webhook histogram:\n%.500s", body)
	}
	for _, path := range []string{"/webhooks/stripe", "/v1/orders"} {
		if code, body := get(admin + path); code != http.StatusNotFound {
			t.Errorf("admin %s: HTTP %d, want 404: %s", path, code, body)
		}
	}
	if code, _ := get(svc.url + "/v1/openapi.json"); (code == http.StatusOK) != (role != roleReceiver) {
		t.Errorf("public /v1/openapi.json: HTTP %d", code)
	}
	if code := svc.deliver(t, []byte(`{}`), "t=1,v1=00"); (code == http.StatusBadRequest) != (role != roleWorker) {
		t.Errorf("public webhook with a bad signature: HTTP %d", code)
	}
}

// TestDataFilesPrivate: serve on a data dir another user can read warns at
// start; everything serve creates in it (SQLite with -wal and -shm, the
// embedded JetStream store) is for its owner only.
func TestDataFilesPrivate(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	if err := emu.GenerateSession("cs_test_perm", 2, true); err != nil {
		t.Fatal(err)
	}
	env := serviceEnv(t, stripeSrv.URL)
	dir := env["FULFILLMENT_DATA_DIR"]
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	svc := startService(t, env)
	svc.token = e2eToken
	svc.send(t, eventFor(t, "evt_perm", "cs_test_perm"))
	waitFor(t, "the order", func() bool { return svc.get(t, "/v1/orders/cs_test_perm", nil) == http.StatusOK })
	if !strings.Contains(svc.stderr.String(), "data directory is open to other local users") {
		t.Errorf("no warning about the 0755 data dir:\n%s", svc.stderr.String())
	}
	seen := map[string]bool{}
	check := func() {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			seen[rel] = true
			if rel != "." && fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: mode %s, want no group or other permissions", rel, fi.Mode().Perm())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check() // while serve runs: -wal and -shm exist
	svc.stop(t)
	check()
	for _, want := range []string{"fulfillment.db", "fulfillment.db-wal", "fulfillment.db-shm", "nats"} {
		if !seen[want] {
			t.Errorf("%s not found under the data dir (checked %d paths)", want, len(seen))
		}
	}
}
