//! The SQL behind projects and tasks. Every lookup is scoped by owner: another user's object
//! and a missing one look the same.

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use domain::projects::{Project, Task};
use domain::query::Date;
use domain::replication::TaskReplica;
use domain::{ProjectId, TaskId, UserId};
use sqlx::PgConnection;

use crate::db::timestamp;

#[derive(Debug, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub description: String,
    pub is_archived: bool,
    pub created_at: DateTime<Utc>,
}

impl From<ProjectRow> for Project {
    fn from(row: ProjectRow) -> Self {
        Self {
            id: ProjectId::new(row.id),
            owner: UserId::new(row.owner_id),
            name: row.name,
            description: row.description,
            is_archived: row.is_archived,
            created_at: timestamp(row.created_at),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub project_id: i64,
    pub owner_id: i64,
    pub title: String,
    pub detail: String,
    pub done: bool,
    pub due_date: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

impl TaskRow {
    pub fn replica(self) -> TaskReplica {
        TaskReplica {
            owner: UserId::new(self.owner_id),
            task: Task {
                id: TaskId::new(self.id),
                project: ProjectId::new(self.project_id),
                title: self.title,
                detail: self.detail,
                done: self.done,
                due_date: self.due_date.and_then(to_date),
                created_at: timestamp(self.created_at),
            },
        }
    }
}

/// A calendar date as the domain holds it.
pub fn to_date(date: NaiveDate) -> Option<Date> {
    Date::from_ymd(date.year(), date.month(), date.day())
}

/// A domain date as Postgres stores it.
pub fn from_date(date: Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(date.year(), date.month(), date.day())
}

macro_rules! project_columns {
    () => {
        "id, owner_id, name, description, is_archived, created_at"
    };
}

macro_rules! task_columns {
    () => {
        "t.id, t.project_id, p.owner_id, t.title, t.detail, t.done, t.due_date, t.created_at"
    };
}

pub async fn insert_project(
    conn: &mut PgConnection,
    owner: UserId,
    name: &str,
    description: &str,
) -> sqlx::Result<ProjectRow> {
    sqlx::query_as(concat!(
        "INSERT INTO projects (owner_id, name, description) VALUES ($1, $2, $3) RETURNING ",
        project_columns!()
    ))
    .bind(owner.get())
    .bind(name)
    .bind(description)
    .fetch_one(conn)
    .await
}

/// The owner's project, locked for the rest of the transaction.
pub async fn project_for_update(
    conn: &mut PgConnection,
    owner: UserId,
    id: ProjectId,
) -> sqlx::Result<Option<ProjectRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        project_columns!(),
        " FROM projects WHERE id = $1 AND owner_id = $2 FOR UPDATE"
    ))
    .bind(id.get())
    .bind(owner.get())
    .fetch_optional(conn)
    .await
}

/// The projects with these ids that exist, whoever owns them, in no particular order (the
/// audit's repair reads them back to replicate them).
pub async fn projects_by_ids(
    conn: &mut PgConnection,
    ids: &[ProjectId],
) -> sqlx::Result<Vec<ProjectRow>> {
    let ids: Vec<i64> = ids.iter().copied().map(ProjectId::get).collect();
    sqlx::query_as(concat!(
        "SELECT ",
        project_columns!(),
        " FROM projects WHERE id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Whether the owner has this project; locks it against deletion until commit (a task being
/// created in it must not land in a project deleted meanwhile).
pub async fn owns_project(
    conn: &mut PgConnection,
    owner: UserId,
    id: ProjectId,
) -> sqlx::Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM projects WHERE id = $1 AND owner_id = $2 FOR SHARE")
            .bind(id.get())
            .bind(owner.get())
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

pub async fn update_project(
    conn: &mut PgConnection,
    id: ProjectId,
    name: &str,
    description: &str,
    is_archived: bool,
) -> sqlx::Result<ProjectRow> {
    sqlx::query_as(concat!(
        "UPDATE projects SET name = $2, description = $3, is_archived = $4 WHERE id = $1 RETURNING ",
        project_columns!()
    ))
    .bind(id.get())
    .bind(name)
    .bind(description)
    .bind(is_archived)
    .fetch_one(conn)
    .await
}

/// Deletes the project (the caller has locked it); answers its owner, the deletion's shard key.
pub async fn delete_project(conn: &mut PgConnection, id: ProjectId) -> sqlx::Result<UserId> {
    let owner: i64 = sqlx::query_scalar("DELETE FROM projects WHERE id = $1 RETURNING owner_id")
        .bind(id.get())
        .fetch_one(conn)
        .await?;
    Ok(UserId::new(owner))
}

/// A project's tasks, in id order (as the nested serializer lists them).
pub async fn tasks_of(conn: &mut PgConnection, project: ProjectId) -> sqlx::Result<Vec<TaskRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.project_id = $1 ORDER BY t.id"
    ))
    .bind(project.get())
    .fetch_all(conn)
    .await
}

/// The tasks with these ids that exist, whoever owns them, in no particular order (the audit's
/// repair reads them back to replicate them).
pub async fn tasks_by_ids(conn: &mut PgConnection, ids: &[TaskId]) -> sqlx::Result<Vec<TaskRow>> {
    let ids: Vec<i64> = ids.iter().copied().map(TaskId::get).collect();
    sqlx::query_as(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// The owner's task, locked for the rest of the transaction.
pub async fn task_for_update(
    conn: &mut PgConnection,
    owner: UserId,
    id: TaskId,
) -> sqlx::Result<Option<TaskRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.id = $1 AND p.owner_id = $2 FOR UPDATE OF t"
    ))
    .bind(id.get())
    .bind(owner.get())
    .fetch_optional(conn)
    .await
}

/// The fields of a task as they will be written.
#[derive(Debug, Clone)]
pub struct TaskFields {
    pub project: ProjectId,
    pub title: String,
    pub detail: String,
    pub done: bool,
    pub due_date: Option<NaiveDate>,
}

pub async fn insert_task(conn: &mut PgConnection, fields: &TaskFields) -> sqlx::Result<TaskRow> {
    sqlx::query_as(concat!(
        "WITH t AS (INSERT INTO tasks (project_id, title, detail, done, due_date) VALUES ($1, $2, $3, $4, $5) RETURNING *) \
         SELECT ",
        task_columns!(),
        " FROM t JOIN projects p ON p.id = t.project_id"
    ))
    .bind(fields.project.get())
    .bind(&fields.title)
    .bind(&fields.detail)
    .bind(fields.done)
    .bind(fields.due_date)
    .fetch_one(conn)
    .await
}

pub async fn update_task(
    conn: &mut PgConnection,
    id: TaskId,
    fields: &TaskFields,
) -> sqlx::Result<TaskRow> {
    sqlx::query_as(concat!(
        "WITH t AS (UPDATE tasks SET project_id = $2, title = $3, detail = $4, done = $5, due_date = $6 \
                    WHERE id = $1 RETURNING *) \
         SELECT ",
        task_columns!(),
        " FROM t JOIN projects p ON p.id = t.project_id"
    ))
    .bind(id.get())
    .bind(fields.project.get())
    .bind(&fields.title)
    .bind(&fields.detail)
    .bind(fields.done)
    .bind(fields.due_date)
    .fetch_one(conn)
    .await
}

/// Deletes the task (the caller has locked it); answers its project's owner, the deletion's
/// shard key.
pub async fn delete_task(conn: &mut PgConnection, id: TaskId) -> sqlx::Result<UserId> {
    let owner: i64 = sqlx::query_scalar(
        "DELETE FROM tasks t USING projects p WHERE t.id = $1 AND p.id = t.project_id \
         RETURNING p.owner_id",
    )
    .bind(id.get())
    .fetch_one(conn)
    .await?;
    Ok(UserId::new(owner))
}
