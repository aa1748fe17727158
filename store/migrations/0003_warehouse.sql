-- The warehouse side: acknowledgements, shipments, and the outbox of order
-- changes that the relay publishes to JetStream.

-- At most one acknowledgement per order: the first warehouse that took it.
CREATE TABLE acknowledgements (
    order_id        TEXT NOT NULL PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    token_name      TEXT NOT NULL,
    acknowledged_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Shipments of an order in the order they were reported (position 0..n-1);
-- a tracking number is reported once per order.
CREATE TABLE shipments (
    order_id        TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    id              TEXT    NOT NULL UNIQUE,
    carrier         TEXT    NOT NULL,
    tracking_number TEXT    NOT NULL,
    tracking_url    TEXT    NOT NULL DEFAULT '',
    token_name      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    PRIMARY KEY (order_id, position),
    UNIQUE (order_id, tracking_number)
) STRICT, WITHOUT ROWID;

CREATE TABLE shipment_lines (
    shipment_id  TEXT    NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    line_item_id TEXT    NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, position)
) STRICT, WITHOUT ROWID;

-- One row per order change, written in the change's own transaction.
-- change_seq is the change's position in the feed (orders.change_seq at the
-- time); published_at is set once the broker has acknowledged the message.
CREATE TABLE outbox (
    change_seq   INTEGER NOT NULL PRIMARY KEY,
    change_id    TEXT    NOT NULL UNIQUE,
    order_id     TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    created_at   TEXT    NOT NULL,
    published_at TEXT
) STRICT;

CREATE INDEX outbox_unpublished ON outbox (change_seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
