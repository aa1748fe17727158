package stripeemu

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const eventsPath = "/v1/events"

// eventRetention is how far back GET /v1/events reaches, as on Stripe.
const eventRetention = 30 * 24 * time.Hour

// eventLog keeps every event Event built, as Stripe keeps the events it
// sent, for GET /v1/events.
type eventLog struct {
	mu    sync.Mutex
	list  []storedEvent // in the order they were built
	index map[string]int
}

type storedEvent struct {
	id, typ string
	created int64
	body    json.RawMessage
}

// record keeps an event; building the same id again replaces its body.
func (l *eventLog) record(ev storedEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.index == nil {
		l.index = make(map[string]int)
	}
	if i, ok := l.index[ev.id]; ok {
		l.list[i] = ev
		return
	}
	l.index[ev.id] = len(l.list)
	l.list = append(l.list, ev)
}

// newestFirst returns the events that pass keep, newest first (ties: the
// later built first), as Stripe lists them.
func (l *eventLog) newestFirst(keep func(storedEvent) bool) []storedEvent {
	l.mu.Lock()
	out := make([]storedEvent, 0, len(l.list))
	for i := len(l.list) - 1; i >= 0; i-- {
		if keep(l.list[i]) {
			out = append(out, l.list[i])
		}
	}
	l.mu.Unlock()
	slices.SortStableFunc(out, func(a, b storedEvent) int {
		switch {
		case a.created > b.created:
			return -1
		case a.created < b.created:
			return 1
		}
		return 0
	})
	return out
}

// Events is the number of events Event has built (each id once).
func (e *Emulator) Events() int {
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	return len(e.events.list)
}

// GET /v1/events: newest first, the last 30 days; filters type (exact or
// with a * wildcard, such as checkout.session.*), types[] (up to 20 exact
// names; not with type) and created (created=, created[gt|gte|lt|lte]=).
// delivery_success is accepted and ignored: every event counts as
// delivered.
func (e *Emulator) listEvents(w http.ResponseWriter, r *http.Request) {
	q, apiErr := parseQuery(r, "limit", "starting_after", "ending_before", "type", "types", "created", "delivery_success")
	if apiErr == nil {
		apiErr = checkExpand(q.expand)
	}
	var p page
	if apiErr == nil {
		p, apiErr = parsePage(q)
	}
	var keep func(storedEvent) bool
	if apiErr == nil {
		keep, apiErr = eventFilter(q.values, time.Now())
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	all := e.events.newestFirst(keep)
	lo, hi, more, apiErr := p.window(len(all), func(i int) string { return all[i].id }, "event")
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	data := make([]json.RawMessage, 0, hi-lo)
	for _, ev := range all[lo:hi] {
		data = append(data, ev.body)
	}
	writeJSON(w, http.StatusOK, listJSON(eventsPath, data, more))
}

func eventFilter(v url.Values, now time.Time) (func(storedEvent) bool, *apiError) {
	typ := v.Get("type")
	var types []string
	for k, vs := range v {
		if k == "types" || strings.HasPrefix(k, "types[") {
			types = append(types, vs...)
		}
	}
	switch {
	case typ != "" && len(types) > 0:
		return nil, errInvalid("types", "", "You may pass either `type` or `types`, but not both.")
	case len(types) > 20:
		return nil, errInvalid("types", "", "You may pass at most 20 event types.")
	}
	created, apiErr := createdFilter(v)
	if apiErr != nil {
		return nil, apiErr
	}
	oldest := now.Add(-eventRetention).Unix()
	return func(ev storedEvent) bool {
		switch {
		case ev.created < oldest || !created(ev.created):
			return false
		case typ != "":
			if prefix, ok := strings.CutSuffix(typ, "*"); ok {
				return strings.HasPrefix(ev.typ, prefix)
			}
			return ev.typ == typ
		case len(types) > 0:
			return slices.Contains(types, ev.typ)
		}
		return true
	}, nil
}

// createdFilter reads created=, created[gt]=, created[gte]=, created[lt]=
// and created[lte]= (Unix seconds).
func createdFilter(v url.Values) (func(int64) bool, *apiError) {
	type bound struct {
		op string
		t  int64
	}
	var bounds []bound
	for k := range v {
		op, isCreated := strings.CutPrefix(k, "created")
		if !isCreated {
			continue
		}
		switch op {
		case "":
			op = "eq"
		case "[gt]", "[gte]", "[lt]", "[lte]":
			op = strings.Trim(op, "[]")
		default:
			return nil, errInvalid(k, "parameter_unknown", "Received unknown parameter: %s", k)
		}
		t, err := strconv.ParseInt(v.Get(k), 10, 64)
		if err != nil {
			return nil, errInvalid(k, "parameter_invalid_integer", "Invalid integer: %s", v.Get(k))
		}
		bounds = append(bounds, bound{op, t})
	}
	return func(c int64) bool {
		for _, b := range bounds {
			if !(b.op == "eq" && c == b.t || b.op == "gt" && c > b.t || b.op == "gte" && c >= b.t ||
				b.op == "lt" && c < b.t || b.op == "lte" && c <= b.t) {
				return false
			}
		}
		return true
	}, nil
}
