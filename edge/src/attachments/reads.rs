//! `GET /api/v1/attachments/` and `GET /api/v1/attachments/{id}/`: the owner's attachments from
//! D1, paginated as every list, filtered by `project` as the task list is, each with its
//! signed `file` URL.

use domain::ids::AttachmentId;
use domain::projects::Attachment;
use domain::query::filters::INVALID_CHOICE;
use domain::query::{Ordering, PageRequest, QueryParams, SortField};
use domain::{ApiError, FieldErrors, ProjectId, UserId};
use serde_json::Value;

use super::{represent, sql};
use crate::auth::Owner;
use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeResult};
use crate::http::{Request, Response};
use crate::platform::{Platform, Replica as _};
use crate::projects::reads::{paginated, run_paged};
use crate::projects::sql::{JsonRow, project_exists};

/// What `?ordering=` may name on attachments.
pub const ATTACHMENT_ORDERING: &[SortField] = &[SortField::CreatedAt];

/// `?project=`: absent, or a project that exists (django-filter's answer otherwise).
fn project_filter(params: &QueryParams) -> Result<Option<ProjectId>, ApiError> {
    match params
        .get("project")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(raw) => ProjectId::parse(raw)
            .map(Some)
            .ok_or_else(|| ApiError::Validation(FieldErrors::single("project", INVALID_CHOICE))),
    }
}

pub async fn list<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    owner: UserId,
) -> EdgeResult<Response> {
    let params = QueryParams::parse(request.query.as_deref());
    let project = project_filter(&params)?;
    let ordering = Ordering::parse(
        params.get("ordering"),
        ATTACHMENT_ORDERING,
        Attachment::DEFAULT_ORDERING,
    );
    let pages = PageRequest::parse(&params);
    let statements = |window| sql::attachment_list(owner, project, &ordering, window);
    let (count, results, project_found) = run_paged(
        ctx,
        Some(Owner::confirmed(owner)),
        &pages,
        statements,
        project.map(project_exists),
    )
    .await?;
    if project_found == Some(0) {
        return Err(ApiError::Validation(FieldErrors::single("project", INVALID_CHOICE)).into());
    }
    let mut results: Value =
        serde_json::from_str(results.get()).context("reading the attachments SQLite listed")?;
    if let Some(items) = results.as_array_mut() {
        for item in items {
            represent(ctx, &request.base_url, item);
        }
    }
    let results = serde_json::value::to_raw_value(&results).context("encoding attachments")?;
    paginated(request, &params, &pages, count, &results)
}

pub async fn show<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    owner: UserId,
    id: AttachmentId,
) -> EdgeResult<Response> {
    let rows: Vec<JsonRow> = ctx
        .replica()
        .query(sql::attachment_detail(owner, id))
        .await
        .context("reading an attachment")?;
    let row = rows
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound(Some("Attachment")))?;
    let mut attachment: Value =
        serde_json::from_str(&row.json).context("reading an attachment SQLite built")?;
    represent(ctx, &request.base_url, &mut attachment);
    Ok(Response::json(200, &attachment))
}
