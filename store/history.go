package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// writeHistory records the change that made after (before nil: the order
// was created) as change seq, made by by: in the change's transaction.
func writeHistory(ctx context.Context, tx *sqlx.Tx, before *fulfillment.Order, after fulfillment.Order, seq int64, by fulfillment.Actor) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO order_history (order_id, change_seq, at, status, what, by_kind, by_name)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, after.ID, seq, formatTime(after.UpdatedAt), string(after.Status),
		fulfillment.DescribeChange(before, after), string(by.Kind), by.Name); err != nil {
		return fmt.Errorf("history: insert change %d: %w", seq, err)
	}
	return nil
}

type historyRow struct {
	Seq    int64  `db:"change_seq"`
	At     string `db:"at"`
	Status string `db:"status"`
	What   string `db:"what"`
	Kind   string `db:"by_kind"`
	Name   string `db:"by_name"`
}

// OrderHistory returns the changes of the order whose order id or Checkout
// Session id is id, the latest first (none for an unknown order, and none
// from before the history was kept).
func (db *DB) OrderHistory(ctx context.Context, id string) ([]fulfillment.HistoryEntry, error) {
	var rows []historyRow
	if err := db.reader.SelectContext(ctx, &rows, `SELECT change_seq, at, status, what, by_kind, by_name
		FROM order_history WHERE order_id = (SELECT id FROM orders WHERE id = ?1 OR checkout_session_id = ?1)
		ORDER BY change_seq DESC`, id); err != nil {
		return nil, fmt.Errorf("order history %s: %w", id, err)
	}
	out := make([]fulfillment.HistoryEntry, len(rows))
	for i, r := range rows {
		at, err := parseTime(r.At)
		if err != nil {
			return nil, fmt.Errorf("order history %s: %w", id, err)
		}
		out[i] = fulfillment.HistoryEntry{Seq: r.Seq, At: at, Status: fulfillment.Status(r.Status), What: r.What,
			By: fulfillment.Actor{Kind: fulfillment.ActorKind(r.Kind), Name: r.Name}}
	}
	return out, nil
}

type summaryRow struct {
	ID                string `db:"id"`
	CheckoutSessionID string `db:"checkout_session_id"`
	Status            string `db:"status"`
	Currency          string `db:"currency"`
	AmountTotal       int64  `db:"amount_total"`
	CustomerEmail     string `db:"customer_email"`
	CustomerName      string `db:"customer_name"`
	Units             int64  `db:"units"`
	CrossSell         bool   `db:"cross_sell"`
	CreatedAt         string `db:"created_at"`
	UpdatedAt         string `db:"updated_at"`
	ChangeSeq         int64  `db:"change_seq"`
}

// SearchOrders returns a page of order summaries, the latest change first.
// Pages are keyset pages on change_seq: a page continues below the last
// change_seq shown, so paging on while orders change shows no order twice
// and skips none that did not change (one that changed since moves to the
// first page). Every search is an index lookup: order id, session id,
// email (orders_customer_email), tracking number
// (shipments_tracking_number), status (orders_status_change_seq). A
// malformed cursor is a fulfillment.ErrBadRequest.
func (db *DB) SearchOrders(ctx context.Context, s fulfillment.OrderSearch) (fulfillment.SummaryPage, error) {
	var before int64
	if s.Before != "" {
		var err error
		if before, err = parseCursor(s.Before); err != nil {
			return fulfillment.SummaryPage{}, err
		}
	}
	limit := s.Limit
	switch {
	case limit <= 0:
		limit = fulfillment.DefaultListLimit
	case limit > fulfillment.MaxListLimit:
		limit = fulfillment.MaxListLimit
	}
	where, args := `1`, []any{}
	if before > 0 {
		where, args = `o.change_seq < ?`, append(args, before)
	}
	if s.Status != "" {
		where, args = where+` AND o.status = ?`, append(args, string(s.Status))
	}
	from := `orders o`
	if s.Query != "" {
		// One indexed lookup per kind of key, then the page.
		from = `(SELECT * FROM orders WHERE id = ? UNION
			SELECT * FROM orders WHERE checkout_session_id = ? UNION
			SELECT * FROM orders WHERE customer_email = ? COLLATE NOCASE UNION
			SELECT * FROM orders WHERE id IN (SELECT order_id FROM shipments WHERE tracking_number = ?)) o`
		args = append([]any{s.Query, s.Query, s.Query, s.Query}, args...)
	}
	args = append(args, limit)
	var rows []summaryRow
	q := `SELECT o.id, o.checkout_session_id, o.status, o.currency, o.amount_total, o.customer_email, o.customer_name,
		o.created_at, o.updated_at, o.change_seq,
		coalesce((SELECT sum(quantity) FROM line_items li WHERE li.order_id = o.id), 0) AS units,
		EXISTS (SELECT 1 FROM line_items li WHERE li.order_id = o.id AND li.cross_sell = 1) AS cross_sell
		FROM ` + from + ` WHERE ` + where + ` ORDER BY o.change_seq DESC LIMIT ?`
	if err := db.reader.SelectContext(ctx, &rows, q, args...); err != nil {
		return fulfillment.SummaryPage{}, fmt.Errorf("search orders: %w", err)
	}
	page := fulfillment.SummaryPage{Orders: make([]fulfillment.OrderSummary, len(rows))}
	for i, r := range rows {
		var err error
		if page.Orders[i], err = r.summary(); err != nil {
			return fulfillment.SummaryPage{}, fmt.Errorf("search orders: %w", err)
		}
	}
	if len(rows) == limit {
		page.Next = formatCursor(rows[len(rows)-1].ChangeSeq)
	}
	return page, nil
}

// OrdersByStatus counts the orders in each status (order_status_counts:
// a few rows, whatever the number of orders).
func (db *DB) OrdersByStatus(ctx context.Context) (map[fulfillment.Status]int64, error) {
	s, err := db.Stats(ctx)
	if err != nil {
		return nil, err
	}
	return s.OrdersByStatus, nil
}

// OldestAwaitingPayment returns the order awaiting payment that was
// created first, and false when none is.
func (db *DB) OldestAwaitingPayment(ctx context.Context) (fulfillment.OrderSummary, bool, error) {
	var r summaryRow
	err := db.reader.GetContext(ctx, &r, `SELECT id, checkout_session_id, status, currency, amount_total,
		customer_email, customer_name, created_at, updated_at, change_seq, 0 AS units, 0 AS cross_sell
		FROM orders WHERE status = ? ORDER BY created_at LIMIT 1`, string(fulfillment.StatusAwaitingPayment))
	switch {
	case err == sql.ErrNoRows:
		return fulfillment.OrderSummary{}, false, nil
	case err != nil:
		return fulfillment.OrderSummary{}, false, fmt.Errorf("oldest awaiting payment: %w", err)
	}
	o, err := r.summary()
	if err != nil {
		return o, false, fmt.Errorf("oldest awaiting payment: %w", err)
	}
	return o, true, nil
}

func (r summaryRow) summary() (fulfillment.OrderSummary, error) {
	o := fulfillment.OrderSummary{ID: r.ID, CheckoutSessionID: r.CheckoutSessionID, Status: fulfillment.Status(r.Status),
		Currency: r.Currency, AmountTotal: r.AmountTotal, CustomerEmail: r.CustomerEmail, CustomerName: r.CustomerName,
		Units: r.Units, CrossSell: r.CrossSell, Seq: r.ChangeSeq}
	var err error
	if o.CreatedAt, err = parseTime(r.CreatedAt); err != nil {
		return o, fmt.Errorf("order %s: created_at: %w", r.ID, err)
	}
	if o.UpdatedAt, err = parseTime(r.UpdatedAt); err != nil {
		return o, fmt.Errorf("order %s: updated_at: %w", r.ID, err)
	}
	return o, nil
}
