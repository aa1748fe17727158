package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi/apitest"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// Tokens of the warehouse API tests: two warehouses and the merchant's
// admin.
const (
	whToken       = "wms-token-0123456789abcdef"
	wh2Token      = "wms2-token-0123456789abcdef"
	merchantToken = "merchant-token-0123456789abcdef"
)

// whAPI is the real routes over a real SQLite file, served by httptest.
type whAPI struct {
	url  string
	db   *store.DB
	spec *apitest.Spec // every exchange is held to openapi.json

	mu      sync.Mutex
	refused map[string]int // refusals by reason
}

func newWarehouseAPI(t *testing.T) *whAPI {
	t.Helper()
	return newAPIServer(t, nil, 0)
}

// newAPIServer is newWarehouseAPI whose success-page fulfil runs the
// SessionFulfiller sessions makes over the database (nil: none), within
// timeout (0: the default).
func newAPIServer(t *testing.T, sessions func(*store.DB) SessionFulfiller, timeout time.Duration) *whAPI {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	verifier, err := stripeevent.NewVerifier([]string{"whsec_unused"}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tick atomic.Int64
	clock := func() time.Time {
		return time.Date(2025, 3, 14, 16, 0, 0, 0, time.UTC).Add(time.Duration(tick.Add(1)) * time.Second)
	}
	a := &whAPI{db: db, refused: map[string]int{}}
	var fulfiller SessionFulfiller
	if sessions != nil {
		fulfiller = sessions(db)
	}
	refused := func(reason string) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.refused[reason]++
	}
	tokens := []Token{{Name: "wms", Token: whToken}, {Name: "wms2", Token: wh2Token}, {Name: "merchant", Token: merchantToken, Admin: true}}
	h := NewHandler(Deps{
		Log:      slog.New(slog.DiscardHandler),
		Webhooks: &Webhooks{Verifier: verifier},
		API:      &API{Orders: db, Tokens: tokens, Now: clock, Refused: refused, Sessions: fulfiller, FulfillTimeout: timeout},
		Ops:      NewOps(slog.New(slog.DiscardHandler), func(context.Context) error { return nil }, nil, false),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a.url, a.spec = srv.URL, apitest.MustLoad(t, OpenAPIDocument())
	return a
}

// refusals is how many requests were refused for reason so far.
func (a *whAPI) refusals(reason string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refused[reason]
}

// seed records an order of session in status with lines li_<session>_{a,b,c}
// of quantities 1, 2, 3, updated at minute i.
func (a *whAPI) seed(t *testing.T, session string, status fulfillment.Status, i int) fulfillment.Order {
	t.Helper()
	pay := fulfillment.PaymentPaid
	if status != fulfillment.StatusReadyToShip {
		pay = fulfillment.PaymentUnpaid
	}
	at := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	o := fulfillment.Order{
		ID: fulfillment.OrderID(session), CheckoutSessionID: session, Status: status, PaymentStatus: pay,
		Mode: "payment", Currency: "eur", AmountSubtotal: 6000, AmountTotal: 6000,
		Customer:  fulfillment.Customer{Email: "ada@example.com", Name: "Ada Lovelace"},
		CreatedAt: at, UpdatedAt: at,
	}
	for j, s := range []string{"a", "b", "c"} {
		o.LineItems = append(o.LineItems, fulfillment.LineItem{ID: "li_" + session + "_" + s, ProductID: "prod_" + s,
			Description: "Item " + s, Quantity: int64(j + 1), Currency: "eur", AmountSubtotal: 1000, AmountTotal: 1000})
	}
	got, _, err := a.db.Record(context.Background(), "evt_seed_"+session, fulfillment.EventSessionCompleted, o)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

type whResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r whResponse) order(t *testing.T) fulfillment.Order {
	t.Helper()
	var o fulfillment.Order
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("decode order: %v\n%s", err, r.body)
	}
	return o
}

func (r whResponse) problem(t *testing.T) Problem {
	t.Helper()
	var p Problem
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("error with Content-Type %q: %s", ct, r.body)
	}
	if err := json.Unmarshal(r.body, &p); err != nil || p.Status != r.status || p.Title == "" {
		t.Errorf("problem %s: %v", r.body, err)
	}
	return p
}

// call makes a request with a bearer token ("" for none); the request and
// its answer must match openapi.json.
func (a *whAPI) call(t *testing.T, method, url, token, body string) whResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.spec.Client(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return whResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestWarehouseAPIErrors covers each refusal of the warehouse endpoints,
// with its status and problem+json body, and checks a refusal changes
// nothing.
func TestWarehouseAPIErrors(t *testing.T) {
	t.Parallel()
	api := newWarehouseAPI(t)
	api.seed(t, "cs_ready", fulfillment.StatusReadyToShip, 0)
	api.seed(t, "cs_unpaid", fulfillment.StatusAwaitingPayment, 1)
	api.seed(t, "cs_canceled", fulfillment.StatusCanceled, 2)
	ack := func(id string) string { return api.url + "/v1/orders/" + id + "/acknowledge" }
	ship := func(id string) string { return api.url + "/v1/orders/" + id + "/shipments" }
	okShip := `{"carrier":"UPS","tracking_number":"1Z1"}`

	tests := []struct {
		name, method, url, token, body string
		status                         int
		detail                         string
	}{
		{"list without token", "GET", api.url + "/v1/orders", "", "", 401, "missing bearer token"},
		{"list with an unknown token", "GET", api.url + "/v1/orders", "nope-0123456789abcdef", "", 401, "unknown bearer token"},
		{"acknowledge without token", "POST", ack("cs_ready"), "", "", 401, "missing bearer token"},
		{"ship without token", "POST", ship("cs_ready"), "", okShip, 401, "missing bearer token"},
		{"get unknown", "GET", api.url + "/v1/orders/cs_nope", whToken, "", 404, `"cs_nope"`},
		{"acknowledge unknown", "POST", ack("ord_nope"), whToken, "", 404, `"ord_nope"`},
		{"ship unknown", "POST", ship("cs_nope"), whToken, okShip, 404, `"cs_nope"`},
		{"acknowledge unpaid", "POST", ack("cs_unpaid"), whToken, "", 409, "not paid"},
		{"acknowledge canceled", "POST", ack("cs_canceled"), whToken, "", 409, "canceled"},
		{"ship unpaid", "POST", ship("cs_unpaid"), whToken, okShip, 409, "not paid"},
		{"ship canceled", "POST", ship("cs_canceled"), whToken, okShip, 409, "canceled"},
		{"acknowledge with a body", "POST", ack("cs_ready"), whToken, `{"by":"me"}`, 400, `unknown field "by"`},
		{"ship: not JSON", "POST", ship("cs_ready"), whToken, `carrier=UPS`, 400, "not JSON"},
		{"ship: truncated", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS"`, 400, "truncated"},
		{"ship: empty body", "POST", ship("cs_ready"), whToken, "", 400, "empty"},
		{"ship: unknown field", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS","tracking_number":"1","tracking":"x"}`, 400, `unknown field "tracking"`},
		{"ship: wrong type", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS","tracking_number":"1","line_items":[{"id":"li_cs_ready_a","quantity":"2"}]}`, 400, "line_items.quantity: want a whole number, got string"},
		{"ship: two values", "POST", ship("cs_ready"), whToken, okShip + okShip, 400, "single JSON object"},
		{"ship: too large", "POST", ship("cs_ready"), whToken, `{"carrier":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "64 KiB"},
		{"ship: no carrier", "POST", ship("cs_ready"), whToken, `{"tracking_number":"1Z1"}`, 422, "carrier is required"},
		{"ship: no tracking number", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS"}`, 422, "tracking_number is required"},
		{"ship: bad tracking url", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS","tracking_number":"1","tracking_url":"ftp://x/1"}`, 422, "tracking_url"},
		{"ship: escape in carrier", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS\u001b[31mRED\u001b]0;title\u0007","tracking_number":"1"}`, 422, "carrier: control character"},
		{"ship: forged row in tracking number", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS","tracking_number":"1\nAcknowledged\t2020-01-01 by admin"}`, 422, "tracking_number: control character"},
		{"ship: unknown line", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS","tracking_number":"1","line_items":[{"id":"li_other","quantity":1}]}`, 422, `no line item "li_other"`},
		{"ship: over-shipping", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS","tracking_number":"1","line_items":[{"id":"li_cs_ready_b","quantity":3}]}`, 422, "2 left to ship, asked to ship 3"},
		{"ship: zero quantity", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS","tracking_number":"1","line_items":[{"id":"li_cs_ready_b"}]}`, 422, "at least 1"},
		{"ship: empty line_items", "POST", ship("cs_ready"), whToken, `{"carrier":"UPS","tracking_number":"1","line_items":[]}`, 422, "line_items is empty"},
		{"list: limit above 500", "GET", api.url + "/v1/orders?limit=501", whToken, "", 400, "limit"},
		{"list: limit 0", "GET", api.url + "/v1/orders?limit=0", whToken, "", 400, "limit"},
		{"list: bad cursor", "GET", api.url + "/v1/orders?after=abc", whToken, "", 400, "after"},
		{"list: bad status", "GET", api.url + "/v1/orders?status=lost", whToken, "", 400, "status"},
		{"list: bad updated_since", "GET", api.url + "/v1/orders?updated_since=yesterday", whToken, "", 400, "updated_since"},
		{"list: offset + not encoded", "GET", api.url + "/v1/orders?updated_since=2025-03-14T15:00:00+01:00", whToken, "", 400, "%2B"},
		{"unknown endpoint", "GET", api.url + "/v1/shipments", whToken, "", 404, "no such endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := api.call(t, tt.method, tt.url, tt.token, tt.body)
			if r.status != tt.status {
				t.Fatalf("HTTP %d, want %d: %s", r.status, tt.status, r.body)
			}
			if p := r.problem(t); !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q, want it to mention %q", p.Detail, tt.detail)
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	t.Cleanup(func() {
		o, err := api.db.Order(context.Background(), "cs_ready")
		if err != nil || o.Status != fulfillment.StatusReadyToShip || o.Shipments != nil || o.Acknowledgement != nil {
			t.Errorf("refused requests changed the order: %s %+v %+v (%v)", o.Status, o.Shipments, o.Acknowledgement, err)
		}
	})
}

// TestWarehouseAPIFlow is a warehouse's session: poll, acknowledge, ship
// part, retry the same parcel, ship the rest; the order reappears in the
// feed after each change, with the tokens' names recorded.
func TestWarehouseAPIFlow(t *testing.T) {
	t.Parallel()
	api := newWarehouseAPI(t)
	seeded := api.seed(t, "cs_flow", fulfillment.StatusReadyToShip, 0)
	api.seed(t, "cs_other", fulfillment.StatusReadyToShip, 1)

	var page OrderList
	list := func(query string) OrderList {
		t.Helper()
		r := api.call(t, "GET", api.url+"/v1/orders"+query, whToken, "")
		if r.status != 200 {
			t.Fatalf("list %s: HTTP %d %s", query, r.status, r.body)
		}
		var p OrderList
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	page = list("")
	if len(page.Orders) != 2 || page.NextCursor == "" || !strings.Contains(string(api.call(t, "GET", api.url+"/v1/orders", whToken, "").body), `"shipments":[]`) {
		t.Fatalf("first page: %d orders, cursor %q", len(page.Orders), page.NextCursor)
	}
	cursor := page.NextCursor
	if p := list("?after=" + cursor); len(p.Orders) != 0 || p.NextCursor != cursor {
		t.Fatalf("past the end: %d orders, cursor %q", len(p.Orders), p.NextCursor)
	}

	// Acknowledge by session id; again by the other warehouse: idempotent.
	r := api.call(t, "POST", api.url+"/v1/orders/cs_flow/acknowledge", whToken, "")
	o := r.order(t)
	if r.status != 200 || o.Status != fulfillment.StatusInFulfillment || o.Acknowledgement == nil || o.Acknowledgement.By != "wms" {
		t.Fatalf("acknowledge: HTTP %d %s", r.status, r.body)
	}
	r = api.call(t, "POST", api.url+"/v1/orders/"+seeded.ID+"/acknowledge", wh2Token, "{}")
	if again := r.order(t); r.status != 200 || again.Acknowledgement.By != "wms" || !again.UpdatedAt.Equal(o.UpdatedAt) {
		t.Errorf("second acknowledge: HTTP %d %s", r.status, r.body)
	}
	p := list("?after=" + cursor)
	if len(p.Orders) != 1 || p.Orders[0].ID != seeded.ID || p.Orders[0].Status != fulfillment.StatusInFulfillment {
		t.Fatalf("after acknowledging, the feed after the cursor holds %+v", p.Orders)
	}
	cursor = p.NextCursor

	// Part of it: 2 of li_b, 1 of li_c.
	partial := `{"carrier":"UPS","tracking_number":"1Z999AA10123456784","tracking_url":"https://www.ups.com/track?tracknum=1Z999AA10123456784",
		"line_items":[{"id":"li_cs_flow_b","quantity":2},{"id":"li_cs_flow_c","quantity":1}]}`
	r = api.call(t, "POST", api.url+"/v1/orders/cs_flow/shipments", whToken, partial)
	o = r.order(t)
	if r.status != 201 || o.Status != fulfillment.StatusPartiallyShipped || len(o.Shipments) != 1 || r.header.Get("Location") != "/v1/orders/"+seeded.ID {
		t.Fatalf("partial shipment: HTTP %d (Location %q) %s", r.status, r.header.Get("Location"), r.body)
	}
	s := o.Shipments[0]
	if s.ID != fulfillment.ShipmentID(seeded.ID, "1Z999AA10123456784") || s.Carrier != "UPS" || s.CreatedBy != "wms" ||
		fmt.Sprint(s.Lines) != "[{li_cs_flow_b 2} {li_cs_flow_c 1}]" {
		t.Errorf("shipment %+v", s)
	}
	// The same parcel again (a retry, even by another token): 200, no second shipment, no change.
	r = api.call(t, "POST", api.url+"/v1/orders/cs_flow/shipments", wh2Token, partial)
	if again := r.order(t); r.status != 200 || len(again.Shipments) != 1 || again.Status != fulfillment.StatusPartiallyShipped {
		t.Errorf("same tracking number again: HTTP %d %s", r.status, r.body)
	}
	p = list("?after=" + cursor)
	if len(p.Orders) != 1 || p.Orders[0].Status != fulfillment.StatusPartiallyShipped {
		t.Fatalf("after the partial shipment: %+v", p.Orders)
	}
	cursor = p.NextCursor

	// The rest, by the second warehouse, without line_items.
	r = api.call(t, "POST", api.url+"/v1/orders/"+seeded.ID+"/shipments", wh2Token, `{"carrier":"DHL","tracking_number":"JD014600006281230701"}`)
	o = r.order(t)
	if r.status != 201 || o.Status != fulfillment.StatusShipped || len(o.Shipments) != 2 {
		t.Fatalf("the rest: HTTP %d %s", r.status, r.body)
	}
	if rest := o.Shipments[1]; rest.CreatedBy != "wms2" || fmt.Sprint(rest.Lines) != "[{li_cs_flow_a 1} {li_cs_flow_c 2}]" {
		t.Errorf("second shipment %+v", rest)
	}
	r = api.call(t, "POST", api.url+"/v1/orders/cs_flow/shipments", whToken, `{"carrier":"DHL","tracking_number":"another"}`)
	if r.status != 409 || !strings.Contains(r.problem(t).Detail, "shipped in full") {
		t.Errorf("a new parcel for a shipped order: HTTP %d %s", r.status, r.body)
	}

	// GET shows it all; the feed has it after the cursor, and by status.
	r = api.call(t, "GET", api.url+"/v1/orders/"+seeded.ID, whToken, "")
	if got := r.order(t); r.status != 200 || got.Status != fulfillment.StatusShipped || len(got.Shipments) != 2 ||
		got.Acknowledgement.By != "wms" || len(got.LineItems) != 3 {
		t.Errorf("GET after shipping: HTTP %d %s", r.status, r.body)
	}
	if p := list("?after=" + cursor); len(p.Orders) != 1 || p.Orders[0].Status != fulfillment.StatusShipped {
		t.Errorf("after shipping the rest: %+v", p.Orders)
	}
	if p := list("?status=shipped"); len(p.Orders) != 1 || p.Orders[0].ID != seeded.ID {
		t.Errorf("status=shipped: %+v", p.Orders)
	}
	if p := list("?status=ready_to_ship&limit=500"); len(p.Orders) != 1 || p.Orders[0].CheckoutSessionID != "cs_other" {
		t.Errorf("status=ready_to_ship: %+v", p.Orders)
	}
	// updated_since: the seeded orders are from 15:00/15:01, the changes from 16:00 on.
	if p := list("?updated_since=" + url.QueryEscape("2025-03-14T16:00:00Z")); len(p.Orders) != 1 || p.Orders[0].ID != seeded.ID {
		t.Errorf("updated_since 16:00Z: %d orders", len(p.Orders))
	}
	if p := list("?updated_since=" + url.QueryEscape("2025-03-14T16:00:00+01:00")); len(p.Orders) != 2 {
		t.Errorf("updated_since 15:00Z as +01:00: %d orders, want 2", len(p.Orders))
	}
	if p := list("?limit=1"); len(p.Orders) != 1 {
		t.Errorf("limit=1: %d orders", len(p.Orders))
	}
}

// A writer creates orders and moves them through the warehouse API while a
// reader pages the feed over HTTP, 3 at a time. Once the writer has finished
// and the reader has polled to an empty page, the reader has seen every
// order in its final state: no order is skipped by concurrent changes.
func TestFeedOverHTTPMissesNothingWhileWriting(t *testing.T) {
	t.Parallel()
	api := newWarehouseAPI(t)
	const orders = 60

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range orders {
			session := fmt.Sprintf("cs_conc_%03d", i)
			api.seed(t, session, fulfillment.StatusReadyToShip, i)
			if i%2 == 1 { // move an earlier order on: it jumps to the end of the feed
				prev := fmt.Sprintf("cs_conc_%03d", max(0, i-1-i%5))
				if r := api.call(t, "POST", api.url+"/v1/orders/"+prev+"/acknowledge", whToken, ""); r.status != 200 {
					t.Errorf("acknowledge %s: HTTP %d", prev, r.status)
				}
			}
			if i%3 == 2 {
				prev := fmt.Sprintf("cs_conc_%03d", i-2)
				body := fmt.Sprintf(`{"carrier":"UPS","tracking_number":"T%d","line_items":[{"id":"li_%s_c","quantity":1}]}`, i, prev)
				if r := api.call(t, "POST", api.url+"/v1/orders/"+prev+"/shipments", wh2Token, body); r.status != 201 {
					t.Errorf("ship %s: HTTP %d %s", prev, r.status, r.body)
				}
			}
		}
	})

	latest := map[string]fulfillment.Order{}
	cursor, finished := "", false
	for polls := 0; ; polls++ {
		if polls > 100000 {
			t.Fatal("reader never caught up")
		}
		select {
		case <-done:
			finished = true
		default:
		}
		r := api.call(t, "GET", api.url+"/v1/orders?limit=3&after="+cursor, whToken, "")
		var page OrderList
		if err := json.Unmarshal(r.body, &page); r.status != 200 || err != nil {
			t.Fatalf("HTTP %d %s", r.status, r.body)
		}
		for _, o := range page.Orders {
			latest[o.ID] = o
		}
		cursor = page.NextCursor
		if finished && len(page.Orders) == 0 { // only a poll begun after the writer finished proves the end
			break
		}
	}
	wg.Wait()

	final, err := api.db.ListOrders(context.Background(), fulfillment.ListParams{Limit: fulfillment.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(final.Orders) != orders {
		t.Fatalf("%d orders, want %d", len(final.Orders), orders)
	}
	moved := 0
	for _, o := range final.Orders {
		seen, ok := latest[o.ID]
		switch {
		case !ok:
			t.Errorf("order %s never seen", o.CheckoutSessionID)
		case seen.Status != o.Status || len(seen.Shipments) != len(o.Shipments) || !seen.UpdatedAt.Equal(o.UpdatedAt):
			t.Errorf("order %s last seen %s with %d shipments, is %s with %d", o.CheckoutSessionID, seen.Status, len(seen.Shipments), o.Status, len(o.Shipments))
		}
		if o.Status != fulfillment.StatusReadyToShip {
			moved++
		}
	}
	if moved < orders/3 {
		t.Errorf("only %d orders moved on: the test exercises too little", moved)
	}
}

// openAPIDoc's paths and methods are exactly the /v1 routes, and its
// schemas have exactly the fields the order JSON has.
func TestOpenAPIDescribesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []any `json:"enum"`
				} `json:"properties"`
				Enum []any `json:"enum"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(openAPIDoc), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	// Every status, hold reason and cancel reason, and nothing else.
	for _, e := range []struct {
		name  string
		doc   []any
		known []string
		valid func(string) bool
	}{
		{"Status", doc.Components.Schemas["Status"].Enum, []string{
			string(fulfillment.StatusAwaitingPayment), string(fulfillment.StatusReadyToShip), string(fulfillment.StatusOnHold), string(fulfillment.StatusCanceled),
			string(fulfillment.StatusInFulfillment), string(fulfillment.StatusPartiallyShipped), string(fulfillment.StatusShipped),
		}, func(s string) bool { return fulfillment.Status(s).Valid() }},
		{"HoldReason", doc.Components.Schemas["HoldReason"].Enum, []string{
			string(fulfillment.HoldRefundPartial), string(fulfillment.HoldDispute), string(fulfillment.HoldFraudWarning), string(fulfillment.HoldMerchant),
		}, nil},
		{"Order.cancel_reason", doc.Components.Schemas["Order"].Properties["cancel_reason"].Enum, []string{
			string(fulfillment.CancelPaymentFailed), string(fulfillment.CancelRefunded), string(fulfillment.CancelDisputeLost), string(fulfillment.CancelMerchant), "<nil>",
		}, nil},
	} {
		var got []string
		for _, v := range e.doc {
			got = append(got, fmt.Sprint(v))
			if e.valid != nil && !e.valid(fmt.Sprint(v)) {
				t.Errorf("openapi.json: %s lists %v, which the domain does not know", e.name, v)
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(e.known))
		if !slices.Equal(got, want) {
			t.Errorf("openapi.json: %s enum %v, want %v", e.name, got, want)
		}
	}

	api := newWarehouseAPI(t)
	mux := newMux(Deps{Log: slog.New(slog.DiscardHandler), API: &API{Orders: api.db, Now: time.Now}})

	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			pattern := strings.ToUpper(method) + " " + path
			documented[pattern] = true
			req := httptest.NewRequest(strings.ToUpper(method), strings.ReplaceAll(path, "{id}", "ord_x"), nil)
			if _, got := mux.Handler(req); got != pattern {
				t.Errorf("documented %s is served by %q", pattern, got)
			}
		}
	}
	for _, rt := range v1Routes(slog.New(slog.DiscardHandler), &API{}) {
		if !documented[rt.pattern] {
			t.Errorf("route %s is not in openapi.json", rt.pattern)
		}
		method, path, _ := strings.Cut(rt.pattern, " ")
		if _, got := mux.Handler(httptest.NewRequest(method, strings.ReplaceAll(path, "{id}", "ord_x"), nil)); got != rt.pattern {
			t.Errorf("route %s is not registered by routes (got %q)", rt.pattern, got)
		}
	}

	// Served without a token, as embedded.
	r := api.call(t, "GET", api.url+"/v1/openapi.json", "", "")
	if r.status != 200 || string(r.body) != openAPIDoc || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /v1/openapi.json: HTTP %d, %d bytes", r.status, len(r.body))
	}

	// Every field of the JSON is documented, and nothing else.
	var full fulfillment.Order
	fillAll(reflect.ValueOf(&full).Elem())
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	_ = json.Unmarshal(b, &obj)
	first := func(v any) map[string]any { return v.([]any)[0].(map[string]any) }
	for schema, value := range map[string]map[string]any{
		"Order":           obj,
		"Customer":        obj["customer"].(map[string]any),
		"Shipping":        obj["shipping"].(map[string]any),
		"Address":         obj["shipping"].(map[string]any)["address"].(map[string]any),
		"LineItem":        first(obj["line_items"]),
		"Acknowledgement": obj["acknowledgement"].(map[string]any),
		"Shipment":        first(obj["shipments"]),
		"ShipmentLine":    first(first(obj["shipments"])["line_items"]),
		"Hold":            obj["hold"].(map[string]any),
		"Dispute":         obj["dispute"].(map[string]any),
		"FraudWarning":    obj["fraud_warning"].(map[string]any),
	} {
		props := doc.Components.Schemas[schema].Properties
		for k := range value {
			if _, ok := props[k]; !ok {
				t.Errorf("openapi.json: schema %s lacks property %q that the JSON has (document it in fulfillment/httpapi/openapi.json)", schema, k)
			}
		}
		for k := range props {
			if _, ok := value[k]; !ok {
				t.Errorf("openapi.json: schema %s documents %q, which the JSON lacks", schema, k)
			}
		}
	}
}

// fillAll sets every field reachable from v to a non-zero value, so that
// even omitempty fields appear in its JSON.
func fillAll(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillAll(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillAll(k)
		fillAll(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	}
}
