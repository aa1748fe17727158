package stripeemu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
)

const key = "sk_test_emulator"

func seeded(t *testing.T, opts stripeemu.Options) (*stripeemu.Emulator, *httptest.Server) {
	t.Helper()
	emu := stripeemu.New(opts)
	if err := emu.Seed(fixtures.FS, "stripe"); err != nil {
		t.Fatalf("seed: %v", err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func get(t *testing.T, srv *httptest.Server, auth, path string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(data, &a.body); err != nil {
		t.Fatalf("GET %s: body is not a JSON object: %v\n%s", path, err, data)
	}
	return a
}

func getOK(t *testing.T, srv *httptest.Server, path string) map[string]any {
	t.Helper()
	a := get(t, srv, "Bearer "+key, path)
	if a.status != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %v", path, a.status, a.body)
	}
	return a.body
}

// stripeErr checks Stripe's error shape and returns the error object.
func stripeErr(t *testing.T, a answer, status int, typ, code string) map[string]any {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d (body %v)", a.status, status, a.body)
	}
	e, ok := a.body["error"].(map[string]any)
	if !ok || len(a.body) != 1 {
		t.Fatalf("body %v: want exactly {\"error\": {...}}", a.body)
	}
	if e["type"] != typ {
		t.Errorf("error.type = %v, want %s", e["type"], typ)
	}
	if code == "" && e["code"] != nil || code != "" && e["code"] != code {
		t.Errorf("error.code = %v, want %q", e["code"], code)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("error.message empty")
	}
	if a.header.Get("Request-Id") == "" {
		t.Errorf("no Request-Id header on error")
	}
	return e
}

func ids(t *testing.T, list map[string]any) []string {
	t.Helper()
	if list["object"] != "list" {
		t.Fatalf("object = %v, want list", list["object"])
	}
	var out []string
	for _, d := range list["data"].([]any) {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	return out
}

func TestSeedLoadsEveryFixture(t *testing.T) {
	t.Parallel()
	emu, _ := seeded(t, stripeemu.Options{})
	got := strings.Join(emu.SessionIDs(), ",")
	want := "cs_test_bulk,cs_test_camera_only,cs_test_crosssell,cs_test_digital,cs_test_expired,cs_test_free,cs_test_quantity,cs_test_subscription,cs_test_unpaid"
	if got != want {
		t.Fatalf("SessionIDs = %s, want %s", got, want)
	}
}

func TestSeedRejectsEmptyDir(t *testing.T) {
	t.Parallel()
	if err := stripeemu.New(stripeemu.Options{}).Seed(fixtures.FS, "nothing-here"); err == nil {
		t.Fatal("Seed of a directory without fixtures: want error")
	}
}

func TestLineItemsPagination(t *testing.T) {
	t.Parallel()
	_, srv := seeded(t, stripeemu.Options{})
	base := "/v1/checkout/sessions/cs_test_bulk/line_items"
	li := func(i int) string { return fmt.Sprintf("li_1OCFWxKx8wUb3ZqvBulk%04d", i) }

	tests := []struct {
		name      string
		query     string
		first     string
		n         int
		hasMore   bool
		lastIsNth int
	}{
		{"default limit 10", "", li(1), 10, true, 10},
		{"limit 100", "?limit=100", li(1), 100, true, 100},
		{"second page", "?limit=100&starting_after=" + li(100), li(101), 20, false, 120},
		{"limit 1", "?limit=1&starting_after=" + li(5), li(6), 1, true, 6},
		{"after last", "?starting_after=" + li(120), "", 0, false, 0},
		{"ending_before", "?limit=3&ending_before=" + li(10), li(7), 3, true, 9},
		{"ending_before start", "?limit=50&ending_before=" + li(3), li(1), 2, false, 2},
		{"expand[] form", "?limit=2&expand[]=data.price.product", li(1), 2, true, 2},
		{"expand[0] form", "?limit=2&expand[0]=data.price.product", li(1), 2, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			list := getOK(t, srv, base+tt.query)
			got := ids(t, list)
			if len(got) != tt.n {
				t.Fatalf("%d items, want %d", len(got), tt.n)
			}
			if list["has_more"] != tt.hasMore {
				t.Errorf("has_more = %v, want %v", list["has_more"], tt.hasMore)
			}
			if list["url"] != base {
				t.Errorf("url = %v, want %s", list["url"], base)
			}
			if tt.n > 0 && (got[0] != tt.first || got[len(got)-1] != li(tt.lastIsNth)) {
				t.Errorf("page %s..%s, want %s..%s", got[0], got[len(got)-1], tt.first, li(tt.lastIsNth))
			}
		})
	}
}

func TestLineItemsProductExpansion(t *testing.T) {
	t.Parallel()
	_, srv := seeded(t, stripeemu.Options{})
	product := func(q string) any {
		list := getOK(t, srv, "/v1/checkout/sessions/cs_test_crosssell/line_items"+q)
		item := list["data"].([]any)[0].(map[string]any)
		if item["object"] != "item" {
			t.Fatalf("object = %v, want item", item["object"])
		}
		return item["price"].(map[string]any)["product"]
	}
	if p := product(""); p != "prod_camera" {
		t.Errorf("without expand: price.product = %v, want the id prod_camera", p)
	}
	p, ok := product("?expand[]=data.price.product").(map[string]any)
	if !ok || p["id"] != "prod_camera" || p["object"] != "product" {
		t.Errorf("with expand: price.product = %v, want the prod_camera object", p)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	_, srv := seeded(t, stripeemu.Options{})
	base := "/v1/checkout/sessions/cs_test_bulk/line_items"
	tests := []struct {
		name, path, param, code string
	}{
		{"limit 0", base + "?limit=0", "limit", ""},
		{"limit 101", base + "?limit=101", "limit", ""},
		{"limit not a number", base + "?limit=ten", "limit", "parameter_invalid_integer"},
		{"unknown parameter", base + "?colour=red", "colour", "parameter_unknown"},
		{"unknown cursor", base + "?starting_after=li_nope", "starting_after", "resource_missing"},
		{"both cursors", base + "?starting_after=a&ending_before=b", "starting_after", ""},
		{"unexpandable", base + "?expand[]=data.taxes", "expand", ""},
		{"bad status filter", "/v1/checkout/sessions?status=paid", "status", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := stripeErr(t, get(t, srv, "Bearer "+key, tt.path), http.StatusBadRequest, "invalid_request_error", tt.code)
			if e["param"] != tt.param {
				t.Errorf("param = %v, want %s", e["param"], tt.param)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	_, srv := seeded(t, stripeemu.Options{})
	for _, path := range []string{"/v1/checkout/sessions/cs_test_nope", "/v1/checkout/sessions/cs_test_nope/line_items"} {
		e := stripeErr(t, get(t, srv, "Bearer "+key, path), http.StatusNotFound, "invalid_request_error", "resource_missing")
		if e["message"] != "No such checkout.session: 'cs_test_nope'" || e["param"] != "session" {
			t.Errorf("%s: error %v", path, e)
		}
		if e["doc_url"] != "https://stripe.com/docs/error-codes/resource-missing" {
			t.Errorf("doc_url = %v", e["doc_url"])
		}
	}
	stripeErr(t, get(t, srv, "Bearer "+key, "/v1/customers"), http.StatusNotFound, "invalid_request_error", "")
}

func TestAuth(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{})
	path := "/v1/checkout/sessions/cs_test_crosssell"
	for _, auth := range []string{"", "Bearer pk_test_publishable", "Bearer sk_", "Token sk_test_abc"} {
		stripeErr(t, get(t, srv, auth, path), http.StatusUnauthorized, "invalid_request_error", "")
	}
	e := stripeErr(t, get(t, srv, "Bearer pk_test_1234567890abcd", path), http.StatusUnauthorized, "invalid_request_error", "")
	if msg := e["message"].(string); strings.Contains(msg, "1234567890") {
		t.Errorf("error message reveals the key: %s", msg)
	}
	for _, auth := range []string{"Bearer " + key, "Bearer rk_test_restricted", "Basic " + basic(key)} {
		if a := get(t, srv, auth, path); a.status != http.StatusOK {
			t.Errorf("%s: status %d", auth, a.status)
		}
	}
	if got := emu.Requests(); got != 8 {
		t.Errorf("Requests() = %d, want 8 (errors count)", got)
	}
}

func basic(user string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, "")
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestSessionRetrieve(t *testing.T) {
	t.Parallel()
	_, srv := seeded(t, stripeemu.Options{})
	s := getOK(t, srv, "/v1/checkout/sessions/cs_test_crosssell")
	if s["object"] != "checkout.session" || s["payment_status"] != "paid" || s["livemode"] != false {
		t.Errorf("session = %v", s)
	}
	if _, ok := s["line_items"]; ok {
		t.Error("line_items present without expand")
	}

	s = getOK(t, srv, "/v1/checkout/sessions/cs_test_bulk?expand[]=line_items")
	list := s["line_items"].(map[string]any)
	if got := ids(t, list); len(got) != 10 || list["has_more"] != true {
		t.Errorf("expanded line_items: %d items, has_more %v; want the first 10, has_more true", len(got), list["has_more"])
	}
	if p := list["data"].([]any)[0].(map[string]any)["price"].(map[string]any)["product"]; p != "prod_camera" {
		t.Errorf("expand line_items: price.product = %v, want an id", p)
	}
	s = getOK(t, srv, "/v1/checkout/sessions/cs_test_crosssell?expand[0]=line_items.data.price.product")
	list = s["line_items"].(map[string]any)
	if list["has_more"] != false || len(list["data"].([]any)) != 3 {
		t.Errorf("crosssell line_items = %v", list)
	}
	if _, ok := list["data"].([]any)[0].(map[string]any)["price"].(map[string]any)["product"].(map[string]any); !ok {
		t.Error("expand line_items.data.price.product: product not expanded")
	}
}

func TestListSessions(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{})
	if err := emu.GenerateSession("cs_test_gen_open", 1, false); err != nil {
		t.Fatal(err)
	}
	// Fixtures were created at 1700000000 + 0, 600, 1200, 1800, 2400 s:
	// crosssell, unpaid, bulk, digital, subscription; and before, at
	// 1699996400, 1699997000, 1699998000, 1699999000: camera_only, quantity,
	// free, expired. Newest first.
	tests := []struct {
		query string
		want  string
		more  bool
	}{
		{"?created[lte]=1700002400", "cs_test_subscription,cs_test_digital,cs_test_bulk,cs_test_unpaid,cs_test_crosssell,cs_test_expired,cs_test_free,cs_test_quantity,cs_test_camera_only", false},
		{"?created[gte]=1700001200&created[lt]=1700002400", "cs_test_digital,cs_test_bulk", false},
		{"?created=1700000600", "cs_test_unpaid", false},
		{"?status=complete&limit=2", "cs_test_gen_open,cs_test_subscription", true},
		{"?status=complete&limit=2&starting_after=cs_test_subscription", "cs_test_digital,cs_test_bulk", true},
		{"?status=expired", "cs_test_expired", false},
	}
	for _, tt := range tests {
		list := getOK(t, srv, "/v1/checkout/sessions"+tt.query)
		if got := strings.Join(ids(t, list), ","); got != tt.want || list["has_more"] != tt.more {
			t.Errorf("%s: %s has_more %v, want %s has_more %v", tt.query, got, list["has_more"], tt.want, tt.more)
		}
	}
}

func TestSetPaymentStatusAndEvent(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{})
	at := time.Unix(1700000900, 0)
	raw, err := emu.Event("evt_test_1", "checkout.session.completed", "cs_test_unpaid", at)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("event is not JSON: %v", err)
	}
	obj := ev["data"].(map[string]any)["object"].(map[string]any)
	if ev["id"] != "evt_test_1" || ev["object"] != "event" || ev["api_version"] != "2023-10-16" ||
		ev["type"] != "checkout.session.completed" || ev["created"] != float64(at.Unix()) ||
		ev["livemode"] != false || ev["pending_webhooks"] != float64(1) || ev["request"] == nil {
		t.Errorf("envelope = %v", ev)
	}
	if obj["id"] != "cs_test_unpaid" || obj["payment_status"] != "unpaid" || obj["line_items"] != nil {
		t.Errorf("data.object = %v", obj)
	}
	if !strings.HasPrefix(string(raw), `{"id":"evt_test_1","object":"event",`) {
		t.Errorf("event does not start with id and object as Stripe's do: %.60s", raw)
	}

	if err := emu.SetPaymentStatus("cs_test_unpaid", "paid"); err != nil {
		t.Fatal(err)
	}
	if s := getOK(t, srv, "/v1/checkout/sessions/cs_test_unpaid"); s["payment_status"] != "paid" {
		t.Errorf("after SetPaymentStatus: payment_status %v", s["payment_status"])
	}
	raw, _ = emu.Event("evt_test_2", "checkout.session.async_payment_succeeded", "cs_test_unpaid", at)
	if !strings.Contains(string(raw), `"payment_status":"paid"`) {
		t.Error("event after SetPaymentStatus still carries the old payment_status")
	}

	if err := emu.SetPaymentStatus("cs_test_unpaid", "settled"); err == nil {
		t.Error("unknown payment status: want error")
	}
	if err := emu.SetPaymentStatus("cs_test_nope", "paid"); err == nil {
		t.Error("unknown session: want error")
	}
	if _, err := emu.Event("evt_x", "checkout.session.completed", "cs_test_nope", at); err == nil {
		t.Error("event for unknown session: want error")
	}
}

func TestGenerateSession(t *testing.T) {
	t.Parallel()
	emu := stripeemu.New(stripeemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	if err := emu.GenerateSession("cs_test_load_1", 150, true); err != nil {
		t.Fatal(err)
	}
	s := getOK(t, srv, "/v1/checkout/sessions/cs_test_load_1")
	if s["payment_status"] != "paid" || s["status"] != "complete" || s["mode"] != "payment" {
		t.Errorf("session = %v", s)
	}
	list := getOK(t, srv, "/v1/checkout/sessions/cs_test_load_1/line_items?limit=100&starting_after=li_gen_test_load_1_0100&expand[]=data.price.product")
	if got := ids(t, list); len(got) != 50 || list["has_more"] != false {
		t.Errorf("second page: %d items has_more %v, want 50 false", len(got), list["has_more"])
	}
	for _, tt := range []struct {
		id string
		n  int
	}{{"cs_x", 0}, {"nope", 3}} {
		if err := emu.GenerateSession(tt.id, tt.n, true); err == nil {
			t.Errorf("GenerateSession(%q, %d): want error", tt.id, tt.n)
		}
	}
}

func TestAddSessionValidates(t *testing.T) {
	t.Parallel()
	emu := stripeemu.New(stripeemu.Options{})
	item := json.RawMessage(`{"id":"li_1","object":"item","price":{"id":"price_1","object":"price","product":"prod_1"}}`)
	tests := []struct {
		name    string
		session string
		items   []json.RawMessage
		ok      bool
	}{
		{"valid, product not expanded", `{"id":"cs_1","object":"checkout.session","created":1}`, []json.RawMessage{item}, true},
		{"not a session", `{"id":"pi_1","object":"payment_intent"}`, nil, false},
		{"not JSON", `nope`, nil, false},
		{"item without price", `{"id":"cs_2","object":"checkout.session"}`, []json.RawMessage{json.RawMessage(`{"id":"li_1","object":"item"}`)}, false},
		{"duplicate item", `{"id":"cs_3","object":"checkout.session"}`, []json.RawMessage{item, item}, false},
	}
	for _, tt := range tests {
		err := emu.AddSession(json.RawMessage(tt.session), tt.items)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{})
	path := "/v1/checkout/sessions/cs_test_crosssell"
	emu.FailNext(2, http.StatusServiceUnavailable)
	stripeErr(t, get(t, srv, "Bearer "+key, path), 503, "api_error", "")
	stripeErr(t, get(t, srv, "", path), 503, "api_error", "") // before auth
	getOK(t, srv, path)
	emu.FailNext(1, http.StatusTooManyRequests)
	stripeErr(t, get(t, srv, "Bearer "+key, path), 429, "invalid_request_error", "rate_limit")
	emu.FailNext(1, http.StatusNotFound)
	stripeErr(t, get(t, srv, "Bearer "+key, path), 404, "invalid_request_error", "resource_missing")
	emu.FailNext(5, 500)
	emu.FailNext(0, 500)
	getOK(t, srv, path)
	if got, want := emu.RequestsFor(path), int64(6); got != want {
		t.Errorf("RequestsFor = %d, want %d", got, want)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	// 1 request/s, a bucket of 1: of 10 simultaneous requests, at most 2
	// can pass (one token, and perhaps one refilled), the rest get 429.
	_, srv := seeded(t, stripeemu.Options{RateLimit: 1})
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			a := get(t, srv, "Bearer "+key, "/v1/checkout/sessions/cs_test_digital")
			if a.status == 429 {
				stripeErr(t, a, 429, "invalid_request_error", "rate_limit")
			}
			mu.Lock()
			codes[a.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[200] < 1 || codes[200] > 2 || codes[200]+codes[429] != 10 {
		t.Errorf("status counts %v: want 1-2 × 200, the rest 429", codes)
	}
}

func TestLatencyEndsWithClientContext(t *testing.T) {
	t.Parallel()
	emu, srv := seeded(t, stripeemu.Options{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/checkout/sessions/cs_test_bulk", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	done := make(chan error)
	go func() {
		_, err := srv.Client().Do(req)
		done <- err
	}()
	for emu.Requests() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("request with an hour of latency answered")
	}
	// The handler must return too, or srv.Close (cleanup) would block for
	// an hour: this test finishing is the assertion.
}

func TestEscapedIDs(t *testing.T) {
	t.Parallel()
	_, srv := seeded(t, stripeemu.Options{})
	a := get(t, srv, "Bearer "+key, "/v1/checkout/sessions/"+url.PathEscape("cs_test_a/b")+"/line_items")
	if a.status != http.StatusNotFound {
		t.Errorf("id with a slash: status %d, want 404", a.status)
	}
}
