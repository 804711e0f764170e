-- The owners of the records written before 0010, where the record itself or one lookup names
-- them: an upsert names its owner (a user is their own, a product has none and stays NULL); a
-- user's deletion names the user; a token's denial, the user of the blacklisted token, while
-- that is kept (until the token expires, after which its denial no longer matters); another
-- deletion, the owner named by the row's last upsert before it. What none of these names
-- stays NULL. Safe to run again: it only fills what is still NULL (such as records the
-- previous release writes until it is replaced).
UPDATE replication_changes c
SET owner_id = CASE
    WHEN c.change->>'kind' IN ('user.upsert', 'user.delete')
        THEN (c.change->'data'->>'id')::bigint
    WHEN c.change->>'kind' IN ('project.upsert', 'task.upsert', 'attachment.upsert', 'order.upsert')
        THEN (c.change->'data'->>'owner')::bigint
    WHEN c.change->>'kind' = 'token.deny'
        THEN (SELECT b.user_id FROM blacklisted_tokens b WHERE b.jti = c.change->'data'->>'jti')
    -- One probe of `replication_changes_row` (kind, id, version DESC) per record.
    WHEN c.change->>'kind' IN ('project.delete', 'task.delete', 'attachment.delete', 'order.delete')
        THEN (SELECT (u.change->'data'->>'owner')::bigint FROM replication_changes u
              WHERE u.change->>'kind' = split_part(c.change->>'kind', '.', 1) || '.upsert'
                AND u.change->'data'->>'id' = c.change->'data'->>'id'
                AND u.version < c.version
              ORDER BY u.version DESC LIMIT 1)
END
WHERE c.owner_id IS NULL
  AND c.change->>'kind' NOT IN ('product.upsert', 'product.delete');
