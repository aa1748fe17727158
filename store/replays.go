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
		if _, err := tx.ExecContext(ctx, `UPDATE dead_letters SET replay_id = ? WHERE event_id = ?`, out.ID, rp.EventID); err != nil {
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

// RetryDeadLetter queues a replay of the dead-lettered event eventID, with
// the payload the dead letter kept, and ties the dead letter to that replay
// (dead_letters.replay_id). The dead letter stays until the replay is
// published: MarkReplayed removes it then, unless the event failed again
// meanwhile (RecordDeadLetter unties it). An event without a dead letter is
// an error wrapping fulfillment.ErrNotFound; one whose replay is pending
// already returns that replay with queued false (and the dead letter is tied
// to it: its publication answers this request too).
func (db *DB) RetryDeadLetter(ctx context.Context, eventID string, at time.Time) (rp fulfillment.Replay, queued bool, err error) {
	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return rp, false, fmt.Errorf("retry dead letter %s: begin: %w", eventID, err)
	}
	defer func() { _ = tx.Rollback() }()
	var dl deadLetterRow
	err = tx.GetContext(ctx, &dl, `SELECT event_id, event_type, payload, stripe_signature, fulfillment_signature
		FROM dead_letters WHERE event_id = ?`, eventID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return rp, false, fmt.Errorf("retry dead letter %s: %w", eventID, fulfillment.ErrNotFound)
	case err != nil:
		return rp, false, fmt.Errorf("retry dead letter %s: %w", eventID, err)
	case dl.EventType == "" || len(dl.Payload) == 0:
		return rp, false, fulfillment.Permanent(fmt.Errorf("retry dead letter %s: it kept no event type or payload to replay", eventID))
	}
	rp, queued, err = enqueueReplay(ctx, tx, fulfillment.Replay{EventID: dl.EventID, EventType: dl.EventType,
		Payload: dl.Payload, Reason: "dlq retry", RequestedAt: at, Signatures: dl.signatures()})
	if err != nil {
		return rp, false, fmt.Errorf("retry dead letter %s: %w", eventID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE dead_letters SET replay_id = ? WHERE event_id = ?`, rp.ID, eventID); err != nil {
		return rp, false, fmt.Errorf("retry dead letter %s: tie to replay %d: %w", eventID, rp.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return rp, false, fmt.Errorf("retry dead letter %s: commit: %w", eventID, err)
	}
	return rp, queued, nil
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
	if _, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE event_id = ? AND replay_id = ?`, eventID, id); err != nil {
		return fmt.Errorf("mark replay %d: forget dead letter %s: %w", id, eventID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark replay %d: commit: %w", id, err)
	}
	return nil
}

// DeadLetter returns one dead letter, or an error wrapping
// fulfillment.ErrNotFound.
func (db *DB) DeadLetter(ctx context.Context, eventID string) (fulfillment.DeadLetter, error) {
	var rows []deadLetterRow
	if err := db.reader.SelectContext(ctx, &rows, `SELECT `+deadLetterColumns+`
		FROM dead_letters WHERE event_id = ?`, eventID); err != nil {
		return fulfillment.DeadLetter{}, fmt.Errorf("dead letter %s: %w", eventID, err)
	}
	if len(rows) == 0 {
		return fulfillment.DeadLetter{}, fmt.Errorf("dead letter %s: %w", eventID, fulfillment.ErrNotFound)
	}
	return rows[0].deadLetter()
}

func (r deadLetterRow) deadLetter() (fulfillment.DeadLetter, error) {
	first, err := parseTime(r.FirstFailedAt)
	if err != nil {
		return fulfillment.DeadLetter{}, fmt.Errorf("dead letter %s: first_failed_at: %w", r.EventID, err)
	}
	last, err := parseTime(r.LastFailedAt)
	if err != nil {
		return fulfillment.DeadLetter{}, fmt.Errorf("dead letter %s: last_failed_at: %w", r.EventID, err)
	}
	return fulfillment.DeadLetter{EventID: r.EventID, EventType: r.EventType, Subject: r.Subject, Payload: r.Payload,
		Error: r.Error, Attempts: r.Attempts, FirstFailedAt: first, LastFailedAt: last, Signatures: r.signatures()}, nil
}

// PurgeDeadLetters deletes the dead letters whose last failure is before
// before, and returns how many.
func (db *DB) PurgeDeadLetters(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM dead_letters WHERE last_failed_at < ?`, formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	return n, nil
}

// EventProcessed reports whether an event was recorded (processed_events).
func (db *DB) EventProcessed(ctx context.Context, eventID string) (bool, error) {
	var n int
	if err := db.reader.GetContext(ctx, &n, `SELECT count(*) FROM processed_events WHERE event_id = ?`, eventID); err != nil {
		return false, fmt.Errorf("processed event %s: %w", eventID, err)
	}
	return n > 0, nil
}

// PruneProcessedEvents forgets the processed events recorded before before,
// batch rows per write transaction (batch < 1 → 1000) so that the single
// writer is never held for long, and returns how many it deleted. Forgetting
// an event id only matters if the event comes again: processing it then is
// safe (one order per session, forward-only merges) but costs Stripe calls,
// so callers keep more than Stripe's retry and event-retention periods.
func (db *DB) PruneProcessedEvents(ctx context.Context, before time.Time, batch int) (int64, error) {
	if batch < 1 {
		batch = 1000
	}
	var total int64
	for {
		res, err := db.writer.ExecContext(ctx, `DELETE FROM processed_events WHERE event_id IN (
			SELECT event_id FROM processed_events WHERE processed_at < ? ORDER BY processed_at LIMIT ?)`,
			formatTime(before), batch)
		if err != nil {
			return total, fmt.Errorf("prune processed events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("prune processed events: %w", err)
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
