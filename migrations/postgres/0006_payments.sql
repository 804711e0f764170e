-- Stripe payments: the PaymentIntent an order is paid through, and every webhook event
-- received, once.

-- One intent per order: its id is stored on the first successful create; every later request
-- for the order's intent reads it back instead of creating another.
ALTER TABLE orders ADD COLUMN payment_intent_id TEXT UNIQUE;
ALTER TABLE orders ADD COLUMN paid_at TIMESTAMPTZ;

-- Stripe's events as received (the webhook's idempotency: a redelivery hits the primary key
-- and changes nothing). The payload is kept for audit and replay with personal data masked.
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    -- Stripe's `created`, seconds since the epoch.
    created BIGINT NOT NULL,
    payload JSONB NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set by the job that applied it, with what it did ("order 12 paid", "ignored: …").
    processed_at TIMESTAMPTZ,
    outcome TEXT
);
CREATE INDEX stripe_events_unprocessed ON stripe_events (received_at) WHERE processed_at IS NULL;
