-- Every email the origin sends, once per dedupe key (`welcome:{user_id}`, `receipt:{order_id}`).
-- The row is written with its job, in the caller's transaction; the job claims it (`sending`)
-- before talking to the SMTP server and marks it `sent` after, so no run ever sends twice.
--
--   pending  enqueued, or a transient failure waits for its retry
--   sending  claimed by an attempt; a row left here means that attempt died mid-send
--            (the email may or may not have gone out) and nothing will send it again
--   sent     accepted by the SMTP server
--   failed   refused for good (SMTP 5xx, a bad address) or out of attempts; nothing was sent
--            (a dead job retried by an operator claims it for one more attempt)

CREATE TABLE emails (
    dedupe_key TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('welcome', 'receipt')),
    recipient TEXT NOT NULL,
    -- What to render, as `email::Email` serialises it: the job reads the email from here.
    message JSONB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    sent_at TIMESTAMPTZ
);
-- What an operator looks for: emails stuck or given up on.
CREATE INDEX emails_unsent ON emails (status, created_at) WHERE status IN ('sending', 'failed');
