package store

import (
	"context"
	"fmt"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Stats is what the database holds right now, for gauges.
type Stats struct {
	OrdersByStatus map[fulfillment.Status]int64
	DeadLetters    int64
	OutboxPending  int64 // order changes not yet on the push feed
	ReplaysPending int64 // replays queued by dlq retry / reconcile, not yet published
}

// Stats reads orders by status, dead letters and the relays' backlogs in one
// read transaction (a consistent snapshot). No query scans a table that
// grows with traffic: orders per status are kept by triggers in
// order_status_counts (a status that had orders once stays, with 0), and the
// backlogs are counted on partial indexes of the pending rows only. Dead
// letters are counted in full: they stay few, until dlq retry or purge.
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
	if err := tx.SelectContext(ctx, &rows, `SELECT status, n FROM order_status_counts`); err != nil {
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
	} {
		if err := tx.GetContext(ctx, q.dst, q.sql); err != nil {
			return s, fmt.Errorf("stats: %w", err)
		}
	}
	return s, nil
}
