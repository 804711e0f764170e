-- Attachments' metadata, replicated from Postgres (the bytes are in R2 under `storage_key`).
-- `owner_id` is denormalised, as on tasks, so every read filters by owner without a join and
-- an account's deletion takes its attachments. No UNIQUE on `storage_key`: Postgres enforces
-- it, and a constraint here could only stop a replication batch.

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    owner_id INTEGER NOT NULL,
    storage_key TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    checksum TEXT NOT NULL,
    created_at TEXT NOT NULL,
    version INTEGER NOT NULL
);
-- The owner's list (`-created_at`, ties on id) and a project's attachments (also what a
-- project's deletion removes).
CREATE INDEX attachments_owner_created ON attachments (owner_id, created_at DESC, id DESC);
CREATE INDEX attachments_project_created ON attachments (project_id, created_at DESC, id DESC);
-- A download finds its attachment by key, and the orphan sweep asks which keys are referred to.
CREATE INDEX attachments_storage_key ON attachments (storage_key);
