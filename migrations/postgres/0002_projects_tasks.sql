-- Projects and tasks (the seed's models), and the Idempotency-Key store.

CREATE TABLE projects (
    id BIGSERIAL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name VARCHAR(120) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_archived BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
-- The seed's Index(fields=["owner", "-created_at"]).
CREATE INDEX projects_owner_created ON projects (owner_id, created_at DESC);

CREATE TABLE tasks (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title VARCHAR(180) NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    done BOOLEAN NOT NULL DEFAULT FALSE,
    due_date DATE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
-- The seed's Index(fields=["project", "-created_at"]) and Index(fields=["done", "due_date"]).
CREATE INDEX tasks_project_created ON tasks (project_id, created_at DESC);
CREATE INDEX tasks_done_due ON tasks (done, due_date);

-- Completed unsafe requests by Idempotency-Key: a retry gets the stored answer (and the change
-- records, for the edge to apply again) instead of a second write. Stored in the transaction
-- of the write itself, so a key is never recorded for a write that did not commit.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status SMALLINT NOT NULL,
    body JSONB,
    changes JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
