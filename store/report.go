package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// crossSellQuery computes one pair's figures per currency, over the paid
// orders recorded since ?1: orders whose payment settled (paid or
// no_payment_required) and that are not canceled (a refund in full, a lost
// dispute or the merchant cancels an order that has not shipped), whatever
// warehouse status they have reached since, on hold too. ?2 is the base
// product, ?3 the cross-sell.
//
// An order refunded in part still counts, at its amount_total: Stripe does
// not say which lines a refund was for. What was refunded of the orders
// counted is summed apart (orders_refunded, amount_refunded), as are the
// refunds of orders refunded after they shipped (they keep their status).
//
// An order counts once with its base product however many base lines it
// has; it has the cross-sell when one of its lines is that product, tagged
// as the cross-sell of that base. Sums are exact integers.
const crossSellQuery = `
WITH cross_sell AS (
	SELECT order_id, sum(amount_total) AS revenue FROM line_items
	WHERE product_id = ?3 AND cross_sell = 1 AND cross_sell_of = ?2
	GROUP BY order_id
), with_base AS (
	SELECT o.id, o.currency, o.amount_total, o.amount_refunded FROM orders o
	WHERE o.created_at >= ?1
	  AND o.payment_status IN ('paid', 'no_payment_required')
	  AND o.status <> 'canceled'
	  AND o.id IN (SELECT order_id FROM line_items WHERE product_id = ?2)
)
SELECT b.currency AS currency,
	count(*) AS orders_with_base,
	count(c.order_id) AS orders_with_cross_sell,
	coalesce(sum(c.revenue), 0) AS cross_sell_revenue,
	coalesce(sum(CASE WHEN c.order_id IS NOT NULL THEN b.amount_total END), 0) AS order_value_with,
	coalesce(sum(CASE WHEN c.order_id IS NULL THEN b.amount_total END), 0) AS order_value_without,
	count(CASE WHEN b.amount_refunded > 0 THEN 1 END) AS orders_refunded,
	coalesce(sum(b.amount_refunded), 0) AS amount_refunded
FROM with_base b LEFT JOIN cross_sell c ON c.order_id = b.id
GROUP BY b.currency
ORDER BY b.currency`

type crossSellRow struct {
	Currency            string `db:"currency"`
	OrdersWithBase      int64  `db:"orders_with_base"`
	OrdersWithCrossSell int64  `db:"orders_with_cross_sell"`
	CrossSellRevenue    int64  `db:"cross_sell_revenue"`
	OrderValueWith      int64  `db:"order_value_with"`
	OrderValueWithout   int64  `db:"order_value_without"`
	OrdersRefunded      int64  `db:"orders_refunded"`
	AmountRefunded      int64  `db:"amount_refunded"`
}

// CrossSellReport returns, for each pair in the order given, its figures
// per currency over the paid orders recorded at or after since (the zero
// time: all of them); a pair without any such order gets one row of zeros
// with no currency. Every pair is read in one read transaction, so the
// figures come from one snapshot, even while serve writes (WAL).
func (db *DB) CrossSellReport(ctx context.Context, pairs []fulfillment.CrossSellPair, since time.Time) ([]fulfillment.CrossSellStats, error) {
	tx, err := db.reader.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("cross-sell report: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	from := ""
	if !since.IsZero() {
		from = formatTime(since)
	}
	var out []fulfillment.CrossSellStats
	for _, p := range pairs {
		var rows []crossSellRow
		if err := tx.SelectContext(ctx, &rows, crossSellQuery, from, p.Base, p.CrossSell); err != nil {
			return nil, fmt.Errorf("cross-sell report %s → %s: %w", p.Base, p.CrossSell, err)
		}
		if len(rows) == 0 {
			out = append(out, fulfillment.CrossSellStats{CrossSellPair: p})
			continue
		}
		for _, r := range rows {
			out = append(out, fulfillment.CrossSellStats{
				CrossSellPair:       p,
				Currency:            r.Currency,
				OrdersWithBase:      r.OrdersWithBase,
				OrdersWithCrossSell: r.OrdersWithCrossSell,
				CrossSellRevenue:    r.CrossSellRevenue,
				OrderValueWith:      r.OrderValueWith,
				OrderValueWithout:   r.OrderValueWithout,
				OrdersRefunded:      r.OrdersRefunded,
				AmountRefunded:      r.AmountRefunded,
			})
		}
	}
	return out, nil
}
