-- The catalogue and orders, replicated from Postgres. The public product list reads the
-- active products; a user's orders are read by `owner_id`, a guest's by the digest of the
-- order token they hold (the token itself is never stored). An order's lines are its `items`,
-- a JSON array of snapshots that never change once placed.

CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    active INTEGER NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER,
    token_digest TEXT,
    email TEXT NOT NULL,
    items TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX orders_owner_created ON orders (owner_id, created_at DESC, id DESC);
