package stripeemu_test

import (
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
)

func BenchmarkSeed(b *testing.B) {
	for b.Loop() {
		if err := stripeemu.New(stripeemu.Options{}).Seed(fixtures.FS, "stripe"); err != nil {
			b.Fatal(err)
		}
	}
}
