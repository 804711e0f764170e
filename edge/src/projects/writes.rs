//! The write endpoints' early checks: the same rules the origin applies, so a bad body never
//! costs a round trip. The pipeline then forwards the request, signed, for the caller.

use domain::input::{JsonBody, messages};
use domain::projects::{ProjectChanges, TaskChanges};
use domain::{ApiError, UserId};

use super::sql::{self, CountRow};
use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeResult};
use crate::http::Request;
use crate::platform::{Platform, Replica as _, Statement};

fn body(request: &Request) -> Result<JsonBody, ApiError> {
    JsonBody::parse(request.header("content-type"), &request.body)
}

/// `POST`, `PUT` and `PATCH` (partial) of a project.
pub fn check_project(request: &Request) -> Result<(), ApiError> {
    ProjectChanges::from_body(&body(request)?, request.method == "PATCH").map(drop)
}

/// `POST`, `PUT` and `PATCH` (partial) of a task. DRF reports every field's problem at once,
/// and its `project` field looks the project up while the others are checked: a body that fails
/// validation also says when the `project` it names is not one of the caller's (the same
/// message for someone else's and a missing one). The outer error is D1 failing.
pub async fn check_task<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    owner: UserId,
) -> EdgeResult<Result<(), ApiError>> {
    let body = match body(request) {
        Ok(body) => body,
        Err(refused) => return Ok(Err(refused)),
    };
    match TaskChanges::from_body(&body, request.method == "PATCH") {
        Err(ApiError::Validation(mut errors)) => {
            if errors.get("project").is_none()
                && let Some(project) = TaskChanges::named_project(&body)
                && !exists(ctx, sql::project_owned(owner, project)).await?
            {
                errors.add("project", messages::pk_does_not_exist(project));
            }
            Ok(Err(ApiError::Validation(errors)))
        }
        checked => Ok(checked.map(drop)),
    }
}

/// Whether a `count(*) AS n` statement counts anything.
async fn exists<P: Platform>(ctx: &Ctx<'_, P>, statement: Statement) -> EdgeResult<bool> {
    let rows: Vec<CountRow> = ctx
        .replica()
        .query(statement)
        .await
        .context("looking up an object in D1")?;
    Ok(rows.first().is_some_and(|row| row.n > 0))
}

/// An update's early check. DRF looks the object up before it reads the body, so a bad body
/// for an object the caller cannot see is 404, not 400: the edge answers the 400 itself only
/// when D1 shows the object is the caller's (`owned`); otherwise it forwards, and the origin,
/// which looks up first, decides. A valid body costs no lookup.
pub async fn check_update<P: Platform>(
    ctx: &Ctx<'_, P>,
    checked: Result<(), ApiError>,
    owned: Statement,
) -> EdgeResult<()> {
    let Err(invalid) = checked else {
        return Ok(());
    };
    if exists(ctx, owned).await? {
        Err(invalid.into())
    } else {
        Ok(())
    }
}
