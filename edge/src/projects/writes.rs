//! The write endpoints: checked here with the same rules as the origin (so a bad body never
//! costs a round trip), then forwarded, signed, for the caller.

use domain::ApiError;
use domain::input::JsonBody;
use domain::projects::{ProjectChanges, TaskChanges};

use crate::app::Ctx;
use crate::forward::forward;
use crate::http::{Request, Response};
use crate::ports::{Origin, Replica};

/// Which body a write carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Project,
    Task,
    /// `DELETE`, `archive`: nothing to read.
    None,
}

pub async fn write<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
    owner: i64,
    body: Body,
) -> Result<Response, ApiError> {
    let partial = request.method == "PATCH";
    match body {
        Body::Project => {
            ProjectChanges::from_body(
                &JsonBody::parse(request.header("content-type"), &request.body)?,
                partial,
            )?;
        }
        Body::Task => {
            TaskChanges::from_body(
                &JsonBody::parse(request.header("content-type"), &request.body)?,
                partial,
            )?;
        }
        Body::None => {}
    }
    forward(ctx, request, Some(owner)).await
}
