-- Stream messages prove they come from Stripe (README "Stream messages"):
-- the delivery's Stripe-Signature, or fulfillmentd's own signature of an
-- event it read from Stripe's API. Dead letters keep what the failed message
-- carried, and a retry carries it again; dead letters from before this
-- migration have none, so a retry of one is refused again as untrusted
-- (reconcile queues those events from Stripe's API instead).
ALTER TABLE dead_letters ADD COLUMN stripe_signature TEXT NOT NULL DEFAULT '';
ALTER TABLE dead_letters ADD COLUMN fulfillment_signature TEXT NOT NULL DEFAULT '';
ALTER TABLE replays ADD COLUMN stripe_signature TEXT NOT NULL DEFAULT '';
ALTER TABLE replays ADD COLUMN fulfillment_signature TEXT NOT NULL DEFAULT '';
-- 1: an event reconcile read from Stripe's API; the worker signs it when it
-- publishes it.
ALTER TABLE replays ADD COLUMN from_stripe_api INTEGER NOT NULL DEFAULT 0;

-- The worker's key for the Fulfillment-Signature: 32 random bytes made once.
CREATE TABLE signing_key (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    key BLOB    NOT NULL CHECK (length(key) = 32)
) STRICT;
