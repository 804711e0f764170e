-- Accounts, tokens and the replication outbox.

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    -- Case-sensitive, as Django's username is.
    username TEXT NOT NULL CONSTRAINT users_username_key UNIQUE,
    email TEXT NOT NULL,
    -- Argon2id, PHC string format. Never leaves this database.
    password_hash TEXT NOT NULL,
    is_staff BOOLEAN NOT NULL DEFAULT FALSE,
    date_joined TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login TIMESTAMPTZ
);

-- Every refresh token issued (simplejwt's OutstandingToken): account deletion revokes them all.
CREATE TABLE outstanding_tokens (
    jti TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outstanding_tokens_user ON outstanding_tokens (user_id);

-- Blacklisted refresh tokens. The primary key makes "exactly one of two concurrent refreshes
-- wins" a property of the database. No foreign key: entries outlive a deleted user until
-- they expire.
CREATE TABLE blacklisted_tokens (
    jti TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    blacklisted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX blacklisted_tokens_expiry ON blacklisted_tokens (expires_at);

-- The transactional outbox for D1: one row per change, written in the transaction of the
-- change itself. `version` orders changes globally; `pushed_at` is set once the edge has
-- acknowledged a push that carried the row.
CREATE TABLE replication_changes (
    version BIGSERIAL PRIMARY KEY,
    change JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    pushed_at TIMESTAMPTZ
);
CREATE INDEX replication_changes_pending ON replication_changes (version) WHERE pushed_at IS NULL;
