-- Attachments: the metadata of a project's files. The bytes are in R2, put there by the edge
-- under a key it chose before it forwarded this row's create; deleting a project (or its
-- owner) deletes its attachments, and the edge removes their bytes when it applies the
-- deletion. Replicated like tasks: explicit change records, in the writer's transaction.

CREATE TABLE attachments (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- `attachments/YYYY/MM/<32 lowercase hex>`; one row per object.
    storage_key TEXT NOT NULL CONSTRAINT attachments_storage_key_key UNIQUE
        CHECK (storage_key ~ '^attachments/[0-9]{4}/(0[1-9]|1[0-2])/[0-9a-f]{32}$'),
    filename TEXT NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 100),
    -- Bytes. The upper limit (`domain::limits::MAX_UPLOAD_BYTES`) is the code's to change.
    size BIGINT NOT NULL CHECK (size > 0),
    content_type TEXT NOT NULL CHECK (char_length(content_type) BETWEEN 1 AND 100),
    -- SHA-256 of the bytes.
    checksum TEXT NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
-- A project's attachments, newest first.
CREATE INDEX attachments_project_created ON attachments (project_id, created_at DESC);
