package fulfillment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// EventRetention is how far back Stripe lists events (GET /v1/events).
const EventRetention = 30 * 24 * time.Hour

// EventsSince is since, clamped to the oldest events Stripe still lists at
// now (EventRetention back): where a reconcile from since lists events.
func EventsSince(since, now time.Time) time.Time {
	if oldest := now.Add(-EventRetention); since.Before(oldest) {
		return oldest
	}
	return since
}

// reconcileProgressEvery is how many sessions pass between progress reports.
const reconcileProgressEvery = 100

// DefaultReplayCooldown is how long after an event was queued for replay
// reconcile leaves it alone: longer than a message's whole retry span, so
// that while an event's replay is still being retried (a Stripe outage),
// reconcile does not queue more copies of it.
const DefaultReplayCooldown = 12 * time.Hour

// StripeHistory lists what happened on Stripe, raw as Stripe returns it.
type StripeHistory interface {
	// CompletedSessions calls fn for every Checkout Session with status
	// complete created at or after since.
	CompletedSessions(ctx context.Context, since time.Time, fn func(s Session, raw json.RawMessage) error) error
	// CheckoutEvents calls fn for every checkout payment event (the types
	// HandlesCheckout accepts) created at or after since.
	CheckoutEvents(ctx context.Context, since time.Time, fn func(ev Event, raw json.RawMessage) error) error
	// MoneyEvents calls fn for every money event (charge.refunded,
	// charge.dispute.*, radar.early_fraud_warning.*: the types MoneyObject
	// names) created at or after since.
	MoneyEvents(ctx context.Context, since time.Time, fn func(ev Event, raw json.RawMessage) error) error
}

// ReconcileStore is what reconcile reads of the orders and writes to the
// replay queue.
type ReconcileStore interface {
	OrderBySession(ctx context.Context, sessionID string) (Order, error)
	// OrderByPayment returns the order whose session made the payment, or
	// an error wrapping ErrNotFound (as OrderStore's).
	OrderByPayment(ctx context.Context, p Payment) (Order, error)
	EventProcessed(ctx context.Context, eventID string) (bool, error)
	// DeadLetter returns an error wrapping ErrNotFound for an event that is
	// not a dead letter.
	DeadLetter(ctx context.Context, eventID string) (DeadLetter, error)
	// EnqueueReplay queues an event; queued is false when a replay of the
	// same event id is pending already.
	EnqueueReplay(ctx context.Context, rp Replay) (r Replay, queued bool, err error)
	// Replays returns the replays of an event, pending or published.
	Replays(ctx context.Context, eventID string) ([]Replay, error)
}

// Reconciler is the use case "catch what never arrived": it compares the
// completed Checkout Sessions on Stripe with the orders, and queues the
// Stripe events that bring every missing or lagging order up to date.
type Reconciler struct {
	Stripe StripeHistory
	Store  ReconcileStore
	Now    func() time.Time
	Log    *slog.Logger
	// Cooldown is how long after an event was queued for replay it is
	// left alone (still in flight); 0 → DefaultReplayCooldown.
	Cooldown time.Duration
	// Found, if set, is called for every session found missing or lagging.
	Found func(Finding)
	// Progress, if set, is called after the events are listed and then
	// every 100 sessions, with the counts so far.
	Progress func(ReconcileSummary)
	// BuildEvent returns the body of the event of type typ Stripe would
	// have sent about object (the session as Stripe's API lists it),
	// created at created: stripeevent.Build. Required.
	BuildEvent func(id, typ string, object json.RawMessage, created time.Time) ([]byte, error)
}

// Finding is a session whose order is missing or behind, or a money event
// of its payment that was never processed, and what reconcile did about it.
type Finding struct {
	SessionID string
	// Problem is such as "no order", "order awaiting_payment, session
	// paid" or "missed charge.refunded (ch_…)".
	Problem string
	// Queued lists the events queued for replay (or, on a dry run, that
	// would be). An id starting "reconcile:" is an event reconcile built.
	Queued []string
	// InFlight lists events queued for replay before, pending or
	// published within the Cooldown: not queued again.
	InFlight []string
	// DeadLetters lists the session's events that are dead letters: left
	// to `fulfillmentd dlq`, reconcile does not retry them.
	DeadLetters []string
}

// ReconcileSummary counts what a reconcile run saw and did.
type ReconcileSummary struct {
	Since        time.Time
	DryRun       bool
	Events       int // checkout payment events listed
	Checked      int // completed sessions checked
	Missing      int // sessions without an order
	Lagging      int // orders behind their session's payment state
	Enqueued     int // events queued for replay (dry run: that would be)
	Synthesized  int // of Enqueued, events built from the session
	InFlight     int // events queued before, within the cooldown: left alone
	DeadLettered int // events skipped because they are dead letters
	// MoneyEvents is the number of money events (refunds, disputes, early
	// fraud warnings) listed; Missed, of those about a known order, the
	// ones never processed: queued (counted in Enqueued too), in flight or
	// dead letters.
	MoneyEvents int
	Missed      int
}

// sessionEvent is a listed event of one session.
type sessionEvent struct {
	id, typ string
	created time.Time
	raw     json.RawMessage
}

// Run reconciles the sessions completed since since. It lists the
// checkout payment events of the same period (at most EventRetention back)
// first, then every completed session, and for each session whose order is
// missing, or is awaiting payment while the session is paid or a
// async_payment_failed event exists, queues:
//
//   - the session's listed events that were not processed and are not dead
//     letters, oldest first (processing is idempotent and order-free, so
//     replaying all of them is safe); a dead letter that is not
//     Retriable counts as none, since a retry of it would be refused;
//   - when it has none and none is a dead letter (the event was never
//     created, or is older than Stripe keeps events): a
//     checkout.session.completed event built from the session as just
//     listed, with id "reconcile:<session id>:<payment_status>". The id is
//     the same on every run for the same state, so a second run cannot make
//     a second one; a session that is paid later gets a new id, so its
//     order can move on.
//
// Then it lists the money events of the same period (refunds, disputes,
// early fraud warnings) and queues, oldest first, each one that was not
// processed and is not a dead letter whose payment names a known order:
// one in the store, or a session just found without an order (whose
// events it queued: the worker finds the session of a money event that
// comes first).
//
// An event queued for replay within the Cooldown is left alone: it may be
// retrying still. With dryRun it queues nothing and reports what it would
// queue. Running it again queues nothing new: what it queued is in flight,
// and once processed there is nothing left to find.
func (r *Reconciler) Run(ctx context.Context, since time.Time, dryRun bool) (ReconcileSummary, error) {
	sum := ReconcileSummary{Since: since.UTC(), DryRun: dryRun}
	if r.Stripe == nil || r.Store == nil {
		return sum, errors.New("reconcile: Stripe and Store are required")
	}
	if r.BuildEvent == nil {
		return sum, errors.New("reconcile: no event builder")
	}
	now := r.now()
	eventsSince := EventsSince(since, now)
	bySession := make(map[string][]sessionEvent)
	err := r.Stripe.CheckoutEvents(ctx, eventsSince, func(ev Event, raw json.RawMessage) error {
		if !Handles(ev.Type) || ev.Session.ID == "" {
			return nil
		}
		sum.Events++
		bySession[ev.Session.ID] = append(bySession[ev.Session.ID], sessionEvent{id: ev.ID, typ: ev.Type, created: ev.Created, raw: raw})
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("reconcile: list events: %w", err)
	}
	r.progress(sum)

	missing := make(map[string]string) // payment intent or invoice → session without an order
	err = r.Stripe.CompletedSessions(ctx, since, func(s Session, raw json.RawMessage) error {
		sum.Checked++
		defer func() {
			if sum.Checked%reconcileProgressEvery == 0 {
				r.progress(sum)
			}
		}()
		events := bySession[s.ID]
		problem, err := r.problem(ctx, s, events)
		if err != nil || problem == "" {
			return err
		}
		f, err := r.fix(ctx, s, raw, events, now, dryRun)
		if err != nil {
			return err
		}
		f.Problem = problem
		if problem == "no order" {
			sum.Missing++
			for _, id := range []string{s.Payment.PaymentIntent, s.Payment.Invoice} {
				if id != "" {
					missing[id] = s.ID
				}
			}
		} else {
			sum.Lagging++
		}
		sum.Enqueued += len(f.Queued)
		for _, id := range f.Queued {
			if Synthesized(id) {
				sum.Synthesized++
			}
		}
		sum.InFlight += len(f.InFlight)
		sum.DeadLettered += len(f.DeadLetters)
		r.logger().Info("reconcile: order missing or behind", "session_id", s.ID, "problem", problem,
			"queued", f.Queued, "in_flight", f.InFlight, "dead_letters", f.DeadLetters, "dry_run", dryRun)
		if r.Found != nil {
			r.Found(f)
		}
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("reconcile: %w", err)
	}
	if err := r.money(ctx, eventsSince, now, dryRun, missing, &sum); err != nil {
		return sum, fmt.Errorf("reconcile: %w", err)
	}
	return sum, nil
}

// money queues the missed money events of known orders (see Run); missing
// maps the payments of sessions found without an order to their ids.
func (r *Reconciler) money(ctx context.Context, since, now time.Time, dryRun bool, missing map[string]string, sum *ReconcileSummary) error {
	var events []Event
	raws := make(map[string]json.RawMessage)
	err := r.Stripe.MoneyEvents(ctx, since, func(ev Event, raw json.RawMessage) error {
		if MoneyObject(ev.Type) == "" || ev.Object == "" {
			return nil
		}
		sum.MoneyEvents++
		if _, seen := raws[ev.ID]; !seen {
			events = append(events, ev)
		}
		raws[ev.ID] = raw
		return nil
	})
	if err != nil {
		return fmt.Errorf("list money events: %w", err)
	}
	slices.SortStableFunc(events, func(a, b Event) int { return a.Created.Compare(b.Created) })
	for _, ev := range events {
		sessionID, err := r.sessionOfPayment(ctx, ev.Payment, missing)
		if err != nil {
			return err
		}
		if sessionID == "" {
			continue // no order of ours: the worker acknowledges such events
		}
		rp, dead, err := r.replayOf(ctx, sessionEvent{id: ev.ID, typ: ev.Type, created: ev.Created, raw: raws[ev.ID]}, now)
		if err != nil {
			return err
		}
		if rp == nil && !dead {
			continue // processed
		}
		f := Finding{SessionID: sessionID, Problem: fmt.Sprintf("missed %s (%s)", ev.Type, ev.Object)}
		if dead {
			f.DeadLetters = []string{ev.ID}
		} else if err := r.queue(ctx, &f, []Replay{*rp}, now, dryRun); err != nil {
			return err
		}
		sum.Missed++
		sum.Enqueued += len(f.Queued)
		sum.InFlight += len(f.InFlight)
		sum.DeadLettered += len(f.DeadLetters)
		r.logger().Info("reconcile: money event missed", "session_id", sessionID, "event_id", ev.ID, "type", ev.Type,
			"object", ev.Object, "queued", f.Queued, "in_flight", f.InFlight, "dead_letters", f.DeadLetters, "dry_run", dryRun)
		if r.Found != nil {
			r.Found(f)
		}
	}
	return nil
}

// sessionOfPayment is the session of the known order p names, or "".
func (r *Reconciler) sessionOfPayment(ctx context.Context, p Payment, missing map[string]string) (string, error) {
	if p == (Payment{}) {
		return "", nil
	}
	switch o, err := r.Store.OrderByPayment(ctx, p); {
	case err == nil:
		return o.CheckoutSessionID, nil
	case !errors.Is(err, ErrNotFound):
		return "", fmt.Errorf("order of payment %+v: %w", p, err)
	}
	for _, id := range []string{p.PaymentIntent, p.Invoice} {
		if s, ok := missing[id]; ok && id != "" {
			return s, nil
		}
	}
	return "", nil
}

// problem says how the session's order falls short, or "" if it does not.
func (r *Reconciler) problem(ctx context.Context, s Session, events []sessionEvent) (string, error) {
	o, err := r.Store.OrderBySession(ctx, s.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return "no order", nil
	case err != nil:
		return "", fmt.Errorf("order of %s: %w", s.ID, err)
	case o.base() != StatusAwaitingPayment: // held by the merchant while awaiting payment counts too
		return "", nil
	case s.PaymentStatus.Settled():
		return fmt.Sprintf("order %s, session %s", o.Status, s.PaymentStatus), nil
	}
	for _, ev := range events {
		if ev.typ == EventSessionAsyncPaymentFailed {
			return fmt.Sprintf("order %s, payment failed (%s)", o.Status, ev.id), nil
		}
	}
	return "", nil
}

// fix queues the events that bring the session's order up to date.
func (r *Reconciler) fix(ctx context.Context, s Session, raw json.RawMessage, events []sessionEvent, now time.Time, dryRun bool) (Finding, error) {
	f := Finding{SessionID: s.ID}
	slices.SortStableFunc(events, func(a, b sessionEvent) int { return a.created.Compare(b.created) })
	var replays []Replay
	for _, ev := range events {
		rp, dead, err := r.replayOf(ctx, ev, now)
		switch {
		case err != nil:
			return f, err
		case dead:
			f.DeadLetters = append(f.DeadLetters, ev.id)
		case rp != nil:
			replays = append(replays, *rp)
		}
	}
	if len(replays) == 0 && len(f.DeadLetters) == 0 {
		rp, err := r.synthesize(s, raw, now)
		if err != nil {
			return f, err
		}
		replays = append(replays, rp)
	}
	return f, r.queue(ctx, &f, replays, now, dryRun)
}

// replayOf is the replay of a listed event, or nil when it was processed
// or (dead) is a dead letter that `fulfillmentd dlq` can retry. A dead
// letter a retry cannot help (the worker's signature check would refuse
// it) is replaced by the event as Stripe's API lists it.
func (r *Reconciler) replayOf(ctx context.Context, ev sessionEvent, now time.Time) (rp *Replay, dead bool, err error) {
	done, err := r.Store.EventProcessed(ctx, ev.id)
	if err != nil || done {
		return nil, false, err
	}
	switch dl, err := r.Store.DeadLetter(ctx, ev.id); {
	case err == nil && dl.Retriable():
		return nil, true, nil
	case err == nil:
	case !errors.Is(err, ErrNotFound):
		return nil, false, err
	}
	return &Replay{EventID: ev.id, EventType: ev.typ, Payload: ev.raw, Reason: "reconcile", RequestedAt: now, FromStripeAPI: true}, false, nil
}

// queue queues the replays not in flight (on a dry run, only reports them)
// and records what it did in f.
func (r *Reconciler) queue(ctx context.Context, f *Finding, replays []Replay, now time.Time, dryRun bool) error {
	for _, rp := range replays {
		switch recent, err := r.inFlight(ctx, rp.EventID, now); {
		case err != nil:
			return err
		case recent:
			f.InFlight = append(f.InFlight, rp.EventID)
			continue
		}
		if dryRun {
			f.Queued = append(f.Queued, rp.EventID)
			continue
		}
		_, queued, err := r.Store.EnqueueReplay(ctx, rp)
		if err != nil {
			return fmt.Errorf("queue %s for %s: %w", rp.EventID, f.SessionID, err)
		}
		if queued {
			f.Queued = append(f.Queued, rp.EventID)
		} else {
			f.InFlight = append(f.InFlight, rp.EventID)
		}
	}
	return nil
}

// inFlight reports whether the event was queued for replay within the
// cooldown (its replay may still be retrying).
func (r *Reconciler) inFlight(ctx context.Context, eventID string, now time.Time) (bool, error) {
	cooldown := r.Cooldown
	if cooldown <= 0 {
		cooldown = DefaultReplayCooldown
	}
	rps, err := r.Store.Replays(ctx, eventID)
	if err != nil {
		return false, err
	}
	for _, rp := range rps {
		if rp.Pending() || now.Sub(rp.RequestedAt) < cooldown {
			return true, nil
		}
	}
	return false, nil
}

// SynthesizedEventID is the id of the checkout.session.completed event
// reconcile builds for a session in the given payment state.
func SynthesizedEventID(sessionID string, ps PaymentStatus) string {
	return synthesizedPrefix + sessionID + ":" + string(ps)
}

// synthesizedPrefix starts the id of every event reconcile builds.
const synthesizedPrefix = "reconcile:"

// Synthesized reports whether an event id is one reconcile built
// (SynthesizedEventID), not one Stripe sent.
func Synthesized(eventID string) bool { return strings.HasPrefix(eventID, synthesizedPrefix) }

// synthesize builds the checkout.session.completed event Stripe would have
// sent, with the session as Stripe just listed it.
func (r *Reconciler) synthesize(s Session, raw json.RawMessage, now time.Time) (Replay, error) {
	id := SynthesizedEventID(s.ID, s.PaymentStatus)
	body, err := r.BuildEvent(id, EventSessionCompleted, raw, now)
	if err != nil {
		return Replay{}, fmt.Errorf("build event for %s: %w", s.ID, err)
	}
	return Replay{EventID: id, EventType: EventSessionCompleted, Payload: body, Reason: "reconcile", RequestedAt: now, FromStripeAPI: true}, nil
}

func (r *Reconciler) progress(sum ReconcileSummary) {
	if r.Progress != nil {
		r.Progress(sum)
	}
}

func (r *Reconciler) now() time.Time { return NowOr(r.Now).UTC() }

func (r *Reconciler) logger() *slog.Logger { return LoggerOr(r.Log) }
