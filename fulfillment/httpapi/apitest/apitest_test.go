package apitest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi/apitest"
)

// order is an order's JSON as GET /v1/orders/{id} answers it, with every
// field the description allows.
const order = `{"id":"ord_x","checkout_session_id":"cs_x","status":"on_hold","payment_status":"paid","mode":"payment",
"currency":"eur","amount_subtotal":6000,"amount_discount":0,"amount_tax":0,"amount_shipping":0,"amount_total":6000,
"customer":{"email":"a@example.com","name":"Ada","phone":""},"shipping":null,"client_reference_id":"","metadata":null,
"line_items":[{"id":"li_1","product_id":"prod_1","price_id":"price_1","description":"x","quantity":1,"currency":"eur",
"amount_subtotal":6000,"amount_discount":0,"amount_tax":0,"amount_total":6000,"recurring":null,"cross_sell":false}],
"payment_intent_id":"pi_1","invoice_id":null,"amount_refunded":100,
"hold":{"reasons":["refund_partial","dispute"],"since":"2025-03-14T15:00:00Z","note":"","previous_status":"ready_to_ship"},
"cancel_reason":null,"dispute":{"id":"dp_1","status":"needs_response","reason":"fraudulent","amount":6000},
"fraud_warning":null,"shipments":[],"created_at":"2025-03-14T15:00:00Z","updated_at":"2025-03-14T15:00:00Z"}`

const problem = `{"type":"about:blank","title":"Not Found","status":404,"detail":"no order"}`

// with is order with key set to the raw JSON value (or removed, for "").
func with(t *testing.T, key, value string) string {
	t.Helper()
	var o map[string]json.RawMessage
	if err := json.Unmarshal([]byte(order), &o); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		delete(o, key)
	} else {
		o[key] = json.RawMessage(value)
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCheckCatchesMismatches: the checks fail on each kind of mismatch the
// issue names (status codes, content types, required fields, enums,
// nullability), on requests the server should have refused, and on
// undescribed /v1 paths; and they pass the exchanges that match.
func TestCheckCatchesMismatches(t *testing.T) {
	t.Parallel()
	spec := apitest.MustLoad(t, httpapi.OpenAPIDocument())
	const (
		jsonCT    = "application/json"
		problemCT = "application/problem+json"
	)
	auth := "Bearer tok"
	tests := []struct {
		name               string
		method, path, auth string
		reqCT, reqBody     string
		status             int
		ct, body           string
		header             http.Header
		wantErr            string // "" : the exchange matches
	}{
		{"order matches", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, order, nil, ""},
		{"problem matches", "GET", "/v1/orders/cs_x", auth, "", "", 404, problemCT, problem, nil, ""},
		{"feed page matches", "GET", "/v1/orders?limit=2&status=on_hold", auth, "", "", 200, jsonCT, `{"orders":[` + order + `],"next_cursor":"c"}`, nil, ""},
		{"description without token", "GET", "/v1/openapi.json", "", "", "", 200, jsonCT, `{}`, nil, ""},
		{"not under /v1: unchecked", "GET", "/healthz", "", "", "", 200, "text/plain", "ok", nil, ""},
		{"undocumented status", "GET", "/v1/orders/cs_x", auth, "", "", 418, problemCT, problem, nil, "status is not supported"},
		{"wrong content type", "GET", "/v1/orders/cs_x", auth, "", "", 404, jsonCT, problem, nil, "Content-Type"},
		{"required field missing", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, with(t, "hold", ""), nil, "hold"},
		{"optional field missing", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, with(t, "cancel_note", ""), nil, ""},
		{"unknown status", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, with(t, "status", `"lost"`), nil, "status"},
		{"unknown cancel reason", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, with(t, "cancel_reason", `"bored"`), nil, "cancel_reason"},
		{"cancel reason set", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, with(t, "cancel_reason", `"dispute_lost"`), nil, ""},
		{"null where not nullable", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, with(t, "amount_refunded", `null`), nil, "amount_refunded"},
		{"null shipments", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, with(t, "shipments", `null`), nil, "shipments"},
		{"a time that is no RFC 3339 time", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, with(t, "created_at", `"yesterday"`), nil, "created_at"},
		{"problem status other than the answer's", "GET", "/v1/orders/cs_x", auth, "", "", 404, problemCT, `{"type":"about:blank","title":"Not Found","status":400}`, nil, "status 400"},
		{"nullable null", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, with(t, "dispute", `null`), nil, ""},
		{"hold of the wrong shape", "GET", "/v1/orders/cs_x", auth, "", "", 200, jsonCT, with(t, "hold", `{"reasons":["whim"],"since":"2025-03-14T15:00:00Z","note":"","previous_status":"ready_to_ship"}`), nil, "hold"},
		{"problem without title", "GET", "/v1/orders/cs_x", auth, "", "", 404, problemCT, `{"type":"about:blank","status":404}`, nil, "title"},
		{"401 without WWW-Authenticate", "GET", "/v1/orders", "", "", "", 401, problemCT, `{"type":"about:blank","title":"Unauthorized","status":401}`, nil, "WWW-Authenticate"},
		{"no token, yet served", "GET", "/v1/orders", "", "", "", 200, jsonCT, `{"orders":[],"next_cursor":"c"}`, nil, "want 401"},
		{"limit the description refuses, yet served", "GET", "/v1/orders?limit=501", auth, "", "", 200, jsonCT, `{"orders":[],"next_cursor":"c"}`, nil, "want a 4xx"},
		{"shipment without carrier, refused", "POST", "/v1/orders/cs_x/shipments", auth, jsonCT, `{"tracking_number":"1"}`, 422, problemCT, `{"type":"about:blank","title":"Unprocessable Entity","status":422}`, nil, ""},
		{"shipment without carrier, accepted", "POST", "/v1/orders/cs_x/shipments", auth, jsonCT, `{"tracking_number":"1"}`, 201, jsonCT, order, http.Header{"Location": {"/v1/orders/ord_x"}}, "want a 4xx"},
		{"a body where none is described", "POST", "/v1/orders/cs_x/acknowledge", auth, "", "", 204, "text/plain", "x", nil, "status is not supported"},
		{"undescribed /v1 path, 404 problem", "GET", "/v1/shipments", auth, "", "", 404, problemCT, problem, nil, ""},
		{"undescribed /v1 path, served", "GET", "/v1/shipments", auth, "", "", 200, jsonCT, `[]`, nil, "not described"},
		{"undescribed /v1 path, plain 404", "GET", "/v1/shipments", auth, "", "", 404, "text/plain", "404 page not found", nil, "application/problem+json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, "http://127.0.0.1:1"+tt.path, strings.NewReader(tt.reqBody))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.reqCT != "" {
				req.Header.Set("Content-Type", tt.reqCT)
			}
			h := http.Header{"Content-Type": {tt.ct}}
			if tt.status == 401 && tt.wantErr == "" {
				h.Set("WWW-Authenticate", `Bearer realm="fulfillmentd"`)
			}
			for k, v := range tt.header {
				h[k] = v
			}
			err := spec.Check(req, []byte(tt.reqBody), tt.status, h, []byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("mismatch reported for a matching exchange: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("no mismatch reported, want one mentioning %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("mismatch %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

// TestLoadLints: a description kin-openapi's validation rejects does not
// load, nor one with an error status that is not a problem.
func TestLoadLints(t *testing.T) {
	t.Parallel()
	bad := strings.Replace(string(httpapi.OpenAPIDocument()), `"$ref": "#/components/schemas/Problem"`, `"$ref": "#/components/schemas/Nope"`, 1)
	if _, err := apitest.Load([]byte(bad)); err == nil {
		t.Error("a description with a dangling $ref loaded")
	}
	plain := strings.Replace(string(httpapi.OpenAPIDocument()), `"application/problem+json": {`, `"application/json": {`, 1)
	if _, err := apitest.Load([]byte(plain)); err == nil || !strings.Contains(err.Error(), "not an application/problem+json Problem") {
		t.Errorf("a description with an error answered as application/json loaded: %v", err)
	}
	if _, err := apitest.Load(httpapi.OpenAPIDocument()); err != nil {
		t.Errorf("openapi.json: %v", err)
	}
}

// BenchmarkCheckOrder is the cost the checks add to each test exchange: a
// GET of one order.
func BenchmarkCheckOrder(b *testing.B) {
	spec := apitest.MustLoad(b, httpapi.OpenAPIDocument())
	h := http.Header{"Content-Type": {"application/json"}}
	for b.Loop() {
		req := httptest.NewRequest("GET", "http://127.0.0.1:1/v1/orders/cs_x", nil)
		req.Header.Set("Authorization", "Bearer tok")
		if err := spec.Check(req, nil, 200, h, []byte(order)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad is the cost of loading and linting the description.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		apitest.MustLoad(b, httpapi.OpenAPIDocument())
	}
}
