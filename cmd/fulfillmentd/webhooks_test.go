package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/store"
	"github.com/fulfillmentd/fulfillmentd/worker/warehousehook"
)

// hookSecret is a Standard Webhooks secret: whsec_ and 32 bytes in base64.
func hookSecret(seed string) string {
	key := make([]byte, 32)
	copy(key, "fulfillmentd-test-key-"+seed)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// received is one request a hookReceiver answered 2xx.
type received struct {
	id, orderID, typ string
	seq              int64
	data             json.RawMessage
	at               time.Time
}

// hookReceiver is a warehouse endpoint: it verifies every request with the
// official Standard Webhooks library (not the project's signer), checks
// the headers and that no order's change comes after a newer one, and
// answers 2xx unless fail says otherwise (attempt counts the requests of
// the same webhook-id before this one).
type hookReceiver struct {
	t    testing.TB
	name string
	wh   *standardwebhooks.Webhook
	fail func(id string, attempt int) bool
	srv  *httptest.Server

	mu       sync.Mutex
	ok       []received
	attempts map[string]int
	newest   map[string]int64 // order → newest change seq received
	problems []string
	requests atomic.Int64
}

func newHookReceiver(t testing.TB, name, secret string, fail func(id string, attempt int) bool) *hookReceiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &hookReceiver{t: t, name: name, wh: wh, fail: fail, attempts: map[string]int{}, newest: map[string]int64{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.problem("read body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := r.wh.Verify(body, req.Header); err != nil {
		r.problem("standard webhooks verify: %v (headers %v)", err, req.Header)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var b struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	var o fulfillment.Order
	if err := json.Unmarshal(body, &b); err != nil || json.Unmarshal(b.Data, &o) != nil {
		r.problem("body %s: %v", body, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := req.Header.Get("webhook-id")
	seq, _ := strconv.ParseInt(req.Header.Get("Fulfillment-Change-Seq"), 10, 64)
	if _, err := time.Parse(time.RFC3339, b.Timestamp); err != nil {
		r.problem("%s: timestamp %q: %v", id, b.Timestamp, err)
	}
	switch {
	case req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json":
		r.problem("%s: %s with Content-Type %q", id, req.Method, req.Header.Get("Content-Type"))
	case req.Header.Get("Fulfillment-Order-Id") != o.ID || id != store.ChangeID(o.ID, seq) || seq < 1:
		r.problem("%s: order header %q, change seq header %q, data id %s", id, req.Header.Get("Fulfillment-Order-Id"),
			req.Header.Get("Fulfillment-Change-Seq"), o.ID)
	case b.Type != fulfillment.EventOrderCreated && b.Type != fulfillment.EventOrderUpdated:
		r.problem("%s: type %q", id, b.Type)
	}
	r.mu.Lock()
	attempt := r.attempts[id]
	r.attempts[id]++
	if seq < r.newest[o.ID] {
		r.problems = append(r.problems, fmt.Sprintf("%s: change %d of %s after change %d", r.name, seq, o.ID, r.newest[o.ID]))
	}
	r.newest[o.ID] = max(r.newest[o.ID], seq)
	r.mu.Unlock()
	if r.fail != nil && r.fail(id, attempt) {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	r.mu.Lock()
	r.ok = append(r.ok, received{id: id, orderID: o.ID, typ: b.Type, seq: seq, data: b.Data, at: time.Now()})
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// delivered returns what was answered 2xx so far, and the problems seen.
func (r *hookReceiver) delivered() ([]received, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.ok...), append([]string(nil), r.problems...)
}

// latest is the newest change answered 2xx per order.
func (r *hookReceiver) latest() map[string]received {
	got, _ := r.delivered()
	out := make(map[string]received)
	for _, g := range got {
		if g.seq > out[g.orderID].seq {
			out[g.orderID] = g
		}
	}
	return out
}

// hooksFile writes FULFILLMENT_WAREHOUSE_WEBHOOKS's file.
func hooksFile(t testing.TB, entries ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "webhooks.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fastSchedule is DeliverySchedule 10,000 times faster (0.5 ms, 30 ms,
// 180 ms, 720 ms, 1.8 s, 3.6 s, 3.6 s).
func fastSchedule() fulfillment.Schedule {
	out := make(fulfillment.Schedule, len(fulfillment.DeliverySchedule))
	for i, d := range fulfillment.DeliverySchedule {
		out[i] = d / 10_000
	}
	return out
}

// changeOrders makes n orders with three changes each in db:
// awaiting_payment (created), ready_to_ship, in_fulfillment.
func changeOrders(t testing.TB, db *store.DB, prefix string, n int) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for i := range n {
		session := fmt.Sprintf("cs_%s_%04d", prefix, i)
		o := fulfillment.Order{ID: fulfillment.OrderID(session), CheckoutSessionID: session, Mode: "payment", Currency: "eur",
			Status: fulfillment.StatusAwaitingPayment, PaymentStatus: fulfillment.PaymentUnpaid, AmountTotal: 1000,
			LineItems: []fulfillment.LineItem{{ID: "li_" + session, ProductID: "prod_1", PriceID: "price_1", Quantity: 1,
				Currency: "eur", AmountSubtotal: 1000, AmountTotal: 1000}},
			CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if _, _, err := db.Record(ctx, "evt_"+session+"_1", fulfillment.EventSessionCompleted, o); err != nil {
			t.Fatal(err)
		}
		o.Status, o.PaymentStatus, o.UpdatedAt = fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, time.Now()
		if _, _, err := db.Record(ctx, "evt_"+session+"_2", fulfillment.EventSessionAsyncPaymentSucceed, o); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ChangeOrder(ctx, o.ID, func(o fulfillment.Order) (fulfillment.Order, bool, error) {
			return o.Acknowledge("wms", time.Now())
		}); err != nil {
			t.Fatal(err)
		}
		ids[i] = o.ID
	}
	return ids
}

// runDispatcher runs a dispatcher on db for eps until the test ends.
func runDispatcher(t testing.TB, db *store.DB, eps []fulfillment.WebhookEndpoint, schedule fulfillment.Schedule, observe func(warehousehook.Result)) {
	t.Helper()
	names := make([]string, len(eps))
	for i, e := range eps {
		names[i] = e.Name
	}
	if err := db.InitWebhookCursors(context.Background(), names); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &warehousehook.Dispatcher{Store: db, Endpoints: eps, Wake: db.OutboxWritten(), Poll: 5 * time.Millisecond, Schedule: schedule, Observe: observe}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dispatcher: %v", err)
		}
	})
}

func endpoint(t testing.TB, name, url, secret string, statuses ...fulfillment.Status) fulfillment.WebhookEndpoint {
	t.Helper()
	key, err := fulfillment.DecodeWebhookSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return fulfillment.WebhookEndpoint{Name: name, URL: url, Key: key, Statuses: statuses}
}

// waitDeliveries waits until no delivery in db is pending, and returns
// them all by state.
func waitDeliveries(t testing.TB, db *store.DB, timeout time.Duration) map[fulfillment.DeliveryState]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ds, err := db.Deliveries(context.Background(), store.DeliveryFilter{Limit: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		by := map[fulfillment.DeliveryState]int{}
		for _, d := range ds {
			by[d.State]++
		}
		backlog, err := db.DeliveryBacklogs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if by[fulfillment.DeliveryPending] == 0 && len(backlog) == 0 && len(ds) > 0 {
			return by
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still pending after %s: %v", timeout, by)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWarehouseWebhooksFlakyAndHealthy: two endpoints, one failing half
// its requests (the first attempt of every delivery). Every order's latest
// change reaches both, verified by the Standard Webhooks library; no
// receiver gets an older change after a newer one; the flaky endpoint's
// retries follow the schedule (10,000 times faster).
func TestWarehouseWebhooksFlakyAndHealthy(t *testing.T) {
	t.Parallel()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	healthy := newHookReceiver(t, "healthy", hookSecret("h"), nil)
	flaky := newHookReceiver(t, "flaky", hookSecret("f"), func(_ string, attempt int) bool { return attempt == 0 })
	var outcomes sync.Map // endpoint/outcome → *atomic.Int64
	observe := func(r warehousehook.Result) {
		v, _ := outcomes.LoadOrStore(r.Endpoint+"/"+r.Outcome, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	runDispatcher(t, db, []fulfillment.WebhookEndpoint{
		endpoint(t, "healthy", healthy.srv.URL, hookSecret("h")),
		endpoint(t, "flaky", flaky.srv.URL, hookSecret("f")),
	}, fastSchedule(), observe)
	ids := changeOrders(t, db, "flaky", 40)
	by := waitDeliveries(t, db, 30*time.Second)
	if by[fulfillment.DeliveryFailed] != 0 || by[fulfillment.DeliveryDelivered]+by[fulfillment.DeliverySuperseded] != 2*3*len(ids) {
		t.Errorf("deliveries by state %v, want %d delivered or superseded", by, 2*3*len(ids))
	}
	for _, r := range []*hookReceiver{healthy, flaky} {
		got, problems := r.delivered()
		for _, p := range problems {
			t.Errorf("%s: %s", r.name, p)
		}
		latest := r.latest()
		for _, id := range ids {
			var o fulfillment.Order
			if err := json.Unmarshal(latest[id].data, &o); err != nil || o.Status != fulfillment.StatusInFulfillment {
				t.Errorf("%s: latest of %s: %s (%v)", r.name, id, latest[id].data, err)
			}
		}
		dup := map[string]int{}
		for _, g := range got {
			if dup[g.id]++; dup[g.id] > 1 {
				t.Errorf("%s: %s answered 2xx twice", r.name, g.id)
			}
		}
	}
	if got, _ := flaky.delivered(); flaky.requests.Load() < 2*int64(len(got)) {
		t.Errorf("flaky endpoint: %d requests for %d deliveries, want at least two each", flaky.requests.Load(), len(got))
	}
	load := func(k string) int64 {
		if v, ok := outcomes.Load(k); ok {
			return v.(*atomic.Int64).Load()
		}
		return 0
	}
	if load("flaky/delivered") == 0 || load("flaky/retry") < load("flaky/delivered") || load("healthy/retry") != 0 {
		t.Errorf("outcomes: flaky retry %d delivered %d, healthy retry %d", load("flaky/retry"), load("flaky/delivered"), load("healthy/retry"))
	}
}

// TestWarehouseWebhookSupersede: while an endpoint fails an order's change,
// a newer change of that order supersedes it: the endpoint gets the newer
// one and never the older again.
func TestWarehouseWebhookSupersede(t *testing.T) {
	t.Parallel()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var refuse atomic.Bool
	refuse.Store(true)
	r := newHookReceiver(t, "wms", hookSecret("s"), func(string, int) bool { return refuse.Load() })
	// A real clock: the first retry waits about 5 s, long after the test
	// has written the newer change.
	runDispatcher(t, db, []fulfillment.WebhookEndpoint{endpoint(t, "wms", r.srv.URL, hookSecret("s"))}, nil, nil)
	ctx := context.Background()
	session := "cs_supersede"
	o := fulfillment.Order{ID: fulfillment.OrderID(session), CheckoutSessionID: session, Mode: "payment", Currency: "eur",
		Status: fulfillment.StatusAwaitingPayment, PaymentStatus: fulfillment.PaymentUnpaid, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if _, _, err := db.Record(ctx, "evt_s1", fulfillment.EventSessionCompleted, o); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var ds []fulfillment.Delivery
	for ; time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ds, _ = db.Deliveries(ctx, store.DeliveryFilter{}); len(ds) == 1 && ds[0].Attempts > 0 {
			break
		}
	}
	if len(ds) != 1 || ds[0].State != fulfillment.DeliveryPending || ds[0].Attempts != 1 || ds[0].LastError != "HTTP 500" {
		t.Fatalf("after a refused attempt: %+v", ds)
	}
	refuse.Store(false)
	o.Status, o.PaymentStatus, o.UpdatedAt = fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, time.Now()
	if _, _, err := db.Record(ctx, "evt_s2", fulfillment.EventSessionAsyncPaymentSucceed, o); err != nil {
		t.Fatal(err)
	}
	by := waitDeliveries(t, db, 10*time.Second)
	if by[fulfillment.DeliverySuperseded] != 1 || by[fulfillment.DeliveryDelivered] != 1 {
		t.Errorf("deliveries by state %v, want 1 superseded, 1 delivered", by)
	}
	got, problems := r.delivered()
	for _, p := range problems {
		t.Error(p)
	}
	if len(got) != 1 || got[0].typ != fulfillment.EventOrderUpdated || !bytes.Contains(got[0].data, []byte(`"ready_to_ship"`)) {
		t.Fatalf("received %+v, want the ready_to_ship change only", got)
	}
	if n := r.requests.Load(); n != 2 {
		t.Errorf("%d requests, want the refused older change and the newer one", n)
	}
}

// TestWarehouseWebhooksEndToEnd follows one order through serve (run):
// Stripe's event, the warehouse's acknowledgement and shipment; each
// change reaches the endpoints whose filter takes it, as Standard Webhooks
// with the order as GET /v1/orders/{id} returns it; deliveries list and
// the metrics show them.
func TestWarehouseWebhooksEndToEnd(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	env := serviceEnv(t, stripeSrv.URL)
	wms := newHookReceiver(t, "wms", hookSecret("wms"), nil)
	tpl := newHookReceiver(t, "3pl", hookSecret("3pl"), nil)
	env["FULFILLMENT_WAREHOUSE_WEBHOOKS"] = hooksFile(t,
		map[string]any{"name": "wms", "url": wms.srv.URL + "/hooks", "secret": hookSecret("wms")},
		map[string]any{"name": "3pl", "url": tpl.srv.URL, "secret": hookSecret("3pl"), "statuses": []string{"in_fulfillment", "shipped"}})
	svc := startService(t, env)
	svc.token = "e2e-token-0123456789abcdef"
	const session = "cs_test_crosssell"
	id := fulfillment.OrderID(session)
	body, err := emu.Event("evt_hooks_1", fulfillment.EventSessionCompleted, session, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code := svc.deliver(t, body, stripeevent.Sign("whsec_new_e2e", time.Now(), body)); code != http.StatusOK {
		t.Fatalf("deliver: HTTP %d", code)
	}
	waitOrder(t, svc, session, fulfillment.StatusReadyToShip)
	waitHook := func(r *hookReceiver, want []byte) received {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := r.latest()[id]
			if bytes.Equal(got.data, want) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: latest delivery of %s is %s, want %s", r.name, id, got.data, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	orderJSON := func() []byte {
		t.Helper()
		status, b := svc.request(t, http.MethodGet, "/v1/orders/"+id, "")
		if status != http.StatusOK {
			t.Fatalf("GET order: HTTP %d", status)
		}
		return bytes.TrimSpace(b)
	}
	if first := waitHook(wms, orderJSON()); first.typ != fulfillment.EventOrderCreated {
		t.Errorf("first change: type %s, want order.created", first.typ)
	}
	if status, b := svc.request(t, http.MethodPost, "/v1/orders/"+id+"/acknowledge", ""); status != http.StatusOK {
		t.Fatalf("acknowledge: HTTP %d %s", status, b)
	}
	if status, b := svc.request(t, http.MethodPost, "/v1/orders/"+id+"/shipments", `{"carrier":"UPS","tracking_number":"1Z-HOOKS-1"}`); status != http.StatusCreated {
		t.Fatalf("shipment: HTTP %d %s", status, b)
	}
	final := orderJSON()
	if last := waitHook(wms, final); last.typ != fulfillment.EventOrderUpdated || !bytes.Contains(final, []byte(`"status":"shipped"`)) {
		t.Errorf("last change: type %s, order %s", last.typ, final)
	}
	waitHook(tpl, final)
	for _, r := range []*hookReceiver{wms, tpl} {
		got, problems := r.delivered()
		for _, p := range problems {
			t.Errorf("%s: %s", r.name, p)
		}
		for _, g := range got {
			var o fulfillment.Order
			_ = json.Unmarshal(g.data, &o)
			if r == tpl && (o.Status != fulfillment.StatusInFulfillment && o.Status != fulfillment.StatusShipped || g.typ != fulfillment.EventOrderUpdated) {
				t.Errorf("3pl got %s %s: outside its filter", g.typ, o.Status)
			}
		}
	}

	// deliveries list, beside the running serve, once it has recorded
	// the 2xx answers.
	ro, err := store.OpenReadOnly(context.Background(), filepath.Join(env["FULFILLMENT_DATA_DIR"], "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	waitDeliveries(t, ro, 10*time.Second)
	_ = ro.Close()
	var out, errOut syncBuffer
	dataDir := []string{"--data-dir", env["FULFILLMENT_DATA_DIR"]}
	if err := run(context.Background(), append([]string{"deliveries", "list", "--json"}, dataDir...), envFunc(nil), &out, &errOut); err != nil {
		t.Fatalf("deliveries list: %v %s", err, errOut.String())
	}
	var list []deliveryJSON
	if err := json.Unmarshal([]byte(out.String()), &list); err != nil {
		t.Fatalf("deliveries list --json: %v\n%s", err, out.String())
	}
	perEndpoint := map[string]int{}
	for _, d := range list {
		perEndpoint[d.Endpoint]++
		if d.State != "delivered" && d.State != "superseded" || d.OrderID != id || d.WebhookID != store.ChangeID(id, d.ChangeSeq) {
			t.Errorf("listed %+v", d)
		}
	}
	if perEndpoint["wms"] != 3 || perEndpoint["3pl"] != 2 {
		t.Errorf("deliveries per endpoint %v, want wms 3 (every change), 3pl 2 (its statuses)", perEndpoint)
	}
	out = syncBuffer{}
	if err := run(context.Background(), append([]string{"deliveries", "list", "--state", "failed", "--endpoint", "wms"}, dataDir...), envFunc(nil), &out, &errOut); err != nil || !strings.Contains(out.String(), "no deliveries") {
		t.Errorf("deliveries list --state failed: %v %q", err, out.String())
	}
	if err := run(context.Background(), append([]string{"deliveries", "list", "--state", "lost"}, dataDir...), envFunc(nil), &out, &errOut); err == nil {
		t.Error("deliveries list --state lost: no error")
	}
	out = syncBuffer{}
	err = run(context.Background(), append([]string{"deliveries", "retry", strconv.FormatInt(list[0].ID, 10), "99999"}, dataDir...), envFunc(nil), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "no delivery 99999") || !strings.Contains(out.String(), "not retried: not failed") {
		t.Errorf("deliveries retry: %v %q", err, out.String())
	}

	status, metrics := svc.request(t, http.MethodGet, "/metrics", "")
	for _, want := range []string{
		`fulfillmentd_warehouse_webhook_deliveries_total{endpoint="wms",outcome="delivered"}`,
		`fulfillmentd_warehouse_webhook_delivery_latency_seconds_count{endpoint="3pl"} `,
		`fulfillmentd_warehouse_webhook_backlog{endpoint="wms"} 0`,
		`fulfillmentd_warehouse_webhook_oldest_pending_seconds{endpoint="3pl"} 0`,
	} {
		if status != http.StatusOK || !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics (HTTP %d) lacks %s", status, want)
		}
	}
	svc.stop(t)
}

func TestWarehouseWebhooksConfigErrors(t *testing.T) {
	t.Parallel()
	env := serviceEnv(t, "http://127.0.0.1:1")
	tests := []struct {
		name, want string
		entries    []map[string]any
	}{
		{"bad url", `entry 2 ("b"): url`, []map[string]any{
			{"name": "a", "url": "https://a.example.com", "secret": hookSecret("a")},
			{"name": "b", "url": "file:///etc/passwd", "secret": hookSecret("b")}}},
		{"bad secret", `entry 1 ("a"): secret`, []map[string]any{{"name": "a", "url": "https://a.example.com", "secret": "s3cr3t"}}},
	}
	for _, tt := range tests {
		env := maps.Clone(env)
		env["FULFILLMENT_WAREHOUSE_WEBHOOKS"] = hooksFile(t, tt.entries...)
		var out, errOut syncBuffer
		err := run(context.Background(), []string{"serve"}, envFunc(env), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "FULFILLMENT_WAREHOUSE_WEBHOOKS") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
		if strings.Contains(fmt.Sprint(err), "s3cr3t") {
			t.Errorf("%s: the error quotes the secret", tt.name)
		}
	}
	// A receiver has no database to send from.
	env = maps.Clone(env)
	env["FULFILLMENT_WAREHOUSE_WEBHOOKS"] = hooksFile(t, map[string]any{"name": "a", "url": "https://a.example.com", "secret": hookSecret("a")})
	env["FULFILLMENT_ROLE"], env["NATS_URL"] = "receiver", "nats://127.0.0.1:1"
	var out, errOut syncBuffer
	if err := run(context.Background(), []string{"serve"}, envFunc(env), &out, &errOut); err == nil || !strings.Contains(err.Error(), "worker role") {
		t.Errorf("webhooks on a receiver: %v", err)
	}
}
