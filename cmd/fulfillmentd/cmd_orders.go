package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

const ordersUsage = `Usage:
  fulfillmentd orders list [--status s] [--since 24h] [--format table|json|csv]
  fulfillmentd orders show <id> [--format text|json]
  fulfillmentd orders export --format csv|ndjson [--since 24h] [--status s]

The orders are read from the database in FULFILLMENT_DATA_DIR (or --data-dir),
read-only: these commands work while serve runs and need no Stripe settings.
<id> is an order id (ord_...) or a Checkout Session id (cs_...). --since takes
a duration back from now (90m, 24h, 7d), a date (2025-01-31) or an RFC 3339
time, and keeps orders updated since then. Orders come in the order of their latest change, oldest
first, as GET /v1/orders has them.

REASON is why an on_hold order is held (its hold's reasons) or why a canceled
one was canceled; REFUNDED is what Stripe refunded of the payment; RISK is the
payment's dispute (its status) and early fraud warning (its fraud type).

export --format csv writes one row per line item with the order's columns
repeated, amounts in major units (12.50), ready for a spreadsheet or a WMS
import; ndjson writes one order JSON per line, as the API returns it.
`

// ordersCommand is "fulfillmentd orders ...".
func ordersCommand(ctx context.Context, args []string, e env) error {
	return dispatch(ctx, "orders", ordersUsage, []subcommand{
		{name: "list", run: ordersList},
		{name: "show", run: ordersShow},
		{name: "export", run: ordersExport},
	}, args, e)
}

// feedFilter is the --status and --since of list and export.
type feedFilter struct {
	status, since string
}

func (f *feedFilter) register(fs *flag.FlagSet) {
	fs.StringVar(&f.status, "status", "", "only orders in this status: awaiting_payment, ready_to_ship, on_hold, canceled, in_fulfillment, partially_shipped, shipped")
	fs.StringVar(&f.since, "since", "", "only orders updated since: a duration back from now (90m, 24h, 7d), a date or an RFC 3339 time")
}

func (f feedFilter) params(now func() time.Time) (fulfillment.ListParams, error) {
	p := fulfillment.ListParams{Status: fulfillment.Status(f.status), Limit: fulfillment.MaxListLimit}
	if p.Status != "" && !p.Status.Valid() {
		return p, fmt.Errorf("--status: unknown status %q", f.status)
	}
	if f.since != "" {
		t, err := parseSince(f.since, now()) // the cross-sells commands' reading of --since
		if err != nil {
			return p, fmt.Errorf("--since %w", err)
		}
		p.UpdatedSince = t
	}
	return p, nil
}

// feed is what list and export share: the read-only database and the
// feed's parameters from --status and --since, and --format.
type feed struct {
	db     *store.DB
	params fulfillment.ListParams
	format string
}

// openFeed parses the flags of list or export (--status, --since, --format
// with its default and usage, and the data directory) and opens the feed.
func openFeed(ctx context.Context, name, format, formatUsage string, args []string, e env) (feed, error) {
	fs := newFlags(name, "", e)
	var filter feedFilter
	filter.register(fs)
	f := feed{}
	fs.StringVar(&f.format, "format", format, formatUsage)
	db, err := openOrders(ctx, fs, args, e)
	if err != nil {
		return feed{}, err
	}
	if f.params, err = filter.params(e.now); err != nil {
		db.Close()
		return feed{}, err
	}
	f.db = db
	return f, nil
}

// eachPage calls f with every page of the feed p selects, oldest first.
func eachPage(ctx context.Context, db *store.DB, p fulfillment.ListParams, f func([]fulfillment.Order) error) error {
	for {
		page, err := db.ListOrders(ctx, p)
		if err != nil {
			return err
		}
		if len(page.Orders) == 0 {
			return nil
		}
		if err := f(page.Orders); err != nil {
			return err
		}
		p.After = page.NextCursor
	}
}

func ordersList(ctx context.Context, args []string, e env) error {
	f, err := openFeed(ctx, "orders list", "table", "output: table, json or csv", args, e)
	if err != nil {
		return err
	}
	defer f.db.Close()
	db, p, stdout := f.db, f.params, e.stdout

	switch f.format {
	case "table":
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ORDER\tCHECKOUT SESSION\tSTATUS\tREASON\tPAYMENT\tUNITS\tSHIPPED\tTOTAL\tREFUNDED\tRISK\tCUSTOMER\tUPDATED (UTC)")
		n := 0
		err = eachPage(ctx, db, p, func(orders []fulfillment.Order) error {
			for _, o := range orders {
				units, shipped := unitCounts(o)
				refunded := "—"
				if o.AmountRefunded > 0 {
					refunded = money(o.AmountRefunded, o.Currency)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", printable(o.ID), printable(o.CheckoutSessionID), printable(string(o.Status)),
					printable(orDash(statusReason(o))), printable(string(o.PaymentStatus)), units, shipped, printable(money(o.AmountTotal, o.Currency)),
					printable(refunded), printable(orDash(risk(o))), printable(orDash(o.Customer.Email)), o.UpdatedAt.UTC().Format(time.DateTime))
				n++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d %s\n", n, plural(n, "order", "orders"))
		return nil
	case "json":
		all := []fulfillment.Order{}
		if err := eachPage(ctx, db, p, func(orders []fulfillment.Order) error { all = append(all, orders...); return nil }); err != nil {
			return err
		}
		return writeIndentedJSON(stdout, all)
	case "csv":
		w := csv.NewWriter(stdout)
		_ = w.Write([]string{"order_id", "checkout_session_id", "status", "payment_status", "units", "units_shipped",
			"currency", "amount_total", "customer_email", "customer_name", "created_at", "updated_at",
			"hold_reasons", "cancel_reason", "amount_refunded", "dispute_status", "fraud_type"})
		err = eachPage(ctx, db, p, func(orders []fulfillment.Order) error {
			for _, o := range orders {
				units, shipped := unitCounts(o)
				m := moneyCells(o)
				_ = w.Write(safeRow(o.ID, o.CheckoutSessionID, string(o.Status), string(o.PaymentStatus),
					num(units), num(shipped), strings.ToUpper(o.Currency), decimal(o.AmountTotal, o.Currency),
					o.Customer.Email, o.Customer.Name, stamp(o.CreatedAt), stamp(o.UpdatedAt),
					m.holdReasons, string(o.CancelReason), m.refunded, m.disputeStatus, m.fraudType))
			}
			return nil
		})
		if err != nil {
			return err
		}
		w.Flush()
		return w.Error()
	}
	return fmt.Errorf("--format %q: want table, json or csv", f.format)
}

func ordersShow(ctx context.Context, args []string, e env) error {
	fs := newFlags("orders show", "Usage:\n  fulfillmentd orders show <id> [flags]\n\n", e)
	format := fs.String("format", "text", "output: text or json")
	if len(args) > 0 && isHelp(args[0]) {
		_, err := openOrders(ctx, fs, args, e) // prints the usage
		return err
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(e.stderr, ordersUsage)
		return errors.New("orders show: want an order id or Checkout Session id first: fulfillmentd orders show <id>")
	}
	id, args := args[0], args[1:]
	stdout := e.stdout
	db, err := openOrders(ctx, fs, args, e)
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := db.Order(ctx, id)
	if errors.Is(err, fulfillment.ErrNotFound) {
		return fmt.Errorf("no order with id or checkout session id %q", id)
	}
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		return writeIndentedJSON(stdout, o)
	case "text":
		printOrder(stdout, o)
		return nil
	}
	return fmt.Errorf("--format %q: want text or json", *format)
}

func printOrder(w io.Writer, o fulfillment.Order) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Order\t%s\n", printable(o.ID))
	fmt.Fprintf(tw, "Checkout Session\t%s\n", printable(o.CheckoutSessionID))
	fmt.Fprintf(tw, "Status\t%s (payment %s)\n", printable(string(o.Status)), printable(string(o.PaymentStatus)))
	if h := o.Hold; h != nil {
		held := fmt.Sprintf("%s since %s (held from %s)", holdReasons(h), stamp(h.Since), h.PreviousStatus)
		if h.Note != "" {
			held += ": " + h.Note
		}
		fmt.Fprintf(tw, "On hold\t%s\n", printable(held))
	}
	if o.CancelReason != "" {
		canceled := string(o.CancelReason)
		if o.CancelNote != "" {
			canceled += ": " + o.CancelNote
		}
		fmt.Fprintf(tw, "Canceled\t%s\n", printable(canceled))
	}
	fmt.Fprintf(tw, "Total\t%s\n", printable(money(o.AmountTotal, o.Currency)))
	if o.AmountRefunded > 0 {
		fmt.Fprintf(tw, "Refunded\t%s\n", printable(money(o.AmountRefunded, o.Currency)))
	}
	if o.PaymentIntentID != "" || o.InvoiceID != "" {
		fmt.Fprintf(tw, "Payment\t%s\n", printable(strings.TrimSpace(string(o.PaymentIntentID)+" "+string(o.InvoiceID))))
	}
	if d := o.Dispute; d != nil {
		fmt.Fprintf(tw, "Dispute\t%s\n", printable(fmt.Sprintf("%s %s (%s), %s", d.ID, d.Status, d.Reason, money(d.Amount, o.Currency))))
	}
	if f := o.FraudWarning; f != nil {
		actionable := "not actionable"
		if f.Actionable {
			actionable = "actionable"
		}
		fmt.Fprintf(tw, "Fraud warning\t%s\n", printable(fmt.Sprintf("%s %s (%s)", f.ID, f.FraudType, actionable)))
	}
	customer := strings.TrimSpace(o.Customer.Name + " <" + o.Customer.Email + ">")
	if o.Customer.Phone != "" {
		customer += ", " + o.Customer.Phone
	}
	fmt.Fprintf(tw, "Customer\t%s\n", printable(customer))
	shipTo := "— (no shipping address)"
	if s := o.Shipping; s != nil {
		a := s.Address
		var parts []string
		for _, p := range []string{s.Name, a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		shipTo = strings.Join(parts, ", ")
	}
	fmt.Fprintf(tw, "Ship to\t%s\n", printable(shipTo))
	fmt.Fprintf(tw, "Created\t%s\n", o.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "Updated\t%s\n", o.UpdatedAt.UTC().Format(time.RFC3339))
	if a := o.Acknowledgement; a != nil {
		fmt.Fprintf(tw, "Acknowledged\t%s by %s\n", a.At.UTC().Format(time.RFC3339), printable(a.By))
	}
	_ = tw.Flush()

	left := o.LeftToShip()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE ITEM\tPRODUCT\tDESCRIPTION\tQTY\tSHIPPED\tTOTAL")
	for _, li := range o.LineItems {
		desc := li.Description
		if li.CrossSell {
			desc = "★ " + desc + " (cross-sell of " + li.CrossSellOf + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", printable(li.ID), printable(li.ProductID), printable(desc), li.Quantity, li.Quantity-left[li.ID], printable(money(li.AmountTotal, li.Currency)))
	}
	_ = tw.Flush()

	if len(o.Shipments) == 0 {
		fmt.Fprintln(w, "\nNo shipments.")
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SHIPMENT\tCARRIER\tTRACKING NUMBER\tLINES\tBY\tAT")
	for _, s := range o.Shipments {
		lines := make([]string, len(s.Lines))
		for i, l := range s.Lines {
			lines[i] = fmt.Sprintf("%s×%d", l.LineItemID, l.Quantity)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(s.ID), printable(s.Carrier), printable(s.TrackingNumber), printable(strings.Join(lines, " ")), printable(s.CreatedBy), s.CreatedAt.UTC().Format(time.RFC3339))
	}
	_ = tw.Flush()
}

// exportColumns are the CSV export's columns: the order's, then the line
// item's.
var exportColumns = []string{
	"order_id", "checkout_session_id", "status", "payment_status", "created_at", "updated_at",
	"customer_email", "customer_name", "customer_phone",
	"ship_to_name", "ship_to_line1", "ship_to_line2", "ship_to_city", "ship_to_state", "ship_to_postal_code", "ship_to_country",
	"line_item_id", "product_id", "price_id", "description", "quantity", "quantity_shipped",
	"currency", "amount_subtotal", "amount_discount", "amount_tax", "amount_total", "cross_sell", "cross_sell_of", "tracking_numbers",
	"payment_intent_id", "invoice_id", "hold_reasons", "hold_since", "hold_note", "cancel_reason", "cancel_note",
	"amount_refunded", "dispute_id", "dispute_status", "dispute_reason", "dispute_amount", "fraud_warning_id", "fraud_type", "fraud_actionable",
}

func ordersExport(ctx context.Context, args []string, e env) error {
	f, err := openFeed(ctx, "orders export", "", "output: csv (one row per line item) or ndjson (one order per line); required", args, e)
	if err != nil {
		return err
	}
	defer f.db.Close()
	db, p, stdout := f.db, f.params, e.stdout
	switch f.format {
	case "ndjson":
		enc := json.NewEncoder(stdout) // one compact value per line
		return eachPage(ctx, db, p, func(orders []fulfillment.Order) error {
			for _, o := range orders {
				if err := enc.Encode(o); err != nil {
					return err
				}
			}
			return nil
		})
	case "csv":
		w := csv.NewWriter(stdout)
		_ = w.Write(exportColumns)
		err := eachPage(ctx, db, p, func(orders []fulfillment.Order) error {
			for _, o := range orders {
				for _, row := range exportRows(o) {
					_ = w.Write(row)
				}
			}
			w.Flush()
			return w.Error()
		})
		if err != nil {
			return err
		}
		w.Flush()
		return w.Error()
	}
	return fmt.Errorf("--format %q: want csv or ndjson", f.format)
}

// exportRows is one row per line item of o (one row with empty line columns
// for an order without line items, so every order is in the export).
func exportRows(o fulfillment.Order) [][]string {
	var ship fulfillment.Shipping
	if o.Shipping != nil {
		ship = *o.Shipping
	}
	head := []string{o.ID, o.CheckoutSessionID, string(o.Status), string(o.PaymentStatus), stamp(o.CreatedAt), stamp(o.UpdatedAt),
		o.Customer.Email, o.Customer.Name, o.Customer.Phone,
		ship.Name, ship.Address.Line1, ship.Address.Line2, ship.Address.City, ship.Address.State, ship.Address.PostalCode, ship.Address.Country}
	m := moneyCells(o)
	tail := []string{string(o.PaymentIntentID), string(o.InvoiceID), m.holdReasons, m.holdSince, m.holdNote,
		string(o.CancelReason), o.CancelNote, m.refunded, m.disputeID, m.disputeStatus, m.disputeReason, m.disputeAmount,
		m.fraudID, m.fraudType, m.fraudActionable}
	if len(o.LineItems) == 0 {
		return [][]string{safeRow(slices.Concat(head, make([]string, len(exportColumns)-len(head)-len(tail)), tail)...)}
	}
	left := o.LeftToShip()
	rows := make([][]string, 0, len(o.LineItems))
	for _, li := range o.LineItems {
		var tracking []string
		for _, s := range o.Shipments {
			for _, l := range s.Lines {
				if l.LineItemID == li.ID {
					tracking = append(tracking, s.TrackingNumber)
					break
				}
			}
		}
		cur := li.Currency
		if cur == "" {
			cur = o.Currency
		}
		row := append(append([]string(nil), head...),
			li.ID, li.ProductID, li.PriceID, li.Description, num(li.Quantity), num(li.Quantity-left[li.ID]),
			strings.ToUpper(cur), decimal(li.AmountSubtotal, cur), decimal(li.AmountDiscount, cur), decimal(li.AmountTax, cur), decimal(li.AmountTotal, cur),
			strconv.FormatBool(li.CrossSell), li.CrossSellOf, strings.Join(tracking, " "))
		row = append(row, tail...)
		rows = append(rows, safeRow(row...))
	}
	return rows
}

// statusReason is why o is on hold (its hold's reasons) or canceled (its
// cancel reason); "" when neither.
func statusReason(o fulfillment.Order) string {
	if o.Hold != nil {
		return holdReasons(o.Hold)
	}
	return string(o.CancelReason)
}

func holdReasons(h *fulfillment.Hold) string {
	reasons := make([]string, len(h.Reasons))
	for i, r := range h.Reasons {
		reasons[i] = string(r)
	}
	return strings.Join(reasons, ",")
}

// risk is o's payment's dispute and early fraud warning in a few words:
// "dispute needs_response, fraud made_with_stolen_card"; "" when none.
func risk(o fulfillment.Order) string {
	var parts []string
	if d := o.Dispute; d != nil {
		parts = append(parts, "dispute "+d.Status)
	}
	if f := o.FraudWarning; f != nil {
		parts = append(parts, "fraud "+f.FraudType)
	}
	return strings.Join(parts, ", ")
}

// moneyCellSet is the CSV cells of an order's hold, refund, dispute and
// fraud warning (moneyCells): empty when it has none, amounts in major
// units.
type moneyCellSet struct {
	holdReasons, holdSince, holdNote, refunded             string
	disputeID, disputeStatus, disputeReason, disputeAmount string
	fraudID, fraudType, fraudActionable                    string
}

func moneyCells(o fulfillment.Order) moneyCellSet {
	m := moneyCellSet{refunded: decimal(o.AmountRefunded, o.Currency)}
	if h := o.Hold; h != nil {
		m.holdReasons, m.holdSince, m.holdNote = holdReasons(h), stamp(h.Since), h.Note
	}
	if d := o.Dispute; d != nil {
		m.disputeID, m.disputeStatus, m.disputeReason, m.disputeAmount = d.ID, d.Status, d.Reason, decimal(d.Amount, o.Currency)
	}
	if f := o.FraudWarning; f != nil {
		m.fraudID, m.fraudType, m.fraudActionable = f.ID, f.FraudType, strconv.FormatBool(f.Actionable)
	}
	return m
}

// unitCounts is how many units o has, and how many have shipped.
func unitCounts(o fulfillment.Order) (units, shipped int64) {
	for _, li := range o.LineItems {
		units += li.Quantity
	}
	var left int64
	for _, n := range o.LeftToShip() {
		left += n
	}
	return units, units - left
}

func num(n int64) string { return strconv.FormatInt(n, 10) }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// safeRow neutralises cells a spreadsheet would run as a formula (text a
// buyer typed, such as a name starting with "="), by prefixing a quote. A
// leading + or - is left alone only when what follows is a plain number or
// a phone number (digits, spaces, dots, commas, parentheses): with another
// operator after it (-2+3, +1-1, -1/2, +1-555-0100) a spreadsheet computes
// it.
func safeRow(cells ...string) []string {
	for i, c := range cells {
		if c == "" {
			continue
		}
		switch c[0] {
		case '=', '@', '\t', '\r', '\n':
			cells[i] = "'" + c
		case '+', '-':
			if strings.Trim(c[1:], "0123456789 ().,") != "" {
				cells[i] = "'" + c
			}
		}
	}
	return cells
}
