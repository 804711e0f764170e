-- The edge's read replica. Postgres is the source of truth; every row here arrives as a
-- versioned change record and carries the version that last wrote it.

-- Users as the public `me` shows them. No password hashes, ever.
-- No UNIQUE on username: a deleted user's name may be taken again before the tombstone of the
-- old row arrives; Postgres enforces uniqueness.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    is_staff INTEGER NOT NULL DEFAULT 0,
    date_joined TEXT NOT NULL,
    version INTEGER NOT NULL
);

-- Blacklisted refresh-token ids, refused by `token/verify/` until they expire.
CREATE TABLE token_denylist (
    jti TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    version INTEGER NOT NULL
);

-- Deletions, so an older upsert arriving late cannot bring a row back.
CREATE TABLE tombstones (
    entity TEXT NOT NULL,
    entity_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (entity, entity_id)
);
