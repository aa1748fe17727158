package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// The outbox: every order change (Record's and ChangeOrder's) writes one row
// in the change's own transaction; a relay (worker.Relay) publishes the rows
// in change order and marks them published. Published rows are kept for a
// while (see PruneOutbox) to show what was sent when; the broker's stream is
// the consumers' log.

// ChangeID is the stable id of the change with this change_seq to order
// orderID: the Nats-Msg-Id of its message.
func ChangeID(orderID string, seq int64) string {
	return orderID + "." + strconv.FormatInt(seq, 10)
}

// writeOutbox adds the outbox row of the change seq that left the order o.
func writeOutbox(ctx context.Context, tx *sqlx.Tx, o fulfillment.Order, seq int64) error {
	payload, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("outbox: encode order %s: %w", o.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (change_seq, change_id, order_id, status, payload, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, seq, ChangeID(o.ID, seq), o.ID, string(o.Status), payload, formatTime(o.UpdatedAt)); err != nil {
		return fmt.Errorf("outbox: insert change %d: %w", seq, err)
	}
	return nil
}

// OutboxWritten receives a value after a commit that added outbox rows.
// Signals coalesce: one value may stand for many commits, and none is lost
// while the receiver is busy (the channel holds one). There is one channel
// per DB: give it to one relay. Rows written by other processes on the same
// file do not signal.
func (db *DB) OutboxWritten() <-chan struct{} { return db.outbox }

func (db *DB) outboxWritten() {
	select {
	case db.outbox <- struct{}{}:
	default: // a signal is pending already
	}
}

type outboxRow struct {
	ChangeSeq int64  `db:"change_seq"`
	ChangeID  string `db:"change_id"`
	OrderID   string `db:"order_id"`
	Status    string `db:"status"`
	Payload   []byte `db:"payload"`
	CreatedAt string `db:"created_at"`
}

// PendingChanges returns up to limit unpublished changes, oldest first.
func (db *DB) PendingChanges(ctx context.Context, limit int) ([]fulfillment.OrderChange, error) {
	if limit < 1 {
		limit = 1
	}
	var rows []outboxRow
	if err := db.reader.SelectContext(ctx, &rows, `SELECT change_seq, change_id, order_id, status, payload, created_at
		FROM outbox WHERE published_at IS NULL ORDER BY change_seq LIMIT ?`, limit); err != nil {
		return nil, fmt.Errorf("pending changes: %w", err)
	}
	out := make([]fulfillment.OrderChange, len(rows))
	for i, r := range rows {
		at, err := parseTime(r.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("pending change %d: %w", r.ChangeSeq, err)
		}
		out[i] = fulfillment.OrderChange{Seq: r.ChangeSeq, ID: r.ChangeID, OrderID: r.OrderID,
			Status: fulfillment.Status(r.Status), Payload: r.Payload, CreatedAt: at}
	}
	return out, nil
}

// MarkPublished records that the changes with these change_seqs are on the
// broker. Marking a change twice keeps the first time.
func (db *DB) MarkPublished(ctx context.Context, seqs []int64, at time.Time) error {
	if len(seqs) == 0 {
		return nil
	}
	query, args, err := sqlx.In(`UPDATE outbox SET published_at = ? WHERE published_at IS NULL AND change_seq IN (?)`,
		formatTime(at), seqs)
	if err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	if _, err := db.writer.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("mark %d changes published: %w", len(seqs), err)
	}
	return nil
}

// PruneOutbox deletes the rows published before before and returns how many.
// Unpublished rows are never deleted, nor rows some warehouse webhook
// endpoint has not fanned out yet (past its cursor: see FanOut).
func (db *DB) PruneOutbox(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < ?
		AND change_seq <= (SELECT coalesce(min(change_seq), 9223372036854775807) FROM webhook_cursors)`, formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	return n, nil
}
