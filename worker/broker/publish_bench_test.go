package broker_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/worker/broker"
	"github.com/fulfillmentd/fulfillmentd/worker/broker/natstest"
)

// BenchmarkPublish measures a receiver's publish: one ~4 KB event, returned
// after the PubAck, on the embedded server's file store. sync_always fsyncs
// every write (the default); sync_2m is nats-server's default interval.
// The parallel variants publish from many goroutines, as HTTP handlers do.
func BenchmarkPublish(b *testing.B) {
	payload := []byte(`{"id":"evt_x","object":"event","type":"checkout.session.completed","data":` +
		strings.Repeat(`{"k":"0123456789abcdef"}`, 165) + `}`) // ≈ 4 KB
	modes := []struct {
		name string
		sync time.Duration
	}{
		{"sync_always", 0},
		{"sync_2m", 2 * time.Minute},
	}
	for _, mode := range modes {
		setup := func(b *testing.B) *broker.Publisher {
			js := natstest.JetStream(b, natstest.Embedded(b, b.TempDir(), mode.sync))
			if _, err := broker.Setup(context.Background(), js, broker.StreamConfig{}); err != nil {
				b.Fatal(err)
			}
			return broker.NewPublisher(js)
		}
		b.Run(mode.name, func(b *testing.B) {
			pub := setup(b)
			ctx := context.Background()
			b.SetBytes(int64(len(payload)))
			i := 0
			for b.Loop() {
				i++
				if _, err := pub.Publish(ctx, completed, "evt_"+strconv.Itoa(i), payload); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
		b.Run(mode.name+"/parallel", func(b *testing.B) {
			pub := setup(b)
			ctx := context.Background()
			var n atomic.Int64
			b.SetBytes(int64(len(payload)))
			b.SetParallelism(16) // 16 × GOMAXPROCS concurrent publishers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := "evt_" + strconv.FormatInt(n.Add(1), 10)
					if _, err := pub.Publish(ctx, completed, id, payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
