package stripeemu

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const sessionsPath = "/v1/checkout/sessions"

// firstHandful is how many line items an expanded session carries, as
// Stripe's "line_items" expansion does; the rest is paged with the list
// endpoint.
const firstHandful = 10

func (e *Emulator) route(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errUnrecognizedURL(r))
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, sessionsPath)
	switch {
	case !ok && e.routeCatalog(w, r): // /v1/products, /v1/prices (catalog.go)
	case !ok && r.URL.Path == eventsPath: // events.go
		e.listEvents(w, r)
	case !ok && e.routeMoney(w, r): // charges, disputes, fraud warnings, invoices (money.go)
	case !ok:
		writeError(w, errUnrecognizedURL(r))
	case rest == "" || rest == "/":
		e.listSessions(w, r)
	default:
		parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
		switch {
		case len(parts) == 1 && parts[0] != "":
			e.getSession(w, r, parts[0])
		case len(parts) == 2 && parts[0] != "" && parts[1] == "line_items":
			e.listLineItems(w, r, parts[0])
		default:
			writeError(w, errUnrecognizedURL(r))
		}
	}
}

// query is a request's parameters: expand[] / expand[N] collected, others
// by name (created[gte] and friends keep their brackets).
type query struct {
	expand []string
	values url.Values
}

func parseQuery(r *http.Request, allowed ...string) (query, *apiError) {
	var q query
	q.values = url.Values{}
	for k, vs := range r.URL.Query() {
		if strings.HasPrefix(k, "expand[") && strings.HasSuffix(k, "]") {
			q.expand = append(q.expand, vs...)
			continue
		}
		name, _, _ := strings.Cut(k, "[")
		if !slices.Contains(allowed, name) {
			return q, errInvalid(k, "parameter_unknown", "Received unknown parameter: %s", k)
		}
		q.values[k] = vs
	}
	return q, nil
}

// checkExpand accepts only the expansions the emulator can honour.
func checkExpand(expand []string, ok ...string) *apiError {
	for _, x := range expand {
		if !slices.Contains(ok, x) {
			return errInvalid("expand", "", "This property cannot be expanded (%s). The emulator can expand: %s.", x, strings.Join(ok, ", "))
		}
	}
	return nil
}

// page is a list request's paging: limit, starting_after, ending_before.
type page struct {
	limit         int
	startingAfter string
	endingBefore  string
}

func parsePage(q query) (page, *apiError) {
	p := page{limit: 10, startingAfter: q.values.Get("starting_after"), endingBefore: q.values.Get("ending_before")}
	if s := q.values.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return p, errInvalid("limit", "parameter_invalid_integer", "Invalid integer: %s", s)
		}
		if n < 1 || n > 100 {
			return p, errInvalid("limit", "", "This value must be greater than or equal to 1 and less than or equal to 100 (it currently is '%d').", n)
		}
		p.limit = n
	}
	if p.startingAfter != "" && p.endingBefore != "" {
		return p, errInvalid("starting_after", "", "You may only specify one of these parameters: ending_before, starting_after.")
	}
	return p, nil
}

// window applies the paging to n ordered items whose ids are id(i): the
// half-open range to return and whether more items lie beyond it in the
// paging direction. A cursor that names no item is a resource_missing error.
func (p page) window(n int, id func(int) string, object string) (lo, hi int, more bool, apiErr *apiError) {
	find := func(cursor string) int {
		for i := range n {
			if id(i) == cursor {
				return i
			}
		}
		return -1
	}
	switch {
	case p.endingBefore != "":
		i := find(p.endingBefore)
		if i < 0 {
			e := errNoSuch(object, p.endingBefore, "ending_before")
			e.status = http.StatusBadRequest
			return 0, 0, false, e
		}
		lo = max(0, i-p.limit)
		return lo, i, lo > 0, nil
	case p.startingAfter != "":
		i := find(p.startingAfter)
		if i < 0 {
			e := errNoSuch(object, p.startingAfter, "starting_after")
			e.status = http.StatusBadRequest
			return 0, 0, false, e
		}
		lo = i + 1
	}
	hi = min(n, lo+p.limit)
	return lo, hi, hi < n, nil
}

func listJSON(url string, data []json.RawMessage, hasMore bool) json.RawMessage {
	var arr bytes.Buffer
	arr.WriteByte('[')
	for i, d := range data {
		if i > 0 {
			arr.WriteByte(',')
		}
		arr.Write(d)
	}
	arr.WriteByte(']')
	return renderObject(map[string]json.RawMessage{
		"object":   mustJSON("list"),
		"data":     arr.Bytes(),
		"has_more": mustJSON(hasMore),
		"url":      mustJSON(url),
	})
}

// GET /v1/checkout/sessions/{id}
func (e *Emulator) getSession(w http.ResponseWriter, r *http.Request, id string) {
	q, apiErr := parseQuery(r)
	if apiErr == nil {
		apiErr = checkExpand(q.expand, "line_items", "line_items.data.price", "line_items.data.price.product")
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	s, ok := e.session(id)
	if !ok {
		writeError(w, errNoSuch("checkout.session", id, "session"))
		return
	}
	body := renderObject(s.fields)
	if len(q.expand) > 0 { // every accepted expansion includes line_items
		withProduct := slices.Contains(q.expand, "line_items.data.price.product")
		n := min(len(s.items), firstHandful)
		data := make([]json.RawMessage, n)
		for i := range n {
			data[i] = s.items[i].render(withProduct)
		}
		fields := make(map[string]json.RawMessage, len(s.fields)+1)
		for k, v := range s.fields {
			fields[k] = v
		}
		fields["line_items"] = listJSON(sessionsPath+"/"+id+"/line_items", data, len(s.items) > n)
		body = renderObject(fields)
	}
	writeJSON(w, http.StatusOK, body)
}

func (it lineItem) render(withProduct bool) json.RawMessage {
	if withProduct {
		return it.expanded
	}
	return it.collapsed
}

// GET /v1/checkout/sessions/{id}/line_items
func (e *Emulator) listLineItems(w http.ResponseWriter, r *http.Request, id string) {
	q, apiErr := parseQuery(r, "limit", "starting_after", "ending_before")
	if apiErr == nil {
		apiErr = checkExpand(q.expand, "data.price", "data.price.product")
	}
	var p page
	if apiErr == nil {
		p, apiErr = parsePage(q)
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	s, ok := e.session(id)
	if !ok {
		writeError(w, errNoSuch("checkout.session", id, "session"))
		return
	}
	lo, hi, more, apiErr := p.window(len(s.items), func(i int) string { return s.items[i].id }, "line item")
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	withProduct := slices.Contains(q.expand, "data.price.product")
	data := make([]json.RawMessage, 0, hi-lo)
	for _, it := range s.items[lo:hi] {
		data = append(data, it.render(withProduct))
	}
	writeJSON(w, http.StatusOK, listJSON(sessionsPath+"/"+id+"/line_items", data, more))
}

// GET /v1/checkout/sessions: newest first; filters status, payment_intent,
// subscription and created (created=, created[gt|gte|lt|lte]=, Unix
// seconds).
func (e *Emulator) listSessions(w http.ResponseWriter, r *http.Request) {
	q, apiErr := parseQuery(r, "limit", "starting_after", "ending_before", "status", "payment_intent", "subscription", "created")
	if apiErr == nil {
		apiErr = checkExpand(q.expand)
	}
	var p page
	if apiErr == nil {
		p, apiErr = parsePage(q)
	}
	var keep func(*session) bool
	if apiErr == nil {
		keep, apiErr = sessionFilter(q.values)
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	e.mu.RLock()
	all := make([]*session, 0, len(e.sessions))
	for _, s := range e.sessions {
		if keep(s) {
			all = append(all, s)
		}
	}
	e.mu.RUnlock()
	slices.SortFunc(all, func(a, b *session) int {
		if c := cmp.Compare(b.created, a.created); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	lo, hi, more, apiErr := p.window(len(all), func(i int) string { return all[i].id }, "checkout.session")
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	data := make([]json.RawMessage, 0, hi-lo)
	for _, s := range all[lo:hi] {
		data = append(data, renderObject(s.fields))
	}
	writeJSON(w, http.StatusOK, listJSON(sessionsPath, data, more))
}

func sessionFilter(v url.Values) (func(*session) bool, *apiError) {
	status := v.Get("status")
	switch status {
	case "", "open", "complete", "expired":
	default:
		return nil, errInvalid("status", "", "Invalid status: must be one of open, complete, or expired")
	}
	created, apiErr := createdFilter(v)
	if apiErr != nil {
		return nil, apiErr
	}
	pi, sub := v.Get("payment_intent"), v.Get("subscription")
	return func(s *session) bool {
		return (status == "" || s.status == status) && created(s.created) &&
			(pi == "" || s.paymentIntent == pi) && (sub == "" || s.subscription == sub)
	}, nil
}
