package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

const orderColumns = `id, checkout_session_id, status, payment_status, mode, currency,
	amount_subtotal, amount_total, customer_email, customer_name, customer_phone,
	shipping_name, shipping_line1, shipping_line2, shipping_city, shipping_state,
	shipping_postal_code, shipping_country, client_reference_id, metadata,
	created_at, updated_at, change_seq,
	customer_id, amount_discount, amount_tax, amount_shipping,
	payment_intent_id, invoice_id, amount_refunded, refunded, cancel_reason, cancel_note,
	hold, dispute, fraud_warning, released`

// orderRow is one row of orders.
type orderRow struct {
	ID                 string         `db:"id"`
	CheckoutSessionID  string         `db:"checkout_session_id"`
	Status             string         `db:"status"`
	PaymentStatus      string         `db:"payment_status"`
	Mode               string         `db:"mode"`
	Currency           string         `db:"currency"`
	AmountSubtotal     int64          `db:"amount_subtotal"`
	AmountTotal        int64          `db:"amount_total"`
	CustomerEmail      string         `db:"customer_email"`
	CustomerName       string         `db:"customer_name"`
	CustomerPhone      string         `db:"customer_phone"`
	ShippingName       sql.NullString `db:"shipping_name"`
	ShippingLine1      sql.NullString `db:"shipping_line1"`
	ShippingLine2      sql.NullString `db:"shipping_line2"`
	ShippingCity       sql.NullString `db:"shipping_city"`
	ShippingState      sql.NullString `db:"shipping_state"`
	ShippingPostalCode sql.NullString `db:"shipping_postal_code"`
	ShippingCountry    sql.NullString `db:"shipping_country"`
	ClientReferenceID  string         `db:"client_reference_id"`
	Metadata           sql.NullString `db:"metadata"`
	CreatedAt          string         `db:"created_at"`
	UpdatedAt          string         `db:"updated_at"`
	ChangeSeq          int64          `db:"change_seq"`
	CustomerID         string         `db:"customer_id"`
	AmountDiscount     int64          `db:"amount_discount"`
	AmountTax          int64          `db:"amount_tax"`
	AmountShipping     int64          `db:"amount_shipping"`
	PaymentIntentID    sql.NullString `db:"payment_intent_id"`
	InvoiceID          sql.NullString `db:"invoice_id"`
	AmountRefunded     int64          `db:"amount_refunded"`
	Refunded           bool           `db:"refunded"`
	CancelReason       sql.NullString `db:"cancel_reason"`
	CancelNote         string         `db:"cancel_note"`
	Hold               sql.NullString `db:"hold"`
	Dispute            sql.NullString `db:"dispute"`
	FraudWarning       sql.NullString `db:"fraud_warning"`
	Released           sql.NullString `db:"released"`
}

// disputeRecord and fraudWarningRecord are the JSON of the dispute and
// fraud_warning columns: the order's fields and what tells two apart.
type disputeRecord struct {
	ID      string    `json:"id"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason"`
	Amount  int64     `json:"amount"`
	Charge  string    `json:"charge"`
	Created time.Time `json:"created"`
}

type fraudWarningRecord struct {
	ID         string    `json:"id"`
	FraudType  string    `json:"fraud_type"`
	Actionable bool      `json:"actionable"`
	Charge     string    `json:"charge"`
	Created    time.Time `json:"created"`
}

type releaseRecord struct {
	AmountRefunded int64  `json:"amount_refunded"`
	DisputeID      string `json:"dispute_id"`
	FraudWarningID string `json:"fraud_warning_id"`
}

// money reads the money columns into o.
func (r orderRow) money(o *fulfillment.Order) error {
	o.PaymentIntentID = fulfillment.OptionalID(r.PaymentIntentID.String)
	o.InvoiceID = fulfillment.OptionalID(r.InvoiceID.String)
	o.AmountRefunded, o.Refunded = r.AmountRefunded, r.Refunded
	o.CancelReason = fulfillment.CancelReason(r.CancelReason.String)
	o.CancelNote = r.CancelNote
	if r.Hold.Valid {
		o.Hold = new(fulfillment.Hold)
		if err := json.Unmarshal([]byte(r.Hold.String), o.Hold); err != nil {
			return fmt.Errorf("hold: %w", err)
		}
	}
	if r.Dispute.Valid {
		var d disputeRecord
		if err := json.Unmarshal([]byte(r.Dispute.String), &d); err != nil {
			return fmt.Errorf("dispute: %w", err)
		}
		o.Dispute = &fulfillment.Dispute{ID: d.ID, Status: d.Status, Reason: d.Reason, Amount: d.Amount,
			Charge: d.Charge, Created: d.Created, Payment: o.Payment()}
	}
	if r.FraudWarning.Valid {
		var w fraudWarningRecord
		if err := json.Unmarshal([]byte(r.FraudWarning.String), &w); err != nil {
			return fmt.Errorf("fraud_warning: %w", err)
		}
		o.FraudWarning = &fulfillment.FraudWarning{ID: w.ID, FraudType: w.FraudType, Actionable: w.Actionable,
			Charge: w.Charge, Created: w.Created, Payment: o.Payment()}
	}
	if r.Released.Valid {
		var rel releaseRecord
		if err := json.Unmarshal([]byte(r.Released.String), &rel); err != nil {
			return fmt.Errorf("released: %w", err)
		}
		o.Released = fulfillment.Release{AmountRefunded: rel.AmountRefunded, DisputeID: rel.DisputeID, FraudWarningID: rel.FraudWarningID}
	}
	return nil
}

// setMoney writes o's money fields into the row.
func (r *orderRow) setMoney(o fulfillment.Order) error {
	r.PaymentIntentID = nullString(string(o.PaymentIntentID))
	r.InvoiceID = nullString(string(o.InvoiceID))
	r.AmountRefunded, r.Refunded = o.AmountRefunded, o.Refunded
	r.CancelReason = nullString(string(o.CancelReason))
	r.CancelNote = o.CancelNote
	var err error
	if o.Hold != nil {
		if r.Hold, err = jsonColumn(o.Hold); err != nil {
			return fmt.Errorf("hold: %w", err)
		}
	}
	if d := o.Dispute; d != nil {
		if r.Dispute, err = jsonColumn(disputeRecord{ID: d.ID, Status: d.Status, Reason: d.Reason, Amount: d.Amount,
			Charge: d.Charge, Created: d.Created.UTC()}); err != nil {
			return fmt.Errorf("dispute: %w", err)
		}
	}
	if w := o.FraudWarning; w != nil {
		if r.FraudWarning, err = jsonColumn(fraudWarningRecord{ID: w.ID, FraudType: w.FraudType, Actionable: w.Actionable,
			Charge: w.Charge, Created: w.Created.UTC()}); err != nil {
			return fmt.Errorf("fraud_warning: %w", err)
		}
	}
	if rel := o.Released; rel != (fulfillment.Release{}) {
		if r.Released, err = jsonColumn(releaseRecord{AmountRefunded: rel.AmountRefunded, DisputeID: rel.DisputeID,
			FraudWarningID: rel.FraudWarningID}); err != nil {
			return fmt.Errorf("released: %w", err)
		}
	}
	return nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func jsonColumn(v any) (sql.NullString, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func (r orderRow) order() (fulfillment.Order, error) {
	o := fulfillment.Order{
		ID:                r.ID,
		CheckoutSessionID: r.CheckoutSessionID,
		Status:            fulfillment.Status(r.Status),
		PaymentStatus:     fulfillment.PaymentStatus(r.PaymentStatus),
		Mode:              r.Mode,
		Currency:          r.Currency,
		AmountSubtotal:    r.AmountSubtotal,
		AmountDiscount:    r.AmountDiscount,
		AmountTax:         r.AmountTax,
		AmountShipping:    r.AmountShipping,
		AmountTotal:       r.AmountTotal,
		Customer: fulfillment.Customer{
			ID:    r.CustomerID,
			Email: r.CustomerEmail,
			Name:  r.CustomerName,
			Phone: r.CustomerPhone,
		},
		ClientReferenceID: r.ClientReferenceID,
	}
	if r.ShippingName.Valid {
		o.Shipping = &fulfillment.Shipping{
			Name: r.ShippingName.String,
			Address: fulfillment.Address{
				Line1:      r.ShippingLine1.String,
				Line2:      r.ShippingLine2.String,
				City:       r.ShippingCity.String,
				State:      r.ShippingState.String,
				PostalCode: r.ShippingPostalCode.String,
				Country:    r.ShippingCountry.String,
			},
		}
	}
	if r.Metadata.Valid {
		if err := json.Unmarshal([]byte(r.Metadata.String), &o.Metadata); err != nil {
			return o, fmt.Errorf("order %s: metadata: %w", r.ID, err)
		}
	}
	if err := r.money(&o); err != nil {
		return o, fmt.Errorf("order %s: %w", r.ID, err)
	}
	var err error
	if o.CreatedAt, err = parseTime(r.CreatedAt); err != nil {
		return o, fmt.Errorf("order %s: created_at: %w", r.ID, err)
	}
	if o.UpdatedAt, err = parseTime(r.UpdatedAt); err != nil {
		return o, fmt.Errorf("order %s: updated_at: %w", r.ID, err)
	}
	return o, nil
}

func newOrderRow(o fulfillment.Order, seq int64) (orderRow, error) {
	r := orderRow{
		ID:                o.ID,
		CheckoutSessionID: o.CheckoutSessionID,
		Status:            string(o.Status),
		PaymentStatus:     string(o.PaymentStatus),
		Mode:              o.Mode,
		Currency:          o.Currency,
		AmountSubtotal:    o.AmountSubtotal,
		AmountDiscount:    o.AmountDiscount,
		AmountTax:         o.AmountTax,
		AmountShipping:    o.AmountShipping,
		AmountTotal:       o.AmountTotal,
		CustomerID:        o.Customer.ID,
		CustomerEmail:     o.Customer.Email,
		CustomerName:      o.Customer.Name,
		CustomerPhone:     o.Customer.Phone,
		ClientReferenceID: o.ClientReferenceID,
		CreatedAt:         formatTime(o.CreatedAt),
		UpdatedAt:         formatTime(o.UpdatedAt),
		ChangeSeq:         seq,
	}
	if s := o.Shipping; s != nil {
		r.ShippingName = sql.NullString{String: s.Name, Valid: true}
		r.ShippingLine1 = sql.NullString{String: s.Address.Line1, Valid: true}
		r.ShippingLine2 = sql.NullString{String: s.Address.Line2, Valid: true}
		r.ShippingCity = sql.NullString{String: s.Address.City, Valid: true}
		r.ShippingState = sql.NullString{String: s.Address.State, Valid: true}
		r.ShippingPostalCode = sql.NullString{String: s.Address.PostalCode, Valid: true}
		r.ShippingCountry = sql.NullString{String: s.Address.Country, Valid: true}
	}
	if o.Metadata != nil {
		b, err := json.Marshal(o.Metadata)
		if err != nil {
			return r, fmt.Errorf("order %s: metadata: %w", o.ID, err)
		}
		r.Metadata = sql.NullString{String: string(b), Valid: true}
	}
	if err := r.setMoney(o); err != nil {
		return r, fmt.Errorf("order %s: %w", o.ID, err)
	}
	return r, nil
}

// lineItemRow is one row of line_items.
type lineItemRow struct {
	OrderID        string `db:"order_id"`
	Position       int    `db:"position"`
	ID             string `db:"id"`
	ProductID      string `db:"product_id"`
	PriceID        string `db:"price_id"`
	Description    string `db:"description"`
	Quantity       int64  `db:"quantity"`
	Currency       string `db:"currency"`
	AmountSubtotal int64  `db:"amount_subtotal"`
	AmountDiscount int64  `db:"amount_discount"`
	AmountTax      int64  `db:"amount_tax"`
	AmountTotal    int64  `db:"amount_total"`
	CrossSell      bool   `db:"cross_sell"`
	CrossSellOf    string `db:"cross_sell_of"`
	// RecurringInterval is NULL for a one-time price.
	RecurringInterval      sql.NullString `db:"recurring_interval"`
	RecurringIntervalCount sql.NullInt64  `db:"recurring_interval_count"`
}

const lineItemColumns = `order_id, position, id, product_id, price_id, description, quantity,
	currency, amount_subtotal, amount_discount, amount_tax, amount_total, cross_sell, cross_sell_of,
	recurring_interval, recurring_interval_count`

func (r lineItemRow) lineItem() fulfillment.LineItem {
	var rec *fulfillment.Recurring
	if r.RecurringInterval.Valid {
		rec = &fulfillment.Recurring{Interval: r.RecurringInterval.String, IntervalCount: r.RecurringIntervalCount.Int64}
	}
	return fulfillment.LineItem{
		ID:             r.ID,
		ProductID:      r.ProductID,
		PriceID:        r.PriceID,
		Description:    r.Description,
		Quantity:       r.Quantity,
		Currency:       r.Currency,
		AmountSubtotal: r.AmountSubtotal,
		AmountDiscount: r.AmountDiscount,
		AmountTax:      r.AmountTax,
		AmountTotal:    r.AmountTotal,
		CrossSell:      r.CrossSell,
		CrossSellOf:    r.CrossSellOf,
		Recurring:      rec,
	}
}

// OrderBySession returns the order of a Checkout Session, or an error
// wrapping fulfillment.ErrNotFound.
func (db *DB) OrderBySession(ctx context.Context, sessionID string) (fulfillment.Order, error) {
	return db.readOrder(ctx, `checkout_session_id = ?`, sessionID)
}

// OrderByPayment returns the order whose session made the payment: by
// payment intent, else by invoice; an error wrapping
// fulfillment.ErrNotFound when neither names one.
func (db *DB) OrderByPayment(ctx context.Context, p fulfillment.Payment) (fulfillment.Order, error) {
	if p.PaymentIntent != "" {
		o, err := db.readOrder(ctx, `payment_intent_id = ?`, p.PaymentIntent)
		if !errors.Is(err, fulfillment.ErrNotFound) {
			return o, err
		}
	}
	if p.Invoice != "" {
		return db.readOrder(ctx, `invoice_id = ?`, p.Invoice)
	}
	return fulfillment.Order{}, fmt.Errorf("order of payment %s: %w", p.PaymentIntent, fulfillment.ErrNotFound)
}

// Order returns the order whose order id ("ord_...") or Checkout Session id
// ("cs_...") is id, or an error wrapping fulfillment.ErrNotFound.
func (db *DB) Order(ctx context.Context, id string) (fulfillment.Order, error) {
	return db.readOrder(ctx, `(id = ?1 OR checkout_session_id = ?1)`, id)
}

// readOrder reads one order and its line items in one read transaction, so
// both come from the same snapshot.
func (db *DB) readOrder(ctx context.Context, where string, arg string) (fulfillment.Order, error) {
	tx, err := db.reader.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fulfillment.Order{}, fmt.Errorf("read order %s: begin: %w", arg, err)
	}
	defer func() { _ = tx.Rollback() }()
	o, err := loadOrder(ctx, tx, where, arg)
	if err != nil {
		return o, fmt.Errorf("read order %s: %w", arg, err)
	}
	return o, nil
}

// loadOrder reads the order matching where (one placeholder, bound to arg)
// and its line items.
func loadOrder(ctx context.Context, q sqlx.QueryerContext, where string, arg string) (fulfillment.Order, error) {
	var r orderRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+orderColumns+` FROM orders WHERE `+where, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return fulfillment.Order{}, fulfillment.ErrNotFound
	}
	if err != nil {
		return fulfillment.Order{}, fmt.Errorf("select order: %w", err)
	}
	one, err := scanOrders(ctx, q, []orderRow{r})
	if err != nil {
		return fulfillment.Order{}, err
	}
	return one[0], nil
}

// scanOrders makes orders of rows, with their line items and warehouse
// details read through q (the rows' transaction, so all of it comes from one
// snapshot). Every query of orders ends here.
func scanOrders(ctx context.Context, q sqlx.QueryerContext, rows []orderRow) ([]fulfillment.Order, error) {
	orders := make([]fulfillment.Order, len(rows))
	if len(rows) == 0 {
		return orders, nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		var err error
		if orders[i], err = r.order(); err != nil {
			return nil, err
		}
		ids[i] = r.ID
	}
	query, args, err := sqlx.In(`SELECT `+lineItemColumns+` FROM line_items
		WHERE order_id IN (?) ORDER BY order_id, position`, ids)
	if err != nil {
		return nil, fmt.Errorf("line items query: %w", err)
	}
	var itemRows []lineItemRow
	if err := sqlx.SelectContext(ctx, q, &itemRows, query, args...); err != nil {
		return nil, fmt.Errorf("select line items: %w", err)
	}
	byOrder := make(map[string][]lineItemRow, len(rows))
	for _, it := range itemRows {
		byOrder[it.OrderID] = append(byOrder[it.OrderID], it)
	}
	for i := range orders {
		orders[i].LineItems = lineItems(byOrder[orders[i].ID])
	}
	if err := attachWarehouse(ctx, q, orders); err != nil {
		return nil, err
	}
	return orders, nil
}

func lineItems(rows []lineItemRow) []fulfillment.LineItem {
	if len(rows) == 0 {
		return nil
	}
	items := make([]fulfillment.LineItem, len(rows))
	for i, r := range rows {
		items[i] = r.lineItem()
	}
	return items
}

// Record applies an event's candidate order in one immediate write
// transaction:
//
//   - an event recorded before returns the stored order and
//     OutcomeDuplicate, changing nothing;
//   - a session without an order gets candidate (OutcomeCreated);
//   - otherwise the stored order and candidate are combined with
//     fulfillment.Order.Merge: a change is written with candidate.UpdatedAt
//     and a new change_seq (OutcomeUpdated), no change leaves the order as it
//     is (OutcomeUnchanged). created_at never changes; line items are written
//     when they first become known.
//
// The event is recorded as processed, and a change (created or updated)
// written to the outbox and the order's history (by the event), in the
// same transaction. A candidate
// without a Checkout Session id is a permanent error; any other error
// (database busy or locked included) is transient.
func (db *DB) Record(ctx context.Context, eventID, eventType string, candidate fulfillment.Order) (fulfillment.Order, fulfillment.Outcome, error) {
	if eventID == "" || candidate.CheckoutSessionID == "" {
		return fulfillment.Order{}, "", fulfillment.Permanent(fmt.Errorf(
			"record event %q: missing event id or checkout session id", eventID))
	}
	candidate = normalize(candidate)

	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return fulfillment.Order{}, "", fmt.Errorf("record event %s: begin: %w", eventID, err)
	}
	defer func() { _ = tx.Rollback() }()

	order, outcome, err := record(ctx, tx, eventID, eventType, candidate)
	if err != nil {
		return fulfillment.Order{}, "", fmt.Errorf("record event %s: %w", eventID, err)
	}
	if outcome == fulfillment.OutcomeDuplicate {
		return order, outcome, nil // nothing written: the deferred rollback ends the transaction
	}
	if err := tx.Commit(); err != nil {
		return fulfillment.Order{}, "", fmt.Errorf("record event %s: commit: %w", eventID, err)
	}
	if outcome == fulfillment.OutcomeCreated || outcome == fulfillment.OutcomeUpdated {
		db.outboxWritten()
	}
	return order, outcome, nil
}

func record(ctx context.Context, tx *sqlx.Tx, eventID, eventType string, candidate fulfillment.Order) (fulfillment.Order, fulfillment.Outcome, error) {
	var sessionID string
	err := tx.GetContext(ctx, &sessionID, `SELECT checkout_session_id FROM processed_events WHERE event_id = ?`, eventID)
	switch {
	case err == nil:
		o, err := loadOrder(ctx, tx, `checkout_session_id = ?`, sessionID)
		if err != nil {
			return o, "", fmt.Errorf("load order of processed event: %w", err)
		}
		return o, fulfillment.OutcomeDuplicate, nil
	case !errors.Is(err, sql.ErrNoRows):
		return fulfillment.Order{}, "", fmt.Errorf("check processed events: %w", err)
	}

	existing, err := loadOrder(ctx, tx, `checkout_session_id = ?`, candidate.CheckoutSessionID)
	var (
		order   fulfillment.Order
		outcome fulfillment.Outcome
	)
	switch {
	case errors.Is(err, fulfillment.ErrNotFound):
		order, outcome = candidate, fulfillment.OutcomeCreated
		seq, err := nextChangeSeq(ctx, tx)
		if err != nil {
			return order, "", err
		}
		if err := insertOrder(ctx, tx, order, seq); err != nil {
			return order, "", err
		}
		if err := insertLineItems(ctx, tx, order.ID, order.LineItems); err != nil {
			return order, "", err
		}
		if err := writeOutbox(ctx, tx, order, seq); err != nil {
			return order, "", err
		}
		if err := writeHistory(ctx, tx, nil, order, seq, fulfillment.Actor{Kind: fulfillment.ActorStripe, Name: eventID}); err != nil {
			return order, "", err
		}
	case err != nil:
		return fulfillment.Order{}, "", fmt.Errorf("load order: %w", err)
	default:
		merged, changed := existing.Merge(candidate)
		order, outcome = merged, fulfillment.OutcomeUnchanged
		if changed {
			outcome = fulfillment.OutcomeUpdated
			order.UpdatedAt = candidate.UpdatedAt
			seq, err := nextChangeSeq(ctx, tx)
			if err != nil {
				return order, "", err
			}
			if err := updateOrder(ctx, tx, order, seq); err != nil {
				return order, "", err
			}
			if len(existing.LineItems) == 0 {
				if err := insertLineItems(ctx, tx, order.ID, order.LineItems); err != nil {
					return order, "", err
				}
			}
			if err := writeOutbox(ctx, tx, order, seq); err != nil {
				return order, "", err
			}
			if err := writeHistory(ctx, tx, &existing, order, seq, fulfillment.Actor{Kind: fulfillment.ActorStripe, Name: eventID}); err != nil {
				return order, "", err
			}
		}
	}

	if _, err := tx.ExecContext(ctx, `INSERT INTO processed_events
		(event_id, event_type, checkout_session_id, outcome, processed_at) VALUES (?, ?, ?, ?, ?)`,
		eventID, eventType, candidate.CheckoutSessionID, string(outcome), formatTime(candidate.UpdatedAt)); err != nil {
		return order, "", fmt.Errorf("insert processed event: %w", err)
	}
	return order, outcome, nil
}

// normalize makes o what reading it back gives: times in UTC without a
// monotonic reading, no line items as nil, and a derived order id if none.
func normalize(o fulfillment.Order) fulfillment.Order {
	if o.ID == "" {
		o.ID = fulfillment.OrderID(o.CheckoutSessionID)
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	if len(o.LineItems) == 0 {
		o.LineItems = nil
	}
	return o
}

// nextChangeSeq is the change_seq of the change being written. The writer's
// transactions are immediate, hence serial: a larger change_seq always
// commits later, so a feed reader that has read up to some change_seq never
// misses a change committed afterwards.
func nextChangeSeq(ctx context.Context, tx *sqlx.Tx) (int64, error) {
	var seq int64
	if err := tx.GetContext(ctx, &seq, `SELECT coalesce(max(change_seq), 0) + 1 FROM orders`); err != nil {
		return 0, fmt.Errorf("next change seq: %w", err)
	}
	return seq, nil
}

func insertOrder(ctx context.Context, tx *sqlx.Tx, o fulfillment.Order, seq int64) error {
	r, err := newOrderRow(o, seq)
	if err != nil {
		return err
	}
	if _, err := tx.NamedExecContext(ctx, `INSERT INTO orders (`+orderColumns+`) VALUES (
		:id, :checkout_session_id, :status, :payment_status, :mode, :currency,
		:amount_subtotal, :amount_total, :customer_email, :customer_name, :customer_phone,
		:shipping_name, :shipping_line1, :shipping_line2, :shipping_city, :shipping_state,
		:shipping_postal_code, :shipping_country, :client_reference_id, :metadata,
		:created_at, :updated_at, :change_seq,
		:customer_id, :amount_discount, :amount_tax, :amount_shipping,
		:payment_intent_id, :invoice_id, :amount_refunded, :refunded, :cancel_reason, :cancel_note,
		:hold, :dispute, :fraud_warning, :released)`, r); err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	return nil
}

// updateOrder writes every mutable column of o; id, checkout_session_id and
// created_at stay as first written.
func updateOrder(ctx context.Context, tx *sqlx.Tx, o fulfillment.Order, seq int64) error {
	r, err := newOrderRow(o, seq)
	if err != nil {
		return err
	}
	res, err := tx.NamedExecContext(ctx, `UPDATE orders SET
		status = :status, payment_status = :payment_status, mode = :mode, currency = :currency,
		amount_subtotal = :amount_subtotal, amount_total = :amount_total,
		customer_email = :customer_email, customer_name = :customer_name, customer_phone = :customer_phone,
		shipping_name = :shipping_name, shipping_line1 = :shipping_line1, shipping_line2 = :shipping_line2,
		shipping_city = :shipping_city, shipping_state = :shipping_state,
		shipping_postal_code = :shipping_postal_code, shipping_country = :shipping_country,
		client_reference_id = :client_reference_id, metadata = :metadata,
		customer_id = :customer_id, amount_discount = :amount_discount,
		amount_tax = :amount_tax, amount_shipping = :amount_shipping,
		payment_intent_id = :payment_intent_id, invoice_id = :invoice_id,
		amount_refunded = :amount_refunded, refunded = :refunded,
		cancel_reason = :cancel_reason, cancel_note = :cancel_note,
		hold = :hold, dispute = :dispute, fraud_warning = :fraud_warning, released = :released,
		updated_at = :updated_at, change_seq = :change_seq
		WHERE id = :id`, r)
	if err != nil {
		return fmt.Errorf("update order: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update order: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("update order %s: %d rows updated, want 1", o.ID, n)
	}
	return nil
}

func insertLineItems(ctx context.Context, tx *sqlx.Tx, orderID string, items []fulfillment.LineItem) error {
	if len(items) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO line_items (`+lineItemColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("insert line items: %w", err)
	}
	defer func() { _ = stmt.Close() }()
	for i, it := range items {
		if _, err := stmt.ExecContext(ctx, orderID, i, it.ID, it.ProductID, it.PriceID, it.Description,
			it.Quantity, it.Currency, it.AmountSubtotal, it.AmountDiscount, it.AmountTax, it.AmountTotal,
			it.CrossSell, it.CrossSellOf, recurringInterval(it.Recurring), recurringCount(it.Recurring)); err != nil {
			return fmt.Errorf("insert line item %d (%s): %w", i, it.ID, err)
		}
	}
	return nil
}

func recurringInterval(r *fulfillment.Recurring) sql.NullString {
	if r == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: r.Interval, Valid: true}
}

func recurringCount(r *fulfillment.Recurring) sql.NullInt64 {
	if r == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: r.IntervalCount, Valid: true}
}
