package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// BenchmarkRecord records one new order with 5 line items per op, each in its
// own durable (synchronous=FULL) transaction.
func BenchmarkRecord(b *testing.B) {
	db := openTest(b)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		session := fmt.Sprintf("cs_bench_%d", i)
		c := order(session, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 5, i)
		if _, outcome, err := db.Record(ctx, "evt_"+session, fulfillment.EventSessionCompleted, c); err != nil || outcome != fulfillment.OutcomeCreated {
			b.Fatalf("Record: %s, %v", outcome, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkRecordParallel is BenchmarkRecord from many goroutines, as a
// worker pool calls it: the single writer serialises them.
func BenchmarkRecordParallel(b *testing.B) {
	db := openTest(b)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			session := fmt.Sprintf("cs_bench_%d", i)
			c := order(session, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 5, i)
			if _, _, err := db.Record(ctx, "evt_"+session, fulfillment.EventSessionCompleted, c); err != nil {
				b.Errorf("Record: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkListOrders reads pages of 100 orders (5 line items each).
func BenchmarkListOrders(b *testing.B) {
	db := openTest(b)
	ctx := context.Background()
	for i := range 1000 {
		session := fmt.Sprintf("cs_list_%d", i)
		c := order(session, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 5, i)
		if _, _, err := db.Record(ctx, "evt_"+session, fulfillment.EventSessionCompleted, c); err != nil {
			b.Fatal(err)
		}
	}
	cursor := ""
	for b.Loop() {
		page, err := db.ListOrders(ctx, fulfillment.ListParams{After: cursor, Limit: 100})
		if err != nil {
			b.Fatal(err)
		}
		cursor = page.NextCursor
		if len(page.Orders) == 0 {
			cursor = ""
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkStats reads the gauges' snapshot from a database of 200,000
// orders and processed events; "scan" is what a reading cost before
// migration 0005 (orders grouped by status, processed_events counted), for
// comparison.
func BenchmarkStats(b *testing.B) {
	db := openTest(b)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO orders (id, checkout_session_id, status, payment_status, created_at, updated_at, change_seq)
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
			SELECT 'ord_' || i, 'cs_' || i, CASE i % 3 WHEN 0 THEN 'awaiting_payment' ELSE 'ready_to_ship' END,
				'paid', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', i FROM n`,
		`INSERT INTO processed_events (event_id, event_type, checkout_session_id, outcome, processed_at)
			SELECT 'evt_' || change_seq, 'checkout.session.completed', checkout_session_id, 'created', created_at FROM orders`,
	} {
		if _, err := db.writer.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("stats", func(b *testing.B) {
		for b.Loop() {
			if s, err := db.Stats(ctx); err != nil || s.OrdersByStatus[fulfillment.StatusReadyToShip] != 133334 {
				b.Fatalf("Stats = %+v, %v", s, err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			var n int64
			if err := db.reader.GetContext(ctx, &n, `SELECT COUNT(*) FROM processed_events`); err != nil {
				b.Fatal(err)
			}
			var rows []struct {
				Status string `db:"status"`
				N      int64  `db:"n"`
			}
			if err := db.reader.SelectContext(ctx, &rows, `SELECT status, COUNT(*) AS n FROM orders GROUP BY status`); err != nil {
				b.Fatal(err)
			}
		}
	})
}
