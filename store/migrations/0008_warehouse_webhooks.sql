-- Issue 13: outbound webhooks to warehouse endpoints.

-- How far each configured endpoint has fanned out the outbox: the last
-- change_seq turned into its deliveries (or skipped by its filter). The
-- outbox keeps every change past the smallest cursor (PruneOutbox).
CREATE TABLE webhook_cursors (
    endpoint   TEXT    NOT NULL PRIMARY KEY,
    change_seq INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- One row per change per endpoint that takes it. state: pending (next_at
-- is the next attempt), delivered, failed (attempts ran out), superseded
-- (a newer change of the order came while this one was pending).
CREATE TABLE deliveries (
    id         INTEGER NOT NULL PRIMARY KEY,
    endpoint   TEXT    NOT NULL,
    change_seq INTEGER NOT NULL,
    change_id  TEXT    NOT NULL,
    order_id   TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    changed_at TEXT    NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'superseded')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    TEXT,
    last_at    TEXT,
    last_error TEXT    NOT NULL DEFAULT '',
    done_at    TEXT,
    UNIQUE (endpoint, change_seq)
) STRICT;

CREATE INDEX deliveries_due ON deliveries (endpoint, next_at) WHERE state = 'pending';
CREATE INDEX deliveries_order ON deliveries (endpoint, order_id, change_seq);
CREATE INDEX deliveries_done ON deliveries (done_at) WHERE state IN ('delivered', 'superseded');

-- The change_seq of each order's first change (order.created); orders from
-- before this migration get 0: every change fanned out from now on is an
-- update.
CREATE TABLE order_first_changes (
    order_id   TEXT    NOT NULL PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    change_seq INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO order_first_changes (order_id, change_seq) SELECT id, 0 FROM orders;

CREATE TRIGGER orders_first_change AFTER INSERT ON orders BEGIN
    INSERT INTO order_first_changes (order_id, change_seq) VALUES (NEW.id, NEW.change_seq)
        ON CONFLICT (order_id) DO NOTHING;
END;
