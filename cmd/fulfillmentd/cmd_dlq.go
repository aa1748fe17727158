package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
	"github.com/fulfillmentd/fulfillmentd/worker/broker"
)

const dlqUsage = `Usage:
  fulfillmentd dlq list [--json]                  dead letters, the latest failure first
  fulfillmentd dlq show <event_id> [--json]       one dead letter: error, attempts, times, replays, the event
  fulfillmentd dlq retry <event_id>... | --all    put the events back on the stream (safe to repeat)
  fulfillmentd dlq purge --before <age>           forget dead letters whose last failure is older than age (30d, 720h)

Every command works on the database in FULFILLMENT_DATA_DIR (--data-dir), beside a running serve.
retry queues the event in the database: the serve process that runs the workers on that database
(role all or worker) publishes it within a second, or when it next starts.
`

// replayNote ends the output of commands that queue replays.
const replayNote = "Queued replays are published by the serve process that runs the workers on this database " +
	"(role all or worker) within a second; if none is running, when it next starts."

// dlq runs "fulfillmentd dlq <list|show|retry|purge>".
func dlq(ctx context.Context, args []string, e env) error {
	return dispatch(ctx, "dlq", dlqUsage, []subcommand{
		{name: "list", run: dlqCommand("list", true, func(ctx context.Context, fs *flag.FlagSet, e env) func(*store.DB, []string) error {
			asJSON := fs.Bool("json", false, "print JSON instead of a table")
			return func(db *store.DB, ids []string) error {
				if len(ids) > 0 {
					return fmt.Errorf("unexpected arguments: %s", strings.Join(ids, " "))
				}
				return dlqList(ctx, db, *asJSON, e.stdout)
			}
		})},
		{name: "show", run: dlqCommand("show", true, func(ctx context.Context, fs *flag.FlagSet, e env) func(*store.DB, []string) error {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(db *store.DB, ids []string) error {
				if len(ids) != 1 {
					return errors.New("want exactly one event id")
				}
				return dlqShow(ctx, db, ids[0], *asJSON, e.stdout)
			}
		})},
		{name: "retry", run: dlqCommand("retry", false, func(ctx context.Context, fs *flag.FlagSet, e env) func(*store.DB, []string) error {
			all := fs.Bool("all", false, "retry every dead letter")
			return func(db *store.DB, ids []string) error {
				if *all == (len(ids) > 0) {
					return errors.New("want event ids or --all")
				}
				return dlqRetry(ctx, db, ids, *all, e.stdout)
			}
		})},
		{name: "purge", run: dlqCommand("purge", false, func(ctx context.Context, fs *flag.FlagSet, e env) func(*store.DB, []string) error {
			before := fs.String("before", "", "age of the last failure, such as 30d or 720h (required)")
			return func(db *store.DB, ids []string) error {
				if len(ids) > 0 {
					return fmt.Errorf("unexpected arguments: %s", strings.Join(ids, " "))
				}
				if *before == "" {
					return errors.New("--before is required, such as --before 30d")
				}
				age, err := parseWindow(*before)
				if err != nil {
					return fmt.Errorf("--before: %w", err)
				}
				return dlqPurge(ctx, db, e.now().Add(-age), e.stdout)
			}
		})},
	}, args, e)
}

// dlqCommand is "dlq <sub>": define registers sub's own flags and returns
// what runs on the database (read-only or not), given the event ids among
// the arguments.
func dlqCommand(sub string, readOnly bool, define func(context.Context, *flag.FlagSet, env) func(db *store.DB, ids []string) error) func(context.Context, []string, env) error {
	return dbCommand("dlq "+sub, readOnly, define)
}

// dbCommand is a command (name: "dlq retry") on the database in the data
// directory: define registers its own flags and returns what runs on the
// database (read-only or not), given the positional arguments.
func dbCommand(name string, readOnly bool, define func(context.Context, *flag.FlagSet, env) func(db *store.DB, ids []string) error) func(context.Context, []string, env) error {
	return func(ctx context.Context, args []string, e env) error {
		fs := newFlags(name, "", e)
		run := define(ctx, fs, e)
		flagArgs, ids := splitArgs(fs, args)
		cfg, err := parseSettings(fs, pick(settings(), nil, "FULFILLMENT_DATA_DIR"), flagArgs, e)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		db, err := openExisting(ctx, cfg, readOnly)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer db.Close()
		if err := run(db, ids); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
}

// splitArgs separates positional arguments from flags (and their values),
// wherever they stand: "retry evt_1 --data-dir d evt_2". Flags not yet
// defined on fs (the settings parseSettings adds) all take a value.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i+1:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if hasValue {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}

// deadLetterJSON is a dead letter as --json prints it.
type deadLetterJSON struct {
	EventID       string          `json:"event_id"`
	EventType     string          `json:"event_type"`
	Subject       string          `json:"subject"`
	Error         string          `json:"error"`
	Attempts      int             `json:"attempts"`
	FirstFailedAt time.Time       `json:"first_failed_at"`
	LastFailedAt  time.Time       `json:"last_failed_at"`
	ReplayPending bool            `json:"replay_pending"`
	Event         json.RawMessage `json:"event,omitempty"`
	Replays       []replayJSON    `json:"replays,omitempty"`
}

type replayJSON struct {
	MsgID       string     `json:"msg_id"`
	Reason      string     `json:"reason"`
	RequestedAt time.Time  `json:"requested_at"`
	PublishedAt *time.Time `json:"published_at"`
}

func deadLetterToJSON(dl fulfillment.DeadLetter, pending bool, withEvent bool) deadLetterJSON {
	out := deadLetterJSON{EventID: dl.EventID, EventType: dl.EventType, Subject: dl.Subject, Error: dl.Error,
		Attempts: dl.Attempts, FirstFailedAt: dl.FirstFailedAt, LastFailedAt: dl.LastFailedAt, ReplayPending: pending}
	if withEvent && json.Valid(dl.Payload) {
		out.Event = dl.Payload
	}
	return out
}

func replaysJSON(rps []fulfillment.Replay) []replayJSON {
	out := make([]replayJSON, len(rps))
	for i, rp := range rps {
		out[i] = replayJSON{MsgID: broker.ReplayMsgID(rp), Reason: rp.Reason, RequestedAt: rp.RequestedAt}
		if !rp.Pending() {
			out[i].PublishedAt = &rp.PublishedAt
		}
	}
	return out
}

func dlqList(ctx context.Context, db *store.DB, asJSON bool, w io.Writer) error {
	dls, err := db.DeadLetters(ctx)
	if err != nil {
		return err
	}
	pending, err := pendingEvents(ctx, db)
	if err != nil {
		return err
	}
	if asJSON {
		out := make([]deadLetterJSON, len(dls))
		for i, dl := range dls {
			out[i] = deadLetterToJSON(dl, pending[dl.EventID], false)
		}
		return writeIndentedJSON(w, out)
	}
	if len(dls) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tTYPE\tATTEMPTS\tFIRST FAILED\tLAST FAILED\tREPLAY\tERROR")
	for _, dl := range dls {
		replay := "-"
		if pending[dl.EventID] {
			replay = "queued"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", printable(dl.EventID), printable(dl.EventType), dl.Attempts,
			stamp(dl.FirstFailedAt), stamp(dl.LastFailedAt), replay, oneLine(dl.Error, 100))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d %s; see one with: fulfillmentd dlq show <event_id>\n", len(dls), plural(len(dls), "dead letter", "dead letters"))
	return nil
}

func dlqShow(ctx context.Context, db *store.DB, eventID string, asJSON bool, w io.Writer) error {
	rps, err := db.Replays(ctx, eventID)
	if err != nil {
		return err
	}
	dl, err := db.DeadLetter(ctx, eventID)
	if errors.Is(err, fulfillment.ErrNotFound) {
		if len(rps) > 0 {
			last := rps[len(rps)-1]
			return fmt.Errorf("%s is not a dead letter (replay %s requested %s%s)", eventID,
				broker.ReplayMsgID(last), stamp(last.RequestedAt), publishedText(last))
		}
		return fmt.Errorf("no dead letter %s", eventID)
	}
	if err != nil {
		return err
	}
	pending := len(rps) > 0 && rps[len(rps)-1].Pending()
	if asJSON {
		out := deadLetterToJSON(dl, pending, true)
		out.Replays = replaysJSON(rps)
		return writeIndentedJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "event\t%s\n", printable(dl.EventID))
	fmt.Fprintf(tw, "type\t%s\n", printable(dl.EventType))
	fmt.Fprintf(tw, "subject\t%s\n", printable(dl.Subject))
	fmt.Fprintf(tw, "attempts\t%d\n", dl.Attempts)
	fmt.Fprintf(tw, "first failed\t%s\n", stamp(dl.FirstFailedAt))
	fmt.Fprintf(tw, "last failed\t%s\n", stamp(dl.LastFailedAt))
	fmt.Fprintf(tw, "last error\t%s\n", printable(dl.Error))
	for _, rp := range rps {
		fmt.Fprintf(tw, "replay\t%s (%s) requested %s%s\n", printable(broker.ReplayMsgID(rp)), printable(rp.Reason), stamp(rp.RequestedAt), publishedText(rp))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "event body:")
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, dl.Payload, "", "  "); err != nil {
		fmt.Fprintf(w, "%q\n", dl.Payload) // not JSON: shown as it is
		return nil
	}
	fmt.Fprintln(w, printableLines(pretty.String()))
	return nil
}

func dlqRetry(ctx context.Context, db *store.DB, ids []string, all bool, w io.Writer) error {
	if all {
		dls, err := db.DeadLetters(ctx)
		if err != nil {
			return err
		}
		if len(dls) == 0 {
			fmt.Fprintln(w, "no dead letters")
			return nil
		}
		for _, dl := range dls {
			ids = append(ids, dl.EventID)
		}
	}
	queued := 0
	var missing []string
	for _, id := range ids {
		rp, isNew, err := db.RetryDeadLetter(ctx, id, time.Now())
		switch {
		case errors.Is(err, fulfillment.ErrNotFound):
			rps, lerr := db.Replays(ctx, id)
			if lerr != nil {
				return lerr
			}
			if len(rps) == 0 {
				fmt.Fprintf(w, "%s: no dead letter\n", id)
				missing = append(missing, id)
				continue
			}
			last := rps[len(rps)-1]
			fmt.Fprintf(w, "%s: not a dead letter (any more): replay %s requested %s%s\n", id,
				broker.ReplayMsgID(last), stamp(last.RequestedAt), publishedText(last))
		case err != nil:
			return err
		case isNew:
			queued++
			fmt.Fprintf(w, "%s: queued for replay as %s\n", id, broker.ReplayMsgID(rp))
		default:
			fmt.Fprintf(w, "%s: replay %s already queued at %s\n", id, broker.ReplayMsgID(rp), stamp(rp.RequestedAt))
		}
	}
	fmt.Fprintf(w, "%d %s queued. %s\n", queued, plural(queued, "replay", "replays"), replayNote)
	if len(missing) > 0 {
		return fmt.Errorf("no dead letter %s", strings.Join(missing, ", "))
	}
	return nil
}

func dlqPurge(ctx context.Context, db *store.DB, before time.Time, w io.Writer) error {
	n, err := db.PurgeDeadLetters(ctx, before)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "purged %d %s whose last failure is before %s\n", n, plural(int(n), "dead letter", "dead letters"), stamp(before))
	return nil
}

// pendingEvents is the set of events whose replay waits to be published.
func pendingEvents(ctx context.Context, db *store.DB) (map[string]bool, error) {
	rps, err := db.PendingReplays(ctx, 10_000)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(rps))
	for _, rp := range rps {
		out[rp.EventID] = true
	}
	return out, nil
}

func publishedText(rp fulfillment.Replay) string {
	if rp.Pending() {
		return ", not published yet"
	}
	return ", published " + stamp(rp.PublishedAt)
}
