package stripeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
)

const key = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"

// emulator serves the named fixtures (all of them if none are named).
func emulator(t *testing.T, opts stripeemu.Options, sessions ...string) (*stripeemu.Emulator, string) {
	t.Helper()
	emu := stripeemu.New(opts)
	if len(sessions) == 0 {
		if err := emu.Seed(fixtures.FS, "stripe"); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	for _, id := range sessions {
		data, err := fixtures.FS.ReadFile("stripe/" + id + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var fx struct {
			Session   json.RawMessage   `json:"session"`
			LineItems []json.RawMessage `json:"line_items"`
		}
		if err := json.Unmarshal(data, &fx); err != nil {
			t.Fatal(err)
		}
		if err := emu.AddSession(fx.Session, fx.LineItems); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv.URL
}

func newClient(url string, mod ...func(*stripeapi.Config)) *stripeapi.Client {
	cfg := stripeapi.Config{SecretKey: key, BaseURL: url}
	for _, m := range mod {
		m(&cfg)
	}
	return stripeapi.New(cfg)
}

// fixtureItems reads a fixture's line items straight from its JSON: the
// expectation LineItems is checked against.
func fixtureItems(t *testing.T, sessionID string) []fulfillment.LineItem {
	t.Helper()
	data, err := fixtures.FS.ReadFile("stripe/" + sessionID + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		LineItems []struct {
			ID             string `json:"id"`
			Description    string `json:"description"`
			Currency       string `json:"currency"`
			Quantity       int64  `json:"quantity"`
			AmountSubtotal int64  `json:"amount_subtotal"`
			AmountDiscount int64  `json:"amount_discount"`
			AmountTax      int64  `json:"amount_tax"`
			AmountTotal    int64  `json:"amount_total"`
			Price          struct {
				ID        string                 `json:"id"`
				Recurring *fulfillment.Recurring `json:"recurring"`
				Product   struct {
					ID string `json:"id"`
				} `json:"product"`
			} `json:"price"`
		} `json:"line_items"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	var out []fulfillment.LineItem
	for _, li := range fx.LineItems {
		out = append(out, fulfillment.LineItem{ID: li.ID, ProductID: li.Price.Product.ID, PriceID: li.Price.ID,
			Description: li.Description, Quantity: li.Quantity, Currency: li.Currency, AmountSubtotal: li.AmountSubtotal,
			AmountDiscount: li.AmountDiscount, AmountTax: li.AmountTax, AmountTotal: li.AmountTotal, Recurring: li.Price.Recurring})
	}
	return out
}

func TestLineItems(t *testing.T) {
	t.Parallel()
	emu, url := emulator(t, stripeemu.Options{})
	tests := []struct {
		session  string
		n        int
		requests int64
	}{
		{"cs_test_crosssell", 3, 1},
		{"cs_test_unpaid", 2, 1},
		{"cs_test_bulk", 120, 2},
		{"cs_test_digital", 2, 1},
		{"cs_test_subscription", 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.session, func(t *testing.T) {
			t.Parallel()
			c := newClient(url)
			lines, err := c.LineItems(context.Background(), tt.session)
			if err != nil {
				t.Fatal(err)
			}
			got := lines.Items
			if int64(lines.Requests) != tt.requests {
				t.Errorf("LineItems counted %d requests, want %d", lines.Requests, tt.requests)
			}
			if len(got) != tt.n {
				t.Fatalf("%d line items, want %d", len(got), tt.n)
			}
			if c.Requests() != tt.requests {
				t.Errorf("client sent %d requests, want %d", c.Requests(), tt.requests)
			}
			if n := emu.RequestsFor("/v1/checkout/sessions/" + tt.session + "/line_items"); n != tt.requests {
				t.Errorf("emulator served %d requests, want %d", n, tt.requests)
			}
			want := fixtureItems(t, tt.session)
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("item %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestLineItemsMapping(t *testing.T) {
	t.Parallel()
	_, url := emulator(t, stripeemu.Options{}, "cs_test_crosssell")
	lines, err := newClient(url).LineItems(context.Background(), "cs_test_crosssell")
	if err != nil {
		t.Fatal(err)
	}
	got := lines.Items
	want := []fulfillment.LineItem{
		{ID: "li_1OCFUqKx8wUb3ZqvCamera01", ProductID: "prod_camera", PriceID: "price_1OCFQ2Kx8wUb3ZqvCamera01",
			Description: "Mirrorless Camera X100", Quantity: 1, Currency: "usd",
			AmountSubtotal: 89900, AmountDiscount: 8990, AmountTax: 7416, AmountTotal: 88326},
		{ID: "li_1OCFUqKx8wUb3ZqvLensCl01", ProductID: "prod_lens_cloth", PriceID: "price_1OCFQ9Kx8wUb3ZqvLensCl01",
			Description: "Microfiber Lens Cloth", Quantity: 1, Currency: "usd", AmountSubtotal: 900, AmountTotal: 900},
		{ID: "li_1OCFUqKx8wUb3ZqvSdCard01", ProductID: "prod_sd_card", PriceID: "price_1OCFQHKx8wUb3ZqvSdCard01",
			Description: "SD Card 128 GB", Quantity: 2, Currency: "usd", AmountSubtotal: 9000, AmountTotal: 9000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// TestFixturesMatchCrossSells checks that testdata/crosssells.json tags the
// fixtures' cross-sell lines, and only those, through the real client.
func TestFixturesMatchCrossSells(t *testing.T) {
	t.Parallel()
	_, url := emulator(t, stripeemu.Options{})
	raw, err := fixtures.FS.ReadFile("crosssells.json")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := fulfillment.ParseCrossSells(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // session → cross-sell product
		"cs_test_crosssell":    "prod_lens_cloth",
		"cs_test_unpaid":       "prod_desk_mat",
		"cs_test_bulk":         "prod_lens_cloth", // on the second page
		"cs_test_digital":      "",
		"cs_test_subscription": "prod_setup_fee",
	}
	c := newClient(url)
	for session, product := range want {
		lines, err := c.LineItems(context.Background(), session)
		if err != nil {
			t.Fatal(err)
		}
		items := lines.Items
		if odd := cs.Tag(items); len(odd) > 0 {
			t.Errorf("%s: cross-sell lines with quantity ≠ 1: %+v", session, odd)
		}
		var tagged []string
		for _, it := range items {
			if it.CrossSell {
				tagged = append(tagged, it.ProductID)
			}
		}
		if product == "" && len(tagged) != 0 || product != "" && (len(tagged) != 1 || tagged[0] != product) {
			t.Errorf("%s: tagged %v, want [%s]", session, tagged, product)
		}
	}
}

func TestSession(t *testing.T) {
	t.Parallel()
	emu, url := emulator(t, stripeemu.Options{})
	c := newClient(url)
	ctx := context.Background()

	got, err := c.Session(ctx, "cs_test_crosssell")
	if err != nil {
		t.Fatal(err)
	}
	want := fulfillment.Session{
		ID: "cs_test_crosssell", Status: "complete", PaymentStatus: fulfillment.PaymentPaid, Mode: "payment",
		Currency: "usd", AmountSubtotal: 99800, AmountDiscount: 8990, AmountTax: 7416, AmountShipping: 1500, AmountTotal: 99726,
		Customer: fulfillment.Customer{Email: "jane.doe@example.com", Name: "Jane Doe", Phone: "+14155550132"},
		Shipping: &fulfillment.Shipping{Name: "Jane Doe", Address: fulfillment.Address{Line1: "510 Townsend St",
			Line2: "Apt 4", City: "San Francisco", State: "CA", PostalCode: "94103", Country: "US"}},
		ClientReferenceID: "cart_8f3k2",
		Metadata:          map[string]string{"order_ref": "web-1001", "channel": "web"},
		Created:           time.Unix(1700000000, 0).UTC(),
		Payment:           fulfillment.Payment{PaymentIntent: "pi_3OCFUqKx8wUb3Zqv0CrossS1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("crosssell:\n got %+v\nwant %+v", got, want)
	}

	tests := []struct {
		session  string
		payment  fulfillment.PaymentStatus
		mode     string
		shipping bool
	}{
		{"cs_test_unpaid", fulfillment.PaymentUnpaid, "payment", true},
		{"cs_test_bulk", fulfillment.PaymentPaid, "payment", true},
		{"cs_test_digital", fulfillment.PaymentPaid, "payment", false},
		{"cs_test_subscription", fulfillment.PaymentPaid, "subscription", false},
	}
	for _, tt := range tests {
		s, err := c.Session(ctx, tt.session)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != tt.session || s.PaymentStatus != tt.payment || s.Mode != tt.mode || (s.Shipping != nil) != tt.shipping ||
			s.Customer.Email == "" || s.Status != "complete" || s.Currency != "usd" {
			t.Errorf("%s: %+v", tt.session, s)
		}
	}

	// The demo flips the ACH session to paid: Session reads the current state.
	if err := emu.SetPaymentStatus("cs_test_unpaid", "paid"); err != nil {
		t.Fatal(err)
	}
	if s, err := c.Session(ctx, "cs_test_unpaid"); err != nil || s.PaymentStatus != fulfillment.PaymentPaid {
		t.Errorf("after SetPaymentStatus: %v, %v", s.PaymentStatus, err)
	}
	if n := c.Requests(); n != 6 {
		t.Errorf("Requests() = %d, want 6 (one per Session call)", n)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	type call func(*stripeapi.Client) error
	session := func(id string) call {
		return func(c *stripeapi.Client) error { _, err := c.Session(context.Background(), id); return err }
	}
	lineItems := func(id string) call {
		return func(c *stripeapi.Client) error { _, err := c.LineItems(context.Background(), id); return err }
	}
	tests := []struct {
		name       string
		failN      int
		failStatus int
		retries    int64
		key        string
		call       call
		permanent  bool
		notFound   bool
		retryAfter time.Duration // > 0: want fulfillment.RetryAfter
		ok         bool
		requests   int64
	}{
		{name: "unknown session", call: session("cs_test_nope"), permanent: true, notFound: true, requests: 1},
		{name: "unknown session, line items", call: lineItems("cs_test_nope"), permanent: true, notFound: true, requests: 1},
		{name: "empty session id", call: session(""), permanent: true, requests: 0},
		{name: "bad key", key: "sk_", call: session("cs_test_digital"), requests: 1}, // ErrUnauthorized: errors_test.go
		{name: "publishable key", key: "pk_test_abcdefgh", call: lineItems("cs_test_digital"), requests: 1},
		{name: "403", failN: 1, failStatus: 403, call: session("cs_test_digital"), requests: 1},
		{name: "400", failN: 1, failStatus: 400, call: lineItems("cs_test_digital"), permanent: true, requests: 1},
		// stripe-go retries 5xx on GET: one failure is absorbed.
		{name: "500 once: retried by stripe-go", failN: 1, failStatus: 500, call: lineItems("cs_test_crosssell"), ok: true, requests: 2},
		// More failures than retries: a transient error for the caller.
		{name: "500 beyond retries", failN: 2, failStatus: 500, retries: 1, call: session("cs_test_digital"), requests: 2},
		{name: "503 no retries", failN: 1, failStatus: 503, retries: -1, call: lineItems("cs_test_digital"), requests: 1},
		// stripe-go does not retry rate-limit 429s: the caller waits.
		{name: "429", failN: 1, failStatus: 429, call: session("cs_test_digital"), retryAfter: stripeapi.DefaultRetryAfter, requests: 1},
		{name: "429 line items", failN: 1, failStatus: 429, call: lineItems("cs_test_crosssell"), retryAfter: stripeapi.DefaultRetryAfter, requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			emu, url := emulator(t, stripeemu.Options{}, "cs_test_digital", "cs_test_crosssell")
			emu.FailNext(tt.failN, tt.failStatus)
			c := newClient(url, func(cfg *stripeapi.Config) {
				cfg.MaxNetworkRetries = tt.retries
				if tt.key != "" {
					cfg.SecretKey = tt.key
				}
			})
			err := tt.call(c)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if got := c.Requests(); got != tt.requests {
				t.Errorf("Requests() = %d, want %d", got, tt.requests)
			}
			if tt.ok {
				return
			}
			if got := fulfillment.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			if got := errors.Is(err, fulfillment.ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v, want %v", got, tt.notFound)
			}
			if after, got := fulfillment.RetryDelay(err); got != (tt.retryAfter > 0) {
				t.Errorf("RetryDelay: %v, want %v (%v)", got, tt.retryAfter > 0, err)
			} else if got && after != tt.retryAfter {
				t.Errorf("After = %v, want %v", after, tt.retryAfter)
			}
			var se *stripe.Error
			if tt.requests > 0 && !errors.As(err, &se) {
				t.Errorf("*stripe.Error not reachable with errors.As: %v", err)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`)
	}))
	t.Cleanup(srv.Close)
	_, err := newClient(srv.URL).Session(context.Background(), "cs_test_x")
	if after, ok := fulfillment.RetryDelay(err); !ok || after != 7*time.Second {
		t.Fatalf("err = %v, want RetryAfter after 7s", err)
	}
	if fulfillment.IsPermanent(err) {
		t.Error("429 is permanent")
	}
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	_, url := emulator(t, stripeemu.Options{}, "cs_test_digital")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := newClient(url)
	_, err := c.LineItems(ctx, "cs_test_digital")
	if !errors.Is(err, context.Canceled) || fulfillment.IsPermanent(err) {
		t.Fatalf("err = %v, want transient context.Canceled", err)
	}
	if c.Requests() != 0 {
		t.Errorf("Requests() = %d, want 0", c.Requests())
	}
}

// TestLimiterHonoursDeadline: a request that would wait past the caller's
// deadline for its turn fails at once instead of waiting.
func TestLimiterHonoursDeadline(t *testing.T) {
	t.Parallel()
	_, url := emulator(t, stripeemu.Options{}, "cs_test_digital")
	c := newClient(url, func(cfg *stripeapi.Config) { cfg.MaxRPS = 0.001; cfg.MaxNetworkRetries = -1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	for range 3 { // the burst lets the first ones through
		if _, err = c.Session(ctx, "cs_test_digital"); err != nil {
			break
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) || fulfillment.IsPermanent(err) {
		t.Fatalf("err = %v, want transient context.DeadlineExceeded", err)
	}
}

// TestRateLimiterKeepsUnderStripesLimit: 8 workers share one client capped
// at 20 req/s against an account limited to 20 req/s: Stripe never answers
// 429. (Without the cap, 40 immediate requests overrun the emulator's
// one-second bucket of 20.)
func TestRateLimiterKeepsUnderStripesLimit(t *testing.T) {
	t.Parallel()
	const rps, total, workers = 20, 40, 8
	emu, url := emulator(t, stripeemu.Options{RateLimit: rps}, "cs_test_digital")
	c := newClient(url, func(cfg *stripeapi.Config) { cfg.MaxRPS = rps })
	jobs := make(chan int, total)
	for i := range total {
		jobs <- i
	}
	close(jobs)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				if _, err := c.Session(context.Background(), "cs_test_digital"); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests failed, first: %v", len(errs), total, errs[0])
	}
	if emu.Requests() != total || c.Requests() != total {
		t.Errorf("emulator served %d, client sent %d; want %d each", emu.Requests(), c.Requests(), total)
	}
}

// TestUnthrottledClientIsRateLimited shows the emulator's limit bites, so
// that the test above can fail.
func TestUnthrottledClientIsRateLimited(t *testing.T) {
	t.Parallel()
	_, url := emulator(t, stripeemu.Options{RateLimit: 5}, "cs_test_digital")
	c := newClient(url)
	var limited int
	for range 20 {
		_, err := c.Session(context.Background(), "cs_test_digital")
		if _, ok := fulfillment.RetryDelay(err); ok {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("20 quick requests against a 5 req/s account: no 429")
	}
}

func TestNeverLogsKeyOrTouchesGlobals(t *testing.T) {
	t.Parallel()
	emu, url := emulator(t, stripeemu.Options{}, "cs_test_crosssell")
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(url, func(cfg *stripeapi.Config) { cfg.Log = log })
	emu.FailNext(1, 500)
	if _, err := c.LineItems(context.Background(), "cs_test_crosssell"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Session(context.Background(), "cs_test_nope"); err == nil {
		t.Fatal("unknown session: no error")
	}
	out := buf.String()
	if bytes.Contains([]byte(out), []byte(key[8:])) {
		t.Errorf("log contains the secret key:\n%s", out)
	}
	if bytes.Contains([]byte(out), []byte("jane.doe@example.com")) {
		t.Errorf("log contains response bodies:\n%s", out)
	}
	if !bytes.Contains([]byte(out), []byte("retry")) {
		t.Errorf("stripe-go's retry is not logged:\n%s", out)
	}
	if stripe.Key != "" {
		t.Errorf("stripe.Key was set")
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
