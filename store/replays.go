package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

type replayRow struct {
	ID          int64          `db:"id"`
	EventID     string         `db:"event_id"`
	EventType   string         `db:"event_type"`
	Payload     []byte         `db:"payload"`
	Reason      string         `db:"reason"`
	RequestedAt string         `db:"requested_at"`
	PublishedAt sql.NullString `db:"published_at"`
	StripeSig   string         `db:"stripe_signature"`
	FulfillSig  string         `db:"fulfillment_signature"`
	FromAPI     bool           `db:"from_stripe_api"`
}

func (r replayRow) replay() (fulfillment.Replay, error) {
	rp := fulfillment.Replay{ID: r.ID, EventID: r.EventID, EventType: r.EventType, Payload: r.Payload, Reason: r.Reason,
		Signatures: fulfillment.Signatures{Stripe: r.StripeSig, Fulfillment: r.FulfillSig}, FromStripeAPI: r.FromAPI}
	var err error
	if rp.RequestedAt, err = parseTime(r.RequestedAt); err != nil {
		return rp, fmt.Errorf("replay %d: requested_at: %w", r.ID, err)
	}
	if r.PublishedAt.Valid {
		if rp.PublishedAt, err = parseTime(r.PublishedAt.String); err != nil {
			return rp, fmt.Errorf("replay %d: published_at: %w", r.ID, err)
		}
	}
	return rp, nil
}

func replays(rows []replayRow) ([]fulfillment.Replay, error) {
	out := make([]fulfillment.Replay, len(rows))
	for i, r := range rows {
		var err error
		if out[i], err = r.replay(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const replayColumns = `id, event_id, event_type, payload, reason, requested_at, published_at,
	stripe_signature, fulfillment_signature, from_stripe_api`

// EnqueueReplay asks for rp's event to be put on the stream. If a replay of
// the same event is pending already, nothing is added and that one is
// returned with queued false: asking twice is asking once. A replay of the
// event as Stripe's API lists it (rp.FromStripeAPI, reconcile's) takes the
// place of the event's dead letter, if it has one: the dead letter is tied
// to the replay and forgotten when it is published (see MarkReplayed).
func (db *DB) EnqueueReplay(ctx context.Context, rp fulfillment.Replay) (fulfillment.Replay, bool, error) {
	if rp.EventID == "" || rp.EventType == "" || len(rp.Payload) == 0 {
		return rp, false, fulfillment.Permanent(fmt.Errorf("enqueue replay %q: missing event id, type or payload", rp.EventID))
	}
	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return rp, false, fmt.Errorf("enqueue replay %s: begin: %w", rp.EventID, err)
	}
	defer func() { _ = tx.Rollback() }()
	out, queued, err := enqueueReplay(ctx, tx, rp)
	if err != nil {
		return rp, false, fmt.Errorf("enqueue replay %s: %w", rp.EventID, err)
	}
	if rp.FromStripeAPI {
		if err := tieDeadLetter(ctx, tx, rp.EventID, out.ID); err != nil {
			return rp, false, fmt.Errorf("enqueue replay %s: tie dead letter to replay %d: %w", rp.EventID, out.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return rp, false, fmt.Errorf("enqueue replay %s: commit: %w", rp.EventID, err)
	}
	return out, queued, nil
}

func enqueueReplay(ctx context.Context, tx *sqlx.Tx, rp fulfillment.Replay) (fulfillment.Replay, bool, error) {
	var row replayRow
	err := tx.GetContext(ctx, &row, `SELECT `+replayColumns+` FROM replays
		WHERE event_id = ? AND published_at IS NULL`, rp.EventID)
	switch {
	case err == nil:
		pending, err := row.replay()
		return pending, false, err
	case !errors.Is(err, sql.ErrNoRows):
		return rp, false, fmt.Errorf("find pending replay: %w", err)
	}
	if rp.RequestedAt.IsZero() {
		rp.RequestedAt = time.Now()
	}
	rp.RequestedAt = rp.RequestedAt.UTC()
	rp.PublishedAt = time.Time{}
	res, err := tx.ExecContext(ctx, `INSERT INTO replays (event_id, event_type, payload, reason, requested_at,
		stripe_signature, fulfillment_signature, from_stripe_api) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		rp.EventID, rp.EventType, rp.Payload, rp.Reason, formatTime(rp.RequestedAt),
		rp.Signatures.Stripe, rp.Signatures.Fulfillment, rp.FromStripeAPI)
	if err != nil {
		return rp, false, fmt.Errorf("insert replay: %w", err)
	}
	if rp.ID, err = res.LastInsertId(); err != nil {
		return rp, false, fmt.Errorf("insert replay: %w", err)
	}
	return rp, true, nil
}

// PendingReplays returns up to limit replays waiting to be published, the
// oldest request first.
func (db *DB) PendingReplays(ctx context.Context, limit int) ([]fulfillment.Replay, error) {
	var rows []replayRow
	if err := db.reader.SelectContext(ctx, &rows, `SELECT `+replayColumns+` FROM replays
		WHERE published_at IS NULL ORDER BY id LIMIT ?`, max(limit, 1)); err != nil {
		return nil, fmt.Errorf("pending replays: %w", err)
	}
	return replays(rows)
}

// Replays returns every replay of an event, the first request first.
func (db *DB) Replays(ctx context.Context, eventID string) ([]fulfillment.Replay, error) {
	var rows []replayRow
	if err := db.reader.SelectContext(ctx, &rows, `SELECT `+replayColumns+` FROM replays
		WHERE event_id = ? ORDER BY id`, eventID); err != nil {
		return nil, fmt.Errorf("replays of %s: %w", eventID, err)
	}
	return replays(rows)
}

// MarkReplayed records that replay id is on the stream and, in the same
// transaction, forgets the dead letter the replay was requested for: from
// now on the event is processed again, and a new failure makes a new dead
// letter. A dead letter written after the request (the replay, or another
// delivery, failed again before this mark) is not that one and stays; so
// does one no replay was tied to (a reconcile replay of an event that was
// not yet dead-lettered when it was queued). Marking twice
// keeps the first time.
func (db *DB) MarkReplayed(ctx context.Context, id int64, at time.Time) error {
	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark replay %d: begin: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	var eventID string
	err = tx.GetContext(ctx, &eventID, `UPDATE replays SET published_at = ? WHERE id = ? AND published_at IS NULL
		RETURNING event_id`, formatTime(at), id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // marked before, or no such replay
	case err != nil:
		return fmt.Errorf("mark replay %d: %w", id, err)
	}
	if err := forgetDeadLetter(ctx, tx, eventID, id); err != nil {
		return fmt.Errorf("mark replay %d: forget dead letter %s: %w", id, eventID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark replay %d: commit: %w", id, err)
	}
	return nil
}
