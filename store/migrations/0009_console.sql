-- Issue 14: the operator console. Each order's change history, written in
-- the change's own transaction (beside its outbox row), and indexes for the
-- console's searches.

-- One row per order change: when, the status it left, what changed, and
-- who made it (by_kind stripe_event: a Stripe event id; warehouse: an API
-- token's name; admin: an admin token's name). Orders recorded before this
-- version have no history of their earlier changes.
CREATE TABLE order_history (
    order_id   TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    change_seq INTEGER NOT NULL,
    at         TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    what       TEXT    NOT NULL,
    by_kind    TEXT    NOT NULL,
    by_name    TEXT    NOT NULL,
    PRIMARY KEY (order_id, change_seq)
) STRICT, WITHOUT ROWID;

-- Search by customer email (any case), newest change first.
CREATE INDEX orders_customer_email ON orders (customer_email COLLATE NOCASE, change_seq);
-- Search by tracking number (unique per order, not across orders).
CREATE INDEX shipments_tracking_number ON shipments (tracking_number);
-- The oldest order awaiting payment.
CREATE INDEX orders_status_created ON orders (status, created_at);
