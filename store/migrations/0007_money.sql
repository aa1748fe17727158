-- Issue 12: money that moves after checkout (refunds, disputes, early fraud
-- warnings), holds and cancellations.

-- The session's payment: how a money event finds its order.
ALTER TABLE orders ADD COLUMN payment_intent_id TEXT;
ALTER TABLE orders ADD COLUMN invoice_id TEXT;
CREATE INDEX orders_payment_intent ON orders (payment_intent_id) WHERE payment_intent_id IS NOT NULL;
CREATE INDEX orders_invoice ON orders (invoice_id) WHERE invoice_id IS NOT NULL;

-- What Stripe last said about the money, and what the merchant decided.
ALTER TABLE orders ADD COLUMN amount_refunded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN cancel_reason TEXT;
ALTER TABLE orders ADD COLUMN cancel_note TEXT NOT NULL DEFAULT '';
-- hold: {"reasons": [...], "since", "note", "previous_status"} or NULL.
ALTER TABLE orders ADD COLUMN hold TEXT;
-- dispute: {"id", "status", "reason", "amount", "charge", "created"} or NULL.
ALTER TABLE orders ADD COLUMN dispute TEXT;
-- fraud_warning: {"id", "fraud_type", "actionable", "charge", "created"} or NULL.
ALTER TABLE orders ADD COLUMN fraud_warning TEXT;
-- released: what the merchant's last release let through, or NULL.
ALTER TABLE orders ADD COLUMN released TEXT;

-- Orders canceled before this version were canceled by a failed payment.
UPDATE orders SET cancel_reason = 'payment_failed' WHERE status = 'canceled';
