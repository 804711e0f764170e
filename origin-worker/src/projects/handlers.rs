//! The project and task endpoints. Every write checks ownership inside its transaction, so a
//! user can never touch (or learn about) another user's objects: theirs and missing ones both
//! answer 404.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use domain::input::messages;
use domain::projects::{Project, ProjectChanges, ProjectView, TaskChanges};
use domain::replication::ChangeKind;
use domain::{ApiError, FieldErrors, ProjectId, TaskId, UserId};
use serde_json::json;

use super::store::{self, ProjectRow, TaskFields, TaskRow};
use crate::begin_write;
use crate::http::reply::{Failure, Reply};
use crate::http::signed::Signed;
use crate::http::write::Write;
use crate::replication::outbox::{self, NewChange};
use crate::state::AppState;

/// The contract's 404 for an object that is not the caller's, or does not exist.
pub(crate) fn not_found(resource: &'static str) -> Failure {
    Failure::Api(ApiError::NotFound(Some(resource)))
}

fn project_id(raw: &str) -> Result<ProjectId, Failure> {
    ProjectId::parse(raw).ok_or_else(|| not_found("Project"))
}

fn task_id(raw: &str) -> Result<TaskId, Failure> {
    TaskId::parse(raw).ok_or_else(|| not_found("Task"))
}

/// A user deleted between the edge's check and this write: the insert's foreign key says so.
fn owner_gone(error: sqlx::Error) -> Failure {
    match &error {
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => {
            Failure::Api(ApiError::UserNotFound)
        }
        _ => Failure::Database(error),
    }
}

/// The caller's project, locked for the rest of the write.
async fn owned_project(
    write: &mut Write,
    owner: UserId,
    id: ProjectId,
) -> Result<ProjectRow, Failure> {
    store::project_for_update(&mut write.tx, owner, id)
        .await?
        .ok_or_else(|| not_found("Project"))
}

/// The caller's task, locked for the rest of the write.
async fn owned_task(write: &mut Write, owner: UserId, id: TaskId) -> Result<TaskRow, Failure> {
    store::task_for_update(&mut write.tx, owner, id)
        .await?
        .ok_or_else(|| not_found("Task"))
}

/// Records the change, enqueues replication, commits, and answers with the change attached.
pub(crate) async fn finish(
    mut write: Write,
    change: NewChange,
    reply: Reply,
) -> Result<Reply, Failure> {
    let changes = outbox::publish(&mut write.tx, vec![change]).await?;
    write.commit(reply.with_changes(changes)).await
}

async fn project_view(write: &mut Write, project: Project) -> Result<ProjectView, Failure> {
    let tasks = store::tasks_of(&mut write.tx, project.id).await?;
    Ok(ProjectView::new(
        project,
        tasks.into_iter().map(|t| t.replica().task).collect(),
    ))
}

/// `POST /api/v1/projects/` → 201 with the full representation.
pub async fn create_project(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Reply, Failure> {
    let owner = signed.user()?;
    let changes = ProjectChanges::from_body(&signed.json()?, false)?;
    let mut write = begin_write!(&state, &signed);
    let name = changes.name.unwrap_or_default();
    let description = changes.description.unwrap_or_default();
    let row = store::insert_project(&mut write.tx, owner, &name, &description)
        .await
        .map_err(owner_gone)?;
    let project = Project::from(row);
    let view = ProjectView::new(project.clone(), Vec::new());
    let reply = Reply::new(StatusCode::CREATED, json!(view));
    finish(write, NewChange::project(project), reply).await
}

/// `PUT` / `PATCH /api/v1/projects/{id}/`.
pub async fn update_project(
    State(state): State<AppState>,
    method: Method,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Reply, Failure> {
    let owner = signed.user()?;
    let id = project_id(&id)?;
    let mut write = begin_write!(&state, &signed);
    // Looked up before the body is read, as DRF does: someone else's project is 404 whatever
    // the body says.
    let current = owned_project(&mut write, owner, id).await?;
    let changes = ProjectChanges::from_body(&signed.json()?, method == Method::PATCH)?;
    let name = changes.name.unwrap_or(current.name);
    let description = changes.description.unwrap_or(current.description);
    let row =
        store::update_project(&mut write.tx, id, &name, &description, current.is_archived).await?;
    let project = Project::from(row);
    let view = project_view(&mut write, project.clone()).await?;
    let reply = Reply::new(StatusCode::OK, json!(view));
    finish(write, NewChange::project(project), reply).await
}

/// `POST /api/v1/projects/{id}/archive/` → `{"status": "archived"}`.
pub async fn archive_project(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Reply, Failure> {
    let owner = signed.user()?;
    let id = project_id(&id)?;
    let mut write = begin_write!(&state, &signed);
    let current = owned_project(&mut write, owner, id).await?;
    let row =
        store::update_project(&mut write.tx, id, &current.name, &current.description, true).await?;
    let reply = Reply::new(StatusCode::OK, json!({"status": "archived"}));
    finish(write, NewChange::project(Project::from(row)), reply).await
}

/// `DELETE /api/v1/projects/{id}/` → 204; its tasks and attachments go with it.
pub async fn delete_project(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Reply, Failure> {
    let owner = signed.user()?;
    let id = project_id(&id)?;
    let mut write = begin_write!(&state, &signed);
    owned_project(&mut write, owner, id).await?;
    let owner = store::delete_project(&mut write.tx, id).await?;
    let change = NewChange::owned_by(owner, ChangeKind::ProjectDelete { id });
    finish(write, change, Reply::no_content()).await
}

/// DRF's answer for a task's `project` that is not one of the caller's: the same 400 whether
/// it is someone else's or does not exist, so nothing reveals that another user's project
/// exists.
fn no_such_project(id: ProjectId) -> Failure {
    Failure::Api(ApiError::Validation(FieldErrors::single(
        "project",
        messages::pk_does_not_exist(id),
    )))
}

/// `POST /api/v1/tasks/` → 201; `project` must be the caller's, else 400 and nothing written.
pub async fn create_task(State(state): State<AppState>, signed: Signed) -> Result<Reply, Failure> {
    let owner = signed.user()?;
    let changes = TaskChanges::from_body(&signed.json()?, false)?;
    let mut write = begin_write!(&state, &signed);
    // Required by `TaskChanges` on a create; a missing one was refused above.
    let project = changes.project.ok_or(Failure::Api(ApiError::Internal))?;
    if !store::owns_project(&mut write.tx, owner, project).await? {
        return Err(no_such_project(project));
    }
    let fields = TaskFields {
        project,
        title: changes.title.unwrap_or_default(),
        detail: changes.detail.unwrap_or_default(),
        done: changes.done.unwrap_or(false),
        due_date: changes.due_date.flatten().and_then(store::from_date),
    };
    let row = store::insert_task(&mut write.tx, &fields).await?;
    let replica = row.replica();
    let reply = Reply::new(StatusCode::CREATED, json!(replica.task));
    finish(write, NewChange::task(replica), reply).await
}

/// `PUT` / `PATCH /api/v1/tasks/{id}/`. Moving a task is allowed only into another project of
/// the same owner; any other project id is the 400 of a missing one.
pub async fn update_task(
    State(state): State<AppState>,
    method: Method,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Reply, Failure> {
    let owner = signed.user()?;
    let id = task_id(&id)?;
    let mut write = begin_write!(&state, &signed);
    // Looked up before the body is read, as DRF does.
    let current = owned_task(&mut write, owner, id).await?;
    let changes = TaskChanges::from_body(&signed.json()?, method == Method::PATCH)?;
    let current_project = ProjectId::new(current.project_id);
    let project = changes.project.unwrap_or(current_project);
    if project != current_project && !store::owns_project(&mut write.tx, owner, project).await? {
        return Err(no_such_project(project));
    }
    let fields = TaskFields {
        project,
        title: changes.title.unwrap_or(current.title),
        detail: changes.detail.unwrap_or(current.detail),
        done: changes.done.unwrap_or(current.done),
        due_date: match changes.due_date {
            Some(date) => date.and_then(store::from_date),
            None => current.due_date,
        },
    };
    let row = store::update_task(&mut write.tx, id, &fields).await?;
    let replica = row.replica();
    let reply = Reply::new(StatusCode::OK, json!(replica.task));
    finish(write, NewChange::task(replica), reply).await
}

/// `DELETE /api/v1/tasks/{id}/` → 204.
pub async fn delete_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Reply, Failure> {
    let owner = signed.user()?;
    let id = task_id(&id)?;
    let mut write = begin_write!(&state, &signed);
    owned_task(&mut write, owner, id).await?;
    let owner = store::delete_task(&mut write.tx, id).await?;
    let change = NewChange::owned_by(owner, ChangeKind::TaskDelete { id });
    finish(write, change, Reply::no_content()).await
}
