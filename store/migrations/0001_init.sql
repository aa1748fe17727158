-- Orders: exactly one per Checkout Session. change_seq is the position of the
-- order's latest change in the change feed (see ListOrders).
CREATE TABLE orders (
    id                   TEXT    NOT NULL PRIMARY KEY,
    checkout_session_id  TEXT    NOT NULL UNIQUE,
    status               TEXT    NOT NULL,
    payment_status       TEXT    NOT NULL,
    mode                 TEXT    NOT NULL DEFAULT '',
    currency             TEXT    NOT NULL DEFAULT '',
    amount_subtotal      INTEGER NOT NULL DEFAULT 0,
    amount_total         INTEGER NOT NULL DEFAULT 0,
    customer_email       TEXT    NOT NULL DEFAULT '',
    customer_name        TEXT    NOT NULL DEFAULT '',
    customer_phone       TEXT    NOT NULL DEFAULT '',
    -- shipping_name IS NULL <=> the order has no shipping address.
    shipping_name        TEXT,
    shipping_line1       TEXT,
    shipping_line2       TEXT,
    shipping_city        TEXT,
    shipping_state       TEXT,
    shipping_postal_code TEXT,
    shipping_country     TEXT,
    client_reference_id  TEXT    NOT NULL DEFAULT '',
    -- JSON object of strings; NULL when the session had no metadata.
    metadata             TEXT,
    -- UTC, fixed-width RFC 3339 with nanoseconds (sorts as text).
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    change_seq           INTEGER NOT NULL UNIQUE
) STRICT;

CREATE INDEX orders_status_change_seq ON orders (status, change_seq);

-- Line items in the order Stripe listed them (position 0..n-1).
CREATE TABLE line_items (
    order_id        TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    id              TEXT    NOT NULL,
    product_id      TEXT    NOT NULL DEFAULT '',
    price_id        TEXT    NOT NULL DEFAULT '',
    description     TEXT    NOT NULL DEFAULT '',
    quantity        INTEGER NOT NULL DEFAULT 0,
    currency        TEXT    NOT NULL DEFAULT '',
    amount_subtotal INTEGER NOT NULL DEFAULT 0,
    amount_discount INTEGER NOT NULL DEFAULT 0,
    amount_tax      INTEGER NOT NULL DEFAULT 0,
    amount_total    INTEGER NOT NULL DEFAULT 0,
    cross_sell      INTEGER NOT NULL DEFAULT 0 CHECK (cross_sell IN (0, 1)),
    cross_sell_of   TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (order_id, position)
) STRICT, WITHOUT ROWID;

-- Every Stripe event that was recorded, written in the same transaction as
-- the order change it caused: the guard against processing an event twice.
CREATE TABLE processed_events (
    event_id            TEXT NOT NULL PRIMARY KEY,
    event_type          TEXT NOT NULL,
    checkout_session_id TEXT NOT NULL,
    outcome             TEXT NOT NULL,
    processed_at        TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Events the worker runtime gave up on.
CREATE TABLE dead_letters (
    event_id        TEXT    NOT NULL PRIMARY KEY,
    event_type      TEXT    NOT NULL DEFAULT '',
    subject         TEXT    NOT NULL DEFAULT '',
    payload         BLOB,
    error           TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL,
    first_failed_at TEXT    NOT NULL,
    last_failed_at  TEXT    NOT NULL
) STRICT;
