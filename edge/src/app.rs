//! The edge's request pipeline, as plain Rust over the ports:
//! request id → CORS preflight → routing → authentication → handler → headers.

use std::fmt::Display;

use domain::ApiError;
use domain::auth::NewAccount;
use domain::input::JsonBody;
use domain::limits::{MAX_JSON_BODY_BYTES, MAX_REQUEST_ID_CHARS};

use crate::auth::{self, AuthUser};
use crate::cors;
use crate::forward::forward;
use crate::health;
use crate::http::{Request, Response};
use crate::internal;
use crate::ports::{Origin, Replica};
use crate::projects::reads;
use crate::projects::writes::{self, Body};
use crate::routes::{self, Endpoint, Matched};
use crate::settings::Settings;

/// Everything one request is handled with.
pub struct Ctx<'a, R, O> {
    pub replica: &'a R,
    pub origin: &'a O,
    pub settings: &'a Settings,
    /// Unix seconds, read once per request.
    pub now: i64,
    pub request_id: &'a str,
    /// Writes one log line (the console on Workers).
    pub log: &'a dyn Fn(&str),
}

impl<R, O> std::fmt::Debug for Ctx<'_, R, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("now", &self.now)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl<R, O> Ctx<'_, R, O> {
    /// Logs an error with the request id.
    pub fn log_error(&self, what: &str, error: &dyn Display) {
        let line = serde_json::json!({
            "level": "error",
            "request_id": self.request_id,
            "message": what,
            "error": error.to_string(),
        });
        (self.log)(&line.to_string());
    }

    /// Logs a fault and turns it into the generic 500.
    pub fn fault(&self, what: &str, error: &dyn Display) -> ApiError {
        self.log_error(what, error);
        ApiError::Internal
    }
}

/// The request id to use: the client's `X-Request-ID` when it is short and plain, else a fresh
/// one from `generate`.
pub fn request_id(request: &Request, generate: impl FnOnce() -> String) -> String {
    match request.header("x-request-id") {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_CHARS
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            id.to_owned()
        }
        _ => generate(),
    }
}

/// Handles one request end to end. Never fails: every error becomes its response.
pub async fn handle<R: Replica, O: Origin>(ctx: &Ctx<'_, R, O>, request: Request) -> Response {
    if cors::is_preflight(&request) {
        let mut response = cors::preflight(&request, ctx.settings);
        cors::decorate(&mut response, &request, ctx.settings, ctx.request_id, false);
        return response;
    }
    let (result, authenticated) = dispatch(ctx, &request).await;
    let mut response = result.unwrap_or_else(|error| Response::error(&error, ctx.request_id));
    if request.method == "HEAD" {
        response.body.clear();
    }
    cors::decorate(
        &mut response,
        &request,
        ctx.settings,
        ctx.request_id,
        authenticated,
    );
    response
}

async fn dispatch<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
) -> (Result<Response, ApiError>, bool) {
    let Some(matched) = routes::find(&request.path) else {
        return (Err(ApiError::NotFound(None)), false);
    };
    let endpoint = matched.endpoint;
    let method = if request.method == "HEAD" {
        "GET"
    } else {
        request.method.as_str()
    };
    if method == "OPTIONS" {
        let mut response = Response::json(200, &serde_json::json!({}));
        response.set_header("allow", endpoint.allow().join(", "));
        return (Ok(response), false);
    }
    if !endpoint.methods().contains(&method) {
        let error = ApiError::MethodNotAllowed {
            method: request.method.clone(),
            allow: endpoint.allow(),
        };
        return (Err(error), false);
    }
    if request.body.len() > MAX_JSON_BODY_BYTES && endpoint != Endpoint::InternalReplicate {
        return (
            Err(ApiError::PayloadTooLarge {
                limit: MAX_JSON_BODY_BYTES,
            }),
            false,
        );
    }
    match endpoint {
        Endpoint::Health => (Ok(health::health()), false),
        Endpoint::Ready => (Ok(health::ready(ctx).await), false),
        Endpoint::InternalReplicate => (internal::replicate(ctx, request).await, false),
        Endpoint::InternalVersions => (internal::versions(ctx, request).await, false),
        Endpoint::TokenVerify => (auth::verify(ctx, request).await, false),
        Endpoint::Register => (
            precheck_then_forward(ctx, request, check_registration).await,
            false,
        ),
        Endpoint::TokenObtain => (
            precheck_then_forward(ctx, request, check_login).await,
            false,
        ),
        Endpoint::TokenRefresh | Endpoint::TokenBlacklist => {
            let check = |request: &Request| auth::precheck_token_body(ctx, request, "refresh");
            (precheck_then_forward(ctx, request, check).await, false)
        }
        Endpoint::Me
        | Endpoint::Projects
        | Endpoint::Project
        | Endpoint::ProjectArchive
        | Endpoint::Tasks
        | Endpoint::Task => match auth::require_user(ctx, request).await {
            Err(error) => (Err(error), false),
            Ok(user) => (user_endpoint(ctx, request, &user, &matched).await, true),
        },
    }
}

/// The id in a detail path.
fn id_param(matched: &Matched, resource: &'static str) -> Result<i64, ApiError> {
    let raw = matched
        .params
        .iter()
        .find(|(k, _)| k == "id")
        .map_or("", |(_, v)| v.as_str());
    reads::path_id(raw, resource)
}

async fn user_endpoint<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
    user: &AuthUser,
    matched: &Matched,
) -> Result<Response, ApiError> {
    let owner = user.user.id;
    let reading = matches!(request.method.as_str(), "GET" | "HEAD");
    match (matched.endpoint, reading) {
        (Endpoint::Me, true) => Ok(auth::me(user)),
        (Endpoint::Me, false) => forward(ctx, request, Some(owner)).await,
        (Endpoint::Projects, true) => reads::list_projects(ctx, request, owner).await,
        (Endpoint::Projects, false) => writes::write(ctx, request, owner, Body::Project).await,
        (Endpoint::Project, true) => {
            reads::project(ctx, owner, id_param(matched, "Project")?).await
        }
        (Endpoint::Project | Endpoint::ProjectArchive, false) => {
            id_param(matched, "Project")?;
            let body = if request.method == "DELETE" || matched.endpoint == Endpoint::ProjectArchive
            {
                Body::None
            } else {
                Body::Project
            };
            writes::write(ctx, request, owner, body).await
        }
        (Endpoint::Tasks, true) => reads::list_tasks(ctx, request, owner).await,
        (Endpoint::Tasks, false) => writes::write(ctx, request, owner, Body::Task).await,
        (Endpoint::Task, true) => reads::task(ctx, owner, id_param(matched, "Task")?).await,
        (Endpoint::Task, false) => {
            id_param(matched, "Task")?;
            let body = if request.method == "DELETE" {
                Body::None
            } else {
                Body::Task
            };
            writes::write(ctx, request, owner, body).await
        }
        _ => Err(ApiError::NotFound(None)),
    }
}

async fn precheck_then_forward<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
    check: impl Fn(&Request) -> Result<(), ApiError>,
) -> Result<Response, ApiError> {
    check(request)?;
    forward(ctx, request, None).await
}

fn check_registration(request: &Request) -> Result<(), ApiError> {
    let body = JsonBody::parse(request.header("content-type"), &request.body)?;
    NewAccount::from_body(&body).map(drop)
}

fn check_login(request: &Request) -> Result<(), ApiError> {
    domain::auth::Login::from_body(&JsonBody::parse(
        request.header("content-type"),
        &request.body,
    )?)
    .map(drop)
}
