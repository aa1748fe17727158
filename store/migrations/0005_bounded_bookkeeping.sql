-- Issue 9: no dead letter lost on retry, bounded bookkeeping.

-- The replay (replays.id) that dlq retry queued for this failure record.
-- Publishing that replay forgets the dead letter only while replay_id still
-- names it: a new failure of the event (RecordDeadLetter) clears it, so a
-- failure written between the request and its publication is kept.
ALTER TABLE dead_letters ADD COLUMN replay_id INTEGER;
-- A retry waiting at the upgrade was asked for the dead letter there now.
UPDATE dead_letters SET replay_id = (SELECT id FROM replays
    WHERE replays.event_id = dead_letters.event_id AND replays.published_at IS NULL);

-- processed_events is pruned by age (PruneProcessedEvents).
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);

-- Orders per status, kept by triggers in each order's own transaction, so
-- that the fulfillmentd_orders gauge reads a few rows instead of the table.
CREATE TABLE order_status_counts (
    status TEXT    NOT NULL PRIMARY KEY,
    n      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO order_status_counts (status, n) SELECT status, count(*) FROM orders GROUP BY status;

CREATE TRIGGER orders_count_insert AFTER INSERT ON orders BEGIN
    INSERT INTO order_status_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER orders_count_update AFTER UPDATE OF status ON orders WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE order_status_counts SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO order_status_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER orders_count_delete AFTER DELETE ON orders BEGIN
    UPDATE order_status_counts SET n = n - 1 WHERE status = OLD.status;
END;
