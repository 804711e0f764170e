-- The nonce of every signed request the edge made, kept for the signature window (and a
-- margin): a second request with the same nonce is a replay and is refused. Unlogged: after a
-- crash the table comes back empty, which costs nothing, since a nonce is only needed while its
-- signature's timestamp is fresh and a replay of an older one is refused as stale. One insert
-- per forwarded request; expired rows go every minute (`purge-nonces`).
CREATE UNLOGGED TABLE request_nonces (
    nonce TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX request_nonces_expiry ON request_nonces (expires_at);
