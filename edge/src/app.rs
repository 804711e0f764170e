//! The edge's request pipeline, as plain Rust over the platform. Each step reads the matched
//! row of the route table ([`crate::routes`]):
//!
//! CORS preflight → query and header size → routing → method → body limit → caller (`route.access`) → rate limit
//! (`route.throttle`, counted for the verified user or the client's address, after
//! authentication as DRF does) → handler (`route.handler`) → one error log line, the envelope,
//! and the headers every response wears (`RateLimit-*` when the request was counted).

use domain::input::JsonBody;
use domain::limits::{MAX_HEADER_BYTES, MAX_QUERY_BYTES, MAX_REQUEST_ID_CHARS};
use domain::orders::{NewOrder, ORDER_TOKEN_HEADER, PaymentIntentRequest};
use domain::{ApiError, OrderId, ProjectId, TaskId};

use crate::accounts;
use crate::attachments;
use crate::auth::{self, AuthUser};
use crate::cors;
use crate::ctx::Ctx;
use crate::error::{EdgeError, EdgeResult};
use crate::forward::forward;
use crate::health;
use crate::http::{Request, Response};
use crate::internal;
use crate::isolate;
use crate::orders;
use crate::platform::Platform;
use crate::projects::{reads, sql, writes};
use crate::routes::{self, Access, Handler, Method, Route};
use crate::schema;
use crate::throttle::{self, Limited};

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

/// Handles one request end to end. Never fails: every error becomes its response, and a fault
/// is logged here, once, with the request id and its cause chain.
pub async fn handle<P: Platform>(ctx: &Ctx<'_, P>, request: Request) -> Response {
    isolate::count_request();
    if cors::is_preflight(&request) {
        let mut response = cors::preflight(&request, ctx.settings);
        cors::decorate(&mut response, &request, ctx.settings, ctx.request_id, false);
        return response;
    }
    let (result, private, limited) = route_and_run(ctx, &request).await;
    let mut response = result.unwrap_or_else(|error| {
        if matches!(error, EdgeError::Fault { .. }) {
            ctx.platform
                .log(&ctx.log_line("error", &error.to_string(), &error));
        }
        Response::error(&error.answer(), ctx.request_id)
    });
    limited.decorate(&mut response);
    if request.method == "HEAD" {
        response.body.clear();
    }
    cors::decorate(
        &mut response,
        &request,
        ctx.settings,
        ctx.request_id,
        private,
    );
    response
}

/// A query string or a header section over its limit, refused before anything reads it.
fn oversized(request: &Request) -> Option<ApiError> {
    if request
        .query
        .as_ref()
        .is_some_and(|q| q.len() > MAX_QUERY_BYTES)
    {
        return Some(ApiError::QueryTooLong {
            limit: MAX_QUERY_BYTES,
        });
    }
    let header_bytes: usize = request
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    (header_bytes > MAX_HEADER_BYTES).then_some(ApiError::HeadersTooLarge {
        limit: MAX_HEADER_BYTES,
    })
}

/// Who is calling, as the route's `access` established.
#[derive(Debug)]
enum Caller {
    Anyone,
    User(AuthUser),
    Origin,
}

/// Finds the row and runs the steps it names. Answers whether the response is private (the
/// caller was authenticated, or the endpoint handles credentials: either way `no-store`), and
/// what the rate limiter said (its headers go on the response, whatever it is).
async fn route_and_run<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
) -> (EdgeResult<Response>, bool, Limited) {
    if let Some(refusal) = oversized(request) {
        return (Err(refusal.into()), false, Limited::default());
    }
    let Some(matched) = routes::find(&request.path) else {
        return (
            Err(ApiError::NotFound(None).into()),
            false,
            Limited::default(),
        );
    };
    if request.method == "OPTIONS" {
        let mut response = Response::json(200, &serde_json::json!({}));
        response.set_header("allow", matched.routes.allow().join(", "));
        return (Ok(response), false, Limited::default());
    }
    let Some(route) = Method::for_routing(&request.method).and_then(|m| matched.routes.get(m))
    else {
        let error = ApiError::MethodNotAllowed {
            method: request.method.clone(),
            allow: matched.routes.allow(),
        };
        return (Err(error.into()), false, Limited::default());
    };
    let credentials = route.handles_credentials();
    if let Some(limit) = route.body.read_limit()
        && request.body.len() > limit
    {
        return (
            Err(ApiError::PayloadTooLarge { limit }.into()),
            credentials,
            Limited::default(),
        );
    }
    let caller = match route.access {
        Access::Public => Caller::Anyone,
        Access::User => match auth::require_user(ctx, request).await {
            Ok(user) => Caller::User(user),
            Err(error) => return (Err(error), false, Limited::default()),
        },
        Access::UserOrGuest => match auth::authenticate(ctx, request).await {
            Ok(Some(user)) => Caller::User(user),
            Ok(None) => Caller::Anyone,
            Err(error) => return (Err(error), false, Limited::default()),
        },
        Access::Origin => match internal::verify_origin(ctx, request) {
            Ok(()) => Caller::Origin,
            Err(error) => return (Err(error), false, Limited::default()),
        },
    };
    // A guest's order (and its token) is as private as a user's data.
    let private =
        credentials || matches!(caller, Caller::User(_)) || route.access == Access::UserOrGuest;
    let user = match &caller {
        Caller::User(user) => Some(user.user.id),
        Caller::Anyone | Caller::Origin => None,
    };
    let limited = throttle::check(ctx, request, route.throttle, user).await;
    if let Some(refusal) = limited.refusal.clone() {
        return (Err(refusal.into()), private, limited);
    }
    let id = matched.id.as_deref();
    (
        run(ctx, request, route, id, &caller).await,
        private,
        limited,
    )
}

/// The detail path's id; anything but a positive integer is simply not found.
fn path_id<I>(
    id: Option<&str>,
    parse: fn(&str) -> Option<I>,
    resource: &'static str,
) -> Result<I, ApiError> {
    id.and_then(parse).ok_or(ApiError::NotFound(Some(resource)))
}

fn project_id(id: Option<&str>) -> Result<ProjectId, ApiError> {
    path_id(id, ProjectId::parse, "Project")
}

fn task_id(id: Option<&str>) -> Result<TaskId, ApiError> {
    path_id(id, TaskId::parse, "Task")
}

/// Calls the route's handler.
async fn run<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    route: &Route,
    id: Option<&str>,
    caller: &Caller,
) -> EdgeResult<Response> {
    let user = match caller {
        Caller::User(user) => Some(user),
        Caller::Anyone | Caller::Origin => None,
    };
    // Every `Access::User` row has a user by now (checked by a test over the table).
    let owner = || {
        user.map(|u| u.user.id)
            .ok_or(EdgeError::Api(ApiError::NotAuthenticated))
    };
    match route.handler {
        Handler::Health => Ok(health::health()),
        Handler::Ready => Ok(health::ready(ctx).await),
        Handler::Schema => schema::serve(ctx, request).await,
        Handler::Register => accounts::register(ctx, request).await,
        Handler::TokenObtain => accounts::obtain(ctx, request).await,
        Handler::TokenRefresh | Handler::TokenBlacklist => {
            accounts::refresh_or_blacklist(ctx, request).await
        }
        Handler::TokenVerify => accounts::verify(ctx, request).await,
        Handler::Me => Ok(accounts::me(user.ok_or(ApiError::NotAuthenticated)?)),
        Handler::DeleteMe => forward(ctx, request, Some(owner()?)).await,
        Handler::ListProjects => reads::list_projects(ctx, request, owner()?).await,
        Handler::ShowProject => reads::project(ctx, owner()?, project_id(id)?).await,
        Handler::CreateProject => {
            writes::check_project(request)?;
            forward(ctx, request, Some(owner()?)).await
        }
        Handler::UpdateProject => {
            let lookup = sql::project_owned(owner()?, project_id(id)?);
            writes::check_update(ctx, writes::check_project(request), lookup).await?;
            forward(ctx, request, Some(owner()?)).await
        }
        Handler::DeleteProject | Handler::ArchiveProject => {
            project_id(id)?;
            forward(ctx, request, Some(owner()?)).await
        }
        Handler::ListTasks => reads::list_tasks(ctx, request, owner()?).await,
        Handler::ShowTask => reads::task(ctx, owner()?, task_id(id)?).await,
        Handler::CreateTask => {
            writes::check_task(ctx, request, owner()?).await??;
            forward(ctx, request, Some(owner()?)).await
        }
        Handler::UpdateTask => {
            let lookup = sql::task_owned(owner()?, task_id(id)?);
            let checked = writes::check_task(ctx, request, owner()?).await?;
            writes::check_update(ctx, checked, lookup).await?;
            forward(ctx, request, Some(owner()?)).await
        }
        Handler::DeleteTask => {
            task_id(id)?;
            forward(ctx, request, Some(owner()?)).await
        }
        Handler::ListAttachments
        | Handler::CreateAttachment
        | Handler::ShowAttachment
        | Handler::DeleteAttachment => {
            attachments::run(ctx, request, route.handler, id, owner()?).await
        }
        Handler::Download => attachments::download::download(ctx, request).await,
        Handler::ListProducts => orders::reads::list_products(ctx, request).await,
        Handler::ListOrders => orders::reads::list_orders(ctx, request, owner()?).await,
        Handler::CreateOrder => {
            NewOrder::from_body(&JsonBody::parse(
                request.header("content-type"),
                &request.body,
            )?)?;
            forward(ctx, request, user.map(|u| u.user.id)).await
        }
        Handler::ShowOrder => {
            let id = path_id(id, OrderId::parse, "Order")?;
            let reader = user.map_or_else(
                || orders::reads::Reader::guest(request),
                |u| orders::reads::Reader::User(u.user.id),
            );
            orders::reads::order(ctx, reader, id).await
        }
        Handler::CreatePaymentIntent => {
            PaymentIntentRequest::from_body(&JsonBody::parse(
                request.header("content-type"),
                &request.body,
            )?)?;
            let user = user.map(|u| u.user.id);
            if user.is_none() && request.header(ORDER_TOKEN_HEADER).is_none() {
                return Err(ApiError::NotAuthenticated.into());
            }
            forward(ctx, request, user).await
        }
        // Verified by the origin, against Stripe's signature over these exact bytes.
        Handler::StripeWebhook => forward(ctx, request, None).await,
        Handler::Replicate => internal::replicate(ctx, request).await,
        Handler::Versions => internal::versions(ctx, request).await,
        Handler::Isolate => internal::isolate(),
        Handler::Blobs => internal::blobs(ctx, request).await,
        Handler::Sweep => internal::sweep(ctx).await,
    }
}
