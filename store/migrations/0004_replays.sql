-- Requests to put a Stripe event (back) on the STRIPE_EVENTS stream: a dead
-- letter retried (fulfillmentd dlq retry) or an event reconcile found
-- missing. Any process may add a row; the process that runs the workers
-- publishes pending rows (published_at IS NULL) and marks them.
CREATE TABLE replays (
    id           INTEGER NOT NULL PRIMARY KEY,
    event_id     TEXT    NOT NULL,
    event_type   TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    reason       TEXT    NOT NULL,
    requested_at TEXT    NOT NULL,
    published_at TEXT
) STRICT;

-- At most one pending replay per event: asking again while one waits is a no-op.
CREATE UNIQUE INDEX replays_pending_event ON replays (event_id) WHERE published_at IS NULL;
CREATE INDEX replays_event ON replays (event_id);
