package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// ListOrders returns orders in the order of their latest change, oldest
// first. Every change of an order gives it a new, larger position in the
// feed, so an order that changes after a consumer read it appears again
// after the consumer's cursor; a consumer that keeps polling with NextCursor
// sees every order at its latest state. With a Status filter, an order
// appears while it is in that status.
//
// A cursor is the decimal change_seq of the last order returned ("" and "0"
// are the start). Consumers must treat it as opaque. A malformed cursor is
// a fulfillment.ErrBadRequest.
func (db *DB) ListOrders(ctx context.Context, p fulfillment.ListParams) (fulfillment.Page, error) {
	after, err := parseCursor(p.After)
	if err != nil {
		return fulfillment.Page{}, err
	}
	limit := p.Limit
	switch {
	case limit <= 0:
		limit = fulfillment.DefaultListLimit
	case limit > fulfillment.MaxListLimit:
		limit = fulfillment.MaxListLimit
	}

	tx, err := db.reader.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fulfillment.Page{}, fmt.Errorf("list orders: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	where, args := `change_seq > ?`, []any{after}
	if p.Status != "" {
		where, args = where+` AND status = ?`, append(args, string(p.Status))
	}
	if !p.UpdatedSince.IsZero() {
		// Stored times are fixed-width UTC text: text order is time order.
		where, args = where+` AND updated_at >= ?`, append(args, formatTime(p.UpdatedSince))
	}
	var rows []orderRow
	err = tx.SelectContext(ctx, &rows, `SELECT `+orderColumns+` FROM orders
		WHERE `+where+` ORDER BY change_seq LIMIT ?`, append(args, limit)...)
	if err != nil {
		return fulfillment.Page{}, fmt.Errorf("list orders: %w", err)
	}
	page := fulfillment.Page{Orders: []fulfillment.Order{}, NextCursor: formatCursor(after)}
	if len(rows) == 0 {
		return page, nil
	}
	if page.Orders, err = scanOrders(ctx, tx, rows); err != nil {
		return fulfillment.Page{}, fmt.Errorf("list orders: %w", err)
	}
	page.NextCursor = formatCursor(rows[len(rows)-1].ChangeSeq)
	return page, nil
}

func parseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s[0] == '+' {
		return 0, &fulfillment.Error{Code: fulfillment.CodeBadRequest, Detail: "after: not a cursor this server issued",
			Err: fmt.Errorf("list orders: cursor %q: malformed cursor", s)}
	}
	return n, nil
}

func formatCursor(seq int64) string { return strconv.FormatInt(seq, 10) }
