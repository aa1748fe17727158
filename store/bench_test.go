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
		page, err := db.ListOrders(ctx, ListParams{After: cursor, Limit: 100})
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
