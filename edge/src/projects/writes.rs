//! The write endpoints' early checks: the same rules the origin applies, so a bad body never
//! costs a round trip. The pipeline then forwards the request, signed, for the caller.

use domain::ApiError;
use domain::input::JsonBody;
use domain::projects::{ProjectChanges, TaskChanges};

use super::sql::CountRow;
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

/// `POST`, `PUT` and `PATCH` (partial) of a task.
pub fn check_task(request: &Request) -> Result<(), ApiError> {
    TaskChanges::from_body(&body(request)?, request.method == "PATCH").map(drop)
}

/// An update's early check. DRF looks the object up before it reads the body, so a bad body
/// for an object the caller cannot see is 404, not 400: the edge answers the 400 itself only
/// when D1 shows the object is the caller's (`owned`); otherwise it forwards, and the origin,
/// which looks up first, decides. A valid body costs no lookup.
pub async fn check_update<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    check: fn(&Request) -> Result<(), ApiError>,
    owned: Statement,
) -> EdgeResult<()> {
    let Err(invalid) = check(request) else {
        return Ok(());
    };
    let rows: Vec<CountRow> = ctx
        .replica()
        .query(owned)
        .await
        .context("looking up the object of an update")?;
    if rows.first().is_some_and(|row| row.n > 0) {
        Err(invalid.into())
    } else {
        Ok(())
    }
}
