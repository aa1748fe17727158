-- Checkout details an order carries since issue 3: the Stripe customer, the
-- session's total_details, and each line's recurring period. Columns only
-- added, with defaults that mean "not known" for orders recorded before.
ALTER TABLE orders ADD COLUMN customer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN amount_discount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN amount_tax INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN amount_shipping INTEGER NOT NULL DEFAULT 0;

-- recurring_interval IS NULL <=> a one-time price.
ALTER TABLE line_items ADD COLUMN recurring_interval TEXT;
ALTER TABLE line_items ADD COLUMN recurring_interval_count INTEGER;
