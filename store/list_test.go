package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

func sessionsOf(orders []fulfillment.Order) []string {
	s := make([]string, len(orders))
	for i, o := range orders {
		s[i] = o.CheckoutSessionID
	}
	return s
}

func TestListOrders(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()

	// 25 orders; every fifth awaits payment.
	var all, awaiting []string
	for i := range 25 {
		session := fmt.Sprintf("cs_list_%02d", i)
		st, ps := fulfillment.StatusReadyToShip, fulfillment.PaymentPaid
		if i%5 == 0 {
			st, ps = fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid
			awaiting = append(awaiting, session)
		}
		mustRecord(t, db, "evt_"+session, fulfillment.EventSessionCompleted, order(session, st, ps, i%4, i))
		all = append(all, session)
	}

	list := func(p fulfillment.ListParams) fulfillment.Page {
		t.Helper()
		page, err := db.ListOrders(ctx, p)
		if err != nil {
			t.Fatalf("ListOrders(%+v): %v", p, err)
		}
		if page.NextCursor == "" {
			t.Fatalf("ListOrders(%+v): empty NextCursor", p)
		}
		return page
	}
	// pageAll follows NextCursor from cursor until an empty page.
	pageAll := func(cursor string, limit int, st fulfillment.Status) ([]string, string) {
		t.Helper()
		var seen []string
		for range 100 {
			page := list(fulfillment.ListParams{After: cursor, Limit: limit, Status: st})
			if len(page.Orders) > limit {
				t.Fatalf("page of %d orders, limit %d", len(page.Orders), limit)
			}
			if len(page.Orders) == 0 {
				if page.NextCursor != cursor && cursor != "" {
					t.Fatalf("empty page: NextCursor %q, want the input cursor %q", page.NextCursor, cursor)
				}
				return seen, page.NextCursor
			}
			seen = append(seen, sessionsOf(page.Orders)...)
			cursor = page.NextCursor
		}
		t.Fatal("paging does not end")
		return nil, ""
	}

	t.Run("pages of 10 follow the cursor through every order once, in change order", func(t *testing.T) {
		seen, _ := pageAll("", 10, "")
		if fmt.Sprint(seen) != fmt.Sprint(all) {
			t.Errorf("got %v\nwant %v", seen, all)
		}
	})
	t.Run("limit 0 means the default", func(t *testing.T) {
		if n := len(list(fulfillment.ListParams{}).Orders); n != 25 {
			t.Errorf("%d orders, want 25", n)
		}
	})
	t.Run("limit above the maximum is capped", func(t *testing.T) {
		if n := len(list(fulfillment.ListParams{Limit: fulfillment.MaxListLimit + 1}).Orders); n != 25 {
			t.Errorf("%d orders, want 25", n)
		}
	})
	t.Run("limit 1", func(t *testing.T) {
		page := list(fulfillment.ListParams{Limit: 1})
		if got := sessionsOf(page.Orders); len(got) != 1 || got[0] != all[0] {
			t.Errorf("got %v, want [%s]", got, all[0])
		}
	})
	t.Run("status filter", func(t *testing.T) {
		seen, _ := pageAll("", 2, fulfillment.StatusAwaitingPayment)
		if fmt.Sprint(seen) != fmt.Sprint(awaiting) {
			t.Errorf("got %v, want %v", seen, awaiting)
		}
		if page := list(fulfillment.ListParams{Status: fulfillment.StatusCanceled}); len(page.Orders) != 0 {
			t.Errorf("canceled: got %v, want none", sessionsOf(page.Orders))
		}
	})
	t.Run("empty page keeps the cursor", func(t *testing.T) {
		_, end := pageAll("", 25, "")
		page := list(fulfillment.ListParams{After: end, Limit: 5})
		if len(page.Orders) != 0 || page.NextCursor != end {
			t.Errorf("after the end: %d orders, NextCursor %q, want none and %q", len(page.Orders), page.NextCursor, end)
		}
		page = list(fulfillment.ListParams{After: "99999999", Limit: 5})
		if len(page.Orders) != 0 || page.NextCursor != "99999999" {
			t.Errorf("far cursor: %d orders, NextCursor %q", len(page.Orders), page.NextCursor)
		}
	})
	t.Run("malformed cursors", func(t *testing.T) {
		for _, c := range []string{"abc", "-1", "+1", "1.5", " 1", "1 ", "0x10", "99999999999999999999"} {
			if _, err := db.ListOrders(ctx, fulfillment.ListParams{After: c}); !errors.Is(err, fulfillment.ErrBadRequest) {
				t.Errorf("cursor %q: error %v, want ErrBadRequest", c, err)
			}
		}
	})
	t.Run("an order that changes reappears after the cursor", func(t *testing.T) {
		_, end := pageAll("", 7, "")
		session := awaiting[1]
		paid := order(session, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 0, 100)
		_, outcome := mustRecord(t, db, "evt_paid_"+session, fulfillment.EventSessionAsyncPaymentSucceed, paid)
		if outcome != fulfillment.OutcomeUpdated {
			t.Fatalf("outcome %s, want updated", outcome)
		}
		page := list(fulfillment.ListParams{After: end})
		if len(page.Orders) != 1 || page.Orders[0].CheckoutSessionID != session ||
			page.Orders[0].Status != fulfillment.StatusReadyToShip {
			t.Fatalf("after the change: got %v, want [%s] ready_to_ship", sessionsOf(page.Orders), session)
		}
		if len(page.Orders[0].LineItems) != 1 {
			t.Errorf("line items of the changed order: %d, want 1", len(page.Orders[0].LineItems))
		}
		// An event that teaches nothing new does not move it again.
		mustRecord(t, db, "evt_again_"+session, fulfillment.EventSessionAsyncPaymentSucceed, paid)
		if page := list(fulfillment.ListParams{After: page.NextCursor}); len(page.Orders) != 0 {
			t.Errorf("unchanged order reappeared: %v", sessionsOf(page.Orders))
		}
		// It left the awaiting_payment feed and is in ready_to_ship's, last.
		seen, _ := pageAll("", 100, fulfillment.StatusReadyToShip)
		if seen[len(seen)-1] != session {
			t.Errorf("ready_to_ship feed ends with %s, want %s", seen[len(seen)-1], session)
		}
	})
}

// A writer creates and updates orders while a reader polls the feed from the
// start with small pages. Once the writer is done and the reader has polled
// to an empty page, the reader has seen every order in its final state.
func TestListOrdersFeedMissesNothingWhileWriting(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	const orders = 150

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range orders {
			session := fmt.Sprintf("cs_feed_%03d", i)
			c := order(session, fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid, 2, 2*i)
			if _, _, err := db.Record(ctx, "evt_c_"+session, fulfillment.EventSessionCompleted, c); err != nil {
				t.Errorf("Record: %v", err)
				return
			}
			if i%3 == 0 && i > 0 {
				// Pay an earlier order: it moves to the end of the feed.
				prev := fmt.Sprintf("cs_feed_%03d", max(0, i-1-i%7))
				p := order(prev, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 2, 2*i+1)
				if _, _, err := db.Record(ctx, "evt_p_"+prev, fulfillment.EventSessionAsyncPaymentSucceed, p); err != nil {
					t.Errorf("Record: %v", err)
					return
				}
			}
		}
	})

	latest := map[string]fulfillment.Order{}
	cursor := ""
	finished := false
	for polls := 0; ; polls++ {
		if polls > 100000 {
			t.Fatal("reader never caught up")
		}
		select {
		case <-done:
			finished = true
		default:
		}
		page, err := db.ListOrders(ctx, fulfillment.ListParams{After: cursor, Limit: 3})
		if err != nil {
			t.Fatalf("ListOrders: %v", err)
		}
		for _, o := range page.Orders {
			latest[o.CheckoutSessionID] = o
		}
		cursor = page.NextCursor
		// Only a poll that started after the writer finished proves the end.
		if finished && len(page.Orders) == 0 {
			break
		}
	}
	wg.Wait()

	final, err := db.ListOrders(ctx, fulfillment.ListParams{Limit: fulfillment.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(final.Orders) != orders {
		t.Fatalf("%d orders at the end, want %d", len(final.Orders), orders)
	}
	for _, o := range final.Orders {
		seen, ok := latest[o.CheckoutSessionID]
		if !ok {
			t.Errorf("order %s never seen by the polling reader", o.CheckoutSessionID)
			continue
		}
		sameOrder(t, "latest seen "+o.CheckoutSessionID, seen, o)
	}
}
