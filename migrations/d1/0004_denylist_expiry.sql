-- Blacklisted tokens past their expiry are refused by their `exp` anyway; the edge drops them
-- after each replication push.
CREATE INDEX token_denylist_expiry ON token_denylist (expires_at);
