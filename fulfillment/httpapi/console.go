package httpapi

import (
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// The operator console: server-rendered HTML pages under /console/ for the
// people who run fulfillmentd (README "Console"). Its routes are listed in
// routes.go (consoleRoutes). It signs admins in with an admin token and
// keeps them in a signed cookie; every state-changing request is a POST
// with the session's CSRF token; GETs change nothing. It changes orders
// only through ConsoleOrders.ChangeOrder with the domain's merchant
// transitions, and retries dead letters through the replay queue, as
// `fulfillmentd dlq retry` does.

//go:embed console/templates/*.html console/static/*
var consoleFiles embed.FS

// Console is what /console/ needs. A nil Console: no /console/ (404).
type Console struct {
	// Admins names the admin whose token raw is (MatchToken over the
	// admin tokens): only those sign in, never a warehouse token.
	Admins func(raw string) (name string, ok bool)
	// Key signs the session cookies and CSRF tokens (32 bytes or more):
	// every process serving the same console must share it.
	Key []byte
	Now func() time.Time // nil: time.Now

	Orders      ConsoleOrders
	DeadLetters ConsoleDeadLetters
	// Deliveries nil: no warehouse webhooks configured.
	Deliveries ConsoleDeliveries
	// Health reads what the overview shows besides its charts.
	Health func(ctx context.Context) (Health, error)
	// Samples are the overview's per-minute charts; nil: none.
	Samples *Samples
	// CrossSells nil: FULFILLMENT_CROSS_SELLS is not set.
	CrossSells *ConsoleCrossSells
	// ReplayNote says who publishes queued replays (shown after a retry).
	ReplayNote string
}

// ConsoleOrders is what the console reads and changes orders with.
type ConsoleOrders interface {
	SearchOrders(ctx context.Context, s fulfillment.OrderSearch) (fulfillment.SummaryPage, error)
	OrdersByStatus(ctx context.Context) (map[fulfillment.Status]int64, error)
	Order(ctx context.Context, id string) (fulfillment.Order, error)
	OrderHistory(ctx context.Context, id string) ([]fulfillment.HistoryEntry, error)
	ChangeOrder(ctx context.Context, id string, change func(fulfillment.Order) (fulfillment.Order, bool, error)) (fulfillment.Order, error)
}

// ConsoleDeadLetters is what the dead-letters pages need: the store's dead
// letters and its replay queue.
type ConsoleDeadLetters interface {
	DeadLetters(ctx context.Context) ([]fulfillment.DeadLetter, error)
	DeadLetter(ctx context.Context, eventID string) (fulfillment.DeadLetter, error)
	Replays(ctx context.Context, eventID string) ([]fulfillment.Replay, error)
	PendingReplays(ctx context.Context, limit int) ([]fulfillment.Replay, error)
	RetryDeadLetter(ctx context.Context, eventID string, at time.Time) (fulfillment.Replay, bool, error)
	PurgeDeadLetters(ctx context.Context, before time.Time) (int64, error)
}

// ConsoleDeliveries is what the deliveries page needs of the outbound
// warehouse webhooks.
type ConsoleDeliveries interface {
	// FailedAndPending lists the deliveries not delivered (yet).
	FailedAndPending(ctx context.Context) ([]Delivery, error)
	// Retry schedules delivery id again and says what it did.
	Retry(ctx context.Context, id int64) (string, error)
}

// Delivery is one outbound webhook delivery as the console shows it.
type Delivery struct {
	ID        int64
	Endpoint  string
	OrderID   string
	Type      string
	State     string // pending or failed
	Attempts  int
	NextAt    time.Time
	LastAt    time.Time
	LastError string
}

// ConsoleCrossSells runs the cross-sells report and check (the same code
// as `fulfillmentd cross-sells report|check`).
type ConsoleCrossSells struct {
	Pairs []fulfillment.CrossSellPair
	// Report is the report over window (30d, 12h, a date, all).
	Report func(ctx context.Context, window string) (CrossSellReport, error)
	// Check reads the catalog from Stripe (through the shared limiter)
	// and returns each pair's verdict.
	Check func(ctx context.Context, automaticTax bool) ([]fulfillment.Eligibility, error)
}

// CrossSellReport is one run of the cross-sells report.
type CrossSellReport struct {
	Since time.Time // zero: every order
	Until time.Time
	Stats []fulfillment.CrossSellStats
}

// Health is the overview's figures.
type Health struct {
	OrdersByStatus map[fulfillment.Status]int64
	DeadLetters    int64
	ReplaysPending int64
	OutboxPending  int64
	// Backlog is the consumer's: nil when it could not be read.
	Backlog *Backlog
	// StripeRate is the limiter's pace now, StripeCeiling STRIPE_MAX_RPS
	// (0: no ceiling), Stripe429 the rate-limit answers since start.
	StripeRate, StripeCeiling float64
	Stripe429                 int64
	OldestAwaiting            *fulfillment.OrderSummary
	// LastReconcile is this process's last periodic reconcile, nil when
	// none ran; ReconcileEvery 0: periodic reconcile is off.
	LastReconcile  *ReconcileRun
	ReconcileEvery time.Duration
}

// Backlog is the worker consumer's backlog.
type Backlog struct {
	Pending, AckPending, Redelivered uint64
}

// ReconcileRun is one periodic reconcile run.
type ReconcileRun struct {
	At       time.Time
	Duration time.Duration
	Summary  fulfillment.ReconcileSummary
	Err      string
}

// consoleStatuses are the orders page's tabs, in the order of an order's life.
var consoleStatuses = []fulfillment.Status{
	fulfillment.StatusAwaitingPayment, fulfillment.StatusReadyToShip, fulfillment.StatusOnHold,
	fulfillment.StatusInFulfillment, fulfillment.StatusPartiallyShipped, fulfillment.StatusShipped,
	fulfillment.StatusCanceled,
}

func statusLabel(s fulfillment.Status) string {
	switch s {
	case fulfillment.StatusInFulfillment:
		return "in fulfilment"
	case "":
		return "all"
	}
	return strings.ReplaceAll(string(s), "_", " ")
}

// console is the running console: c with its templates and sessions.
type console struct {
	*Console
	log      *slog.Logger
	sessions sessions
	pages    map[string]*template.Template
	static   http.Handler
}

func newConsole(log *slog.Logger, c *Console) *console {
	if c.Now == nil {
		c.Now = time.Now
	}
	funcs := template.FuncMap{
		"money":  fulfillment.FormatAmount,
		"status": statusLabel,
		"stamp":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
		"ago":    func(t time.Time) string { return ago(t, c.Now()) },
		"pct":    func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
		"join":   strings.Join,
		"path":   url.PathEscape,
	}
	cs := &console{Console: c, log: log, sessions: sessions{key: c.Key}, pages: map[string]*template.Template{}}
	pages, err := fs.Glob(consoleFiles, "console/templates/*.html")
	if err != nil {
		panic(err) // the embedded pattern is valid
	}
	for _, p := range pages {
		name := strings.TrimSuffix(p[len("console/templates/"):], ".html")
		if name == "layout" {
			continue
		}
		cs.pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(consoleFiles, "console/templates/layout.html", p))
	}
	static, _ := fs.Sub(consoleFiles, "console/static")
	cs.static = http.StripPrefix("/console/static/", http.FileServerFS(static))
	return cs
}

// page is what every page's template gets.
type page struct {
	Title string
	Nav   string // the nav entry to mark current
	Admin string
	CSRF  string
	Flash string
	Error string
	Data  any
}

// consoleHeaders are on every console answer.
func consoleHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// signedIn is a console handler that runs for a signed-in admin.
type signedIn func(w http.ResponseWriter, r *http.Request, ss session) (page, error)

// view serves a page: without a session, a redirect to the sign-in page.
func (c *console) view(name string, h signedIn) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		consoleHeaders(w.Header())
		ss, ok := c.sessions.read(r, c.Now())
		if !ok || ss.Admin == "" {
			http.Redirect(w, r, "/console/sign-in?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		c.touch(w, r, ss)
		p, err := h(w, r, ss)
		if err != nil {
			c.fail(w, r, ss, err)
			return
		}
		if p.Title == "" { // the handler answered itself
			return
		}
		c.render(w, r, http.StatusOK, name, ss, p)
	})
}

// act serves a state-changing POST: a session and its CSRF token are
// required (403 otherwise); h answers with the URL to see the outcome at
// and a message for it.
func (c *console) act(h func(w http.ResponseWriter, r *http.Request, ss session) (to, flash string, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		consoleHeaders(w.Header())
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		ss, ok := c.sessions.read(r, c.Now())
		if !ok || ss.Admin == "" {
			c.forbidden(w, r, "You are not signed in (or your session expired after 12 hours idle). Sign in again.")
			return
		}
		if !c.sessions.checkCSRF(r, ss) {
			c.forbidden(w, r, "This form is stale or did not come from the console (CSRF token missing or wrong). Reload the page and try again.")
			return
		}
		c.touch(w, r, ss)
		to, flash, err := h(w, r, ss)
		if err != nil {
			c.fail(w, r, ss, err)
			return
		}
		c.flash(w, r, flash)
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
}

// touch renews the session's idle mark once it is a minute old.
func (c *console) touch(w http.ResponseWriter, r *http.Request, ss session) {
	now := c.Now()
	if now.Sub(time.Unix(ss.LastSeen, 0)) >= refreshAfter {
		ss.LastSeen = now.Unix()
		c.sessions.set(w, r, ss)
	}
}

func (c *console) render(w http.ResponseWriter, r *http.Request, status int, name string, ss session, p page) {
	p.Admin = ss.Admin
	p.CSRF = c.sessions.csrf(ss)
	if p.Flash == "" && r.Method == http.MethodGet {
		p.Flash = c.takeFlash(w, r)
	}
	t := c.pages[name]
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		c.log.Error("console: render", "page", name, "error", err.Error())
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail answers err as an error page: a refusal with its status and
// sentence, an unknown order or dead letter 404, anything else 503.
func (c *console) fail(w http.ResponseWriter, r *http.Request, ss session, err error) {
	status, detail, ok := refusalOf(err)
	switch {
	case ok:
	case errors.Is(err, fulfillment.ErrNotFound):
		status, detail = http.StatusNotFound, "Not found: "+r.PathValue("id")
	default:
		level := slog.LevelError
		if errors.Is(err, context.Canceled) {
			level = slog.LevelDebug
		}
		c.log.Log(r.Context(), level, "console request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		status, detail = http.StatusServiceUnavailable, "This is unavailable right now; the error is in the log."
	}
	c.render(w, r, status, "error", ss, page{Title: http.StatusText(status), Error: detail})
}

func (c *console) forbidden(w http.ResponseWriter, r *http.Request, why string) {
	ss, ok := c.sessions.read(r, c.Now())
	if !ok {
		ss = session{}
	}
	c.render(w, r, http.StatusForbidden, "error", ss, page{Title: "Forbidden", Error: why})
}

// The flash: one message for the page an action redirects to, in a
// signed cookie read (and dropped) by that page.
const flashCookie = "fulfillmentd_console_flash"

func (c *console) flash(w http.ResponseWriter, r *http.Request, msg string) {
	if msg == "" {
		return
	}
	v := base64.RawURLEncoding.EncodeToString([]byte(msg))
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: v + "." + fmt.Sprintf("%x", c.sessions.mac("flash", []byte(v))),
		Path: "/console/", MaxAge: 60, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

func (c *console) takeFlash(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/console/", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
	v, sig, ok := strings.Cut(ck.Value, ".")
	if !ok || sig != fmt.Sprintf("%x", c.sessions.mac("flash", []byte(v))) {
		return ""
	}
	msg, _ := base64.RawURLEncoding.DecodeString(v)
	return string(msg)
}

// localPath is next if it is a path of the console, else the orders page:
// the sign-in page never sends anyone elsewhere.
func localPath(next string) string {
	if strings.HasPrefix(next, "/console/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/console/"
}
