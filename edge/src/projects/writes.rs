//! The write endpoints' early checks: the same rules the origin applies, so a bad body never
//! costs a round trip. The pipeline then forwards the request, signed, for the caller.

use domain::ApiError;
use domain::input::JsonBody;
use domain::projects::{ProjectChanges, TaskChanges};

use crate::http::Request;

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
