package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	tests := []struct {
		name   string
		modify func(o *fulfillment.Order)
	}{
		{"full order, 120 line items", func(o *fulfillment.Order) { o.LineItems = items(o.CheckoutSessionID, 120) }},
		{"no shipping", func(o *fulfillment.Order) { o.Shipping = nil }},
		{"shipping with empty fields", func(o *fulfillment.Order) { o.Shipping = &fulfillment.Shipping{} }},
		{"nil metadata", func(o *fulfillment.Order) { o.Metadata = nil }},
		{"empty metadata", func(o *fulfillment.Order) { o.Metadata = map[string]string{} }},
		{"no line items", func(o *fulfillment.Order) { o.LineItems = nil }},
		{"zero values", func(o *fulfillment.Order) {
			*o = fulfillment.Order{ID: o.ID, CheckoutSessionID: o.CheckoutSessionID}
		}},
		{"awaiting payment", func(o *fulfillment.Order) {
			o.Status, o.PaymentStatus = fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := openTest(t)
			ctx := context.Background()
			session := fmt.Sprintf("cs_test_roundtrip_%d", i)
			want := order(session, fulfillment.StatusReadyToShip, fulfillment.PaymentNoPaymentRequired, 5, i)
			tt.modify(&want)

			got, outcome, err := db.Record(ctx, "evt_"+session, fulfillment.EventSessionCompleted, want)
			if err != nil {
				t.Fatalf("Record: %v", err)
			}
			if outcome != fulfillment.OutcomeCreated {
				t.Errorf("outcome = %s, want created", outcome)
			}
			sameOrder(t, "Record's result", got, want)

			bySession, err := db.OrderBySession(ctx, session)
			if err != nil {
				t.Fatalf("OrderBySession: %v", err)
			}
			sameOrder(t, "OrderBySession", bySession, want)
			for _, id := range []string{want.ID, session} {
				o, err := db.Order(ctx, id)
				if err != nil {
					t.Fatalf("Order(%s): %v", id, err)
				}
				sameOrder(t, "Order("+id+")", o, want)
			}
			page, err := db.ListOrders(ctx, fulfillment.ListParams{})
			if err != nil {
				t.Fatalf("ListOrders: %v", err)
			}
			if len(page.Orders) != 1 {
				t.Fatalf("ListOrders returned %d orders, want 1", len(page.Orders))
			}
			sameOrder(t, "ListOrders", page.Orders[0], want)
		})
	}

	t.Run("times in another zone come back as the same instant in UTC", func(t *testing.T) {
		t.Parallel()
		db := openTest(t)
		in := order("cs_zone", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 0)
		in.CreatedAt = time.Date(2025, 7, 1, 23, 59, 59, 999999999, paris)
		in.UpdatedAt = time.Now() // with a monotonic clock reading
		rec, _ := mustRecord(t, db, "evt_zone", fulfillment.EventSessionCompleted, in)
		got, err := db.OrderBySession(context.Background(), "cs_zone")
		if err != nil {
			t.Fatal(err)
		}
		sameOrder(t, "read vs Record's result", got, rec)
		if !got.CreatedAt.Equal(in.CreatedAt) || !got.UpdatedAt.Equal(in.UpdatedAt) ||
			got.CreatedAt.Location() != time.UTC {
			t.Errorf("times: got %v / %v, want %v / %v in UTC", got.CreatedAt, got.UpdatedAt, in.CreatedAt, in.UpdatedAt)
		}
	})
}

func TestRecordRejectsMissingIDs(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	for _, tc := range []struct{ event, session string }{{"", "cs_1"}, {"evt_1", ""}} {
		c := order(tc.session, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 0)
		_, _, err := db.Record(context.Background(), tc.event, fulfillment.EventSessionCompleted, c)
		if !fulfillment.IsPermanent(err) {
			t.Errorf("Record(%q, session %q) = %v, want a permanent error", tc.event, tc.session, err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM orders`); n != 0 {
		t.Errorf("%d orders written", n)
	}
}

func TestRecordSameEventTwice(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	first := order("cs_dup", fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid, 4, 1)
	created, outcome := mustRecord(t, db, "evt_dup", fulfillment.EventSessionCompleted, first)
	if outcome != fulfillment.OutcomeCreated {
		t.Fatalf("first outcome = %s", outcome)
	}
	seq := changeSeq(t, db, "cs_dup")

	// The redelivery carries a candidate that would move the order forward:
	// as the same event, it must change nothing.
	again := order("cs_dup", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 4, 2)
	got, outcome := mustRecord(t, db, "evt_dup", fulfillment.EventSessionCompleted, again)
	if outcome != fulfillment.OutcomeDuplicate {
		t.Errorf("second outcome = %s, want duplicate", outcome)
	}
	sameOrder(t, "duplicate's result", got, created)
	stored, err := db.OrderBySession(context.Background(), "cs_dup")
	if err != nil {
		t.Fatal(err)
	}
	sameOrder(t, "stored after duplicate", stored, created)
	if s := changeSeq(t, db, "cs_dup"); s != seq {
		t.Errorf("change_seq moved from %d to %d on a duplicate", seq, s)
	}
	for table, want := range map[string]int{"orders": 1, "line_items": 4, "processed_events": 1} {
		if n := count(t, db, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
}

// The candidates the Processor builds for each event of one session.
type sessionEvent struct {
	id, typ string
	order   fulfillment.Order
}

func sessionEvents(session string) map[string]sessionEvent {
	withoutItems := func(o fulfillment.Order) fulfillment.Order { o.LineItems = nil; return o }
	return map[string]sessionEvent{
		"completed-unpaid": {"evt_cu", fulfillment.EventSessionCompleted,
			order(session, fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid, 3, 1)},
		"completed-paid": {"evt_cp", fulfillment.EventSessionCompleted,
			order(session, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 3, 2)},
		"async-succeeded": {"evt_as", fulfillment.EventSessionAsyncPaymentSucceed,
			order(session, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 3, 3)},
		// The Processor skips listing line items when the order knows them
		// already; such a candidate has none.
		"async-succeeded-no-items": {"evt_asn", fulfillment.EventSessionAsyncPaymentSucceed,
			withoutItems(order(session, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 0, 4))},
		"async-failed": {"evt_af", fulfillment.EventSessionAsyncPaymentFailed,
			order(session, fulfillment.StatusCanceled, fulfillment.PaymentUnpaid, 3, 5)},
	}
}

func permutations(s []string) [][]string {
	if len(s) <= 1 {
		return [][]string{append([]string(nil), s...)}
	}
	var out [][]string
	for i := range s {
		rest := append(append([]string(nil), s[:i]...), s[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]string{s[i]}, p...))
		}
	}
	return out
}

func TestRecordEventsInEveryOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		events  []string
		status  fulfillment.Status
		payment fulfillment.PaymentStatus
	}{
		{[]string{"completed-unpaid", "async-succeeded"}, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid},
		{[]string{"completed-unpaid", "async-succeeded-no-items"}, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid},
		{[]string{"completed-unpaid", "async-failed"}, fulfillment.StatusCanceled, fulfillment.PaymentUnpaid},
		{[]string{"completed-paid", "async-succeeded"}, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid},
		{[]string{"completed-paid", "async-succeeded-no-items"}, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid},
		// Both async outcomes for one session cannot both happen in Stripe;
		// if they did, in any order, the settled payment wins: ready_to_ship
		// and paid, never canceled yet paid.
		{[]string{"completed-unpaid", "async-succeeded", "async-failed"}, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid},
	}
	db := openTest(t)
	ctx := context.Background()
	n := 0
	for _, tt := range tests {
		for _, perm := range permutations(tt.events) {
			n++
			session := fmt.Sprintf("cs_perm_%d", n)
			events := sessionEvents(session)
			t.Run(fmt.Sprint(perm), func(t *testing.T) {
				wantStatus, wantPayment := tt.status, tt.payment
				var want fulfillment.Order // Merge folded in memory
				var seqs []int64
				for i, name := range perm {
					ev := events[name]
					got, outcome := mustRecord(t, db, ev.id+session, ev.typ, ev.order)
					wantOutcome := fulfillment.OutcomeCreated
					if i == 0 {
						want = ev.order
					} else {
						merged, changed := want.Merge(ev.order)
						wantOutcome = fulfillment.OutcomeUnchanged
						if changed {
							wantOutcome = fulfillment.OutcomeUpdated
							merged.UpdatedAt = ev.order.UpdatedAt
						}
						want = merged
					}
					if outcome != wantOutcome {
						t.Errorf("event %d (%s): outcome %s, want %s", i, name, outcome, wantOutcome)
					}
					sameOrder(t, fmt.Sprintf("event %d (%s) result", i, name), got, want)
					seqs = append(seqs, changeSeq(t, db, session))
					if wantStatus == "" && (ev.order.Status == fulfillment.StatusReadyToShip || ev.order.Status == fulfillment.StatusCanceled) {
						wantStatus = ev.order.Status
					}
					if i > 0 {
						bumped := seqs[i] > seqs[i-1]
						if bumped != (outcome == fulfillment.OutcomeUpdated) {
							t.Errorf("event %d (%s): change_seq %d → %d with outcome %s", i, name, seqs[i-1], seqs[i], outcome)
						}
					}
				}
				got, err := db.OrderBySession(ctx, session)
				if err != nil {
					t.Fatal(err)
				}
				sameOrder(t, "stored", got, want)
				if wantPayment == "" {
					wantPayment = want.PaymentStatus
				}
				if got.Status != wantStatus || got.PaymentStatus != wantPayment {
					t.Errorf("final %s/%s, want %s/%s", got.Status, got.PaymentStatus, wantStatus, wantPayment)
				}
				if len(got.LineItems) != 3 {
					t.Errorf("%d line items, want 3", len(got.LineItems))
				}
				first := events[perm[0]].order
				if !got.CreatedAt.Equal(first.CreatedAt) {
					t.Errorf("created_at %v, want the first event's %v", got.CreatedAt, first.CreatedAt)
				}
				if c := count(t, db, `SELECT count(*) FROM processed_events WHERE checkout_session_id = ?`, session); c != len(perm) {
					t.Errorf("%d processed events, want %d", c, len(perm))
				}
			})
		}
	}
}

func TestRecordConcurrentEventsForOneSession(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	const (
		session    = "cs_concurrent"
		goroutines = 16
		perG       = 8
	)
	kinds := []struct {
		typ string
		st  fulfillment.Status
		ps  fulfillment.PaymentStatus
	}{
		{fulfillment.EventSessionCompleted, fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid},
		{fulfillment.EventSessionAsyncPaymentSucceed, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid},
	}
	var (
		mu       sync.Mutex
		outcomes = map[fulfillment.Outcome]int{}
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range perG {
				n := g*perG + i
				// Every event is delivered twice, to goroutines g and
				// g+goroutines/2.
				e := n % (goroutines * perG / 2)
				k := kinds[e%len(kinds)]
				c := order(session, k.st, k.ps, 5, n)
				id := fmt.Sprintf("evt_%d", e)
				_, outcome, err := db.Record(context.Background(), id, k.typ, c)
				if err != nil {
					t.Errorf("Record %s: %v", id, err)
					return
				}
				mu.Lock()
				outcomes[outcome]++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()

	total := goroutines * perG
	if outcomes[fulfillment.OutcomeCreated] != 1 {
		t.Errorf("outcomes %v: want exactly one created", outcomes)
	}
	if outcomes[fulfillment.OutcomeDuplicate] != total/2 {
		t.Errorf("outcomes %v: want %d duplicates", outcomes, total/2)
	}
	if outcomes[fulfillment.OutcomeUpdated] > 1 {
		t.Errorf("outcomes %v: at most one update (awaiting → ready) possible", outcomes)
	}
	for table, want := range map[string]int{"orders": 1, "line_items": 5, "processed_events": total / 2} {
		if n := count(t, db, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	got, err := db.OrderBySession(context.Background(), session)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != fulfillment.StatusReadyToShip || got.PaymentStatus != fulfillment.PaymentPaid {
		t.Errorf("final %s/%s, want ready_to_ship/paid", got.Status, got.PaymentStatus)
	}
	for i, it := range got.LineItems {
		if want := fmt.Sprintf("li_%s_%03d", session, i); it.ID != want {
			t.Errorf("line item %d is %s, want %s", i, it.ID, want)
		}
	}
}

func TestRecordCanceledContext(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := order("cs_cancel", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 2, 0)
	if _, _, err := db.Record(ctx, "evt_cancel", fulfillment.EventSessionCompleted, c); err == nil {
		t.Fatal("Record with a canceled context succeeded")
	} else if fulfillment.IsPermanent(err) {
		t.Errorf("a canceled context is not a permanent failure: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM processed_events`); n != 0 {
		t.Errorf("%d processed events written", n)
	}
	// The writer is still usable.
	mustRecord(t, db, "evt_cancel", fulfillment.EventSessionCompleted, c)
}

// Two DBs on one file stand for two processes (the daemon and a CLI): their
// writers serialise on SQLite's write lock, and each session still gets one
// order and every change its own change_seq.
func TestRecordFromTwoHandlesOnOneFile(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/shared.db"
	ctx := context.Background()
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer db.Close()
		dbs[i] = db
	}
	const sessions, events = 10, 40
	var wg sync.WaitGroup
	for h, db := range dbs {
		for g := range 3 {
			wg.Go(func() {
				for n := range events {
					session := fmt.Sprintf("cs_shared_%d", (n+g)%sessions)
					st, ps := fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid
					if n%4 == 3 {
						st, ps = fulfillment.StatusReadyToShip, fulfillment.PaymentPaid
					}
					id := fmt.Sprintf("evt_%d_%d", g, n) // both handles get every event
					if _, _, err := db.Record(ctx, id, fulfillment.EventSessionCompleted, order(session, st, ps, 2, h*1000+n)); err != nil {
						t.Errorf("handle %d: Record %s: %v", h, id, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for table, want := range map[string]int{
		"orders": sessions, "line_items": 2 * sessions, "processed_events": 3 * events,
		"(SELECT DISTINCT change_seq FROM orders)": sessions,
	} {
		if n := count(t, dbs[0], `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	page, err := dbs[1].ListOrders(ctx, fulfillment.ListParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range page.Orders {
		if o.Status != fulfillment.StatusReadyToShip {
			t.Errorf("%s: %s, want ready_to_ship", o.CheckoutSessionID, o.Status)
		}
	}
}
