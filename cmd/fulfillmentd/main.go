// Command fulfillmentd turns Stripe Checkout payments into warehouse-ready
// orders: it verifies Stripe webhooks, makes them durable on NATS JetStream,
// retrieves each session's line items (cross-sells included) and records
// exactly one order per Checkout Session in SQLite.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fulfillmentd:", err)
		os.Exit(1)
	}
}
