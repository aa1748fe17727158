package httpapi

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// BenchmarkConsolePages renders the console's pages over a database of
// 100,000 orders (300,000 line items, 10,000 shipments, one history row
// each), as a signed-in admin: the server time of one page. The searches
// are index lookups (migration 0009); README "Console" has the figures.
func BenchmarkConsolePages(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "fulfillment.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on&_busy_timeout=5000")
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO orders (id, checkout_session_id, status, payment_status, currency, amount_subtotal, amount_total,
			customer_email, customer_name, created_at, updated_at, change_seq)
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
			SELECT 'ord_' || i, 'cs_' || i,
				CASE i % 10 WHEN 0 THEN 'shipped' WHEN 1 THEN 'awaiting_payment' WHEN 2 THEN 'on_hold' WHEN 3 THEN 'canceled' ELSE 'ready_to_ship' END,
				'paid', 'eur', 6000, 6000, 'buyer' || (i % 5000) || '@example.com', 'Buyer ' || i,
				printf('2025-01-01T00:00:%02d.%09dZ', i % 60, i), printf('2025-01-01T00:00:%02d.%09dZ', i % 60, i), i FROM n`,
		`INSERT INTO line_items (order_id, position, id, product_id, description, quantity, currency, amount_total, cross_sell, cross_sell_of)
			SELECT id, p.pos, 'li_' || change_seq || '_' || p.pos, 'prod_' || p.pos, 'Item ' || p.pos, 1, 'eur', 2000,
				p.pos = 2 AND change_seq % 3 = 0, CASE WHEN p.pos = 2 AND change_seq % 3 = 0 THEN 'prod_0' ELSE '' END
			FROM orders, (SELECT 0 AS pos UNION ALL SELECT 1 UNION ALL SELECT 2) p`,
		`INSERT INTO shipments (order_id, position, id, carrier, tracking_number, token_name, created_at)
			SELECT id, 0, 'shp_' || change_seq, 'UPS', '1Z' || change_seq, 'wms', created_at FROM orders WHERE status = 'shipped'`,
		`INSERT INTO order_history (order_id, change_seq, at, status, what, by_kind, by_name)
			SELECT id, change_seq, updated_at, status, 'created ' || status, 'stripe_event', 'evt_' || change_seq FROM orders`,
		`ANALYZE`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	_ = raw.Close()
	h := NewHandler(Deps{Log: slog.New(slog.DiscardHandler), Console: &Console{
		Admins: MatchToken([]Token{{Name: "alice", Token: consoleAdminToken}}), Key: []byte("console-bench-key-0123456789abcdef"),
		Orders: db, DeadLetters: db,
		Health: func(ctx context.Context) (Health, error) {
			s, err := db.Stats(ctx)
			h := Health{OrdersByStatus: s.OrdersByStatus, DeadLetters: s.DeadLetters}
			if o, ok, err := db.OldestAwaitingPayment(ctx); err == nil && ok {
				h.OldestAwaiting = &o
			}
			return h, err
		},
		Samples: NewSamples(func() Reading { return Reading{} }),
		CrossSells: &ConsoleCrossSells{
			Pairs: []fulfillment.CrossSellPair{{Base: "prod_0", CrossSell: "prod_2"}},
			Report: func(ctx context.Context, window string) (CrossSellReport, error) {
				stats, err := db.CrossSellReport(ctx, []fulfillment.CrossSellPair{{Base: "prod_0", CrossSell: "prod_2"}}, time.Time{})
				return CrossSellReport{Stats: stats}, err
			},
		},
	}})
	cookie := benchSignIn(b, h)
	for _, p := range []struct{ name, path, want string }{
		{"orders", "/console/", "cs_100000"},
		{"orders_on_hold", "/console/?status=on_hold", "cs_99992"},
		{"orders_page_500", "/console/?before=75000", "cs_74999"},
		{"search_email", "/console/?q=BUYER42%40example.com", "cs_95042"},
		{"search_tracking", "/console/?q=1Z50000", "cs_50000"},
		{"search_session", "/console/?q=cs_77777", "cs_77777"},
		{"order", "/console/orders/cs_77778", "cross-sell of"},
		{"overview", "/console/overview", "Oldest awaiting payment"},
		{"dead_letters", "/console/dead-letters", "No dead letters"},
		{"cross_sells_all_orders", "/console/cross-sells?since=all", "prod_0 → prod_2"},
	} {
		b.Run(p.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, p.path, nil)
			req.AddCookie(cookie)
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), p.want) {
					b.Fatalf("GET %s: %d, want %q in\n%.2000s", p.path, w.Code, p.want, w.Body.String())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
		})
	}
}

func benchSignIn(b *testing.B, h http.Handler) *http.Cookie {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/console/sign-in", nil))
	anon := w.Result().Cookies()[0]
	csrf := csrfField.FindStringSubmatch(w.Body.String())[1]
	req := httptest.NewRequest(http.MethodPost, "/console/sign-in", strings.NewReader(url.Values{"csrf": {csrf}, "token": {consoleAdminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(anon)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther {
		b.Fatalf("sign in: %d", w.Code)
	}
	c := w.Result().Cookies()[0]
	c.MaxAge = 0
	return c
}
