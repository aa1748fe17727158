package stripeapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
)

// TestSessionWithLineItems reads sessions of every size in one request for
// the first 10 lines and 100 a request for the rest, and returns what
// Session and LineItems return separately.
func TestSessionWithLineItems(t *testing.T) {
	t.Parallel()
	emu, url := emulator(t, stripeemu.Options{})
	tests := []struct {
		session  string
		lines    int // generate a session of this many lines; 0: the fixture
		requests int
	}{
		{"cs_test_crosssell", 0, 1},
		{"cs_test_subscription", 0, 1},
		{"cs_test_bulk", 0, 3}, // 120: 10 embedded, then 100, then 10
		{"cs_test_lines_001", 1, 1},
		{"cs_test_lines_010", 10, 1},
		{"cs_test_lines_011", 11, 2},
		{"cs_test_lines_100", 100, 2},
		{"cs_test_lines_101", 101, 2},
		{"cs_test_lines_110", 110, 2},
		{"cs_test_lines_111", 111, 3},
		{"cs_test_lines_250", 250, 4},
	}
	for _, tt := range tests {
		if tt.lines > 0 {
			if err := emu.GenerateSession(tt.session, tt.lines, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.session, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := newClient(url)
			s, lines, err := c.SessionWithLineItems(ctx, tt.session)
			if err != nil {
				t.Fatal(err)
			}
			served := emu.RequestsFor("/v1/checkout/sessions/" + tt.session)
			if lines.Requests != tt.requests || c.Requests() != int64(tt.requests) || served != int64(tt.requests) {
				t.Errorf("counted %d requests, client sent %d, emulator served %d; want %d",
					lines.Requests, c.Requests(), served, tt.requests)
			}
			wantSession, err := c.Session(ctx, tt.session)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s, wantSession) {
				t.Errorf("session:\n got %+v\nwant %+v", s, wantSession)
			}
			want, err := c.LineItems(ctx, tt.session)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(lines.Items, want.Items) {
				t.Errorf("%d line items differ from LineItems' %d", len(lines.Items), len(want.Items))
			}
			if tt.lines == 0 && !reflect.DeepEqual(lines.Items, fixtureItems(t, tt.session)) {
				t.Errorf("line items differ from the fixture's")
			}
		})
	}
}

// TestSessionWithLineItemsErrors: errors are classified as for Session and
// LineItems, and the requests already sent are counted.
func TestSessionWithLineItemsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		session    string
		failSecond bool // the request after the first is answered 503
		permanent  bool
		requests   int
	}{
		{"unknown session", "cs_test_nope", false, true, 1},
		{"empty id", "", false, true, 0},
		{"a continuation page fails", "cs_test_bulk", true, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			emu, url := emulator(t, stripeemu.Options{}, "cs_test_bulk")
			c := newClient(url, withNoRetries)
			if tt.failSecond {
				c = newClient(url, withNoRetries, func(cfg *stripeapi.Config) {
					cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
						resp, err := http.DefaultTransport.RoundTrip(r)
						emu.FailNext(1, http.StatusServiceUnavailable)
						return resp, err
					})}
				})
			}
			_, lines, err := c.SessionWithLineItems(context.Background(), tt.session)
			if err == nil || fulfillment.IsPermanent(err) != tt.permanent {
				t.Errorf("err = %v (permanent %v), want an error, permanent %v", err, fulfillment.IsPermanent(err), tt.permanent)
			}
			if tt.permanent && tt.session != "" && !errors.Is(err, fulfillment.ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
			if lines.Requests != tt.requests {
				t.Errorf("counted %d requests, want %d", lines.Requests, tt.requests)
			}
		})
	}
}

func withNoRetries(c *stripeapi.Config) { c.MaxNetworkRetries = -1 }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSessionWithLineItemsNotExpanded: an answer without line_items (a mock
// that ignores the expansion) costs the listing, not the order's lines.
func TestSessionWithLineItemsNotExpanded(t *testing.T) {
	t.Parallel()
	emu := stripeemu.New(stripeemu.Options{})
	if err := emu.Seed(fixtures.FS, "stripe"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/line_items") {
			r.URL.RawQuery = "" // drop expand[]
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	_, lines, err := newClient(srv.URL).SessionWithLineItems(context.Background(), "cs_test_bulk")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines.Items) != 120 || lines.Requests != 3 || !reflect.DeepEqual(lines.Items, fixtureItems(t, "cs_test_bulk")) {
		t.Errorf("%d line items after %d requests, want the fixture's 120 after 3", len(lines.Items), lines.Requests)
	}
}
