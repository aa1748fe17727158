// Package warehousehook sends order changes to warehouse endpoints as
// Standard Webhooks (https://www.standardwebhooks.com): signed POSTs,
// retried on a schedule, fed from the store's outbox by a fan-out step.
package warehousehook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/worker"
)

// Headers of a delivery besides the Standard Webhooks ones: the same as
// the push feed's.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	HeaderOrderID   = "Fulfillment-Order-Id"
	HeaderChangeSeq = "Fulfillment-Change-Seq"
)

// Defaults of Dispatcher.
const (
	DefaultTimeout     = 15 * time.Second // a 2xx within it is delivered
	DefaultPoll        = time.Second
	DefaultConcurrency = 8
	DefaultFanOutBatch = 500
	DefaultRetention   = 7 * 24 * time.Hour
	pruneEvery         = time.Hour
	recordTimeout      = 5 * time.Second
)

// loopBackoff is the wait after store failures in a row.
var loopBackoff = worker.Backoff{Base: 100 * time.Millisecond, Max: 30 * time.Second, Jitter: worker.FullJitter}

// Body is a delivery's JSON body.
type Body struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"` // the change's time, RFC 3339
	Data      json.RawMessage `json:"data"`      // the order
}

// Result is one attempt, for metrics.
type Result struct {
	Endpoint string
	Outcome  string        // delivered, retry, failed or superseded
	Latency  time.Duration // delivered: from the change to the 2xx
	Duration time.Duration // the request
}

// Dispatcher fans the outbox out into deliveries and sends them: one loop
// per endpoint, each with its own Concurrency senders, so a failing or
// slow endpoint never delays another; an order waits only for its own
// previous change to the same endpoint (never two of one order to one
// endpoint at once), and a pending older change is superseded by a newer
// one in the store, so a receiver never gets an older change after a newer
// one.
//
// A delivery is recorded delivered only after its 2xx: a crash re-sends at
// most the deliveries in flight, with the same webhook-id.
type Dispatcher struct {
	Store     fulfillment.DeliveryStore
	Endpoints []fulfillment.WebhookEndpoint
	// Wake signals that the outbox was written; without it the Dispatcher
	// looks every Poll (so it finds changes and retries from other
	// processes, such as deliveries retry, within Poll).
	Wake        <-chan struct{}
	Poll        time.Duration // 0 → DefaultPoll
	Concurrency int           // requests in flight per endpoint; 0 → DefaultConcurrency
	Timeout     time.Duration // 0 → DefaultTimeout
	// Retention is how long delivered and superseded deliveries are kept;
	// 0 → DefaultRetention, negative keeps them.
	Retention time.Duration
	// Schedule is the waits between attempts; nil →
	// fulfillment.DeliverySchedule.
	Schedule fulfillment.Schedule
	Client   *http.Client // nil: one with Timeout that follows no redirects
	Observe  func(Result) // nil: none
	Log      *slog.Logger
	Now      func() time.Time
	Rand     func() float64 // jitter of the schedule; nil → math/rand/v2
}

// Run dispatches until ctx ends, waits for the requests in flight to stop,
// and returns nil. Deliveries not recorded stay pending for the next Run.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.Store == nil {
		return errors.New("warehouse webhooks: Store is required")
	}
	if len(d.Endpoints) == 0 {
		return nil
	}
	log := fulfillment.LoggerOr(d.Log).With("component", "warehouse_webhooks")
	client := d.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cmp.Or(d.Concurrency, DefaultConcurrency) // keep each sender's connections
		client = &http.Client{
			Transport:     tr,
			Timeout:       cmp.Or(d.Timeout, DefaultTimeout),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	wakes := make([]chan struct{}, len(d.Endpoints))
	var wg sync.WaitGroup
	for i, e := range d.Endpoints {
		wakes[i] = make(chan struct{}, 1)
		s := &sender{d: d, e: e, client: client, log: log.With("endpoint", e.Name), wake: wakes[i],
			busy: make(map[string]bool)}
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); d.fanOut(ctx, log, wakes) }()
	log.Info("warehouse webhooks started", "endpoints", len(d.Endpoints))
	wg.Wait()
	return nil
}

func (d *Dispatcher) now() time.Time { return fulfillment.NowOr(d.Now).UTC() }

func (d *Dispatcher) rand() float64 {
	if d.Rand != nil {
		return d.Rand()
	}
	return rand.Float64()
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// fanOut turns new outbox changes into deliveries and wakes the senders.
func (d *Dispatcher) fanOut(ctx context.Context, log *slog.Logger, wakes []chan struct{}) {
	var nextPrune time.Time
	_ = worker.Loop{
		Every: cmp.Or(d.Poll, DefaultPoll), Wake: d.Wake, Backoff: loopBackoff,
		Failed: func(err error, failures int, wait time.Duration) {
			log.Warn("warehouse webhooks: fan-out failed; the changes stay in the outbox",
				"error", err.Error(), "failures", failures, "retry_in", wait.String())
		},
	}.Run(ctx, func(ctx context.Context) error {
		for {
			res, err := d.Store.FanOut(ctx, d.Endpoints, d.now(), DefaultFanOutBatch)
			if res.Changes > 0 {
				for _, w := range wakes {
					signal(w)
				}
			}
			if d.Observe != nil {
				for name, n := range res.Superseded {
					for range n {
						d.Observe(Result{Endpoint: name, Outcome: "superseded"})
					}
				}
			}
			if err != nil || res.Changes < DefaultFanOutBatch {
				if err != nil {
					return err
				}
				break
			}
		}
		if now := d.now(); d.Retention >= 0 && now.After(nextPrune) {
			nextPrune = now.Add(pruneEvery)
			if n, err := d.Store.PruneDeliveries(ctx, now.Add(-cmp.Or(d.Retention, DefaultRetention))); err != nil {
				log.Warn("warehouse webhooks: prune deliveries", "error", err.Error())
			} else if n > 0 {
				log.Info("warehouse webhooks: pruned done deliveries", "rows", n)
			}
		}
		return nil
	})
}

// sender sends one endpoint's deliveries.
type sender struct {
	d      *Dispatcher
	e      fulfillment.WebhookEndpoint
	client *http.Client
	log    *slog.Logger
	wake   chan struct{}

	mu   sync.Mutex
	busy map[string]bool // orders with a delivery in flight
}

func (s *sender) run(ctx context.Context) {
	slots := make(chan struct{}, cmp.Or(s.d.Concurrency, DefaultConcurrency))
	var wg sync.WaitGroup
	defer wg.Wait()
	batch := 4 * cap(slots)
	_ = worker.Loop{
		Every: cmp.Or(s.d.Poll, DefaultPoll), Wake: s.wake, Backoff: loopBackoff,
		Failed: func(err error, failures int, wait time.Duration) {
			s.log.Warn("warehouse webhooks: reading deliveries failed", "error", err.Error(), "failures", failures, "retry_in", wait.String())
		},
	}.Run(ctx, func(ctx context.Context) error {
		for {
			// What is in flight before the read: a delivery that ends
			// during the read may be read as still pending.
			s.mu.Lock()
			before := maps.Clone(s.busy)
			s.mu.Unlock()
			due, err := s.d.Store.DueDeliveries(ctx, s.e.Name, s.d.now(), batch)
			if err != nil {
				return err
			}
			started := 0
			for _, dl := range due {
				s.mu.Lock()
				skip := before[dl.OrderID] || s.busy[dl.OrderID]
				s.mu.Unlock()
				if skip {
					continue
				}
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return nil
				}
				s.mu.Lock()
				s.busy[dl.OrderID] = true
				s.mu.Unlock()
				started++
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.deliver(ctx, dl)
					s.mu.Lock()
					delete(s.busy, dl.OrderID)
					s.mu.Unlock()
					<-slots
					signal(s.wake) // a newer change of the order may be due
				}()
			}
			if started == 0 || len(due) < batch {
				return nil
			}
		}
	})
}

// deliver makes one attempt of dl and records it. An attempt cut short by
// shutdown is not recorded: the delivery stays pending.
func (s *sender) deliver(ctx context.Context, dl fulfillment.Delivery) {
	start := s.d.now()
	err := s.post(ctx, dl, start)
	if err != nil && ctx.Err() != nil {
		return
	}
	end := s.d.now()
	a := dl.Outcome(s.d.Schedule, end, err, s.d.rand())
	res := Result{Endpoint: s.e.Name, Duration: end.Sub(start)}
	switch {
	case a.Delivered:
		res.Outcome, res.Latency = "delivered", end.Sub(dl.ChangedAt)
	case !a.Retry.IsZero():
		res.Outcome = "retry"
		s.log.Info("warehouse webhook not delivered; retrying", "delivery", dl.ID, "webhook_id", dl.ChangeID,
			"attempt", dl.Attempts+1, "error", a.Error, "retry_at", a.Retry)
	default:
		res.Outcome = "failed"
		s.log.Error("warehouse webhook failed: no attempts left (fulfillmentd deliveries retry)", "delivery", dl.ID,
			"webhook_id", dl.ChangeID, "attempts", dl.Attempts+1, "error", a.Error)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := s.d.Store.RecordAttempt(rctx, dl.ID, a); err != nil {
		// Left pending: sent again (same webhook-id) when next due.
		s.log.Error("warehouse webhooks: record attempt", "delivery", dl.ID, "error", err.Error())
		return
	}
	if s.d.Observe != nil {
		s.d.Observe(res)
	}
}

// post sends dl once, signed at now; nil means a 2xx.
func (s *sender) post(ctx context.Context, dl fulfillment.Delivery, now time.Time) error {
	body, err := EncodeBody(dl)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.e.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	SetHeaders(req.Header, s.e.Key, dl, now, body)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// EncodeBody is dl's body: {"type", "timestamp", "data"}, data being the
// stored order JSON byte for byte; the same bytes on every attempt.
func EncodeBody(dl fulfillment.Delivery) ([]byte, error) {
	if !json.Valid(dl.Payload) {
		return nil, fmt.Errorf("delivery %d: the stored order is not JSON", dl.ID)
	}
	head, err := json.Marshal(struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
	}{dl.Type, dl.ChangedAt.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return nil, fmt.Errorf("delivery %d: encode body: %w", dl.ID, err)
	}
	out := make([]byte, 0, len(head)+len(dl.Payload)+10)
	out = append(out, head[:len(head)-1]...) // without its closing brace
	out = append(out, `,"data":`...)
	out = append(out, bytes.TrimSpace(dl.Payload)...)
	return append(out, '}'), nil
}

// SetHeaders sets a delivery's headers on h, signed with key at now.
func SetHeaders(h http.Header, key []byte, dl fulfillment.Delivery, now time.Time, body []byte) {
	ts := now.Unix()
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "fulfillmentd-webhooks")
	h.Set(HeaderID, dl.ChangeID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(key, dl.ChangeID, ts, body))
	h.Set(HeaderOrderID, dl.OrderID)
	h.Set(HeaderChangeSeq, strconv.FormatInt(dl.ChangeSeq, 10))
}

// Sign is the webhook-signature value "v1,<base64 HMAC-SHA256(key,
// "<id>.<timestamp>.<body>")>".
func Sign(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
