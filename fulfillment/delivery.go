package fulfillment

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Outbound webhooks to warehouse endpoints (Standard Webhooks): each order
// change, fanned out from the outbox to every endpoint whose filter takes
// it, becomes one Delivery, sent until the endpoint answers 2xx or the
// schedule runs out.

// WebhookEndpoint is one warehouse endpoint of FULFILLMENT_WAREHOUSE_WEBHOOKS.
type WebhookEndpoint struct {
	Name     string   // unique; names the endpoint in deliveries and metrics
	URL      string   // http or https
	Key      []byte   // the signing key: the base64 after whsec_
	Statuses []Status // the order statuses it takes; empty: every change
}

// Takes reports whether the endpoint receives a change that left an order
// in status s.
func (e WebhookEndpoint) Takes(s Status) bool {
	if len(e.Statuses) == 0 {
		return true
	}
	for _, t := range e.Statuses {
		if t == s {
			return true
		}
	}
	return false
}

var endpointName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ParseWebhookEndpoints reads the JSON array
// [{"name": "wms", "url": "https://…", "secret": "whsec_<base64>", "statuses": [...]}].
// Errors name the entry (its position and name) and never quote a secret.
func ParseWebhookEndpoints(data []byte) ([]WebhookEndpoint, error) {
	var raw []struct {
		Name     string   `json:"name"`
		URL      string   `json:"url"`
		Secret   string   `json:"secret"`
		Statuses []Status `json:"statuses"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf(`warehouse webhooks: want a JSON array of {"name", "url", "secret", "statuses"}: %w`, err)
	}
	out := make([]WebhookEndpoint, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for i, r := range raw {
		which := fmt.Sprintf("entry %d", i+1)
		if r.Name != "" {
			which += fmt.Sprintf(" (%q)", r.Name)
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("warehouse webhooks: %s: %s", which, fmt.Sprintf(format, args...))
		}
		switch {
		case r.Name == "":
			return nil, fail("name is missing")
		case !endpointName.MatchString(r.Name):
			return nil, fail("name: want letters, digits, '_', '.' or '-', at most 64")
		case seen[r.Name]:
			return nil, fail("name used twice")
		}
		seen[r.Name] = true
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fail("url: want an http or https URL such as https://wms.example.com/hooks")
		}
		key, err := DecodeWebhookSecret(r.Secret)
		if err != nil {
			return nil, fail("secret: %v", err)
		}
		for _, s := range r.Statuses {
			if !s.Valid() {
				return nil, fail("statuses: unknown status %q", s)
			}
		}
		out = append(out, WebhookEndpoint{Name: r.Name, URL: r.URL, Key: key, Statuses: r.Statuses})
	}
	return out, nil
}

// DecodeWebhookSecret returns the key of a Standard Webhooks secret
// "whsec_<base64>": at least 16 bytes (the spec asks for 24 to 64).
func DecodeWebhookSecret(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, fmt.Errorf("want whsec_ followed by base64")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("the part after whsec_ is not standard base64")
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("the key is %d bytes: want at least 16 (24 to 64 recommended)", len(key))
	}
	return key, nil
}

// DeliveryState is where a delivery stands.
type DeliveryState string

const (
	// DeliveryPending waits for its next attempt (or is being sent).
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered was answered 2xx.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryFailed ran out of attempts: deliveries retry sends it again.
	DeliveryFailed DeliveryState = "failed"
	// DeliverySuperseded was pending when a newer change of the same order
	// came for the same endpoint: that one carries the whole order, so this
	// one is never sent (again).
	DeliverySuperseded DeliveryState = "superseded"
)

// Valid reports whether s is a known delivery state.
func (s DeliveryState) Valid() bool {
	switch s {
	case DeliveryPending, DeliveryDelivered, DeliveryFailed, DeliverySuperseded:
		return true
	}
	return false
}

// Webhook event types: the body's "type".
const (
	EventOrderCreated = "order.created" // the order's first change
	EventOrderUpdated = "order.updated" // every later one
)

// Delivery is one change of one order to one endpoint.
type Delivery struct {
	ID        int64 // the delivery's own id (deliveries list, retry)
	Endpoint  string
	ChangeSeq int64
	ChangeID  string // webhook-id: <order id>.<change seq>
	OrderID   string
	Status    Status // the order's status after the change
	Type      string // EventOrderCreated or EventOrderUpdated
	Payload   []byte // the order JSON, as GET /v1/orders/{id} returns it
	ChangedAt time.Time
	State     DeliveryState
	Attempts  int       // attempts in this round (a retry starts a new one)
	NextAt    time.Time // next attempt (pending only)
	LastAt    time.Time // last attempt; zero if none
	LastError string    // why the last attempt failed
	DoneAt    time.Time // delivered, failed or superseded at
}

// Schedule is the wait after each failed attempt of a delivery: after
// the last wait comes the last attempt.
type Schedule []time.Duration

// DeliverySchedule is Standard Webhooks' (Svix's) schedule: 8 attempts
// over about 27 h 35 min.
var DeliverySchedule = Schedule{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// DeliveryJitter is the spread of each wait: ±20%.
const DeliveryJitter = 0.2

// Next is the wait after the attempts-th failed attempt in a row
// (1-based) with r in [0, 1) spreading it by ±DeliveryJitter, or false when
// the schedule is over and the delivery fails.
func (s Schedule) Next(attempts int, r float64) (time.Duration, bool) {
	if attempts < 1 {
		attempts = 1
	}
	if attempts > len(s) {
		return 0, false
	}
	d := s[attempts-1]
	return time.Duration(float64(d) * (1 - DeliveryJitter + 2*DeliveryJitter*r)), true
}

// Supersedes reports whether a newer change of an order replaces the
// delivery d to the same endpoint: d is pending and older. A receiver
// never gets an older change after a newer one, and loses nothing by it,
// since every body carries the whole order.
func Supersedes(newer, d Delivery) bool {
	return d.State == DeliveryPending && d.Endpoint == newer.Endpoint && d.OrderID == newer.OrderID && d.ChangeSeq < newer.ChangeSeq
}

// Retryable reports why d cannot be sent again by deliveries retry, or ""
// if it can: only failed deliveries are retried, and only while no newer
// change of the order exists for the endpoint (newest is the latest
// change_seq of the order's deliveries to d's endpoint).
func Retryable(d Delivery, newest int64) string {
	switch {
	case d.State != DeliveryFailed:
		return "not failed (" + string(d.State) + ")"
	case newest > d.ChangeSeq:
		return "superseded: a newer change of the order exists for the endpoint"
	}
	return ""
}

// DeliveryAttempt is the outcome of one attempt.
type DeliveryAttempt struct {
	At        time.Time
	Delivered bool
	Error     string // why not delivered
	// Retry is when to try again; zero (with Delivered false): failed.
	Retry time.Time
}

// Outcome is the attempt of d after its attempts so far, at, that ended
// with sendErr (nil: a 2xx), on schedule s (nil: DeliverySchedule) with r
// spreading the wait.
func (d Delivery) Outcome(s Schedule, at time.Time, sendErr error, r float64) DeliveryAttempt {
	if sendErr == nil {
		return DeliveryAttempt{At: at, Delivered: true}
	}
	if s == nil {
		s = DeliverySchedule
	}
	a := DeliveryAttempt{At: at, Error: sendErr.Error()}
	if wait, ok := s.Next(d.Attempts+1, r); ok {
		a.Retry = at.Add(wait)
	}
	return a
}

// FanOutResult is what one fan-out did.
type FanOutResult struct {
	Changes    int            // order changes read from the outbox
	Superseded map[string]int // pending deliveries superseded, by endpoint
}

// DeliveryStore is what the dispatcher needs of the store.
type DeliveryStore interface {
	// FanOut turns up to limit order changes past each endpoint's cursor
	// into deliveries due at now (superseding older pending ones), advancing the
	// cursors in the same transaction.
	FanOut(ctx context.Context, endpoints []WebhookEndpoint, now time.Time, limit int) (FanOutResult, error)
	// DueDeliveries returns up to limit pending deliveries to endpoint
	// whose next attempt is at or before now, oldest change first.
	DueDeliveries(ctx context.Context, endpoint string, now time.Time, limit int) ([]Delivery, error)
	// RecordAttempt records an attempt of the delivery id.
	RecordAttempt(ctx context.Context, id int64, a DeliveryAttempt) error
	// PruneDeliveries deletes delivered and superseded deliveries done
	// before before.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
}
