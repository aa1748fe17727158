package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

// BenchmarkRelay drains an outbox of b.N order changes (one paid order with
// two lines each, about 700 bytes of JSON) to an embedded server that
// fsyncs every write (SyncAlways, serve's default).
func BenchmarkRelay(b *testing.B) {
	db := openStore(b)
	js := natstest.JetStream(b, natstest.Embedded(b, b.TempDir(), 0))
	if err := broker.SetupFeed(context.Background(), js, broker.FeedConfig{}); err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		paid(b, db, fmt.Sprintf("cs_bench_%d_%d", b.N, i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	go func() { _ = (&broker.Relay{JS: js, Outbox: db, Wake: db.OutboxWritten()}).Run(ctx) }()
	for {
		left, err := db.PendingChanges(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}
