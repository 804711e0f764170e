//! The read endpoints, answered from D1 alone. SQLite hands back each representation as JSON
//! text; the edge checks it is JSON and splices it into the response unchanged.

use domain::ApiError;
use domain::FieldErrors;
use domain::projects::{PROJECT_ORDERING, Project, TASK_ORDERING, Task};
use domain::query::filters::INVALID_CHOICE;
use domain::query::search::{MAX_SEARCH_CHARS, MAX_TERMS};
use domain::query::{Ordering, Page, PageRequest, QueryParams, TaskFilters, search_terms};
use serde::Serialize;
use serde_json::value::RawValue;

use super::sql::{self, CountRow, JsonRow, ListStatements, Window};
use crate::app::Ctx;
use crate::http::{Request, Response};
use crate::ports::{Origin, Replica, Rows, Statement};

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

/// DRF's paginated body, with the page's results spliced in as SQLite built them.
#[derive(Serialize)]
struct Listing<'a> {
    count: i64,
    next: Option<String>,
    previous: Option<String>,
    results: &'a RawValue,
}

fn json_response<T: Serialize>(
    fault: impl FnOnce(&serde_json::Error) -> ApiError,
    value: &T,
) -> Result<Response, ApiError> {
    serde_json::to_vec(value)
        .map(|body| Response::json_bytes(200, body))
        .map_err(|e| fault(&e))
}

/// The single JSON text of a statement's first row, if any.
fn json_text<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    rows: R::Rows,
) -> Result<Option<Box<RawValue>>, ApiError> {
    let rows: Vec<JsonRow> = rows
        .decode()
        .map_err(|e| ctx.fault("decoding JSON rows", &e))?;
    rows.into_iter()
        .next()
        .map(|row| RawValue::from_string(row.json).map_err(|e| ctx.fault("JSON from SQLite", &e)))
        .transpose()
}

/// The count, the page, and (for task lists filtered by project) whether that project exists.
async fn run_list<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    statements: ListStatements,
    extra: Option<Statement>,
) -> Result<(i64, Box<RawValue>, Option<i64>), ApiError> {
    let has_extra = extra.is_some();
    let mut batch = vec![statements.count, statements.page];
    batch.extend(extra);
    let mut results = ctx
        .replica
        .read_batch(batch)
        .await
        .map_err(|e| ctx.fault("reading a list", &e))?
        .into_iter();
    let (Some(count), Some(page)) = (results.next(), results.next()) else {
        return Err(ctx.fault("reading a list", &"missing batch result"));
    };
    let count = first_count(ctx, count)?;
    let page = json_text(ctx, page)?.ok_or_else(|| ctx.fault("reading a list", &"no page row"))?;
    let extra = if has_extra {
        let rows = results
            .next()
            .ok_or_else(|| ctx.fault("reading a list", &"missing batch result"))?;
        Some(first_count(ctx, rows)?)
    } else {
        None
    };
    Ok((count, page, extra))
}

fn first_count<R: Replica, O: Origin>(ctx: &Ctx<'_, R, O>, rows: R::Rows) -> Result<i64, ApiError> {
    let rows: Vec<CountRow> = rows
        .decode()
        .map_err(|e| ctx.fault("decoding a count", &e))?;
    Ok(rows.first().map_or(0, |row| row.n))
}

fn listing<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
    params: &QueryParams,
    page: &Page,
    count: i64,
    results: &RawValue,
) -> Result<Response, ApiError> {
    let (next, previous) = page.links(&request.base_url, &request.path, params);
    json_response(
        |e| ctx.fault("encoding a list", e),
        &Listing {
            count,
            next,
            previous,
            results,
        },
    )
}

/// Resolves `page=last` (which needs the count first) into a window; numbers are used as given
/// and checked against the count afterwards.
async fn window<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    pages: &PageRequest,
    count_statement: impl FnOnce() -> Statement,
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
    let statements = |window| sql::task_list(owner, &filters, &terms, &ordering, window);
    let window = window(ctx, &pages, || {
        statements(Window {
            limit: 1,
            offset: 0,
        })
        .count
    })
    .await?;
    let exists = filters.project.map(sql::project_exists);
    let (count, results, project_found) = run_list(ctx, statements(window), exists).await?;
    if project_found == Some(0) {
        return Err(ApiError::Validation(FieldErrors::single(
            "project",
            INVALID_CHOICE,
        )));
    }
    let page = pages.resolve(u64::try_from(count).unwrap_or(0))?;
    listing(ctx, request, &params, &page, count, &results)
}

/// `GET /api/v1/projects/`: each project with its tasks nested, as the seed's serializer.
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
    let statements = |window| sql::project_list(owner, &terms, &ordering, window);
    let window = window(ctx, &pages, || {
        statements(Window {
            limit: 1,
            offset: 0,
        })
        .count
    })
    .await?;
    let (count, results, _) = run_list(ctx, statements(window), None).await?;
    let page = pages.resolve(u64::try_from(count).unwrap_or(0))?;
    listing(ctx, request, &params, &page, count, &results)
}

async fn detail<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    statement: Statement,
    resource: &'static str,
) -> Result<Response, ApiError> {
    let mut results = ctx
        .replica
        .read_batch(vec![statement])
        .await
        .map_err(|e| ctx.fault("reading an object", &e))?
        .into_iter();
    let rows = results
        .next()
        .ok_or_else(|| ctx.fault("reading an object", &"missing batch result"))?;
    let object = json_text(ctx, rows)?.ok_or(ApiError::NotFound(Some(resource)))?;
    json_response(|e| ctx.fault("encoding an object", e), &object)
}

/// `GET /api/v1/projects/{id}/`.
pub async fn project<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    owner: i64,
    id: i64,
) -> Result<Response, ApiError> {
    detail(ctx, sql::project_detail(owner, id), "Project").await
}

/// `GET /api/v1/tasks/{id}/`.
pub async fn task<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    owner: i64,
    id: i64,
) -> Result<Response, ApiError> {
    detail(ctx, sql::task_detail(owner, id), "Task").await
}
