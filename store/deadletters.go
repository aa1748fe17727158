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

type deadLetterRow struct {
	EventID       string `db:"event_id"`
	EventType     string `db:"event_type"`
	Subject       string `db:"subject"`
	Payload       []byte `db:"payload"`
	Error         string `db:"error"`
	Attempts      int    `db:"attempts"`
	FirstFailedAt string `db:"first_failed_at"`
	LastFailedAt  string `db:"last_failed_at"`
	StripeSig     string `db:"stripe_signature"`
	FulfillSig    string `db:"fulfillment_signature"`
}

// deadLetterColumns are the columns of a deadLetterRow.
const deadLetterColumns = `event_id, event_type, subject, payload, error, attempts, first_failed_at, last_failed_at,
	stripe_signature, fulfillment_signature`

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

func (r deadLetterRow) signatures() fulfillment.Signatures {
	return fulfillment.Signatures{Stripe: r.StripeSig, Fulfillment: r.FulfillSig}
}

// RecordDeadLetter keeps an event the worker runtime gave up on. For an event
// already kept, it adds dl.Attempts to the stored attempts and replaces the
// error, last_failed_at, payload, type and subject; first_failed_at stays.
// Either way the record is a new failure, tied to no replay: publishing a
// replay requested before it does not forget it (see MarkReplayed).
//
// Attempts below 1 count as 1. A zero FirstFailedAt is taken from
// LastFailedAt and the other way round; one of them must be set.
func (db *DB) RecordDeadLetter(ctx context.Context, dl fulfillment.DeadLetter) error {
	if dl.EventID == "" {
		return fulfillment.Permanent(errors.New("record dead letter: missing event id"))
	}
	if dl.Attempts < 1 {
		dl.Attempts = 1
	}
	switch {
	case dl.FirstFailedAt.IsZero() && dl.LastFailedAt.IsZero():
		return fulfillment.Permanent(fmt.Errorf("record dead letter %s: missing failure time", dl.EventID))
	case dl.FirstFailedAt.IsZero():
		dl.FirstFailedAt = dl.LastFailedAt
	case dl.LastFailedAt.IsZero():
		dl.LastFailedAt = dl.FirstFailedAt
	}
	_, err := db.writer.NamedExecContext(ctx, `INSERT INTO dead_letters
		(`+deadLetterColumns+`)
		VALUES (:event_id, :event_type, :subject, :payload, :error, :attempts, :first_failed_at, :last_failed_at,
			:stripe_signature, :fulfillment_signature)
		ON CONFLICT (event_id) DO UPDATE SET
			event_type     = excluded.event_type,
			subject        = excluded.subject,
			payload        = excluded.payload,
			error          = excluded.error,
			attempts       = dead_letters.attempts + excluded.attempts,
			last_failed_at = excluded.last_failed_at,
			stripe_signature      = excluded.stripe_signature,
			fulfillment_signature = excluded.fulfillment_signature,
			replay_id      = NULL`,
		deadLetterRow{
			EventID:       dl.EventID,
			EventType:     dl.EventType,
			Subject:       dl.Subject,
			Payload:       dl.Payload,
			Error:         dl.Error,
			Attempts:      dl.Attempts,
			FirstFailedAt: formatTime(dl.FirstFailedAt),
			LastFailedAt:  formatTime(dl.LastFailedAt),
			StripeSig:     dl.Signatures.Stripe,
			FulfillSig:    dl.Signatures.Fulfillment,
		})
	if err != nil {
		return fmt.Errorf("record dead letter %s: %w", dl.EventID, err)
	}
	return nil
}

// DeadLetters returns every dead letter, the most recent failure first.
func (db *DB) DeadLetters(ctx context.Context) ([]fulfillment.DeadLetter, error) {
	var rows []deadLetterRow
	if err := db.reader.SelectContext(ctx, &rows, `SELECT `+deadLetterColumns+`
		FROM dead_letters ORDER BY last_failed_at DESC, event_id`); err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	dls := make([]fulfillment.DeadLetter, len(rows))
	for i, r := range rows {
		var err error
		if dls[i], err = r.deadLetter(); err != nil {
			return nil, err
		}
	}
	return dls, nil
}

// DeleteDeadLetter forgets a dead letter (after it was replayed), or returns
// an error wrapping fulfillment.ErrNotFound.
func (db *DB) DeleteDeadLetter(ctx context.Context, eventID string) error {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM dead_letters WHERE event_id = ?`, eventID)
	if err != nil {
		return fmt.Errorf("delete dead letter %s: %w", eventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete dead letter %s: %w", eventID, err)
	}
	if n == 0 {
		return fmt.Errorf("delete dead letter %s: %w", eventID, fulfillment.ErrNotFound)
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
	if err := tieDeadLetter(ctx, tx, eventID, rp.ID); err != nil {
		return rp, false, fmt.Errorf("retry dead letter %s: tie to replay %d: %w", eventID, rp.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return rp, false, fmt.Errorf("retry dead letter %s: commit: %w", eventID, err)
	}
	return rp, queued, nil
}

// tieDeadLetter ties the dead letter of eventID, if there is one, to replay
// replayID: publishing that replay forgets it (forgetDeadLetter).
func tieDeadLetter(ctx context.Context, tx *sqlx.Tx, eventID string, replayID int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE dead_letters SET replay_id = ? WHERE event_id = ?`, replayID, eventID)
	return err
}

// forgetDeadLetter deletes the dead letter of eventID if it is still tied to
// replay replayID: one written after the replay was requested stays.
func forgetDeadLetter(ctx context.Context, tx *sqlx.Tx, eventID string, replayID int64) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE event_id = ? AND replay_id = ?`, eventID, replayID)
	return err
}
