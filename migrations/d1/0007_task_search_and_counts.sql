-- Task search and task counts whose cost does not grow with the owner's number of tasks.
--
-- Both are kept by triggers on `tasks`, in the statement that changes the row. The replica
-- writes tasks only through versioned upserts and cascading deletes (edge/src/replica/), so
-- the triggers see every change, and only real ones: an upsert the version guard refuses
-- changes no row and fires nothing. Never write tasks with INSERT OR REPLACE: the rows it
-- replaces fire no DELETE trigger (recursive_triggers is off), and the index and the counts
-- would drift.
--
-- The trigger bodies are plain statements, conditions in WHEN, `END;` in capitals: wrangler
-- splits migration files itself and has broken on CASE ... END inside a trigger.

-- Search. A trigram index over each task's owner and the text the edge already folds (Rust's
-- to_lowercase, which SQLite cannot reproduce, hence case_sensitive 1: nothing is folded
-- twice). With positions (detail=full), a quoted string is a phrase of consecutive trigrams,
-- and a phrase restricted to one column matches exactly the texts holding it as a substring:
-- the query `owner:"#<id>#" AND {title detail}:"<term>" AND ...` IS the search rule for terms
-- of 3 or more characters, so a search's count reads the index alone (no task row, no
-- `instr`). Shorter terms have no trigram; the edge checks them with `instr` on the rows.
-- - owner: '#<owner_id>#', so the index answers for one owner: a search costs what that
--   owner's matches cost, whatever other owners hold. '#' appears only at the tag's ends, so
--   the phrase matches that owner's tag alone. The edge builds the same tag
--   (edge/src/projects/sql.rs, `owner_tag`).
-- - content='', contentless_delete=1: the index holds trigrams only (the text stays in
--   `tasks`) and forgets a row by its rowid alone (SQLite 3.43 or later).
-- - detail=full: about 3.5 times the size of rowids alone (detail=none: 61 MB against 251 MB
--   at a million tasks), the price of exact phrase matches: a million-task owner's count of
--   `release notes` (20,000 matches) takes 15 ms instead of 36 ms through the task rows.
CREATE VIRTUAL TABLE tasks_fts USING fts5(
    owner, title, detail,
    content = '', contentless_delete = 1,
    detail = full, tokenize = 'trigram case_sensitive 1'
);
INSERT INTO tasks_fts (rowid, owner, title, detail)
SELECT id, '#' || owner_id || '#', title_folded, detail_folded FROM tasks;

CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO tasks_fts (rowid, owner, title, detail)
    VALUES (new.id, '#' || new.owner_id || '#', new.title_folded, new.detail_folded);
END;

CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN
    DELETE FROM tasks_fts WHERE rowid = old.id;
END;

CREATE TRIGGER tasks_fts_update AFTER UPDATE OF id, owner_id, title_folded, detail_folded ON tasks
WHEN old.id IS NOT new.id
    OR old.owner_id IS NOT new.owner_id
    OR old.title_folded IS NOT new.title_folded
    OR old.detail_folded IS NOT new.detail_folded
BEGIN
    DELETE FROM tasks_fts WHERE rowid = old.id;
    INSERT INTO tasks_fts (rowid, owner, title, detail)
    VALUES (new.id, '#' || new.owner_id || '#', new.title_folded, new.detail_folded);
END;

-- Counts. How many tasks each owner has per project and done state: a list filtered only by
-- owner, project and done adds up a handful of these rows instead of walking an index entry
-- per task, and a project's `task_count` reads its own rows. Rows at zero are removed, so the
-- table always equals `SELECT owner_id, project_id, done, count(*) FROM tasks GROUP BY 1, 2, 3`.
CREATE TABLE task_counts (
    owner_id INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    done INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (owner_id, project_id, done)
) WITHOUT ROWID;
CREATE INDEX task_counts_project ON task_counts (project_id);

INSERT INTO task_counts (owner_id, project_id, done, n)
SELECT owner_id, project_id, done, count(*) FROM tasks GROUP BY owner_id, project_id, done;

CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts (owner_id, project_id, done, n)
    VALUES (new.owner_id, new.project_id, new.done, 1)
    ON CONFLICT (owner_id, project_id, done) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1
    WHERE owner_id = old.owner_id AND project_id = old.project_id AND done = old.done;
    DELETE FROM task_counts
    WHERE owner_id = old.owner_id AND project_id = old.project_id AND done = old.done
        AND n <= 0;
END;

-- A task moving to another project (or owner), or done flipping: out of one row, into another.
CREATE TRIGGER task_counts_update AFTER UPDATE OF owner_id, project_id, done ON tasks
WHEN old.owner_id IS NOT new.owner_id
    OR old.project_id IS NOT new.project_id
    OR old.done IS NOT new.done
BEGIN
    UPDATE task_counts SET n = n - 1
    WHERE owner_id = old.owner_id AND project_id = old.project_id AND done = old.done;
    DELETE FROM task_counts
    WHERE owner_id = old.owner_id AND project_id = old.project_id AND done = old.done
        AND n <= 0;
    INSERT INTO task_counts (owner_id, project_id, done, n)
    VALUES (new.owner_id, new.project_id, new.done, 1)
    ON CONFLICT (owner_id, project_id, done) DO UPDATE SET n = n + 1;
END;
