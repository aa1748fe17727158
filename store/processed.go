package store

import (
	"context"
	"fmt"
	"time"
)

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
