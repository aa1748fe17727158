package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// signInPage is GET /console/sign-in: the form, with a session that is not
// signed in yet (for its CSRF token). Signed in already: on to next.
func (c *console) signInPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		consoleHeaders(w.Header())
		next := localPath(r.URL.Query().Get("next"))
		ss, ok := c.sessions.read(r, c.Now())
		if ok && ss.Admin != "" {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		if !ok {
			ss = newSession("", c.Now())
			c.sessions.set(w, r, ss)
		}
		c.render(w, r, http.StatusOK, "signin", ss, page{Title: "Sign in", Data: next})
	})
}

// signIn is POST /console/sign-in: an admin token starts a session (a new
// one: a session id is never carried over a sign-in). Any other token,
// warehouse tokens included, is refused.
func (c *console) signIn(refusedSignIn *logSampler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		consoleHeaders(w.Header())
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		ss, ok := c.sessions.read(r, c.Now())
		if !ok || !c.sessions.checkCSRF(r, ss) {
			c.forbidden(w, r, "This sign-in form is stale or did not come from the console (CSRF token missing or wrong). Open the sign-in page again.")
			return
		}
		next := localPath(r.PostFormValue("next"))
		name, ok := c.Admins(strings.TrimSpace(r.PostFormValue("token")))
		if !ok {
			refusedSignIn.Warn("console sign-in refused: not an admin token", "remote", r.RemoteAddr)
			c.render(w, r, http.StatusUnauthorized, "signin", ss, page{Title: "Sign in", Data: next,
				Error: "That is not an admin token (FULFILLMENT_ADMIN_TOKEN). Warehouse API tokens cannot sign in."})
			return
		}
		c.sessions.set(w, r, newSession(name, c.Now()))
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
}

// signOut is POST /console/sign-out.
func (c *console) signOut() http.Handler {
	return c.act(func(w http.ResponseWriter, r *http.Request, _ session) (string, string, error) {
		c.sessions.clear(w, r)
		return "/console/sign-in", "", nil
	})
}

// tab is one status tab of the orders page.
type tab struct {
	Label   string
	Count   int64
	URL     string
	Current bool
}

type ordersData struct {
	Tabs     []tab
	Status   fulfillment.Status
	Query    string
	Orders   []fulfillment.OrderSummary
	Older    string // URL of the next (older) page, "" on the last
	Newest   string // URL of the first page, "" on it
	Statuses []fulfillment.Status
}

// ordersPage is GET /console/: orders by status tab and search, the latest
// change first, in keyset pages.
func (c *console) ordersPage() http.Handler {
	return c.view("orders", func(w http.ResponseWriter, r *http.Request, _ session) (page, error) {
		q := r.URL.Query()
		status := fulfillment.Status(q.Get("status"))
		if status != "" && !status.Valid() {
			return page{}, fulfillment.Errorf(fulfillment.CodeBadRequest, "status: no such status %q", status)
		}
		query := strings.TrimSpace(q.Get("q"))
		counts, err := c.Orders.OrdersByStatus(r.Context())
		if err != nil {
			return page{}, err
		}
		res, err := c.Orders.SearchOrders(r.Context(), fulfillment.OrderSearch{Status: status, Query: query,
			Before: q.Get("before"), Limit: 50})
		if err != nil {
			return page{}, err
		}
		link := func(st fulfillment.Status, before string) string {
			v := url.Values{}
			if st != "" {
				v.Set("status", string(st))
			}
			if query != "" {
				v.Set("q", query)
			}
			if before != "" {
				v.Set("before", before)
			}
			if len(v) == 0 {
				return "/console/"
			}
			return "/console/?" + v.Encode()
		}
		var total int64
		for _, n := range counts {
			total += n
		}
		d := ordersData{Status: status, Query: query, Orders: res.Orders, Statuses: consoleStatuses}
		d.Tabs = append(d.Tabs, tab{Label: "all", Count: total, URL: link("", ""), Current: status == ""})
		for _, st := range consoleStatuses {
			d.Tabs = append(d.Tabs, tab{Label: statusLabel(st), Count: counts[st], URL: link(st, ""), Current: st == status})
		}
		if res.Next != "" {
			d.Older = link(status, res.Next)
		}
		if q.Get("before") != "" {
			d.Newest = link(status, "")
		}
		title := "Orders"
		if query != "" {
			title = "Orders matching " + query
		}
		return page{Title: title, Nav: "orders", Data: d}, nil
	})
}

// line is a line item as the order page shows it.
type line struct {
	fulfillment.LineItem
	BaseName string // the base product's line description, when in the order
}

// action is a merchant action the order page offers.
type action struct {
	Name  string // hold, release, cancel
	Label string
	Note  bool // takes a note
	act   merchantAction
}

type orderData struct {
	Order     fulfillment.Order
	Lines     []line
	History   []fulfillment.HistoryEntry
	Actions   []action
	LineNames map[string]string
	Action    *action // the confirmation page's
}

// merchantActions are the actions of the console: the merchant API's
// (merchant.go), with the admin's name.
var merchantActions = []action{
	{Name: "hold", Label: "Hold", Note: true, act: holdByMerchant},
	{Name: "release", Label: "Release the hold", act: releaseByMerchant},
	{Name: "cancel", Label: "Cancel the order", Note: true, act: cancelByMerchant},
}

// transition is a's domain transition with note, by the admin by at at.
func (a action) transition(note, by string, at time.Time) func(fulfillment.Order) (fulfillment.Order, bool, error) {
	return func(o fulfillment.Order) (fulfillment.Order, bool, error) { return a.act(o, note, by, at) }
}

func findAction(name string) (action, bool) {
	i := slices.IndexFunc(merchantActions, func(a action) bool { return a.Name == name })
	if i < 0 {
		return action{}, false
	}
	return merchantActions[i], true
}

func (c *console) orderData(r *http.Request, ss session) (orderData, error) {
	id := r.PathValue("id")
	o, err := c.Orders.Order(r.Context(), id)
	if err != nil {
		return orderData{}, err
	}
	hist, err := c.Orders.OrderHistory(r.Context(), o.ID)
	if err != nil {
		return orderData{}, err
	}
	d := orderData{Order: o, History: hist, LineNames: map[string]string{}}
	names := map[string]string{}
	for _, li := range o.LineItems {
		if _, ok := names[li.ProductID]; !ok {
			names[li.ProductID] = li.Description
		}
		d.LineNames[li.ID] = li.Description
	}
	for _, li := range o.LineItems {
		d.Lines = append(d.Lines, line{LineItem: li, BaseName: names[li.CrossSellOf]})
	}
	// An action is offered when the domain's rule would take it: the
	// console decides nothing itself.
	for _, a := range merchantActions {
		if next, changed, err := a.transition("", ss.Admin, c.Now())(o); err == nil && (changed || a.Name == "hold" && next.Hold.Has(fulfillment.HoldMerchant)) {
			d.Actions = append(d.Actions, a)
		}
	}
	return d, nil
}

// orderPage is GET /console/orders/{id}.
func (c *console) orderPage() http.Handler {
	return c.view("order", func(w http.ResponseWriter, r *http.Request, ss session) (page, error) {
		d, err := c.orderData(r, ss)
		if err != nil {
			return page{}, err
		}
		return page{Title: "Order " + d.Order.ID, Nav: "orders", Data: d}, nil
	})
}

// confirmPage is GET /console/orders/{id}/{action}: the confirmation step
// of an action (it changes nothing).
func (c *console) confirmPage() http.Handler {
	return c.view("confirm", func(w http.ResponseWriter, r *http.Request, ss session) (page, error) {
		a, ok := findAction(r.PathValue("action"))
		if !ok {
			return page{}, fulfillment.ErrNotFound
		}
		d, err := c.orderData(r, ss)
		if err != nil {
			return page{}, err
		}
		d.Action = &a
		return page{Title: a.Label + ": " + d.Order.ID, Nav: "orders", Data: d}, nil
	})
}

// orderAction is POST /console/orders/{id}/{action}: hold, release or
// cancel, through ChangeOrder with the domain's transition.
func (c *console) orderAction() http.Handler {
	return c.act(func(w http.ResponseWriter, r *http.Request, ss session) (string, string, error) {
		a, ok := findAction(r.PathValue("action"))
		if !ok {
			return "", "", fulfillment.ErrNotFound
		}
		id := r.PathValue("id")
		o, err := c.Orders.ChangeOrder(r.Context(), id, a.transition(r.PostFormValue("note"), ss.Admin, c.Now()))
		if err != nil {
			return "", "", err
		}
		return "/console/orders/" + url.PathEscape(o.ID), fmt.Sprintf("%s: order %s is %s.", a.Label, o.ID, statusLabel(o.Status)), nil
	})
}

type deadLetterRow struct {
	fulfillment.DeadLetter
	Pending bool
}

type deadLettersData struct {
	Letters []deadLetterRow
	Ages    []string
}

// purgeAges are the ages the purge form offers (Go durations).
var purgeAges = []string{"24h", "168h", "720h", "2160h"}

// deadLettersPage is GET /console/dead-letters.
func (c *console) deadLettersPage() http.Handler {
	return c.view("deadletters", func(w http.ResponseWriter, r *http.Request, _ session) (page, error) {
		dls, err := c.DeadLetters.DeadLetters(r.Context())
		if err != nil {
			return page{}, err
		}
		pending, err := c.DeadLetters.PendingReplays(r.Context(), 10_000)
		if err != nil {
			return page{}, err
		}
		queued := map[string]bool{}
		for _, rp := range pending {
			queued[rp.EventID] = true
		}
		d := deadLettersData{Ages: purgeAges}
		for _, dl := range dls {
			d.Letters = append(d.Letters, deadLetterRow{DeadLetter: dl, Pending: queued[dl.EventID]})
		}
		return page{Title: "Dead letters", Nav: "dead-letters", Data: d}, nil
	})
}

type deadLetterData struct {
	Letter  fulfillment.DeadLetter
	Body    string
	Replays []fulfillment.Replay
}

// deadLetterPage is GET /console/dead-letters/{id}: the error, attempts,
// replays and the event body.
func (c *console) deadLetterPage() http.Handler {
	return c.view("deadletter", func(w http.ResponseWriter, r *http.Request, _ session) (page, error) {
		id := r.PathValue("id")
		dl, err := c.DeadLetters.DeadLetter(r.Context(), id)
		if err != nil {
			return page{}, err
		}
		rps, err := c.DeadLetters.Replays(r.Context(), id)
		if err != nil {
			return page{}, err
		}
		var body bytes.Buffer
		if json.Indent(&body, dl.Payload, "", "  ") != nil {
			body.Reset()
			body.WriteString(strconv.Quote(string(dl.Payload)))
		}
		return page{Title: "Dead letter " + dl.EventID, Nav: "dead-letters", Data: deadLetterData{Letter: dl, Body: body.String(), Replays: rps}}, nil
	})
}

// retryDeadLetters is POST /console/dead-letters/retry: the events named
// (id, repeated) or every dead letter (all) queued for replay, each with
// RetryDeadLetter as `fulfillmentd dlq retry` does.
func (c *console) retryDeadLetters() http.Handler {
	return c.act(func(w http.ResponseWriter, r *http.Request, _ session) (string, string, error) {
		if err := r.ParseForm(); err != nil {
			return "", "", fulfillment.Errorf(fulfillment.CodeBadRequest, "form: %v", err)
		}
		ids := r.PostForm["id"]
		if r.PostFormValue("all") != "" {
			dls, err := c.DeadLetters.DeadLetters(r.Context())
			if err != nil {
				return "", "", err
			}
			ids = ids[:0]
			for _, dl := range dls {
				ids = append(ids, dl.EventID)
			}
		}
		if len(ids) == 0 {
			return "/console/dead-letters", "Nothing to retry.", nil
		}
		queued, already, gone := 0, 0, 0
		for _, id := range ids {
			_, isNew, err := c.DeadLetters.RetryDeadLetter(r.Context(), id, c.Now())
			switch {
			case errors.Is(err, fulfillment.ErrNotFound):
				gone++
			case err != nil:
				return "", "", err
			case isNew:
				queued++
			default:
				already++
			}
		}
		msg := fmt.Sprintf("%d queued for replay", queued)
		if already > 0 {
			msg += fmt.Sprintf(", %d already queued", already)
		}
		if gone > 0 {
			msg += fmt.Sprintf(", %d no longer dead letters", gone)
		}
		return "/console/dead-letters", msg + ". " + c.ReplayNote, nil
	})
}

// purgeDeadLetters is POST /console/dead-letters/purge: forget the dead
// letters whose last failure is older than age.
func (c *console) purgeDeadLetters() http.Handler {
	return c.act(func(w http.ResponseWriter, r *http.Request, _ session) (string, string, error) {
		age, err := time.ParseDuration(r.PostFormValue("age"))
		if err != nil || age <= 0 {
			return "", "", fulfillment.Errorf(fulfillment.CodeInvalid, "age: want a duration such as 720h")
		}
		before := c.Now().Add(-age)
		n, err := c.DeadLetters.PurgeDeadLetters(r.Context(), before)
		if err != nil {
			return "", "", err
		}
		return "/console/dead-letters", fmt.Sprintf("Purged %d dead letters whose last failure is before %s.", n, before.UTC().Format(time.RFC3339)), nil
	})
}

type endpointDeliveries struct {
	Endpoint        string
	Failed, Pending int
	Deliveries      []Delivery
}

type deliveriesData struct {
	Configured bool
	Endpoints  []*endpointDeliveries
}

// deliveriesPage is GET /console/deliveries: failed and pending outbound
// webhook deliveries, per endpoint.
func (c *console) deliveriesPage() http.Handler {
	return c.view("deliveries", func(w http.ResponseWriter, r *http.Request, _ session) (page, error) {
		p := page{Title: "Deliveries", Nav: "deliveries", Data: deliveriesData{}}
		if c.Deliveries == nil {
			return p, nil
		}
		ds, err := c.Deliveries.FailedAndPending(r.Context())
		if err != nil {
			return page{}, err
		}
		var eps []*endpointDeliveries
		byName := map[string]*endpointDeliveries{}
		for _, d := range ds {
			e := byName[d.Endpoint]
			if e == nil {
				e = &endpointDeliveries{Endpoint: d.Endpoint}
				byName[d.Endpoint] = e
				eps = append(eps, e)
			}
			e.Deliveries = append(e.Deliveries, d)
			if d.State == "failed" {
				e.Failed++
			} else {
				e.Pending++
			}
		}
		p.Data = deliveriesData{Configured: true, Endpoints: eps}
		return p, nil
	})
}

// retryDelivery is POST /console/deliveries/retry.
func (c *console) retryDelivery() http.Handler {
	return c.act(func(w http.ResponseWriter, r *http.Request, _ session) (string, string, error) {
		if c.Deliveries == nil {
			return "", "", fulfillment.Errorf(fulfillment.CodeConflict, "no warehouse webhooks are configured")
		}
		id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
		if err != nil {
			return "", "", fulfillment.Errorf(fulfillment.CodeBadRequest, "id: not a delivery id")
		}
		msg, err := c.Deliveries.Retry(r.Context(), id)
		if err != nil {
			return "", "", err
		}
		return "/console/deliveries", msg, nil
	})
}

type statusCount struct {
	Status fulfillment.Status
	Count  int64
}

type overviewData struct {
	Health   Health
	Statuses []statusCount
	Webhooks chart
	Events   chart
	Backlog  chart
	Pace     chart
	Limited  chart
	Minutes  int
}

// overviewPage is GET /console/overview: the pipeline's health, with
// charts of the last hour from Samples.
func (c *console) overviewPage() http.Handler {
	return c.view("overview", func(w http.ResponseWriter, r *http.Request, _ session) (page, error) {
		h, err := c.Health(r.Context())
		if err != nil {
			return page{}, err
		}
		d := overviewData{Health: h}
		for _, st := range consoleStatuses {
			d.Statuses = append(d.Statuses, statusCount{Status: st, Count: h.OrdersByStatus[st]})
		}
		var samples []Sample
		if c.Samples != nil {
			samples = c.Samples.Hour(c.Now())
		}
		d.Minutes = len(samples)
		d.Webhooks = stackedChart("Webhooks", "deliveries", samples, func(s Sample) map[string]float64 { return s.Webhooks })
		d.Events = stackedChart("Events processed", "events", samples, func(s Sample) map[string]float64 { return s.Events })
		d.Backlog = lineChart("Consumer backlog", "events", samples, func(s Sample) float64 { return s.Backlog }, 0)
		d.Pace = lineChart("Stripe pace", "req/s", samples, func(s Sample) float64 { return s.StripeRate }, h.StripeCeiling)
		d.Limited = stackedChart("Stripe 429s", "answers", samples, func(s Sample) map[string]float64 {
			return map[string]float64{"rate_limited": s.Stripe429}
		})
		return page{Title: "Overview", Nav: "overview", Data: d}, nil
	})
}

type crossSellsData struct {
	Configured   bool
	Window       string
	Windows      []string
	Report       CrossSellReport
	Chart        barsChart
	Checked      bool
	AutomaticTax bool
	Verdicts     []fulfillment.Eligibility
	Ineligible   int
	CheckError   string
}

// reportWindows are the windows the report form offers (cross-sells
// report --since).
var reportWindows = []string{"24h", "7d", "30d", "90d", "all"}

// crossSellsPage is GET /console/cross-sells?since=30d[&check=1]: the
// report for the window, and, when asked, the check's verdicts (Stripe
// calls through the shared limiter; it changes nothing).
func (c *console) crossSellsPage() http.Handler {
	return c.view("crosssells", func(w http.ResponseWriter, r *http.Request, _ session) (page, error) {
		p := page{Title: "Cross-sells", Nav: "cross-sells"}
		d := crossSellsData{Windows: reportWindows, Window: r.URL.Query().Get("since")}
		if d.Window == "" {
			d.Window = "30d"
		}
		if c.CrossSells == nil {
			p.Data = d
			return p, nil
		}
		d.Configured = true
		rep, err := c.CrossSells.Report(r.Context(), d.Window)
		if err != nil {
			return page{}, err
		}
		d.Report = rep
		var labels []string
		var shares []float64
		for _, s := range rep.Stats {
			l := s.Base + " → " + s.CrossSell
			if s.Currency != "" {
				l += " (" + strings.ToUpper(s.Currency) + ")"
			}
			labels = append(labels, l)
			shares = append(shares, s.AttachRate())
		}
		d.Chart = attachChart("Attach rate", labels, shares)
		if r.URL.Query().Get("check") != "" {
			d.Checked = true
			d.AutomaticTax = r.URL.Query().Get("automatic_tax") != ""
			vs, err := c.CrossSells.Check(r.Context(), d.AutomaticTax)
			if err != nil {
				d.CheckError = err.Error()
			}
			d.Verdicts = vs
			for _, v := range vs {
				if !v.Eligible {
					d.Ineligible++
				}
			}
		}
		p.Data = d
		return p, nil
	})
}

// errorPage is the console's 404 for paths it does not have.
func (c *console) notFoundPage() http.Handler {
	return c.view("error", func(w http.ResponseWriter, r *http.Request, _ session) (page, error) {
		return page{}, fulfillment.ErrNotFound
	})
}
