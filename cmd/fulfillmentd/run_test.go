package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi/apitest"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// syncBuffer is an io.Writer safe for the program and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{
			name: "nothing set reports every required setting at once",
			env:  map[string]string{},
			want: []string{"STRIPE_SECRET_KEY is required", "STRIPE_WEBHOOK_SECRET is required"},
		},
		{
			name: "every invalid value in one error",
			env: map[string]string{
				"STRIPE_SECRET_KEY":       "pk_live_nope",
				"STRIPE_WEBHOOK_SECRET":   "whsec_a,,whsec_b",
				"STRIPE_API_BASE":         "ftp://x",
				"FULFILLMENT_WORKERS":     "zero",
				"STRIPE_MAX_RPS":          "-1",
				"FULFILLMENT_ADDR":        "8080",
				"FULFILLMENT_CROSS_SELLS": "/does/not/exist.json",
				"FULFILLMENT_API_TOKEN":   "short",
			},
			want: []string{"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "FULFILLMENT_WORKERS",
				"STRIPE_MAX_RPS", "FULFILLMENT_ADDR", "FULFILLMENT_CROSS_SELLS", "FULFILLMENT_API_TOKEN"},
		},
		{
			name: "a flag overrides the environment and is named in the error",
			env:  map[string]string{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"},
			args: []string{"--workers", "0"},
			want: []string{"--workers"},
		},
		{
			name: "webhook secret must look like one",
			env:  map[string]string{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "secret"},
			want: []string{"STRIPE_WEBHOOK_SECRET"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"serve"}, tt.args...), envFunc(tt.env), &stdout, &stderr)
			if err == nil {
				t.Fatal("run succeeded with a bad configuration")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"version"}, envFunc(nil), &stdout, &stderr); err != nil {
		t.Fatalf("version: %v", err)
	}
	if !strings.HasPrefix(stdout.String(), "fulfillmentd ") {
		t.Errorf("version printed %q", stdout.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, envFunc(nil), &stdout, &stderr); err == nil {
		t.Error("unknown command accepted")
	}
	if err := run(context.Background(), nil, envFunc(nil), &stdout, &stderr); err == nil {
		t.Error("missing command accepted")
	}
}

// service is fulfillmentd running through run, as an operator starts it.
type service struct {
	url    string
	token  string
	cancel context.CancelFunc
	done   chan error
	stdout *syncBuffer
	stderr *syncBuffer
	// api holds request's exchanges to openapi.json, loaded once; shared
	// by the copies service.as makes.
	api *apiSpec
}

type apiSpec struct {
	once sync.Once
	spec *apitest.Spec
	err  error
}

func startService(t *testing.T, env map[string]string) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	s := &service{cancel: cancel, done: make(chan error, 1), stdout: stdout, stderr: stderr, api: &apiSpec{}}
	go func() { s.done <- run(ctx, []string{"serve"}, envFunc(env), stdout, stderr) }()
	re := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			s.url = m[1]
			break
		}
		select {
		case err := <-s.done:
			t.Fatalf("serve stopped before listening: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *service) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("serve did not stop within 30s")
	}
}

// deliver posts body signed as Stripe signs it and returns the status code.
func (s *service) deliver(t *testing.T, body []byte, sig string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func (s *service) get(t *testing.T, path string, v any) int {
	t.Helper()
	status, body := s.request(t, http.MethodGet, path, "")
	if v != nil && status == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return status
}

// request sends a warehouse API request with the service's token and a
// JSON body ("" for none), and returns the status and the body. Requests
// to /v1 and their answers must match openapi.json (package apitest).
func (s *service) request(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	s.api.once.Do(func() { s.api.spec, s.api.err = apitest.Load(httpapi.OpenAPIDocument()) })
	if s.api.err != nil {
		t.Fatal(s.api.err)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.api.spec.Client(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

func newEmulator(t *testing.T) (*stripeemu.Emulator, *httptest.Server) {
	t.Helper()
	emu := newSeededEmulator(t, stripeemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

// newSeededEmulator is an emulator with options (latency, rate limit) and
// the fixtures, not yet served.
func newSeededEmulator(t *testing.T, opts stripeemu.Options) *stripeemu.Emulator {
	t.Helper()
	emu := stripeemu.New(opts)
	if err := emu.Seed(fixtures.FS, "stripe"); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return emu
}

func serviceEnv(t *testing.T, stripeURL string) map[string]string {
	t.Helper()
	cross, err := fixtures.FS.ReadFile("crosssells.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crossPath := filepath.Join(dir, "crosssells.json")
	if err := os.WriteFile(crossPath, cross, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"STRIPE_SECRET_KEY":       "sk_test_e2e",
		"STRIPE_WEBHOOK_SECRET":   "whsec_old_e2e, whsec_new_e2e",
		"STRIPE_API_BASE":         stripeURL,
		"FULFILLMENT_DATA_DIR":    filepath.Join(dir, "data"),
		"FULFILLMENT_ADDR":        "127.0.0.1:0",
		"FULFILLMENT_API_TOKEN":   "wms:e2e-token-0123456789abcdef",
		"FULFILLMENT_WORKERS":     "4",
		"STRIPE_MAX_RPS":          "100",
		"FULFILLMENT_CROSS_SELLS": crossPath,
		"FULFILLMENT_LOG_LEVEL":   "warn",
	}
}

// TestEndToEnd drives the whole program through run: embedded NATS, a real
// SQLite file, the real stripe-go client against the HTTP Stripe emulator,
// and signed deliveries with duplicates, concurrency and forgeries.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	svc := startService(t, env)
	svc.token = "e2e-token-0123456789abcdef"

	if code := svc.get(t, "/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code := svc.get(t, "/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz = %d", code)
	}

	sessions := emu.SessionIDs()
	sort.Strings(sessions)
	if len(sessions) < 3 {
		t.Fatalf("fixtures hold %d sessions", len(sessions))
	}
	now := time.Now()
	var wg sync.WaitGroup
	sessions, expired := splitExpired(t, emu, sessions) // crosssells_test.go
	for i, id := range append(sessions, expired...) {
		typ := fulfillment.EventSessionCompleted
		if i >= len(sessions) {
			typ = fulfillment.EventSessionExpired
		}
		body, err := emu.Event(fmt.Sprintf("evt_e2e_%d", i), typ, id, now)
		if err != nil {
			t.Fatal(err)
		}
		// Stripe signs with both secrets during a roll; it also delivers
		// the same event more than once, sometimes at the same time.
		for copyN := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sig := stripeevent.SignAll([]string{"whsec_old_e2e", "whsec_new_e2e"}, time.Now(), body)
				if copyN == 2 {
					sig = stripeevent.Sign("whsec_new_e2e", time.Now(), body)
				}
				if code := svc.deliver(t, body, sig); code != http.StatusOK {
					t.Errorf("delivery of %s: HTTP %d", id, code)
				}
			}()
		}
	}
	wg.Wait()

	forged, _ := emu.Event("evt_forged", fulfillment.EventSessionCompleted, sessions[0], now)
	if code := svc.deliver(t, forged, stripeevent.Sign("whsec_attacker", now, forged)); code != http.StatusBadRequest {
		t.Errorf("forged signature: HTTP %d, want 400", code)
	}
	if code := svc.deliver(t, forged, ""); code != http.StatusBadRequest {
		t.Errorf("unsigned: HTTP %d, want 400", code)
	}
	ignored := []byte(`{"id":"evt_ignored","object":"event","api_version":"2024-06-20","type":"customer.created","data":{"object":{"id":"cus_1","object":"customer"}}}`)
	if code := svc.deliver(t, ignored, stripeevent.Sign("whsec_old_e2e", now, ignored)); code != http.StatusOK {
		t.Errorf("ignored type: HTTP %d, want 200", code)
	}

	// The delayed payment settles: async_payment_succeeded moves it on.
	const unpaid = "cs_test_unpaid"
	waitOrder(t, svc, unpaid, fulfillment.StatusAwaitingPayment)
	if err := emu.SetPaymentStatus(unpaid, "paid"); err != nil {
		t.Fatal(err)
	}
	succeeded, _ := emu.Event("evt_e2e_async", fulfillment.EventSessionAsyncPaymentSucceed, unpaid, time.Now())
	if code := svc.deliver(t, succeeded, stripeevent.Sign("whsec_new_e2e", time.Now(), succeeded)); code != http.StatusOK {
		t.Fatalf("async succeeded: HTTP %d", code)
	}

	for _, id := range sessions {
		o := waitOrder(t, svc, id, fulfillment.StatusReadyToShip)
		if o.ID != fulfillment.OrderID(id) || o.CheckoutSessionID != id {
			t.Errorf("%s: order ids %q/%q", id, o.ID, o.CheckoutSessionID)
		}
		if len(o.LineItems) == 0 {
			t.Errorf("%s: no line items", id)
		}
	}

	cs := waitOrder(t, svc, "cs_test_crosssell", fulfillment.StatusReadyToShip)
	tagged := 0
	for _, li := range cs.LineItems {
		if li.CrossSell {
			tagged++
			if li.CrossSellOf == "" || li.Quantity != 1 {
				t.Errorf("cross-sell line %+v", li)
			}
		}
	}
	if tagged != 1 {
		t.Errorf("cs_test_crosssell: %d cross-sell lines tagged, want 1: %+v", tagged, cs.LineItems)
	}
	if bulk := waitOrder(t, svc, "cs_test_bulk", fulfillment.StatusReadyToShip); len(bulk.LineItems) != 120 {
		t.Errorf("cs_test_bulk: %d line items, want 120", len(bulk.LineItems))
	}

	// Exactly one order per session in the feed, however often delivered.
	seen, page := ordersPerSession(t, svc)
	for _, id := range sessions {
		if seen[id] != 1 {
			t.Errorf("%s appears %d times in the feed", id, seen[id])
		}
	}
	if len(seen) != len(sessions) || page.NextCursor == "" {
		t.Errorf("feed holds %d sessions (want %d), next_cursor %q", len(seen), len(sessions), page.NextCursor)
	}

	token := svc.token
	svc.token = ""
	if code := svc.get(t, "/v1/orders", nil); code != http.StatusUnauthorized {
		t.Errorf("/v1/orders without token = %d", code)
	}
	svc.token = "wrong-token-0123456789abcdef"
	if code := svc.get(t, "/v1/orders", nil); code != http.StatusUnauthorized {
		t.Errorf("/v1/orders with a wrong token = %d", code)
	}
	svc.token = token
	if code := svc.get(t, "/v1/orders/cs_test_nope", nil); code != http.StatusNotFound {
		t.Errorf("unknown order = %d", code)
	}
	checkCheckoutDetails(t, svc, env) // issue 3: crosssells_test.go
	svc.stop(t)
}

func waitOrder(t *testing.T, svc *service, id string, want fulfillment.Status) fulfillment.Order {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var o fulfillment.Order
	for time.Now().Before(deadline) {
		o = fulfillment.Order{}
		if code := svc.get(t, "/v1/orders/"+id, &o); code == http.StatusOK && o.Status == want {
			return o
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("order for %s never reached %s (last %+v)\nlogs:\n%s", id, want, o, svc.stderr.String())
	return o
}

// TestDemo runs the newcomer's first command to its end.
func TestDemo(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"demo", "--exit", "--addr", "127.0.0.1:0"}, envFunc(nil), &stdout, &stderr)
	if err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"duplicate", "→ 400", "★", "cs_test_crosssell", "cs_test_bulk", "ready_to_ship", "curl -s -H 'Authorization: Bearer", "/console/",
		"cross-sells report", "prod_camera → prod_lens_cloth", "66.7%",
		// Money after checkout (issue 12): refunded → canceled, disputed → on hold, the merchant's release.
		"cs_test_digital      canceled  refunded        USD 20.52", "cs_test_camera_only  on_hold   dispute", "dispute needs_response",
		"is on_hold", "→ 403", "merchant  → 200 status ready_to_ship", "USD 9.00 (1 order)"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// ordersPerSession counts the orders of each Checkout Session in svc's feed
// (its first page of up to 500 orders, also returned).
func ordersPerSession(t *testing.T, svc *service) (map[string]int, orderList) {
	t.Helper()
	var page orderList
	if code := svc.get(t, "/v1/orders?limit=500", &page); code != http.StatusOK {
		t.Fatalf("/v1/orders = %d", code)
	}
	seen := map[string]int{}
	for _, o := range page.Orders {
		seen[o.CheckoutSessionID]++
	}
	return seen, page
}
