package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

const consoleAdminToken = "admin-token-0123456789abcdef"

// consoleEnv is the console over a real SQLite file, served by httptest,
// with a clock the test moves.
type consoleEnv struct {
	url string
	db  *store.DB
	mu  sync.Mutex
	now time.Time
}

func (e *consoleEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *consoleEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newConsoleEnv(t *testing.T) *consoleEnv {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e := &consoleEnv{db: db, now: time.Date(2025, 3, 14, 16, 0, 0, 0, time.UTC)}
	pairs := []fulfillment.CrossSellPair{{Base: "prod_a", CrossSell: "prod_c"}}
	samples := NewSamples(func() Reading {
		return Reading{Webhooks: map[string]float64{"accepted": 3}, StripeRate: 20, Backlog: 2}
	})
	samples.Tick(e.clock())
	h := NewHandler(Deps{
		Log: slog.New(slog.DiscardHandler),
		API: &API{Orders: db, Tokens: []Token{{Name: "wms", Token: whToken}}},
		Console: &Console{
			Admins:      MatchToken([]Token{{Name: "alice", Token: consoleAdminToken}}),
			Key:         []byte("console-test-key-0123456789abcdef"),
			Now:         e.clock,
			Orders:      db,
			DeadLetters: db,
			Health: func(ctx context.Context) (Health, error) {
				counts, err := db.OrdersByStatus(ctx)
				return Health{OrdersByStatus: counts, StripeRate: 20, StripeCeiling: 20, Backlog: &Backlog{Pending: 2}}, err
			},
			Samples: samples,
			CrossSells: &ConsoleCrossSells{Pairs: pairs,
				Report: func(ctx context.Context, window string) (CrossSellReport, error) {
					stats, err := db.CrossSellReport(ctx, pairs, time.Time{})
					return CrossSellReport{Stats: stats}, err
				},
				Check: func(ctx context.Context, automaticTax bool) ([]fulfillment.Eligibility, error) {
					return []fulfillment.Eligibility{fulfillment.CheckCrossSell(pairs[0], nil, nil, automaticTax)}, nil
				}},
			ReplayNote: "The worker publishes them.",
		},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// seed records an order of session for email, its third line a cross-sell
// of the first.
func (e *consoleEnv) seed(t *testing.T, session, email string, i int) fulfillment.Order {
	t.Helper()
	at := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	o := fulfillment.Order{
		ID: fulfillment.OrderID(session), CheckoutSessionID: session, Status: fulfillment.StatusReadyToShip,
		PaymentStatus: fulfillment.PaymentPaid, Mode: "payment", Currency: "eur", AmountSubtotal: 6000, AmountTotal: 6000,
		Customer: fulfillment.Customer{Email: email, Name: "Ada <Lovelace>"}, CreatedAt: at, UpdatedAt: at,
	}
	for j, s := range []string{"a", "b", "c"} {
		o.LineItems = append(o.LineItems, fulfillment.LineItem{ID: "li_" + session + "_" + s, ProductID: "prod_" + s,
			Description: "Item " + s, Quantity: int64(j + 1), Currency: "eur", AmountSubtotal: 2000, AmountTotal: 2000})
	}
	o.LineItems[2].CrossSell, o.LineItems[2].CrossSellOf = true, "prod_a"
	got, _, err := e.db.Record(context.Background(), "evt_seed_"+session, fulfillment.EventSessionCompleted, o)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// browser is a client with a cookie jar that does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string // from the last page with a form
}

func (e *consoleEnv) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: e.url, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page_ struct {
	status int
	header http.Header
	body   string
}

var (
	csrfField     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	inlineHandler = regexp.MustCompile(`\son[a-z]+=`)
)

func (b *browser) do(method, path string, form url.Values, header map[string]string) page_ {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindStringSubmatch(string(raw)); m != nil {
		b.csrf = m[1]
	}
	return page_{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (b *browser) get(path string) page_ { return b.do(http.MethodGet, path, nil, nil) }

// post sends form with the browser's CSRF token (unless form sets one).
func (b *browser) post(path string, form url.Values) page_ {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	return b.do(http.MethodPost, path, form, nil)
}

func (b *browser) signIn(token string) page_ {
	b.t.Helper()
	if p := b.get("/console/sign-in"); p.status != http.StatusOK {
		b.t.Fatalf("sign-in page: %d", p.status)
	}
	return b.post("/console/sign-in", url.Values{"token": {token}, "next": {"/console/"}})
}

func TestConsoleSignIn(t *testing.T) {
	t.Parallel()
	e := newConsoleEnv(t)
	b := e.browser(t)

	if p := b.get("/console/"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/sign-in?next=%2Fconsole%2F" {
		t.Fatalf("no session: %d %s", p.status, p.header.Get("Location"))
	}
	p := b.get("/console/sign-in")
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "same-origin",
		"Content-Type":            "text/html; charset=utf-8",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(p.body, `<label for="token">`) || b.csrf == "" {
		t.Fatalf("sign-in form:\n%s", p.body)
	}

	for _, tc := range []struct {
		name, token string
		form        url.Values
		status      int
	}{
		{"warehouse token", whToken, nil, http.StatusUnauthorized},
		{"unknown token", "nope", nil, http.StatusUnauthorized},
		{"no CSRF token", consoleAdminToken, url.Values{"csrf": {""}}, http.StatusForbidden},
		{"bad CSRF token", consoleAdminToken, url.Values{"csrf": {"forged"}}, http.StatusForbidden},
	} {
		f := url.Values{"token": {tc.token}}
		for k, v := range tc.form {
			f[k] = v
		}
		if p := b.post("/console/sign-in", f); p.status != tc.status || p.header.Get("Set-Cookie") != "" {
			t.Errorf("%s: %d (cookie %q), want %d", tc.name, p.status, p.header.Get("Set-Cookie"), tc.status)
		}
	}
	if p := b.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("refused sign-ins made a session: %d", p.status)
	}

	p = b.do(http.MethodPost, "/console/sign-in", url.Values{"csrf": {b.csrf}, "token": {consoleAdminToken}, "next": {"https://evil.example/"}},
		map[string]string{"X-Forwarded-Proto": "https"})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
		t.Fatalf("sign in: %d %s", p.status, p.header.Get("Location"))
	}
	ck := p.header.Get("Set-Cookie")
	for _, attr := range []string{"fulfillmentd_console=", "Path=/console/", "Max-Age=43200", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(ck, attr) {
			t.Errorf("session cookie %q lacks %s", ck, attr)
		}
	}
	// Over plain HTTP without the proxy's header the cookie is not Secure
	// (the jar would not send it back otherwise).
	b2 := e.browser(t)
	p = b2.signIn(consoleAdminToken)
	if ck := p.header.Get("Set-Cookie"); p.status != http.StatusSeeOther || strings.Contains(ck, "Secure") {
		t.Fatalf("plain HTTP sign in: %d %q", p.status, ck)
	}
	if p := b2.get("/console/"); p.status != http.StatusOK || !strings.Contains(p.body, "alice") {
		t.Fatalf("signed in: %d", p.status)
	}

	// 12 h idle: signed out; a request within renews the idle mark.
	e.advance(11 * time.Hour)
	if p := b2.get("/console/"); p.status != http.StatusOK || !strings.Contains(p.header.Get("Set-Cookie"), "fulfillmentd_console=") {
		t.Fatalf("after 11 h: %d, cookie %q", p.status, p.header.Get("Set-Cookie"))
	}
	e.advance(11 * time.Hour)
	if p := b2.get("/console/"); p.status != http.StatusOK {
		t.Fatalf("11 h after the last request: %d", p.status)
	}
	e.advance(12 * time.Hour)
	if p := b2.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("12 h idle: %d, want a redirect to sign in", p.status)
	}

	b3 := e.browser(t)
	b3.signIn(consoleAdminToken)
	b3.get("/console/")
	if p := b3.post("/console/sign-out", url.Values{"csrf": {"forged"}}); p.status != http.StatusForbidden {
		t.Errorf("sign out with a bad CSRF token: %d", p.status)
	}
	if p := b3.post("/console/sign-out", nil); p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("sign out: %d %q", p.status, p.header.Get("Set-Cookie"))
	}
	if p := b3.get("/console/"); p.status != http.StatusSeeOther {
		t.Errorf("after sign out: %d", p.status)
	}
}

func TestConsoleOff(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(NewHandler(Deps{API: &API{}}))
	defer srv.Close()
	for _, path := range []string{"/console/", "/console/sign-in"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s without admin tokens: %d", path, resp.StatusCode)
		}
	}
}

func TestConsolePages(t *testing.T) {
	t.Parallel()
	e := newConsoleEnv(t)
	for i := range 5 {
		e.seed(t, fmt.Sprintf("cs_page_%d", i), fmt.Sprintf("buyer%d@example.com", i%2), i)
	}
	ctx := context.Background()
	if _, err := e.db.ChangeOrder(ctx, "cs_page_3", func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		next, _, created, err := o.Ship(fulfillment.ShipmentRequest{Carrier: "ups", TrackingNumber: "1ZTRACK",
			TrackingURL: "https://ups.example/track?n=1ZTRACK"}, "wms", e.clock())
		return next, created, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.RecordDeadLetter(ctx, fulfillment.DeadLetter{EventID: "evt_dead", EventType: "checkout.session.completed",
		Payload: []byte(`{"id":"evt_dead"}`), Error: "stripe: 500 <boom>", Attempts: 42, LastFailedAt: e.clock(),
		Signatures: fulfillment.Signatures{Stripe: "t=1,v1=00"}}); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn(consoleAdminToken)

	for _, tc := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/console/", 200, []string{`all <span class="count">5</span>`, `ready to ship <span class="count">4</span>`,
			`on hold <span class="count">0</span>`, `shipped <span class="count">1</span>`, "cs_page_4", "★", "EUR 60.00", "Ada &lt;Lovelace&gt;"}},
		{"/console/?q=BUYER1%40example.com", 200, []string{"cs_page_1", "cs_page_3"}},
		{"/console/?q=1ZTRACK", 200, []string{"cs_page_3"}},
		{"/console/?q=cs_page_2", 200, []string{"cs_page_2"}},
		{"/console/?status=shipped", 200, []string{"cs_page_3", `aria-current="page">shipped`}},
		{"/console/?status=nope", 400, []string{"no such status"}},
		{"/console/?before=x", 400, []string{"not a cursor"}},
		{"/console/orders/cs_page_3", 200, []string{"★</span> Item c", "cross-sell of Item a (prod_a)",
			`href="https://ups.example/track?n=1ZTRACK"`, "by warehouse wms", "by stripe event evt_seed_cs_page_3", "1 × Item a"}},
		{"/console/orders/" + fulfillment.OrderID("cs_page_0"), 200, []string{"Hold…", "Cancel the order…"}},
		{"/console/orders/cs_nope", 404, []string{"Not found: cs_nope"}},
		{"/console/orders/cs_page_0/hold", 200, []string{`<label for="note">`, `action="/console/orders/` + fulfillment.OrderID("cs_page_0") + `/hold"`}},
		{"/console/orders/cs_page_0/explode", 404, nil},
		{"/console/dead-letters", 200, []string{"evt_dead", "stripe: 500 &lt;boom&gt;", "Retry all 1"}},
		{"/console/dead-letters/evt_dead", 200, []string{`&#34;id&#34;: &#34;evt_dead&#34;`}},
		{"/console/dead-letters/evt_nope", 404, nil},
		{"/console/deliveries", 200, []string{"No warehouse webhooks configured."}},
		{"/console/overview", 200, []string{"Consumer backlog", "20.0 req/s of 20", "<svg", "periodic reconcile is off"}},
		{"/console/cross-sells", 200, []string{"prod_a → prod_c", "Attach rate", "100.0%"}},
		{"/console/cross-sells?check=1", 200, []string{"INELIGIBLE"}},
		{"/console/static/console.css", 200, []string{"--accent"}},
		{"/console/nope", 404, nil},
	} {
		p := b.get(tc.path)
		if p.status != tc.status {
			t.Errorf("GET %s = %d, want %d\n%s", tc.path, p.status, tc.status, p.body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(p.body, w) {
				t.Errorf("GET %s lacks %q", tc.path, w)
			}
		}
		// The CSP allows no inline style or script: none is there to block.
		if strings.Contains(p.body, " style=") || strings.Contains(p.body, "<script") || inlineHandler.MatchString(p.body) {
			t.Errorf("GET %s has inline style or script", tc.path)
		}
		if p.header.Get("X-Frame-Options") != "DENY" && tc.path != "/console/static/console.css" {
			t.Errorf("GET %s without X-Frame-Options", tc.path)
		}
	}
	// Searches show only what matches.
	if p := b.get("/console/?q=buyer1%40example.com"); strings.Contains(p.body, "cs_page_2") {
		t.Error("email search shows another buyer's order")
	}
	// GETs changed nothing: no order change, no replay.
	if hist, _ := e.db.OrderHistory(ctx, "cs_page_0"); len(hist) != 1 {
		t.Errorf("GETs changed cs_page_0: %+v", hist)
	}
	if rps, _ := e.db.PendingReplays(ctx, 10); len(rps) != 0 {
		t.Errorf("GETs queued replays: %+v", rps)
	}
}

func TestConsoleActions(t *testing.T) {
	t.Parallel()
	e := newConsoleEnv(t)
	ctx := context.Background()
	o := e.seed(t, "cs_act", "ada@example.com", 0)
	for _, id := range []string{"evt_dl1", "evt_dl2"} {
		if err := e.db.RecordDeadLetter(ctx, fulfillment.DeadLetter{EventID: id, EventType: "checkout.session.completed",
			Payload: []byte(`{"id":"` + id + `"}`), Error: "boom", LastFailedAt: e.clock().Add(-48 * time.Hour),
			Signatures: fulfillment.Signatures{Stripe: "t=1,v1=00"}}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(consoleAdminToken)
	b.get("/console/orders/" + o.ID)
	hold := "/console/orders/" + o.ID + "/hold"

	// Refused: no session, a bad or missing CSRF token.
	anon := e.browser(t)
	anon.get("/console/sign-in") // a session that is not signed in, with its own CSRF token
	for name, p := range map[string]page_{
		"no session":      e.browser(t).post(hold, url.Values{"csrf": {b.csrf}}),
		"signed-out form": anon.post(hold, nil),
		"bad CSRF":        b.post(hold, url.Values{"csrf": {"forged"}}),
		"no CSRF":         b.do(http.MethodPost, hold, url.Values{"note": {"x"}}, nil),
		"dead letters":    b.post("/console/dead-letters/retry", url.Values{"csrf": {"forged"}, "all": {"1"}}),
		"purge":           b.post("/console/dead-letters/purge", url.Values{"csrf": {""}, "age": {"1h"}}),
	} {
		if p.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, p.status)
		}
	}
	if got, _ := e.db.Order(ctx, o.ID); got.Status != fulfillment.StatusReadyToShip {
		t.Fatalf("a refused request changed the order: %s", got.Status)
	}

	p := b.post(hold, url.Values{"note": {"check the address"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/orders/"+o.ID {
		t.Fatalf("hold: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	page := b.get("/console/orders/" + o.ID)
	for _, w := range []string{"Hold: order " + o.ID + " is on hold.", "On hold", "check the address", "by admin alice", "Release the hold…"} {
		if !strings.Contains(page.body, w) {
			t.Errorf("held order page lacks %q", w)
		}
	}
	if p := b.post("/console/orders/"+o.ID+"/release", nil); p.status != http.StatusSeeOther {
		t.Fatalf("release: %d", p.status)
	}
	if got, _ := e.db.Order(ctx, o.ID); got.Status != fulfillment.StatusReadyToShip {
		t.Errorf("released: %s", got.Status)
	}
	if p := b.post("/console/orders/"+o.ID+"/release", nil); p.status != http.StatusConflict || !strings.Contains(p.body, "not on hold") {
		t.Errorf("release twice: %d", p.status)
	}
	if p := b.post(hold, url.Values{"note": {strings.Repeat("x", 501)}}); p.status != http.StatusUnprocessableEntity {
		t.Errorf("note too long: %d", p.status)
	}
	if p := b.post("/console/orders/"+o.ID+"/cancel", url.Values{"note": {"buyer asked"}}); p.status != http.StatusSeeOther {
		t.Fatalf("cancel: %d", p.status)
	}
	got, _ := e.db.Order(ctx, o.ID)
	if got.Status != fulfillment.StatusCanceled || got.CancelReason != fulfillment.CancelMerchant || got.CancelNote != "buyer asked" {
		t.Errorf("canceled: %s %s %q", got.Status, got.CancelReason, got.CancelNote)
	}
	hist, _ := e.db.OrderHistory(ctx, o.ID)
	if len(hist) != 4 || hist[0].By != (fulfillment.Actor{Kind: fulfillment.ActorAdmin, Name: "alice"}) {
		t.Errorf("history: %+v", hist)
	}

	// Dead letters: one, then all, through the replay queue.
	b.get("/console/dead-letters")
	if p := b.post("/console/dead-letters/retry", url.Values{"id": {"evt_dl1"}}); p.status != http.StatusSeeOther {
		t.Fatalf("retry one: %d", p.status)
	}
	if p := b.get("/console/dead-letters"); !strings.Contains(p.body, "1 queued for replay. The worker publishes them.") || !strings.Contains(p.body, "queued") {
		t.Errorf("after retry:\n%s", p.body)
	}
	b.post("/console/dead-letters/retry", url.Values{"all": {"1"}})
	if p := b.get("/console/dead-letters"); !strings.Contains(p.body, "1 queued for replay, 1 already queued.") {
		t.Errorf("after retry all:\n%s", p.body)
	}
	rps, _ := e.db.PendingReplays(ctx, 10)
	if len(rps) != 2 || rps[0].Reason != "dlq retry" {
		t.Errorf("replays: %+v", rps)
	}
	if p := b.post("/console/dead-letters/purge", url.Values{"age": {"720h"}}); p.status != http.StatusSeeOther {
		t.Fatalf("purge: %d", p.status)
	}
	if dls, _ := e.db.DeadLetters(ctx); len(dls) != 2 {
		t.Errorf("purge of 30 days purged 2-day-old dead letters: %d left", len(dls))
	}
	b.post("/console/dead-letters/purge", url.Values{"age": {"24h"}})
	if dls, _ := e.db.DeadLetters(ctx); len(dls) != 0 {
		t.Errorf("purge 24h left %d", len(dls))
	}
	if p := b.post("/console/dead-letters/purge", url.Values{"age": {"soon"}}); p.status != http.StatusUnprocessableEntity {
		t.Errorf("purge with a bad age: %d", p.status)
	}
	if p := b.post("/console/deliveries/retry", url.Values{"id": {"1"}}); p.status != http.StatusConflict {
		t.Errorf("delivery retry without webhooks: %d", p.status)
	}
}
