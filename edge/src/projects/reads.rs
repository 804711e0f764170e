//! The read endpoints, answered from D1 alone. SQLite hands back each representation as JSON
//! text; the edge checks it is JSON and splices it into the response unchanged.

use domain::projects::{PROJECT_ORDERING, Project, TASK_ORDERING, Task};
use domain::query::filters::INVALID_CHOICE;
use domain::query::search::{MAX_SEARCH_CHARS, MAX_TERMS};
use domain::query::{Ordering, PageRequest, QueryParams, TaskFilters, search_terms};
use domain::{ApiError, FieldErrors, ProjectId, TaskId};
use serde::Serialize;
use serde_json::value::RawValue;

use super::sql::{self, CountRow, JsonRow, ListStatements, Window};
use crate::auth::Owner;
use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeError, EdgeResult};
use crate::http::{Request, Response};
use crate::platform::{Platform, Replica, Rows, Statement};

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

fn json_response<T: Serialize>(value: &T) -> EdgeResult<Response> {
    let body = serde_json::to_vec(value).context("encoding a response")?;
    Ok(Response::json_bytes(200, body))
}

/// The single JSON text of a statement's first row, if any.
fn json_text(rows: impl Rows) -> EdgeResult<Option<Box<RawValue>>> {
    let rows: Vec<JsonRow> = rows.decode().context("decoding JSON rows")?;
    rows.into_iter()
        .next()
        .map(|row| RawValue::from_string(row.json).context("reading JSON built by SQLite"))
        .transpose()
}

fn first_count(rows: impl Rows) -> EdgeResult<i64> {
    let rows: Vec<CountRow> = rows.decode().context("decoding a count")?;
    Ok(rows.first().map_or(0, |row| row.n))
}

/// Runs `batch` as one D1 call, with `owner`'s account lookup first while that is unread (no
/// account is 401), and answers the batch's own results.
async fn read_as<P: Platform>(
    ctx: &Ctx<'_, P>,
    owner: Option<Owner<'_>>,
    batch: Vec<Statement>,
    doing: &'static str,
) -> EdgeResult<impl Iterator<Item = <P::Replica as Replica>::Rows>> {
    let check = owner.and_then(Owner::check);
    let checked = check.is_some();
    let mut results = ctx
        .replica()
        .read_batch(check.into_iter().chain(batch).collect())
        .await
        .context(doing)?
        .into_iter();
    if let Some(owner) = owner
        && checked
    {
        let rows = results
            .next()
            .ok_or_else(|| EdgeError::fault(doing, "a batch result is missing"))?;
        owner.settle(rows)?;
    }
    Ok(results)
}

/// The count, the page, and (for task lists filtered by project) whether that project exists.
async fn run_list<P: Platform>(
    ctx: &Ctx<'_, P>,
    owner: Option<Owner<'_>>,
    statements: ListStatements,
    extra: Option<Statement>,
) -> EdgeResult<(i64, Box<RawValue>, Option<i64>)> {
    let missing = || EdgeError::fault("reading a list", "a batch result is missing");
    let has_extra = extra.is_some();
    let mut batch = vec![statements.count, statements.page];
    batch.extend(extra);
    let mut results = read_as(ctx, owner, batch, "reading a list").await?;
    let count = first_count(results.next().ok_or_else(missing)?)?;
    let page = json_text(results.next().ok_or_else(missing)?)?.ok_or_else(missing)?;
    let extra = if has_extra {
        Some(first_count(results.next().ok_or_else(missing)?)?)
    } else {
        None
    };
    Ok((count, page, extra))
}

/// Runs a filtered list for `owner` (`None` for public lists): the window first (counting
/// ahead only for `page=last`; a number is used as given and checked against the count
/// afterwards), then the count, the page and `extra` in one batch.
pub(crate) async fn run_paged<P: Platform>(
    ctx: &Ctx<'_, P>,
    owner: Option<Owner<'_>>,
    pages: &PageRequest,
    statements: impl Fn(Window) -> ListStatements,
    extra: Option<Statement>,
) -> EdgeResult<(i64, Box<RawValue>, Option<i64>)> {
    let size = pages.page_size;
    let offset = if let Some(number) = pages.requested_number() {
        (number - 1) * u64::from(size)
    } else {
        let count = vec![statements(Window::FIRST).count];
        let mut results = read_as(ctx, owner, count, "counting").await?;
        let rows = results
            .next()
            .ok_or_else(|| EdgeError::fault("counting", "the batch result is missing"))?;
        let count = u64::try_from(first_count(rows)?).unwrap_or(0);
        pages.resolve(count)?.offset()
    };
    let window = Window {
        limit: size,
        offset,
    };
    run_list(ctx, owner, statements(window), extra).await
}

/// The page checked against the count, as DRF's paginated body.
pub(crate) fn paginated(
    request: &Request,
    params: &QueryParams,
    pages: &PageRequest,
    count: i64,
    results: &RawValue,
) -> EdgeResult<Response> {
    let page = pages.resolve(u64::try_from(count).unwrap_or(0))?;
    let (next, previous) = page.links(&request.base_url, &request.path, params);
    json_response(&Listing {
        count,
        next,
        previous,
        results,
    })
}

/// `GET /api/v1/tasks/`.
pub async fn list_tasks<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    owner: Owner<'_>,
) -> EdgeResult<Response> {
    let params = QueryParams::parse(request.query.as_deref());
    let filters = TaskFilters::parse(&params)?;
    let terms = search(&params)?;
    let ordering = Ordering::parse(
        params.get("ordering"),
        TASK_ORDERING,
        Task::DEFAULT_ORDERING,
    );
    let pages = PageRequest::parse(&params);
    let statements = |window| sql::task_list(owner.id, &filters, &terms, &ordering, window);
    let exists = filters.project.map(sql::project_exists);
    let (count, results, project_found) =
        run_paged(ctx, Some(owner), &pages, statements, exists).await?;
    if project_found == Some(0) {
        return Err(ApiError::Validation(FieldErrors::single("project", INVALID_CHOICE)).into());
    }
    paginated(request, &params, &pages, count, &results)
}

/// `GET /api/v1/projects/`: each project with its tasks nested, as the seed's serializer.
pub async fn list_projects<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    owner: Owner<'_>,
) -> EdgeResult<Response> {
    let params = QueryParams::parse(request.query.as_deref());
    let terms = search(&params)?;
    let ordering = Ordering::parse(
        params.get("ordering"),
        PROJECT_ORDERING,
        Project::DEFAULT_ORDERING,
    );
    let pages = PageRequest::parse(&params);
    let statements = |window| sql::project_list(owner.id, &terms, &ordering, window);
    let (count, results, _) = run_paged(ctx, Some(owner), &pages, statements, None).await?;
    paginated(request, &params, &pages, count, &results)
}

/// One object as JSON, or 404 naming `resource`; `owner` as for [`run_paged`].
pub(crate) async fn detail<P: Platform>(
    ctx: &Ctx<'_, P>,
    owner: Option<Owner<'_>>,
    statement: Statement,
    resource: &'static str,
) -> EdgeResult<Response> {
    let mut results = read_as(ctx, owner, vec![statement], "reading an object").await?;
    let rows = results
        .next()
        .ok_or_else(|| EdgeError::fault("reading an object", "the batch result is missing"))?;
    let object = json_text(rows)?.ok_or(ApiError::NotFound(Some(resource)))?;
    json_response(&object)
}

/// `GET /api/v1/projects/{id}/`.
pub async fn project<P: Platform>(
    ctx: &Ctx<'_, P>,
    owner: Owner<'_>,
    id: ProjectId,
) -> EdgeResult<Response> {
    detail(
        ctx,
        Some(owner),
        sql::project_detail(owner.id, id),
        "Project",
    )
    .await
}

/// `GET /api/v1/tasks/{id}/`.
pub async fn task<P: Platform>(
    ctx: &Ctx<'_, P>,
    owner: Owner<'_>,
    id: TaskId,
) -> EdgeResult<Response> {
    detail(ctx, Some(owner), sql::task_detail(owner.id, id), "Task").await
}
