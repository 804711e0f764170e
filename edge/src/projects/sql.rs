//! The SQL the edge sends D1 for lists and details. Column names come from fixed tables in
//! this file, never from input; every value is a bound parameter. The same SQL runs natively
//! against SQLite in the tests.
//!
//! A list is two statements sent in one batch: the count and the page (the page uses the
//! requested offset; an out-of-range page is then refused against the count). The project
//! list adds a third: the nested tasks of exactly the projects on the page.

use std::fmt::Write as _;

use domain::query::{Ordering, SortKey, TaskFilters};
use serde::Deserialize;

use crate::ports::{SqlValue, Statement};
use crate::replica::{flag, fold, integer};

pub const TASK_COLUMNS: &str =
    "t.id, t.project_id AS project, t.title, t.detail, t.done, t.due_date, t.created_at";
pub const PROJECT_COLUMNS: &str =
    "p.id, p.owner_id AS owner, p.name, p.description, p.is_archived, p.created_at";

/// A task row as D1 returns it.
#[derive(Debug, Deserialize)]
pub struct TaskRow {
    #[serde(deserialize_with = "integer")]
    pub id: i64,
    #[serde(deserialize_with = "integer")]
    pub project: i64,
    pub title: String,
    pub detail: String,
    #[serde(deserialize_with = "flag")]
    pub done: bool,
    pub due_date: Option<String>,
    pub created_at: String,
}

impl From<TaskRow> for domain::projects::Task {
    fn from(row: TaskRow) -> Self {
        Self {
            id: row.id,
            project: row.project,
            title: row.title,
            detail: row.detail,
            done: row.done,
            due_date: row.due_date,
            created_at: row.created_at,
        }
    }
}

/// A project row as D1 returns it.
#[derive(Debug, Deserialize)]
pub struct ProjectRow {
    #[serde(deserialize_with = "integer")]
    pub id: i64,
    #[serde(deserialize_with = "integer")]
    pub owner: i64,
    pub name: String,
    pub description: String,
    #[serde(deserialize_with = "flag")]
    pub is_archived: bool,
    pub created_at: String,
}

impl From<ProjectRow> for domain::projects::Project {
    fn from(row: ProjectRow) -> Self {
        Self {
            id: row.id,
            owner: row.owner,
            name: row.name,
            description: row.description,
            is_archived: row.is_archived,
            created_at: row.created_at,
        }
    }
}

/// `SELECT count(*) AS n`.
#[derive(Debug, Deserialize)]
pub struct CountRow {
    #[serde(deserialize_with = "integer")]
    pub n: i64,
}

/// A `WHERE` clause under construction, numbering its parameters.
#[derive(Debug, Default)]
struct Conditions {
    sql: String,
    params: Vec<SqlValue>,
}

impl Conditions {
    fn bind(&mut self, value: impl Into<SqlValue>) -> usize {
        self.params.push(value.into());
        self.params.len()
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
        let column = if key.field == "due_date" {
            "due_sort"
        } else {
            key.field
        };
        let direction = if key.descending { "DESC" } else { "ASC" };
        let _ = write!(sql, "{alias}.{column} {direction}, ");
    }
    let first_descending = ordering.0.first().is_some_and(|k: &SortKey| k.descending);
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

/// The count and the page of a filtered list.
#[derive(Debug)]
pub struct ListStatements {
    pub count: Statement,
    pub page: Statement,
    /// Set on project lists: the nested tasks of the projects on the page.
    pub nested: Option<Statement>,
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
    owner: i64,
    filters: &TaskFilters,
    terms: &[String],
    ordering: &Ordering,
    window: Window,
) -> ListStatements {
    let mut c = Conditions::default();
    let n = c.bind(owner);
    c.and(&format!("t.owner_id = ?{n}"));
    if let Some(done) = filters.done {
        let n = c.bind(done);
        c.and(&format!("t.done = ?{n}"));
    }
    if let Some(min) = filters.min_due {
        let n = c.bind(min.to_string());
        c.and(&format!("t.due_date >= ?{n}"));
    }
    if let Some(max) = filters.max_due {
        let n = c.bind(max.to_string());
        c.and(&format!("t.due_date <= ?{n}"));
    }
    if let Some(project) = filters.project {
        let n = c.bind(project);
        c.and(&format!("t.project_id = ?{n}"));
    }
    c.search("t", domain::projects::TASK_SEARCH, terms);
    let filtered = format!("FROM tasks t WHERE {}", c.sql);
    let count = Statement::new(format!("SELECT count(*) AS n {filtered}"), c.params.clone());
    let order = order_by("t", ordering);
    let (limit, params) = window_params(c, window);
    let page = Statement::new(
        format!("SELECT {TASK_COLUMNS} {filtered}{order}{limit}"),
        params,
    );
    ListStatements {
        count,
        page,
        nested: None,
    }
}

/// The project list of `owner`, with the page's tasks.
pub fn project_list(
    owner: i64,
    terms: &[String],
    ordering: &Ordering,
    window: Window,
) -> ListStatements {
    let mut c = Conditions::default();
    let n = c.bind(owner);
    c.and(&format!("p.owner_id = ?{n}"));
    c.search("p", domain::projects::PROJECT_SEARCH, terms);
    let filtered = format!("FROM projects p WHERE {}", c.sql);
    let count = Statement::new(format!("SELECT count(*) AS n {filtered}"), c.params.clone());
    let order = order_by("p", ordering);
    let (limit, params) = window_params(c, window);
    let page_sql = format!("SELECT {PROJECT_COLUMNS} {filtered}{order}{limit}");
    let nested = Statement::new(
        format!(
            "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.project_id IN (SELECT p.id {filtered}{order}{limit}) ORDER BY t.project_id, t.id"
        ),
        params.clone(),
    );
    ListStatements {
        count,
        page: Statement::new(page_sql, params),
        nested: Some(nested),
    }
}

/// One project of `owner` and its tasks.
pub fn project_detail(owner: i64, id: i64) -> [Statement; 2] {
    [
        Statement::new(
            format!("SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id = ?1 AND p.owner_id = ?2"),
            vec![id.into(), owner.into()],
        ),
        Statement::new(
            format!(
                "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.project_id = ?1 AND t.owner_id = ?2 ORDER BY t.id"
            ),
            vec![id.into(), owner.into()],
        ),
    ]
}

/// One task of `owner`.
pub fn task_detail(owner: i64, id: i64) -> Statement {
    Statement::new(
        format!("SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id = ?1 AND t.owner_id = ?2"),
        vec![id.into(), owner.into()],
    )
}

/// Whether a project with this id exists at all (any owner): an unknown `project` filter is a
/// 400, someone else's an empty list.
pub fn project_exists(id: i64) -> Statement {
    Statement::new(
        "SELECT count(*) AS n FROM projects WHERE id = ?1",
        vec![id.into()],
    )
}
