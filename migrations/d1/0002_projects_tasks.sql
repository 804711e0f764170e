-- Projects and tasks, replicated from Postgres. `owner_id` is denormalised onto tasks so every
-- read filters by owner without a join; `*_folded` hold the lower-cased text `search` matches
-- against (SQLite's lower() folds ASCII only; the edge folds with Unicode rules).

CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    is_archived INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    name_folded TEXT NOT NULL,
    description_folded TEXT NOT NULL,
    version INTEGER NOT NULL
);
-- The seed's index (owner, -created_at).
CREATE INDEX projects_owner_created ON projects (owner_id, created_at DESC, id DESC);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    owner_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    due_date TEXT,
    created_at TEXT NOT NULL,
    title_folded TEXT NOT NULL,
    detail_folded TEXT NOT NULL,
    version INTEGER NOT NULL
);
-- The seed's indexes (project, -created_at) and (done, due_date), plus the owner's list.
CREATE INDEX tasks_project_created ON tasks (project_id, created_at DESC);
CREATE INDEX tasks_done_due ON tasks (done, due_date);
CREATE INDEX tasks_owner_created ON tasks (owner_id, created_at DESC, id DESC);
