package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
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
  fulfillmentd reconcile [--since 72h] [--dry-run]   queue what Stripe completed but no order shows
  fulfillmentd version         print the version

Run "fulfillmentd serve -h" for the settings (each flag has an environment variable).
`

// run is the whole program; main only turns its error into an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "demo":
		return demo(ctx, rest, getenv, stdout, stderr)
	case "loadtest":
		return loadtest(ctx, rest, getenv, stdout, stderr)
	case "cross-sells":
		return crossSells(ctx, rest, getenv, stdout, stderr)
	case "orders":
		return ordersCommand(ctx, rest, getenv, stdout, stderr, time.Now)
	case "dlq":
		return dlq(ctx, rest, getenv, stdout, stderr)
	case "reconcile":
		return reconcile(ctx, rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "fulfillmentd", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("serve", args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	a, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	return a.run(ctx, func(url string) {
		fmt.Fprintf(stdout, "fulfillmentd: listening on %s\n", url)
		if a.adminLn != nil {
			fmt.Fprintf(stdout, "fulfillmentd: admin endpoints (/healthz /readyz /metrics) on http://%s\n", a.adminLn.Addr())
		}
	})
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v + " " + info.GoVersion
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level)) // validated by loadConfig; "" is info
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
