package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

const reconcileUsage = `Usage:
  fulfillmentd reconcile [--since 72h] [--dry-run]

Lists the Checkout Sessions completed on Stripe since --since, and the checkout payment events
of the same period (Stripe keeps events 30 days), and queues for replay every event that a
missing or lagging order needs (an order awaiting payment whose session is paid, or whose
async payment failed). A session without any event gets a checkout.session.completed built
from the session itself, id reconcile:<session id>:<payment_status>. Then it lists the refund,
dispute and early fraud warning events of the same period and queues those of known orders
that were never processed. Safe to run again: what it queued is left alone for 12 h, and
processing records each event once.

Needs STRIPE_SECRET_KEY; uses FULFILLMENT_DATA_DIR, STRIPE_API_BASE, STRIPE_MAX_RPS (this
process has its own limiter: lower it while serve runs).

Flags:
`

// reconcile runs "fulfillmentd reconcile".
func reconcile(ctx context.Context, args []string, e env) error {
	stdout, stderr := e.stdout, e.stderr
	fs := newFlags("reconcile", reconcileUsage, e)
	sinceFlag := fs.String("since", "72h", "sessions created in this window: a duration (72h) or days (3d)")
	dryRun := fs.Bool("dry-run", false, "report what would be queued, queue nothing")
	cfg, err := parseSettings(fs, pick(settings(), []string{"STRIPE_SECRET_KEY"},
		"STRIPE_API_BASE", "STRIPE_MAX_RPS", "STRIPE_TIMEOUT", "FULFILLMENT_DATA_DIR",
		"FULFILLMENT_LOG_FORMAT", "FULFILLMENT_LOG_LEVEL"), args, e)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	window, err := parseWindow(*sinceFlag)
	if err != nil {
		return fmt.Errorf("reconcile: --since: %w", err)
	}
	db, err := openExisting(ctx, cfg, *dryRun)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	defer db.Close()
	client := cfg.stripeClient(newLogger(stderr, cfg.LogFormat, cfg.LogLevel), nil)

	verb := "queued"
	if *dryRun {
		verb = "would queue"
	}
	now := time.Now().UTC()
	since := now.Add(-window)
	eventsSince := fulfillment.EventsSince(since, now)
	mode := ""
	if *dryRun {
		mode = " — dry run"
	}
	fmt.Fprintf(stdout, "reconcile: Checkout Sessions completed since %s (%s), checkout events since %s%s\n",
		stamp(since), *sinceFlag, stamp(eventsSince), mode)
	listed := false
	r := &fulfillment.Reconciler{
		Stripe: client,
		Store:  db,
		Now:    func() time.Time { return now },
		Progress: func(s fulfillment.ReconcileSummary) {
			if !listed {
				listed = true
				fmt.Fprintf(stdout, "  %d checkout payment events listed\n", s.Events)
				return
			}
			fmt.Fprintf(stdout, "  %d sessions checked, %d missing, %d lagging so far\n", s.Checked, s.Missing, s.Lagging)
		},
		Found: func(f fulfillment.Finding) {
			var parts []string
			if len(f.Queued) > 0 {
				parts = append(parts, verb+" "+strings.Join(f.Queued, ", "))
			}
			if len(f.InFlight) > 0 {
				parts = append(parts, "in flight "+strings.Join(f.InFlight, ", "))
			}
			if len(f.DeadLetters) > 0 {
				parts = append(parts, "dead letter "+strings.Join(f.DeadLetters, ", ")+" (see fulfillmentd dlq)")
			}
			fmt.Fprintf(stdout, "  %s: %s → %s\n", printable(f.SessionID), printable(f.Problem), printable(strings.Join(parts, "; ")))
		},
		BuildEvent: stripeevent.Build,
	}
	sum, err := r.Run(ctx, since, *dryRun)
	if err != nil {
		return explainStripeKey(err)
	}
	fmt.Fprintf(stdout, "summary: checked %d, missing %d, lagging %d, %s %d (%d built from the session), in flight %d, dead letters %d; money events listed %d, missed %d\n",
		sum.Checked, sum.Missing, sum.Lagging, verb, sum.Enqueued, sum.Synthesized, sum.InFlight, sum.DeadLettered, sum.MoneyEvents, sum.Missed)
	if sum.Enqueued > 0 && !*dryRun {
		fmt.Fprintln(stdout, replayNote)
	}
	return nil
}
