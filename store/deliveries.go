package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Warehouse webhooks: the outbox is fanned out into deliveries, one per
// change per endpoint that takes it, behind a cursor per endpoint that
// advances in the same transaction; PruneOutbox keeps every change past the
// smallest cursor.

var _ fulfillment.DeliveryStore = (*DB)(nil)

// InitWebhookCursors prepares the cursors of the configured endpoints: an
// endpoint seen for the first time starts after the latest change (it gets
// the changes from now on); the cursors of endpoints no longer configured
// are dropped, so that they hold back no pruning (their deliveries stay
// listed). Call it before anything changes orders.
func (db *DB) InitWebhookCursors(ctx context.Context, names []string) error {
	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("webhook cursors: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var latest int64
	if err := tx.GetContext(ctx, &latest, `SELECT coalesce(max(change_seq), 0) FROM orders`); err != nil {
		return fmt.Errorf("webhook cursors: latest change: %w", err)
	}
	var known []string
	if err := tx.SelectContext(ctx, &known, `SELECT endpoint FROM webhook_cursors`); err != nil {
		return fmt.Errorf("webhook cursors: %w", err)
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_cursors (endpoint, change_seq) VALUES (?, ?)
			ON CONFLICT (endpoint) DO NOTHING`, n, latest); err != nil {
			return fmt.Errorf("webhook cursor %s: %w", n, err)
		}
	}
	for _, k := range known {
		if !want[k] {
			if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_cursors WHERE endpoint = ?`, k); err != nil {
				return fmt.Errorf("drop webhook cursor %s: %w", k, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("webhook cursors: commit: %w", err)
	}
	return nil
}

type fanOutRow struct {
	outboxRow
	FirstSeq sql.NullInt64 `db:"first_seq"`
}

// FanOut turns up to limit changes past the endpoints' cursors into
// deliveries, in one transaction: each change an endpoint's filter takes
// becomes a pending delivery due now, superseding the endpoint's older
// pending deliveries of the same order (done at now); every endpoint's cursor moves past
// the changes read.
func (db *DB) FanOut(ctx context.Context, endpoints []fulfillment.WebhookEndpoint, now time.Time, limit int) (fulfillment.FanOutResult, error) {
	var res fulfillment.FanOutResult
	if len(endpoints) == 0 {
		return res, nil
	}
	limit = max(limit, 1)
	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("fan out: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	cursors := make(map[string]int64, len(endpoints))
	var from int64 = -1
	for _, e := range endpoints {
		var c int64
		if err := tx.GetContext(ctx, &c, `SELECT change_seq FROM webhook_cursors WHERE endpoint = ?`, e.Name); err != nil {
			return res, fmt.Errorf("fan out: cursor of %s (InitWebhookCursors first): %w", e.Name, err)
		}
		cursors[e.Name] = c
		if from < 0 || c < from {
			from = c
		}
	}
	var rows []fanOutRow
	if err := tx.SelectContext(ctx, &rows, `SELECT o.change_seq, o.change_id, o.order_id, o.status, o.payload, o.created_at,
		f.change_seq AS first_seq
		FROM outbox o LEFT JOIN order_first_changes f ON f.order_id = o.order_id
		WHERE o.change_seq > ? ORDER BY o.change_seq LIMIT ?`, from, limit); err != nil {
		return res, fmt.Errorf("fan out: read outbox: %w", err)
	}
	if len(rows) == 0 {
		return res, nil
	}
	due := formatTime(now)
	for _, e := range endpoints {
		for _, r := range rows {
			if r.ChangeSeq <= cursors[e.Name] || !e.Takes(fulfillment.Status(r.Status)) {
				continue
			}
			typ := fulfillment.EventOrderUpdated
			if !r.FirstSeq.Valid || r.FirstSeq.Int64 == r.ChangeSeq {
				typ = fulfillment.EventOrderCreated
			}
			// fulfillment.Supersedes, in SQL.
			sup, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'superseded', next_at = NULL, done_at = ?
				WHERE endpoint = ? AND order_id = ? AND state = 'pending' AND change_seq < ?`,
				due, e.Name, r.OrderID, r.ChangeSeq)
			if err != nil {
				return res, fmt.Errorf("fan out: supersede: %w", err)
			}
			if n, _ := sup.RowsAffected(); n > 0 {
				if res.Superseded == nil {
					res.Superseded = make(map[string]int)
				}
				res.Superseded[e.Name] += int(n)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries
				(endpoint, change_seq, change_id, order_id, status, type, payload, changed_at, state, next_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT (endpoint, change_seq) DO NOTHING`,
				e.Name, r.ChangeSeq, r.ChangeID, r.OrderID, r.Status, typ, r.Payload, r.CreatedAt, due); err != nil {
				return res, fmt.Errorf("fan out: insert delivery: %w", err)
			}
		}
		if last := rows[len(rows)-1].ChangeSeq; last > cursors[e.Name] {
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_cursors SET change_seq = ? WHERE endpoint = ?`, last, e.Name); err != nil {
				return res, fmt.Errorf("fan out: move cursor: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fulfillment.FanOutResult{}, fmt.Errorf("fan out: commit: %w", err)
	}
	res.Changes = len(rows)
	return res, nil
}

const deliveryColumns = `id, endpoint, change_seq, change_id, order_id, status, type, payload, changed_at,
	state, attempts, next_at, last_at, last_error, done_at`

type deliveryRow struct {
	ID        int64          `db:"id"`
	Endpoint  string         `db:"endpoint"`
	ChangeSeq int64          `db:"change_seq"`
	ChangeID  string         `db:"change_id"`
	OrderID   string         `db:"order_id"`
	Status    string         `db:"status"`
	Type      string         `db:"type"`
	Payload   []byte         `db:"payload"`
	ChangedAt string         `db:"changed_at"`
	State     string         `db:"state"`
	Attempts  int            `db:"attempts"`
	NextAt    sql.NullString `db:"next_at"`
	LastAt    sql.NullString `db:"last_at"`
	LastError string         `db:"last_error"`
	DoneAt    sql.NullString `db:"done_at"`
}

func (r deliveryRow) delivery() (fulfillment.Delivery, error) {
	d := fulfillment.Delivery{ID: r.ID, Endpoint: r.Endpoint, ChangeSeq: r.ChangeSeq, ChangeID: r.ChangeID,
		OrderID: r.OrderID, Status: fulfillment.Status(r.Status), Type: r.Type, Payload: r.Payload,
		State: fulfillment.DeliveryState(r.State), Attempts: r.Attempts, LastError: r.LastError}
	var err error
	if d.ChangedAt, err = parseTime(r.ChangedAt); err != nil {
		return d, fmt.Errorf("delivery %d: %w", r.ID, err)
	}
	for _, t := range []struct {
		s  sql.NullString
		to *time.Time
	}{{r.NextAt, &d.NextAt}, {r.LastAt, &d.LastAt}, {r.DoneAt, &d.DoneAt}} {
		if t.s.Valid {
			if *t.to, err = parseTime(t.s.String); err != nil {
				return d, fmt.Errorf("delivery %d: %w", r.ID, err)
			}
		}
	}
	return d, nil
}

func (db *DB) selectDeliveries(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]fulfillment.Delivery, error) {
	var rows []deliveryRow
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT `+deliveryColumns+` FROM deliveries `+query, args...); err != nil {
		return nil, err
	}
	out := make([]fulfillment.Delivery, len(rows))
	for i, r := range rows {
		d, err := r.delivery()
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// DueDeliveries returns up to limit pending deliveries to endpoint due at
// or before now, the earliest due first.
func (db *DB) DueDeliveries(ctx context.Context, endpoint string, now time.Time, limit int) ([]fulfillment.Delivery, error) {
	ds, err := db.selectDeliveries(ctx, db.reader, `WHERE endpoint = ? AND state = 'pending' AND next_at <= ?
		ORDER BY next_at, change_seq LIMIT ?`, endpoint, formatTime(now), max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("due deliveries to %s: %w", endpoint, err)
	}
	return ds, nil
}

// RecordAttempt records one attempt of delivery id: delivered, due again
// at a.Retry, or failed. A delivery superseded while it was being sent
// keeps that state unless the attempt delivered it.
func (db *DB) RecordAttempt(ctx context.Context, id int64, a fulfillment.DeliveryAttempt) error {
	at := formatTime(a.At)
	var err error
	switch {
	case a.Delivered:
		_, err = db.writer.ExecContext(ctx, `UPDATE deliveries SET state = 'delivered', attempts = attempts + 1,
			last_at = ?, last_error = '', next_at = NULL, done_at = ? WHERE id = ? AND state IN ('pending', 'superseded')`, at, at, id)
	case !a.Retry.IsZero():
		_, err = db.writer.ExecContext(ctx, `UPDATE deliveries SET attempts = attempts + 1, last_at = ?, last_error = ?,
			next_at = CASE WHEN state = 'pending' THEN ? ELSE next_at END WHERE id = ?`, at, a.Error, formatTime(a.Retry), id)
	default:
		_, err = db.writer.ExecContext(ctx, `UPDATE deliveries SET attempts = attempts + 1, last_at = ?, last_error = ?,
			done_at = CASE WHEN state = 'pending' THEN ? ELSE done_at END,
			next_at = CASE WHEN state = 'pending' THEN NULL ELSE next_at END,
			state = CASE WHEN state = 'pending' THEN 'failed' ELSE state END WHERE id = ?`, at, a.Error, at, id)
	}
	if err != nil {
		return fmt.Errorf("record attempt of delivery %d: %w", id, err)
	}
	return nil
}

// DeliveryFilter selects deliveries for Deliveries; zero fields select all.
type DeliveryFilter struct {
	Endpoint string
	State    fulfillment.DeliveryState
	Limit    int // 0: 1000
}

// Deliveries returns the deliveries f selects, the latest first.
func (db *DB) Deliveries(ctx context.Context, f DeliveryFilter) ([]fulfillment.Delivery, error) {
	where, args := `WHERE 1 = 1`, []any{}
	if f.Endpoint != "" {
		where, args = where+` AND endpoint = ?`, append(args, f.Endpoint)
	}
	if f.State != "" {
		where, args = where+` AND state = ?`, append(args, string(f.State))
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	ds, err := db.selectDeliveries(ctx, db.reader, where+` ORDER BY id DESC LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	return ds, nil
}

// RetryDelivery makes the failed delivery id pending again, due at now,
// with a new round of attempts (fulfillment.Retryable). It returns the
// delivery as it was and why it was not retried ("" if it was); a
// missing id is fulfillment.ErrNotFound.
func (db *DB) RetryDelivery(ctx context.Context, id int64, now time.Time) (fulfillment.Delivery, string, error) {
	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return fulfillment.Delivery{}, "", fmt.Errorf("retry delivery %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	ds, err := db.selectDeliveries(ctx, tx, `WHERE id = ?`, id)
	if err != nil {
		return fulfillment.Delivery{}, "", fmt.Errorf("retry delivery %d: %w", id, err)
	}
	if len(ds) == 0 {
		return fulfillment.Delivery{}, "", fmt.Errorf("delivery %d: %w", id, fulfillment.ErrNotFound)
	}
	d := ds[0]
	var newest int64
	if err := tx.GetContext(ctx, &newest, `SELECT max(change_seq) FROM deliveries WHERE endpoint = ? AND order_id = ?`,
		d.Endpoint, d.OrderID); err != nil {
		return d, "", fmt.Errorf("retry delivery %d: %w", id, err)
	}
	if why := fulfillment.Retryable(d, newest); why != "" {
		return d, why, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?, done_at = NULL
		WHERE id = ?`, formatTime(now), id); err != nil {
		return d, "", fmt.Errorf("retry delivery %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return d, "", fmt.Errorf("retry delivery %d: commit: %w", id, err)
	}
	return d, "", nil
}

// DeliveryBacklog is one endpoint's pending deliveries.
type DeliveryBacklog struct {
	Endpoint string
	Pending  int
	Oldest   time.Time // the oldest pending change's time
}

// DeliveryBacklogs returns the pending deliveries per endpoint (endpoints
// with none are left out).
func (db *DB) DeliveryBacklogs(ctx context.Context) ([]DeliveryBacklog, error) {
	var rows []struct {
		Endpoint string `db:"endpoint"`
		N        int    `db:"n"`
		Oldest   string `db:"oldest"`
	}
	if err := db.reader.SelectContext(ctx, &rows, `SELECT endpoint, count(*) AS n, min(changed_at) AS oldest
		FROM deliveries WHERE state = 'pending' GROUP BY endpoint`); err != nil {
		return nil, fmt.Errorf("delivery backlog: %w", err)
	}
	out := make([]DeliveryBacklog, len(rows))
	for i, r := range rows {
		t, err := parseTime(r.Oldest)
		if err != nil {
			return nil, fmt.Errorf("delivery backlog: %w", err)
		}
		out[i] = DeliveryBacklog{Endpoint: r.Endpoint, Pending: r.N, Oldest: t}
	}
	return out, nil
}

// PruneDeliveries deletes delivered and superseded deliveries done before
// before and returns how many; pending and failed ones stay.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM deliveries WHERE state IN ('delivered', 'superseded') AND done_at < ?`,
		formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return n, nil
}
