//! The SQL the edge sends D1 for lists and details. Column names come from fixed tables in
//! this file, never from input; every value is a bound parameter. The same SQL runs natively
//! against SQLite in the tests.
//!
//! SQLite builds the JSON of every representation itself (`json_object`, `json_group_array`),
//! in the contract's field order: a page arrives as one text value the edge splices into the
//! response, instead of every field of every row crossing from JavaScript into wasm (the
//! dominant cost of large lists, measured in docs/benchmarks.md).
//!
//! A list is two statements sent in one batch: the count and the page (the page uses the
//! requested offset; an out-of-range page is then refused against the count).
//!
//! The task list stays fast as an owner's tasks grow (migration `0007`): its count comes from
//! `task_counts` when only owner, project and done filter it, and a search asks the trigram
//! index `tasks_fts` for the tasks holding its terms (exactly, for terms of 3 or more
//! characters; a search with no other filter is counted by the index alone), so neither walks
//! every task.

use std::fmt::Write as _;
use std::sync::OnceLock;

use domain::projects::{Project, ProjectView, Task};
use domain::query::{Ordering, SortField, TaskFilters};
use domain::{ProjectId, TaskId, UserId};
use serde::Deserialize;

use crate::platform::{SqlValue, Statement};
use crate::replica::{fold, integer};

/// A JSON boolean from a 0/1 column.
fn boolean(column: &str) -> String {
    format!("json(CASE WHEN {column} THEN 'true' ELSE 'false' END)")
}

/// `json_object('field', expression, …)` over `fields`, in their order.
pub(crate) fn json_object(fields: &[&str], expression: impl Fn(&str) -> String) -> String {
    let pairs: Vec<String> = fields
        .iter()
        .map(|field| format!("'{field}', {}", expression(field)))
        .collect();
    format!("json_object({})", pairs.join(", "))
}

/// A task as the API shows it, built by SQLite from the row aliased `alias`, with the fields of
/// [`Task::FIELDS`] in their order.
fn task_json(alias: &str) -> String {
    json_object(Task::FIELDS, |field| match field {
        "project" => format!("{alias}.project_id"),
        "done" => boolean(&format!("{alias}.done")),
        "id" | "title" | "detail" | "due_date" | "created_at" => format!("{alias}.{field}"),
        #[expect(
            clippy::unreachable,
            reason = "a static field list; the tests read every field"
        )]
        other => unreachable!("the task field `{other}` has no column in D1"),
    })
}

/// A project with its tasks nested and counted (alias `p`): [`Project::FIELDS`], then
/// [`ProjectView::NESTED`].
fn project_json() -> String {
    let fields: Vec<&str> = [Project::FIELDS, ProjectView::NESTED].concat();
    json_object(&fields, |field| match field {
        "owner" => "p.owner_id".to_owned(),
        "is_archived" => boolean("p.is_archived"),
        "id" | "name" | "description" | "created_at" => format!("p.{field}"),
        // The same number as `count(*)` over the project's tasks, from a few rows.
        "task_count" => {
            "(SELECT coalesce(sum(c.n), 0) FROM task_counts c WHERE c.project_id = p.id)".to_owned()
        }
        "tasks" => format!(
            "json((SELECT coalesce(json_group_array(json(nested.item)), '[]') FROM \
             (SELECT {} AS item FROM tasks n WHERE n.project_id = p.id ORDER BY n.id) AS nested))",
            task_json("n")
        ),
        #[expect(
            clippy::unreachable,
            reason = "a static field list; the tests read every field"
        )]
        other => unreachable!("the project field `{other}` has no column in D1"),
    })
}

/// The task JSON over alias `t`, built once.
fn task_json_t() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| task_json("t"))
}

/// The project JSON over alias `p`, built once.
fn project_json_p() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(project_json)
}

/// One JSON text: an object (details) or an array (pages).
#[derive(Debug, Deserialize)]
pub struct JsonRow {
    pub json: String,
}

/// `SELECT count(*) AS n`.
#[derive(Debug, Deserialize)]
pub struct CountRow {
    #[serde(deserialize_with = "integer")]
    pub n: i64,
}

/// A `WHERE` clause under construction, numbering its parameters.
#[derive(Debug, Default)]
pub(crate) struct Conditions {
    sql: String,
    params: Vec<SqlValue>,
}

impl Conditions {
    fn bind(&mut self, value: impl Into<SqlValue>) -> usize {
        self.params.push(value.into());
        self.params.len()
    }

    /// `column op ?n`, with `value` bound as `?n`.
    pub(crate) fn compare(&mut self, column: &str, op: &str, value: impl Into<SqlValue>) {
        let n = self.bind(value);
        self.and(&format!("{column} {op} ?{n}"));
    }

    fn and(&mut self, condition: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(" AND ");
        }
        self.sql.push_str(condition);
    }

    /// Every term must appear (folded, as a substring) in at least one of `columns`.
    fn search(&mut self, alias: &str, columns: &[&str], terms: &[String]) {
        for term in terms {
            let n = self.bind(fold(term));
            let any: Vec<String> = columns
                .iter()
                .map(|c| format!("instr({alias}.{c}_folded, ?{n}) > 0"))
                .collect();
            self.and(&format!("({})", any.join(" OR ")));
        }
    }
}

/// `ORDER BY` for sort keys and the tie-break on `id` in the direction of the first key. Every
/// ordered column is non-null (`due_date` sorts through `due_sort`, where NULL is the largest
/// value, as in Postgres), so single-key orderings walk an index.
fn order_by(alias: &str, ordering: &Ordering) -> String {
    let mut sql = String::from(" ORDER BY ");
    for key in &ordering.0 {
        let column = match key.field {
            SortField::CreatedAt => "created_at",
            SortField::DueDate => "due_sort",
            SortField::Name => "name",
            SortField::Title => "title",
        };
        let direction = if key.descending { "DESC" } else { "ASC" };
        let _ = write!(sql, "{alias}.{column} {direction}, ");
    }
    let first_descending = ordering.0.first().is_some_and(|k| k.descending);
    let _ = write!(
        sql,
        "{alias}.id {}",
        if first_descending { "DESC" } else { "ASC" }
    );
    sql
}

/// What a list statement needs besides its filters.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub limit: u32,
    pub offset: u64,
}

impl Window {
    /// Where a count-only statement is taken from (its page part is never run).
    pub const FIRST: Self = Self {
        limit: 1,
        offset: 0,
    };
}

/// The count and the page (a JSON array) of a filtered list.
#[derive(Debug)]
pub struct ListStatements {
    pub count: Statement,
    pub page: Statement,
}

/// Wraps a page query (one `item` column) into one JSON array, in the page's order.
pub(crate) fn as_array(page_sql: &str) -> String {
    format!(
        "SELECT coalesce(json_group_array(json(page.item)), '[]') AS json FROM ({page_sql}) AS page"
    )
}

fn window_params(mut conditions: Conditions, window: Window) -> (String, Vec<SqlValue>) {
    let limit = conditions.bind(i64::from(window.limit));
    let offset = conditions.bind(i64::try_from(window.offset).unwrap_or(i64::MAX));
    (
        format!(" LIMIT ?{limit} OFFSET ?{offset}"),
        conditions.params,
    )
}

/// The task list of `owner`.
pub fn task_list(
    owner: UserId,
    filters: &TaskFilters,
    terms: &[String],
    ordering: &Ordering,
    window: Window,
) -> ListStatements {
    let narrowing = phrase_query(owner, terms);
    let short = short_terms(terms);
    let narrowed = narrowing.is_some();
    let table = if narrowed { TASKS_NARROWED } else { "tasks t" };
    let stored = stored_task_count(owner, filters, terms)
        .or_else(|| indexed_search_count(filters, &short, narrowing.as_deref()));
    let c = task_conditions(owner, filters, &short, narrowing);
    let count = stored.unwrap_or_else(|| count(table, &c));
    let page = if narrowed {
        narrowed_page(c, ordering, window)
    } else {
        page(table, "t", task_json_t(), c, ordering, window)
    };
    ListStatements { count, page }
}

/// The task list's `WHERE`: the phrase query first when a search has one (it decides the terms
/// of 3 or more characters), then the owner, the filters and the substring rule for the
/// shorter `terms`.
fn task_conditions(
    owner: UserId,
    filters: &TaskFilters,
    short_terms: &[String],
    narrowing: Option<String>,
) -> Conditions {
    let mut c = Conditions::default();
    if let Some(query) = narrowing {
        c.compare("f.tasks_fts", "MATCH", query);
    }
    c.compare("t.owner_id", "=", owner);
    if let Some(done) = filters.done {
        c.compare("t.done", "=", done);
    }
    if let Some(min) = filters.min_due {
        c.compare("t.due_date", ">=", min);
    }
    if let Some(max) = filters.max_due {
        c.compare("t.due_date", "<=", max);
    }
    if let Some(project) = filters.project {
        c.compare("t.project_id", "=", project);
    }
    c.search("t", domain::projects::TASK_SEARCH, short_terms);
    c
}

/// The search terms the index cannot decide: under 3 characters once folded, no trigram.
fn short_terms(terms: &[String]) -> Vec<String> {
    terms
        .iter()
        .filter(|term| fold(term).chars().count() < 3)
        .cloned()
        .collect()
}

/// The count of a search the phrase query decides alone (no filter, no short term): the index's
/// matches, without reading a task. `None` otherwise.
fn indexed_search_count(
    filters: &TaskFilters,
    short_terms: &[String],
    narrowing: Option<&str>,
) -> Option<Statement> {
    // Every field by name: a new filter must say whether the index can count it.
    let TaskFilters {
        done,
        min_due,
        max_due,
        project,
    } = *filters;
    let unfiltered = done.is_none() && min_due.is_none() && max_due.is_none() && project.is_none();
    let query = narrowing.filter(|_| unfiltered && short_terms.is_empty())?;
    Some(Statement::new(
        "SELECT count(*) AS n FROM tasks_fts WHERE tasks_fts MATCH ?1",
        vec![query.to_owned().into()],
    ))
}

/// The tasks a search's phrase query offers, each joined to its row. `CROSS JOIN` keeps the
/// index as the outer loop: SQLite would otherwise walk the owner's index and look every
/// entry up in the offered set, a step per task the owner has.
const TASKS_NARROWED: &str = "tasks_fts f CROSS JOIN tasks t ON t.id = f.rowid";

/// The page of a narrowed search: the ids of the page, sorted among every match, then the JSON
/// of those alone. (Built in one query, SQLite would build the JSON of every match before
/// sorting: twice the time at 20,000 matches.)
fn narrowed_page(conditions: Conditions, ordering: &Ordering, window: Window) -> Statement {
    let order = order_by("t", ordering);
    let filtered = format!("FROM {TASKS_NARROWED} WHERE {}", conditions.sql);
    let (limit, params) = window_params(conditions, window);
    let ids = format!("SELECT t.id {filtered}{order}{limit}");
    Statement::new(
        as_array(&format!(
            "SELECT {} AS item FROM ({ids}) AS w CROSS JOIN tasks t ON t.id = w.id{order}",
            task_json_t()
        )),
        params,
    )
}

/// The FTS5 query for `owner`'s tasks holding every term of 3 or more characters: the owner's
/// tag in `owner`, and each such term as a phrase in one of the searched columns. `None` when
/// every term is shorter: no trigram narrows those, and the search reads the owner's tasks.
///
/// A phrase of trigrams in one column matches exactly the texts holding it as a substring
/// (`tasks_fts` keeps positions), and both sides are folded by [`fold`]: for these terms the
/// query is the search rule, and no row needs checking again.
fn phrase_query(owner: UserId, terms: &[String]) -> Option<String> {
    let mut long: Vec<String> = Vec::new();
    for term in terms.iter().map(|term| fold(term)) {
        if term.chars().count() >= 3 && !long.contains(&term) {
            long.push(term);
        }
    }
    if long.is_empty() {
        return None;
    }
    let columns = domain::projects::TASK_SEARCH.join(" ");
    let mut query = format!("owner:{}", quoted(&owner_tag(owner)));
    for term in &long {
        let _ = write!(query, " AND {{{columns}}}:{}", quoted(term));
    }
    Some(query)
}

/// An FTS5 string: any text, double quotes doubled.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// What `tasks_fts` indexes as a task's owner (its triggers write `'#' || owner_id || '#'`):
/// at least 3 characters, so even owner 1 has a trigram.
fn owner_tag(owner: UserId) -> String {
    format!("#{}#", owner.get())
}

/// The count of `owner`'s tasks from the few rows of `task_counts` that hold it (the
/// migration's triggers keep them exact), when only done and project filter the list. `None`
/// under a due date range or a search: `task_counts` cannot tell those apart.
fn stored_task_count(owner: UserId, filters: &TaskFilters, terms: &[String]) -> Option<Statement> {
    // Every field by name: a new filter must say whether `task_counts` can count it.
    let TaskFilters {
        done,
        min_due,
        max_due,
        project,
    } = *filters;
    if !terms.is_empty() || min_due.is_some() || max_due.is_some() {
        return None;
    }
    let mut c = Conditions::default();
    c.compare("owner_id", "=", owner);
    if let Some(done) = done {
        c.compare("done", "=", done);
    }
    if let Some(project) = project {
        c.compare("project_id", "=", project);
    }
    Some(Statement::new(
        format!(
            "SELECT coalesce(sum(n), 0) AS n FROM task_counts WHERE {}",
            c.sql
        ),
        c.params,
    ))
}

/// The project list of `owner`, with the page's tasks.
pub fn project_list(
    owner: UserId,
    terms: &[String],
    ordering: &Ordering,
    window: Window,
) -> ListStatements {
    let mut c = Conditions::default();
    c.compare("p.owner_id", "=", owner);
    c.search("p", domain::projects::PROJECT_SEARCH, terms);
    list("projects p", "p", project_json_p(), c, ordering, window)
}

/// The count and the ordered page of `table` under `conditions`.
pub(crate) fn list(
    table: &str,
    alias: &str,
    item_json: &str,
    conditions: Conditions,
    ordering: &Ordering,
    window: Window,
) -> ListStatements {
    ListStatements {
        count: count(table, &conditions),
        page: page(table, alias, item_json, conditions, ordering, window),
    }
}

/// `count(*)` of the rows of `table` under `conditions`.
fn count(table: &str, conditions: &Conditions) -> Statement {
    Statement::new(
        format!("SELECT count(*) AS n FROM {table} WHERE {}", conditions.sql),
        conditions.params.clone(),
    )
}

/// The ordered page of `table` under `conditions`, as one JSON array.
fn page(
    table: &str,
    alias: &str,
    item_json: &str,
    conditions: Conditions,
    ordering: &Ordering,
    window: Window,
) -> Statement {
    let filtered = format!("FROM {table} WHERE {}", conditions.sql);
    let order = order_by(alias, ordering);
    let (limit, params) = window_params(conditions, window);
    Statement::new(
        as_array(&format!(
            "SELECT {item_json} AS item {filtered}{order}{limit}"
        )),
        params,
    )
}

/// One project of `owner`, its tasks nested.
pub fn project_detail(owner: UserId, id: ProjectId) -> Statement {
    Statement::new(
        format!(
            "SELECT {} AS json FROM projects p WHERE p.id = ?1 AND p.owner_id = ?2",
            project_json_p()
        ),
        vec![id.into(), owner.into()],
    )
}

/// One task of `owner`.
pub fn task_detail(owner: UserId, id: TaskId) -> Statement {
    Statement::new(
        format!(
            "SELECT {} AS json FROM tasks t WHERE t.id = ?1 AND t.owner_id = ?2",
            task_json_t()
        ),
        vec![id.into(), owner.into()],
    )
}

/// `n` is 1 when `owner` has this project.
pub fn project_owned(owner: UserId, id: ProjectId) -> Statement {
    Statement::new(
        "SELECT count(*) AS n FROM projects WHERE id = ?1 AND owner_id = ?2",
        vec![id.into(), owner.into()],
    )
}

/// `n` is 1 when `owner` has this task.
pub fn task_owned(owner: UserId, id: TaskId) -> Statement {
    Statement::new(
        "SELECT count(*) AS n FROM tasks WHERE id = ?1 AND owner_id = ?2",
        vec![id.into(), owner.into()],
    )
}

/// Whether a project with this id exists at all (any owner): an unknown `project` filter is a
/// 400, someone else's an empty list.
pub fn project_exists(id: ProjectId) -> Statement {
    Statement::new(
        "SELECT count(*) AS n FROM projects WHERE id = ?1",
        vec![id.into()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phrase_query_quotes_every_long_term_and_names_the_owner() {
        let owner = UserId::new(7);
        let terms = |terms: &[&str]| terms.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        assert_eq!(phrase_query(owner, &terms(&["ab", "İ"])), None, "too short");
        assert_eq!(phrase_query(owner, &[]), None, "no search");
        assert_eq!(
            phrase_query(owner, &terms(&["Say \"HI\"", "x", "say", "SAY"])).as_deref(),
            Some(r##"owner:"#7#" AND {title detail}:"say ""hi""" AND {title detail}:"say""##),
            "folded, quotes doubled, short terms and repeats left out"
        );
    }
}
