package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

const crossSellsUsage = `Usage:
  fulfillmentd cross-sells check [--automatic-tax] [--json]
      for every pair in FULFILLMENT_CROSS_SELLS, read both products and their active
      prices from Stripe and say whether Checkout will offer the cross-sell; exits 1
      when any pair is ineligible (needs STRIPE_SECRET_KEY)
  fulfillmentd cross-sells report [--since 30d] [--json]
      attach rate, cross-sell revenue and average order value with and without the
      cross-sell, per pair and currency, from the paid orders in FULFILLMENT_DATA_DIR
      (read-only: safe while serve runs)

Run "fulfillmentd cross-sells check -h" or "... report -h" for the flags.
`

// crossSells runs "fulfillmentd cross-sells <check|report>".
func crossSells(ctx context.Context, args []string, e env) error {
	return dispatch(ctx, "cross-sells", crossSellsUsage, []subcommand{
		{name: "check", run: crossSellsCheck},
		{name: "report", run: crossSellsReport},
	}, args, e)
}

// checkOutput is what "cross-sells check --json" prints.
type checkOutput struct {
	AutomaticTax bool                      `json:"automatic_tax"`
	Eligible     int                       `json:"eligible"`
	Ineligible   int                       `json:"ineligible"`
	Pairs        []fulfillment.Eligibility `json:"pairs"`
}

func crossSellsCheck(ctx context.Context, args []string, e env) error {
	fs := newFlags("cross-sells check", "", e)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	automaticTax := fs.Bool("automatic-tax", false, "check as for Checkout Sessions with automatic_tax enabled and no default tax behavior "+
		"in the Dashboard's Tax settings: every cross-sell price then needs a tax behavior")
	cfg, err := parseSettings(fs, pick(settings(),
		[]string{"STRIPE_SECRET_KEY", "FULFILLMENT_CROSS_SELLS"},
		"STRIPE_API_BASE", "STRIPE_MAX_RPS", "STRIPE_TIMEOUT", "FULFILLMENT_LOG_FORMAT", "FULFILLMENT_LOG_LEVEL"), args, e)
	if err != nil {
		return fmt.Errorf("cross-sells check: %w", err)
	}
	client := cfg.stripeClient(newLogger(e.stderr, cfg.LogFormat, cfg.LogLevel), nil)
	out, err := checkCrossSells(ctx, client, cfg.CrossSells, *automaticTax)
	if err != nil {
		return fmt.Errorf("cross-sells check: %w", explainStripeKey(err))
	}
	if *asJSON {
		if err := writeIndentedJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		printEligibility(e.stdout, cfg.CrossSellsFile, out)
	}
	if out.Ineligible > 0 {
		return fmt.Errorf("cross-sells check: %d of %d cross-sell pairs are ineligible: Checkout will not offer them (reasons above)",
			out.Ineligible, len(out.Pairs))
	}
	return nil
}

// productReader reads one product from Stripe (stripeapi.Client).
type productReader interface {
	Product(ctx context.Context, id string) (fulfillment.Product, error)
}

// checkCrossSells reads every product of cs from Stripe and returns each
// pair's verdict: "cross-sells check", and the console's check.
func checkCrossSells(ctx context.Context, client productReader, cs fulfillment.CrossSells, automaticTax bool) (checkOutput, error) {
	catalog := make(map[string]*fulfillment.Product)
	for _, id := range cs.Products() {
		p, err := client.Product(ctx, id)
		switch {
		case errors.Is(err, fulfillment.ErrNotFound):
			catalog[id] = nil
		case err != nil:
			return checkOutput{}, err
		default:
			catalog[id] = &p
		}
	}
	out := checkOutput{AutomaticTax: automaticTax, Pairs: []fulfillment.Eligibility{}}
	for _, pair := range cs.Pairs() {
		v := fulfillment.CheckCrossSell(pair, catalog[pair.Base], catalog[pair.CrossSell], automaticTax)
		out.Pairs = append(out.Pairs, v)
		if v.Eligible {
			out.Eligible++
		} else {
			out.Ineligible++
		}
	}
	return out, nil
}

func printEligibility(w io.Writer, file string, out checkOutput) {
	tax := "off (pass --automatic-tax if your Checkout Sessions enable it)"
	if out.AutomaticTax {
		tax = "on"
	}
	fmt.Fprintf(w, "Cross-sells in %s, checked against the Stripe catalog (automatic tax: %s):\n\n", printable(file), tax)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIR\tVERDICT\tREASONS")
	for _, v := range out.Pairs {
		verdict := "eligible"
		if !v.Eligible {
			verdict = "INELIGIBLE"
		}
		pair := printable(v.Base) + " → " + printable(v.CrossSell)
		if len(v.Reasons) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t—\n", pair, verdict)
			continue
		}
		for i, r := range v.Reasons {
			if i > 0 {
				pair, verdict = "", ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s: %s\n", pair, verdict, printable(r.Code), printable(r.Message))
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d of %d pairs eligible, %d ineligible.\n", out.Eligible, len(out.Pairs), out.Ineligible)
}

// reportOutput is what "cross-sells report --json" prints.
type reportOutput struct {
	Since *time.Time  `json:"since"` // null: every order
	Until time.Time   `json:"until"`
	Pairs []pairStats `json:"pairs"`
}

// pairStats is one pair's figures in one currency. Amounts are in the
// currency's smallest unit; averages are rounded to the unit.
type pairStats struct {
	Base                     string  `json:"base"`
	CrossSell                string  `json:"cross_sell"`
	Currency                 string  `json:"currency"` // "" when no paid order has the base product
	OrdersWithBase           int64   `json:"orders_with_base"`
	OrdersWithCrossSell      int64   `json:"orders_with_cross_sell"`
	AttachRate               float64 `json:"attach_rate"`
	CrossSellRevenue         int64   `json:"cross_sell_revenue"`
	OrderValueWith           int64   `json:"order_value_with"`
	OrderValueWithout        int64   `json:"order_value_without"`
	AverageOrderValueWith    int64   `json:"average_order_value_with"`
	AverageOrderValueWithout int64   `json:"average_order_value_without"`
	// OrdersRefunded and AmountRefunded: the orders with the base product
	// Stripe refunded in part, counted above at their amount_total, and
	// what was refunded of them.
	OrdersRefunded int64 `json:"orders_refunded"`
	AmountRefunded int64 `json:"amount_refunded"`
}

func crossSellsReport(ctx context.Context, args []string, e env) error {
	fs := newFlags("cross-sells report", "", e)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	sinceFlag := fs.String("since", "30d", "orders recorded in this window: 30d, 12h, a date 2025-01-31 (UTC), an RFC 3339 time, or all")
	cfg, err := parseSettings(fs, pick(settings(), []string{"FULFILLMENT_CROSS_SELLS"}, "FULFILLMENT_DATA_DIR"), args, e)
	if err != nil {
		return fmt.Errorf("cross-sells report: %w", err)
	}
	db, err := store.OpenReadOnly(ctx, cfg.dbPath())
	if err != nil {
		return fmt.Errorf("cross-sells report: %w (FULFILLMENT_DATA_DIR is %q; serve creates the database)", err, cfg.DataDir)
	}
	defer db.Close()
	until := e.now().UTC()
	since, stats, err := crossSellReport(ctx, db, cfg.CrossSells.Pairs(), *sinceFlag, until)
	if err != nil {
		return fmt.Errorf("cross-sells report: %w", err)
	}
	out := reportOutput{Until: until, Pairs: make([]pairStats, len(stats))}
	if !since.IsZero() {
		out.Since = &since
	}
	for i, s := range stats {
		out.Pairs[i] = pairStats{
			Base: s.Base, CrossSell: s.CrossSell, Currency: s.Currency,
			OrdersWithBase: s.OrdersWithBase, OrdersWithCrossSell: s.OrdersWithCrossSell, AttachRate: s.AttachRate(),
			CrossSellRevenue: s.CrossSellRevenue, OrderValueWith: s.OrderValueWith, OrderValueWithout: s.OrderValueWithout,
			AverageOrderValueWith: s.AverageOrderValueWith(), AverageOrderValueWithout: s.AverageOrderValueWithout(),
			OrdersRefunded: s.OrdersRefunded, AmountRefunded: s.AmountRefunded,
		}
	}
	if *asJSON {
		return writeIndentedJSON(e.stdout, out)
	}
	printReport(e.stdout, *sinceFlag, out)
	return nil
}

func printReport(w io.Writer, sinceFlag string, out reportOutput) {
	window := "all orders"
	if out.Since != nil {
		window = fmt.Sprintf("orders recorded since %s (%s)", out.Since.Format(time.RFC3339), sinceFlag)
	}
	fmt.Fprintf(w, "Cross-sell performance, %s; paid orders only (payment settled, not canceled);\n"+
		"orders refunded in part count at their full amount, their refunds are in REFUNDED:\n\n", window)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIR\tCURRENCY\tORDERS WITH BASE\tWITH CROSS-SELL\tATTACH RATE\tCROSS-SELL REVENUE\tAVG ORDER WITH\tAVG ORDER WITHOUT\tREFUNDED")
	for _, p := range out.Pairs {
		cur, rate, revenue, with, without, refunded := "—", "—", "—", "—", "—", "—"
		if p.Currency != "" {
			cur = strings.ToUpper(p.Currency)
			rate = strconv.FormatFloat(100*p.AttachRate, 'f', 1, 64) + "%"
			revenue = printable(money(p.CrossSellRevenue, p.Currency))
			if p.OrdersWithCrossSell > 0 {
				with = printable(money(p.AverageOrderValueWith, p.Currency))
			}
			if p.OrdersWithBase > p.OrdersWithCrossSell {
				without = printable(money(p.AverageOrderValueWithout, p.Currency))
			}
			if p.OrdersRefunded > 0 {
				refunded = printable(money(p.AmountRefunded, p.Currency)) + fmt.Sprintf(" (%d %s)", p.OrdersRefunded, plural(int(p.OrdersRefunded), "order", "orders"))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", printable(p.Base)+" → "+printable(p.CrossSell), printable(cur),
			p.OrdersWithBase, p.OrdersWithCrossSell, rate, revenue, with, without, refunded)
	}
	_ = tw.Flush()
}

// crossSellReporter is the store's report (store.DB).
type crossSellReporter interface {
	CrossSellReport(ctx context.Context, pairs []fulfillment.CrossSellPair, since time.Time) ([]fulfillment.CrossSellStats, error)
}

// crossSellReport is the report over the orders recorded in window (as
// --since reads it) before now: "cross-sells report", and the console's.
func crossSellReport(ctx context.Context, db crossSellReporter, pairs []fulfillment.CrossSellPair, window string, now time.Time) (time.Time, []fulfillment.CrossSellStats, error) {
	since, err := parseSince(window, now)
	if err != nil {
		return since, nil, fulfillment.Errorf(fulfillment.CodeInvalid, "--since: %v", err)
	}
	stats, err := db.CrossSellReport(ctx, pairs, since)
	return since, stats, err
}

// parseSince reads --since relative to now: "30d" (days), any Go duration
// ("12h"), a date ("2025-01-31", midnight UTC), an RFC 3339 time, or "all"
// (the zero time: every order).
func parseSince(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "all" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%q: want a whole number of days such as 30d", v)
		}
		return now.AddDate(0, 0, -n), nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q: want 30d, 12h, 2025-01-31, an RFC 3339 time, or all", v)
}

// demoCrossSellsReport prints "fulfillmentd cross-sells report --since all"
// for the demo's database, read-only beside the running service.
func demoCrossSellsReport(ctx context.Context, dataDir, path string, stdout, stderr io.Writer) error {
	vars := map[string]string{"FULFILLMENT_DATA_DIR": dataDir, "FULFILLMENT_CROSS_SELLS": path}
	fmt.Fprintln(stdout, "\n$ fulfillmentd cross-sells report --since all")
	return crossSellsReport(ctx, []string{"--since", "all"}, env{getenv: func(k string) string { return vars[k] }, stdout: stdout, stderr: stderr, now: time.Now})
}
