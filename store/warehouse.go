package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// ChangeOrder applies change to the order whose order id ("ord_...") or
// Checkout Session id ("cs_...") is id, in one immediate write transaction,
// and returns the order as change left it.
//
// change gets the stored order (line items, acknowledgement and shipments
// included) and returns the next one and whether it changed, or an error
// that ChangeOrder returns as is (wrapped) after writing nothing: the
// warehouse transitions of package fulfillment (Order.Acknowledge,
// Order.Ship) have this shape. A change is written with a new change_seq,
// so the order reappears in the feed, together with an outbox row carrying
// the order's JSON and a history row naming the next order's ChangedBy. ChangeOrder persists the status, the other order
// columns, a new acknowledgement and new shipments; line items are never
// rewritten, and a change that drops line items, an acknowledgement or a
// shipment is refused.
//
// An unknown id is an error wrapping fulfillment.ErrNotFound.
func (db *DB) ChangeOrder(ctx context.Context, id string,
	change func(fulfillment.Order) (fulfillment.Order, bool, error),
) (fulfillment.Order, error) {
	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return fulfillment.Order{}, fmt.Errorf("change order %s: begin: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()

	before, err := loadOrder(ctx, tx, `(id = ?1 OR checkout_session_id = ?1)`, id)
	if err != nil {
		return fulfillment.Order{}, fmt.Errorf("change order %s: %w", id, err)
	}
	after, changed, err := change(before)
	if err != nil {
		return before, fmt.Errorf("change order %s: %w", before.ID, err)
	}
	if !changed {
		return after, nil // nothing written: the deferred rollback ends the transaction
	}
	after = normalize(after)
	if err := keepsHistory(before, after); err != nil {
		return before, fulfillment.Permanent(fmt.Errorf("change order %s: %w", before.ID, err))
	}

	seq, err := nextChangeSeq(ctx, tx)
	if err != nil {
		return before, fmt.Errorf("change order %s: %w", before.ID, err)
	}
	if err := updateOrder(ctx, tx, after, seq); err != nil {
		return before, fmt.Errorf("change order %s: %w", before.ID, err)
	}
	if before.Acknowledgement == nil && after.Acknowledgement != nil {
		a := after.Acknowledgement
		if _, err := tx.ExecContext(ctx, `INSERT INTO acknowledgements (order_id, token_name, acknowledged_at)
			VALUES (?, ?, ?)`, after.ID, a.By, formatTime(a.At)); err != nil {
			return before, fmt.Errorf("change order %s: insert acknowledgement: %w", before.ID, err)
		}
	}
	for i := len(before.Shipments); i < len(after.Shipments); i++ {
		if err := insertShipment(ctx, tx, after.ID, i, after.Shipments[i]); err != nil {
			return before, fmt.Errorf("change order %s: %w", before.ID, err)
		}
	}
	if err := writeOutbox(ctx, tx, after, seq); err != nil {
		return before, fmt.Errorf("change order %s: %w", before.ID, err)
	}
	if err := writeHistory(ctx, tx, &before, after, seq, after.ChangedBy); err != nil {
		return before, fmt.Errorf("change order %s: %w", before.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return before, fmt.Errorf("change order %s: commit: %w", before.ID, err)
	}
	db.outboxWritten()
	after.ChangedBy = fulfillment.Actor{} // recorded in the history; orders read back have none
	return after, nil
}

// keepsHistory refuses a change that would lose what the order has
// accumulated: the stores never delete line items, acknowledgements or
// shipments, so an order returned without them would lie.
func keepsHistory(before, after fulfillment.Order) error {
	switch {
	case after.ID != before.ID || after.CheckoutSessionID != before.CheckoutSessionID:
		return errors.New("the change replaced the order's ids")
	case len(after.LineItems) != len(before.LineItems):
		return fmt.Errorf("the change made %d line items of %d", len(after.LineItems), len(before.LineItems))
	case before.Acknowledgement != nil && (after.Acknowledgement == nil || *after.Acknowledgement != *before.Acknowledgement):
		return errors.New("the change replaced the acknowledgement")
	case len(after.Shipments) < len(before.Shipments):
		return fmt.Errorf("the change made %d shipments of %d", len(after.Shipments), len(before.Shipments))
	}
	for i, s := range before.Shipments {
		if after.Shipments[i].ID != s.ID {
			return fmt.Errorf("the change replaced shipment %s", s.ID)
		}
	}
	return nil
}

func insertShipment(ctx context.Context, tx *sqlx.Tx, orderID string, position int, s fulfillment.Shipment) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO shipments
		(order_id, position, id, carrier, tracking_number, tracking_url, token_name, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		orderID, position, s.ID, s.Carrier, s.TrackingNumber, s.TrackingURL, s.CreatedBy, formatTime(s.CreatedAt)); err != nil {
		return fmt.Errorf("insert shipment %s: %w", s.ID, err)
	}
	for i, l := range s.Lines {
		if _, err := tx.ExecContext(ctx, `INSERT INTO shipment_lines (shipment_id, position, line_item_id, quantity)
			VALUES (?, ?, ?, ?)`, s.ID, i, l.LineItemID, l.Quantity); err != nil {
			return fmt.Errorf("insert shipment %s line %d: %w", s.ID, i, err)
		}
	}
	return nil
}

type acknowledgementRow struct {
	OrderID        string `db:"order_id"`
	TokenName      string `db:"token_name"`
	AcknowledgedAt string `db:"acknowledged_at"`
}

type shipmentRow struct {
	OrderID        string `db:"order_id"`
	Position       int    `db:"position"`
	ID             string `db:"id"`
	Carrier        string `db:"carrier"`
	TrackingNumber string `db:"tracking_number"`
	TrackingURL    string `db:"tracking_url"`
	TokenName      string `db:"token_name"`
	CreatedAt      string `db:"created_at"`
}

type shipmentLineRow struct {
	ShipmentID string `db:"shipment_id"`
	LineItemID string `db:"line_item_id"`
	Quantity   int64  `db:"quantity"`
}

// attachWarehouse reads the acknowledgements and shipments of orders (in
// the caller's transaction, so from the same snapshot as the orders) and
// sets them on each. Orders without shipments keep nil Shipments.
func attachWarehouse(ctx context.Context, q sqlx.QueryerContext, orders []fulfillment.Order) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}

	query, args, err := sqlx.In(`SELECT order_id, token_name, acknowledged_at FROM acknowledgements WHERE order_id IN (?)`, ids)
	if err != nil {
		return fmt.Errorf("acknowledgements query: %w", err)
	}
	var acks []acknowledgementRow
	if err := sqlx.SelectContext(ctx, q, &acks, query, args...); err != nil {
		return fmt.Errorf("select acknowledgements: %w", err)
	}
	ackOf := make(map[string]*fulfillment.Acknowledgement, len(acks))
	for _, a := range acks {
		at, err := parseTime(a.AcknowledgedAt)
		if err != nil {
			return fmt.Errorf("acknowledgement of %s: %w", a.OrderID, err)
		}
		ackOf[a.OrderID] = &fulfillment.Acknowledgement{By: a.TokenName, At: at}
	}

	query, args, err = sqlx.In(`SELECT order_id, position, id, carrier, tracking_number, tracking_url, token_name, created_at
		FROM shipments WHERE order_id IN (?) ORDER BY order_id, position`, ids)
	if err != nil {
		return fmt.Errorf("shipments query: %w", err)
	}
	var ships []shipmentRow
	if err := sqlx.SelectContext(ctx, q, &ships, query, args...); err != nil {
		return fmt.Errorf("select shipments: %w", err)
	}
	linesOf := map[string][]fulfillment.ShipmentLine{}
	if len(ships) > 0 {
		query, args, err = sqlx.In(`SELECT l.shipment_id, l.line_item_id, l.quantity
			FROM shipment_lines l JOIN shipments s ON s.id = l.shipment_id
			WHERE s.order_id IN (?) ORDER BY l.shipment_id, l.position`, ids)
		if err != nil {
			return fmt.Errorf("shipment lines query: %w", err)
		}
		var lines []shipmentLineRow
		if err := sqlx.SelectContext(ctx, q, &lines, query, args...); err != nil {
			return fmt.Errorf("select shipment lines: %w", err)
		}
		for _, l := range lines {
			linesOf[l.ShipmentID] = append(linesOf[l.ShipmentID], fulfillment.ShipmentLine{LineItemID: l.LineItemID, Quantity: l.Quantity})
		}
	}
	shipmentsOf := make(map[string][]fulfillment.Shipment)
	for _, s := range ships {
		at, err := parseTime(s.CreatedAt)
		if err != nil {
			return fmt.Errorf("shipment %s: %w", s.ID, err)
		}
		shipmentsOf[s.OrderID] = append(shipmentsOf[s.OrderID], fulfillment.Shipment{
			ID:             s.ID,
			Carrier:        s.Carrier,
			TrackingNumber: s.TrackingNumber,
			TrackingURL:    s.TrackingURL,
			Lines:          linesOf[s.ID],
			CreatedBy:      s.TokenName,
			CreatedAt:      at,
		})
	}
	for i := range orders {
		orders[i].Acknowledgement = ackOf[orders[i].ID]
		orders[i].Shipments = shipmentsOf[orders[i].ID]
	}
	return nil
}
