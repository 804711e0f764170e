-- The catalogue and orders (the seed's 002 §D). Money is integer cents; a currency is a
-- lower-case ISO 4217 code, as Stripe spells it. An order's lines snapshot the product's name
-- and price when it was placed, so a later price change never alters an order.

CREATE TABLE products (
    id BIGSERIAL PRIMARY KEY,
    name VARCHAR(120) NOT NULL CHECK (btrim(name) <> ''),
    -- Stripe's largest amount: no price (and no total) may exceed it.
    price_cents BIGINT NOT NULL CHECK (price_cents BETWEEN 1 AND 99999999),
    currency CHAR(3) NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    -- A guest's order has none; a deleted account's orders are kept, detached.
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- SHA-256 of a guest's order token (hex); the token itself is shown once, at creation.
    token_digest TEXT,
    email VARCHAR(254) NOT NULL,
    currency CHAR(3) NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    total_cents BIGINT NOT NULL CHECK (total_cents BETWEEN 1 AND 99999999),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'payment_failed')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX orders_user_created ON orders (user_id, created_at DESC) WHERE user_id IS NOT NULL;

CREATE TABLE order_items (
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position SMALLINT NOT NULL,
    product_id BIGINT NOT NULL REFERENCES products (id),
    name VARCHAR(120) NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents > 0),
    line_total_cents BIGINT NOT NULL CHECK (line_total_cents = unit_price_cents * quantity),
    PRIMARY KEY (order_id, position)
);
CREATE INDEX order_items_product ON order_items (product_id);
