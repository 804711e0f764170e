//! The read endpoints, answered from D1 alone.

use domain::ApiError;
use domain::FieldErrors;
use domain::projects::{PROJECT_ORDERING, Project, ProjectView, TASK_ORDERING, Task};
use domain::query::filters::INVALID_CHOICE;
use domain::query::search::{MAX_SEARCH_CHARS, MAX_TERMS};
use domain::query::{Ordering, Page, PageRequest, QueryParams, TaskFilters, search_terms};
use serde_json::{Value, json};

use super::sql::{self, CountRow, ListStatements, ProjectRow, TaskRow, Window};
use crate::app::Ctx;
use crate::http::{Request, Response};
use crate::ports::{Origin, Replica, Rows};

/// The path id of a detail route: anything but a positive integer is simply not found.
pub fn path_id(raw: &str, resource: &'static str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::NotFound(Some(resource)))
}

fn search(params: &QueryParams) -> Result<Vec<String>, ApiError> {
    let raw = params.get("search").unwrap_or("");
    if raw.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::Validation(FieldErrors::single(
            "search",
            format!("Ensure this field has no more than {MAX_SEARCH_CHARS} characters."),
        )));
    }
    let terms = search_terms(raw);
    if terms.len() > MAX_TERMS {
        return Err(ApiError::Validation(FieldErrors::single(
            "search",
            format!("Use at most {MAX_TERMS} search terms."),
        )));
    }
    Ok(terms)
}

/// Runs a list's statements in one batch: (count, page rows, nested rows).
async fn run_list<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    statements: ListStatements,
    extra: Option<crate::ports::Statement>,
) -> Result<(i64, R::Rows, Option<R::Rows>, Option<R::Rows>), ApiError> {
    let has_nested = statements.nested.is_some();
    let mut batch = vec![statements.count, statements.page];
    batch.extend(statements.nested);
    let has_extra = extra.is_some();
    batch.extend(extra);
    let mut results = ctx
        .replica
        .read_batch(batch)
        .await
        .map_err(|e| ctx.fault("reading a list", &e))?
        .into_iter();
    let mut next = || {
        results
            .next()
            .ok_or_else(|| ctx.fault("reading a list", &"missing batch result"))
    };
    let count = next()?
        .decode::<CountRow>()
        .map_err(|e| ctx.fault("decoding a count", &e))?;
    let page = next()?;
    let nested = if has_nested { Some(next()?) } else { None };
    let extra = if has_extra { Some(next()?) } else { None };
    Ok((count.first().map_or(0, |row| row.n), page, nested, extra))
}

fn listing(
    request: &Request,
    params: &QueryParams,
    page: &Page,
    count: i64,
    results: &Value,
) -> Response {
    let (next, previous) = page.links(&request.base_url, &request.path, params);
    Response::json(
        200,
        &json!({"count": count, "next": next, "previous": previous, "results": results}),
    )
}

/// Resolves `page=last` (which needs the count first) into a window; numbers are used as given
/// and checked against the count afterwards.
async fn window<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    pages: &PageRequest,
    count_statement: impl FnOnce() -> crate::ports::Statement,
) -> Result<Window, ApiError> {
    let size = pages.page_size;
    if let Some(number) = pages.requested_number() {
        return Ok(Window {
            limit: size,
            offset: (number - 1) * u64::from(size),
        });
    }
    let rows: Vec<CountRow> = ctx
        .replica
        .query(count_statement())
        .await
        .map_err(|e| ctx.fault("counting", &e))?;
    let page = pages.resolve(u64::try_from(rows.first().map_or(0, |r| r.n)).unwrap_or(0))?;
    Ok(Window {
        limit: size,
        offset: page.offset(),
    })
}

/// `GET /api/v1/tasks/`.
pub async fn list_tasks<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
    owner: i64,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(request.query.as_deref());
    let filters = TaskFilters::parse(&params)?;
    let terms = search(&params)?;
    let ordering = Ordering::parse(
        params.get("ordering"),
        TASK_ORDERING,
        Task::DEFAULT_ORDERING,
    );
    let pages = PageRequest::parse(&params);
    let probe = |window| sql::task_list(owner, &filters, &terms, &ordering, window);
    let window = window(ctx, &pages, || {
        probe(Window {
            limit: 1,
            offset: 0,
        })
        .count
    })
    .await?;
    let exists = filters.project.map(sql::project_exists);
    let (count, rows, _, project_found) = run_list(ctx, probe(window), exists).await?;
    if let Some(found) = project_found {
        let found = found
            .decode::<CountRow>()
            .map_err(|e| ctx.fault("decoding a count", &e))?;
        if found.first().map_or(0, |r| r.n) == 0 {
            return Err(ApiError::Validation(FieldErrors::single(
                "project",
                INVALID_CHOICE,
            )));
        }
    }
    let page = pages.resolve(u64::try_from(count).unwrap_or(0))?;
    let tasks: Vec<Task> = rows
        .decode::<TaskRow>()
        .map_err(|e| ctx.fault("decoding tasks", &e))?
        .into_iter()
        .map(Task::from)
        .collect();
    Ok(listing(request, &params, &page, count, &json!(tasks)))
}

/// `GET /api/v1/projects/`.
pub async fn list_projects<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
    owner: i64,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(request.query.as_deref());
    let terms = search(&params)?;
    let ordering = Ordering::parse(
        params.get("ordering"),
        PROJECT_ORDERING,
        Project::DEFAULT_ORDERING,
    );
    let pages = PageRequest::parse(&params);
    let probe = |window| sql::project_list(owner, &terms, &ordering, window);
    let window = window(ctx, &pages, || {
        probe(Window {
            limit: 1,
            offset: 0,
        })
        .count
    })
    .await?;
    let (count, rows, nested, _) = run_list(ctx, probe(window), None).await?;
    let page = pages.resolve(u64::try_from(count).unwrap_or(0))?;
    let projects = rows
        .decode::<ProjectRow>()
        .map_err(|e| ctx.fault("decoding projects", &e))?;
    let tasks = match nested {
        Some(rows) => rows
            .decode::<TaskRow>()
            .map_err(|e| ctx.fault("decoding tasks", &e))?,
        None => Vec::new(),
    };
    let views = nest(projects, tasks);
    Ok(listing(request, &params, &page, count, &json!(views)))
}

/// Puts each task under its project (tasks arrive ordered by project, then id).
fn nest(projects: Vec<ProjectRow>, tasks: Vec<TaskRow>) -> Vec<ProjectView> {
    let mut by_project: std::collections::HashMap<i64, Vec<Task>> =
        std::collections::HashMap::new();
    for task in tasks {
        by_project
            .entry(task.project)
            .or_default()
            .push(task.into());
    }
    projects
        .into_iter()
        .map(|row| {
            let tasks = by_project.remove(&row.id).unwrap_or_default();
            ProjectView::new(row.into(), tasks)
        })
        .collect()
}

/// `GET /api/v1/projects/{id}/`.
pub async fn project<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    owner: i64,
    id: i64,
) -> Result<Response, ApiError> {
    let [project, tasks] = sql::project_detail(owner, id);
    let mut results = ctx
        .replica
        .read_batch(vec![project, tasks])
        .await
        .map_err(|e| ctx.fault("reading a project", &e))?
        .into_iter();
    let (Some(project), Some(tasks)) = (results.next(), results.next()) else {
        return Err(ctx.fault("reading a project", &"missing batch result"));
    };
    let project = project
        .decode::<ProjectRow>()
        .map_err(|e| ctx.fault("decoding a project", &e))?;
    let tasks = tasks
        .decode::<TaskRow>()
        .map_err(|e| ctx.fault("decoding tasks", &e))?;
    let view = nest(project, tasks)
        .pop()
        .ok_or(ApiError::NotFound(Some("Project")))?;
    Ok(Response::json(200, &json!(view)))
}

/// `GET /api/v1/tasks/{id}/`.
pub async fn task<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    owner: i64,
    id: i64,
) -> Result<Response, ApiError> {
    let rows: Vec<TaskRow> = ctx
        .replica
        .query(sql::task_detail(owner, id))
        .await
        .map_err(|e| ctx.fault("reading a task", &e))?;
    let task = rows
        .into_iter()
        .next()
        .map(Task::from)
        .ok_or(ApiError::NotFound(Some("Task")))?;
    Ok(Response::json(200, &json!(task)))
}
