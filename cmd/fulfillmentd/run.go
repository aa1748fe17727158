package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"os"
	"os/signal"

	"syscall"
	"time"
)

const usage = `fulfillmentd turns Stripe Checkout payments into warehouse-ready orders.

Usage:
  fulfillmentd serve [flags]   receive webhooks, run workers, serve the warehouse API
  fulfillmentd demo [flags]    the whole pipeline offline, with a built-in Stripe emulator
  fulfillmentd loadtest [flags] signed checkout events at a rate, with latency and Stripe-use figures
  fulfillmentd cross-sells check|report   Checkout eligibility of the cross-sells; their attach rate and revenue
  fulfillmentd orders list|show|export   the orders, from the database (read-only, beside serve)
  fulfillmentd dlq list|show|retry|purge   dead letters: inspect them, put them back on the stream, forget old ones
  fulfillmentd deliveries list|retry   warehouse webhook deliveries: inspect them, send failed ones again
  fulfillmentd reconcile [--since 72h] [--dry-run]   queue what Stripe completed but no order shows
  fulfillmentd version         print the version

Run "fulfillmentd serve -h" for the settings (each flag has an environment variable).
`

// run is the whole program; main only turns its error into an exit code.
// A command's -h or --help prints its usage on stdout and succeeds.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := env{getenv: getenv, stdout: stdout, stderr: stderr, now: time.Now}
	err := dispatch(ctx, "", usage, commandTable(), args, e)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// commandTable is the command table of "fulfillmentd <command>".
func commandTable() []subcommand {
	return []subcommand{
		{name: "serve", run: serve},
		{name: "demo", run: demo},
		{name: "loadtest", run: loadtest},
		{name: "cross-sells", run: crossSells},
		{name: "orders", run: ordersCommand},
		{name: "dlq", run: dlq},
		{name: "deliveries", run: deliveriesCommand},
		{name: "reconcile", run: reconcile},
		{name: "version", run: func(_ context.Context, _ []string, e env) error {
			fmt.Fprintln(e.stdout, "fulfillmentd", version())
			return nil
		}},
	}
}
