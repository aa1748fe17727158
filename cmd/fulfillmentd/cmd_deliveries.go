package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

const deliveriesUsage = `Usage:
  fulfillmentd deliveries list [--endpoint name] [--state pending|failed|delivered|superseded] [--limit 1000] [--json]
                                                   warehouse webhook deliveries, the latest first
  fulfillmentd deliveries retry <id>... | --all-failed   send failed deliveries again, with a new round of attempts

Every command works on the database in FULFILLMENT_DATA_DIR (--data-dir), beside a running serve.
retry marks the delivery pending in the database: the serve process on that database sends it
within a second, or when it next starts.
`

// deliveriesCommand runs "fulfillmentd deliveries <list|retry>".
func deliveriesCommand(ctx context.Context, args []string, e env) error {
	return dispatch(ctx, "deliveries", deliveriesUsage, []subcommand{
		{name: "list", run: dbCommand("deliveries list", true, func(ctx context.Context, fs *flag.FlagSet, e env) func(*store.DB, []string) error {
			endpoint := fs.String("endpoint", "", "only the deliveries to this endpoint (its name)")
			state := fs.String("state", "", "only deliveries in this state: pending, failed, delivered or superseded")
			limit := fs.Int("limit", 1000, "at most this many")
			asJSON := fs.Bool("json", false, "print JSON instead of a table")
			return func(db *store.DB, rest []string) error {
				if len(rest) > 0 {
					return fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
				}
				f := store.DeliveryFilter{Endpoint: *endpoint, State: fulfillment.DeliveryState(*state), Limit: *limit}
				if f.State != "" && !f.State.Valid() {
					return fmt.Errorf("--state %q: want pending, failed, delivered or superseded", *state)
				}
				return deliveriesList(ctx, db, f, *asJSON, e.stdout)
			}
		})},
		{name: "retry", run: dbCommand("deliveries retry", false, func(ctx context.Context, fs *flag.FlagSet, e env) func(*store.DB, []string) error {
			all := fs.Bool("all-failed", false, "retry every failed delivery")
			return func(db *store.DB, rest []string) error {
				if *all == (len(rest) > 0) {
					return errors.New("want delivery ids or --all-failed")
				}
				ids := make([]int64, len(rest))
				for i, r := range rest {
					id, err := strconv.ParseInt(r, 10, 64)
					if err != nil || id < 1 {
						return fmt.Errorf("%q: want a delivery id (a number, as deliveries list shows)", r)
					}
					ids[i] = id
				}
				return deliveriesRetry(ctx, db, ids, *all, e.now(), e.stdout)
			}
		})},
	}, args, e)
}

// deliveryJSON is a delivery as --json prints it.
type deliveryJSON struct {
	ID            int64      `json:"id"`
	Endpoint      string     `json:"endpoint"`
	WebhookID     string     `json:"webhook_id"`
	OrderID       string     `json:"order_id"`
	ChangeSeq     int64      `json:"change_seq"`
	Type          string     `json:"type"`
	Status        string     `json:"status"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	ChangedAt     time.Time  `json:"changed_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	LastError     string     `json:"last_error"`
	DoneAt        *time.Time `json:"done_at"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func deliveriesList(ctx context.Context, db *store.DB, f store.DeliveryFilter, asJSON bool, w io.Writer) error {
	ds, err := db.Deliveries(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		out := make([]deliveryJSON, len(ds))
		for i, d := range ds {
			out[i] = deliveryJSON{ID: d.ID, Endpoint: d.Endpoint, WebhookID: d.ChangeID, OrderID: d.OrderID, ChangeSeq: d.ChangeSeq,
				Type: d.Type, Status: string(d.Status), State: string(d.State), Attempts: d.Attempts, ChangedAt: d.ChangedAt,
				NextAttemptAt: optionalTime(d.NextAt), LastAttemptAt: optionalTime(d.LastAt), LastError: d.LastError, DoneAt: optionalTime(d.DoneAt)}
		}
		return writeIndentedJSON(w, out)
	}
	if len(ds) == 0 {
		fmt.Fprintln(w, "no deliveries")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENDPOINT\tWEBHOOK ID\tTYPE\tSTATUS\tSTATE\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
	for _, d := range ds {
		next := "-"
		if d.State == fulfillment.DeliveryPending {
			next = stamp(d.NextAt)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, printable(d.Endpoint), printable(d.ChangeID), d.Type,
			printable(string(d.Status)), d.State, d.Attempts, next, oneLine(d.LastError, 80))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d %s\n", len(ds), plural(len(ds), "delivery", "deliveries"))
	return nil
}

func deliveriesRetry(ctx context.Context, db *store.DB, ids []int64, all bool, now time.Time, w io.Writer) error {
	if all {
		ds, err := db.Deliveries(ctx, store.DeliveryFilter{State: fulfillment.DeliveryFailed, Limit: math.MaxInt32})
		if err != nil {
			return err
		}
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
		if len(ids) == 0 {
			fmt.Fprintln(w, "no failed deliveries")
			return nil
		}
	}
	retried := 0
	var missing []string
	for _, id := range ids {
		d, why, err := db.RetryDelivery(ctx, id, now)
		switch {
		case errors.Is(err, fulfillment.ErrNotFound):
			fmt.Fprintf(w, "%d: no such delivery\n", id)
			missing = append(missing, strconv.FormatInt(id, 10))
		case err != nil:
			return err
		case why != "":
			fmt.Fprintf(w, "%d (%s to %s): not retried: %s\n", id, printable(d.ChangeID), printable(d.Endpoint), why)
		default:
			retried++
			fmt.Fprintf(w, "%d (%s to %s): pending again\n", id, printable(d.ChangeID), printable(d.Endpoint))
		}
	}
	fmt.Fprintf(w, "%d %s pending again. The serve process on this database sends them within a second; if none is running, when it next starts.\n",
		retried, plural(retried, "delivery", "deliveries"))
	if len(missing) > 0 {
		return fmt.Errorf("no delivery %s", strings.Join(missing, ", "))
	}
	return nil
}
