-- The latest change record of a row, for `check-edge` / `resync-edge`.
CREATE INDEX replication_changes_row
    ON replication_changes ((change->>'kind'), (change->'data'->>'id'), version DESC);
