package store

import (
	"context"
	"fmt"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Stats is what the database holds right now, for gauges.
type Stats struct {
	OrdersByStatus  map[fulfillment.Status]int64
	DeadLetters     int64
	OutboxPending   int64 // order changes not yet on the push feed
	ReplaysPending  int64 // replays queued by dlq retry / reconcile, not yet published
	ProcessedEvents int64
}

// Stats counts orders by status, dead letters and the relays' backlogs in
// one read transaction (a consistent snapshot).
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	s := Stats{OrdersByStatus: make(map[fulfillment.Status]int64)}
	tx, err := db.reader.BeginTxx(ctx, nil)
	if err != nil {
		return s, fmt.Errorf("stats: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to undo
	var rows []struct {
		Status string `db:"status"`
		N      int64  `db:"n"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT status, COUNT(*) AS n FROM orders GROUP BY status`); err != nil {
		return s, fmt.Errorf("stats: orders: %w", err)
	}
	for _, r := range rows {
		s.OrdersByStatus[fulfillment.Status(r.Status)] = r.N
	}
	for _, q := range []struct {
		dst *int64
		sql string
	}{
		{&s.DeadLetters, `SELECT COUNT(*) FROM dead_letters`},
		{&s.OutboxPending, `SELECT COUNT(*) FROM outbox WHERE published_at IS NULL`},
		{&s.ReplaysPending, `SELECT COUNT(*) FROM replays WHERE published_at IS NULL`},
		{&s.ProcessedEvents, `SELECT COUNT(*) FROM processed_events`},
	} {
		if err := tx.GetContext(ctx, q.dst, q.sql); err != nil {
			return s, fmt.Errorf("stats: %w", err)
		}
	}
	return s, nil
}
