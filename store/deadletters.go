package store

import (
	"context"
	"errors"
	"fmt"

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
		first, err := parseTime(r.FirstFailedAt)
		if err != nil {
			return nil, fmt.Errorf("dead letter %s: first_failed_at: %w", r.EventID, err)
		}
		last, err := parseTime(r.LastFailedAt)
		if err != nil {
			return nil, fmt.Errorf("dead letter %s: last_failed_at: %w", r.EventID, err)
		}
		dls[i] = fulfillment.DeadLetter{
			EventID:       r.EventID,
			EventType:     r.EventType,
			Subject:       r.Subject,
			Payload:       r.Payload,
			Error:         r.Error,
			Attempts:      r.Attempts,
			FirstFailedAt: first,
			LastFailedAt:  last,
			Signatures:    r.signatures(),
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

func (r deadLetterRow) signatures() fulfillment.Signatures {
	return fulfillment.Signatures{Stripe: r.StripeSig, Fulfillment: r.FulfillSig}
}
