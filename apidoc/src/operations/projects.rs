//! Projects and tasks.

use domain::input::messages;
use domain::projects::{PROJECT_SEARCH, ProjectChanges, TASK_SEARCH, TaskChanges};
use domain::query::search::{MAX_SEARCH_CHARS, MAX_TERMS};
use domain::query::{QueryParams, TaskFilters};
use domain::{ApiError, FieldErrors, ProjectId};
use serde_json::json;

use super::{Body, Origin, Query, Spec, Success, Tag, json_body};
use crate::examples::{self, refusal};
use crate::schemas;

fn searched(fields: &[&str]) -> String {
    let fields: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    format!(
        "`search` looks in {}: every term must appear (case-insensitive) in one of them.",
        fields.join(" and ")
    )
}

/// 400 for a `search` over its limits (the edge's own messages).
fn bad_search(spec: Spec) -> Spec {
    let too_long = FieldErrors::single(
        "search",
        format!("Ensure this field has no more than {MAX_SEARCH_CHARS} characters."),
    );
    spec.invalid(
        format!("`search` is over {MAX_SEARCH_CHARS} characters or {MAX_TERMS} terms."),
        &ApiError::Validation(too_long),
    )
}

pub(super) fn list_projects() -> Spec {
    let ok = Success::ok(
        "A page of your projects, each with its tasks.",
        schemas::PAGINATED_PROJECTS,
        examples::page_of(&examples::project()),
    );
    let spec = Spec::new("v1_projects_list", Tag::V1, "List your projects", ok)
        .describe(searched(PROJECT_SEARCH))
        .paginated(Query::Projects);
    bad_search(spec)
}

fn project_write_refusal(partial: bool) -> ApiError {
    let name = if partial {
        json!({"name": ""})
    } else {
        json!({"description": "No name"})
    };
    refusal(ProjectChanges::from_body(&json_body(&name), partial))
}

pub(super) fn create_project() -> Spec {
    let created = Success::json(
        201,
        "The project, with its (empty) list of tasks.",
        schemas::PROJECT,
        examples::new_project(),
    );
    Spec::new("v1_projects_create", Tag::V1, "Create a project", created)
        .follows(&[
            ("GetProject", "v1_projects_retrieve"),
            ("UpdateProject", "v1_projects_update"),
            ("PartialUpdateProject", "v1_projects_partial_update"),
            ("ArchiveProject", "v1_projects_archive_create"),
            ("DeleteProject", "v1_projects_destroy"),
        ])
        .body(Body::form(
            schemas::requests::PROJECT,
            examples::project_request(),
        ))
        .invalid(
            "A field is missing or invalid (`owner`, `id` and the other read-only fields are ignored).",
            &project_write_refusal(false),
        )
        .origin(Origin::Idempotent)
}

pub(super) fn show_project() -> Spec {
    let ok = Success::ok(
        "The project, with its tasks.",
        schemas::PROJECT,
        examples::project(),
    );
    Spec::new("v1_projects_retrieve", Tag::V1, "A project", ok).not_found("Project")
}

pub(super) fn update_project(partial: bool) -> Spec {
    let ok = Success::ok(
        "The project as changed, with its tasks.",
        schemas::PROJECT,
        examples::project(),
    );
    let (id, summary, body) = if partial {
        (
            "v1_projects_partial_update",
            "Change some of a project's fields",
            Body::form(
                schemas::requests::PATCHED_PROJECT,
                json!({"description": "Now with a blog."}),
            )
            .optional(),
        )
    } else {
        (
            "v1_projects_update",
            "Replace a project's fields",
            Body::form(schemas::requests::PROJECT, examples::project_request()),
        )
    };
    Spec::new(id, Tag::V1, summary, ok)
        .describe(
            "Someone else's project is 404 whatever the body says: the project is looked up \
             first.",
        )
        .body(body)
        .not_found("Project")
        .invalid("A field is invalid.", &project_write_refusal(partial))
        .origin(Origin::Idempotent)
}

pub(super) fn delete_project() -> Spec {
    Spec::new(
        "v1_projects_destroy",
        Tag::V1,
        "Delete a project",
        Success::no_content("The project and its tasks are gone."),
    )
    .not_found("Project")
    .origin(Origin::Idempotent)
}

pub(super) fn archive_project() -> Spec {
    let ok = Success::ok(
        "The project is archived (`is_archived`).",
        schemas::ARCHIVED,
        json!({"status": "archived"}),
    );
    Spec::new(
        "v1_projects_archive_create",
        Tag::V1,
        "Archive a project",
        ok,
    )
    .describe("Takes no body; whatever is sent is ignored.")
    .not_found("Project")
    .origin(Origin::Idempotent)
}

pub(super) fn list_tasks() -> Spec {
    let ok = Success::ok(
        "A page of the tasks of your projects.",
        schemas::PAGINATED_TASKS,
        examples::page_of(&examples::task()),
    );
    let bad_filters = refusal(TaskFilters::parse(&QueryParams::parse(Some(
        "min_due=soon&project=abc",
    ))));
    let spec = Spec::new("v1_tasks_list", Tag::V1, "List your tasks", ok)
        .describe(format!(
            "{} `project` names one of your projects (someone else's gives an empty list).",
            searched(TASK_SEARCH)
        ))
        .paginated(Query::Tasks)
        .invalid(
            "A filter is malformed (a date that is not `YYYY-MM-DD`, a `project` that is not an existing id).",
            &bad_filters,
        );
    bad_search(spec)
}

/// What a task's `project` gets when it is not one of the caller's (someone else's and a
/// missing one alike).
fn foreign_project() -> ApiError {
    ApiError::Validation(FieldErrors::single(
        "project",
        messages::pk_does_not_exist(ProjectId::new(42)),
    ))
}

fn task_write_refusal(partial: bool) -> ApiError {
    let body = json!({"title": "", "done": "maybe", "due_date": "tomorrow"});
    refusal(TaskChanges::from_body(&json_body(&body), partial))
}

pub(super) fn create_task() -> Spec {
    let created = Success::json(201, "The task.", schemas::TASK, examples::task());
    Spec::new("v1_tasks_create", Tag::V1, "Create a task", created)
        .follows(&[
            ("GetTask", "v1_tasks_retrieve"),
            ("UpdateTask", "v1_tasks_update"),
            ("PartialUpdateTask", "v1_tasks_partial_update"),
            ("DeleteTask", "v1_tasks_destroy"),
        ])
        .describe("`project` must be one of yours.")
        .body(Body::form(
            schemas::requests::TASK,
            examples::task_request(),
        ))
        .invalid("A field is missing or invalid.", &task_write_refusal(false))
        .refuses_with(
            "foreign_project",
            "`project` is not one of yours (someone else's and a missing one alike).",
            &foreign_project(),
        )
        .origin(Origin::Idempotent)
}

pub(super) fn show_task() -> Spec {
    let ok = Success::ok("The task.", schemas::TASK, examples::task());
    Spec::new("v1_tasks_retrieve", Tag::V1, "A task", ok).not_found("Task")
}

pub(super) fn update_task(partial: bool) -> Spec {
    let ok = Success::ok("The task as changed.", schemas::TASK, examples::task());
    let (id, summary, body) = if partial {
        (
            "v1_tasks_partial_update",
            "Change some of a task's fields",
            Body::form(schemas::requests::PATCHED_TASK, json!({"done": true})).optional(),
        )
    } else {
        (
            "v1_tasks_update",
            "Replace a task's fields",
            Body::form(schemas::requests::TASK, examples::task_request()),
        )
    };
    Spec::new(id, Tag::V1, summary, ok)
        .describe(
            "A task moves to another project by its `project`, which must be one of yours. \
             Someone else's task is 404 whatever the body says: the task is looked up first.",
        )
        .body(body)
        .not_found("Task")
        .invalid("A field is invalid.", &task_write_refusal(partial))
        .refuses_with(
            "foreign_project",
            "`project` is not one of yours.",
            &foreign_project(),
        )
        .origin(Origin::Idempotent)
}

pub(super) fn delete_task() -> Spec {
    Spec::new(
        "v1_tasks_destroy",
        Tag::V1,
        "Delete a task",
        Success::no_content("The task is gone."),
    )
    .not_found("Task")
    .origin(Origin::Idempotent)
}
