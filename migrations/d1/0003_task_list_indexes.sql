-- Lists that stay fast as an owner's tasks grow: an index per ordering the API offers (and per
-- `done` filter), so SQLite walks an index to the page instead of sorting every match, and
-- counts from the index alone.
--
-- `due_sort` is `due_date` with NULL as the largest value ('9999-99-99'): ordering on it gives
-- Postgres's placement (NULLs last ascending, first descending) while still using an index.

ALTER TABLE tasks ADD COLUMN due_sort TEXT NOT NULL DEFAULT '9999-99-99';
UPDATE tasks SET due_sort = coalesce(due_date, '9999-99-99');

CREATE INDEX tasks_owner_due ON tasks (owner_id, due_sort, id);
CREATE INDEX tasks_owner_title ON tasks (owner_id, title, id);
CREATE INDEX tasks_owner_done_created ON tasks (owner_id, done, created_at, id);
CREATE INDEX tasks_owner_done_due ON tasks (owner_id, done, due_sort, id);
CREATE INDEX projects_owner_name ON projects (owner_id, name, id);
