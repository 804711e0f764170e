//! The edge's request pipeline, as plain Rust over the platform. Each step reads the matched
//! row of the route table ([`crate::routes`]):
//!
//! CORS preflight → query and header size → routing → method → body limit → caller (`route.access`) → rate limit
//! (`route.throttle`, counted for the verified user or the client's address, after
//! authentication as DRF does) → handler (`route.handler`) → one error log line, the envelope,
//! and the headers every response wears (`RateLimit-*` when the request was counted).

use std::cell::Cell;

use domain::input::JsonBody;
use domain::limits::{MAX_HEADER_BYTES, MAX_QUERY_BYTES, MAX_REQUEST_ID_CHARS};
use domain::orders::{NewOrder, ORDER_TOKEN_HEADER, PaymentIntentRequest};
use domain::{ApiError, OrderId, ProjectId, TaskId, UserId};

use crate::accounts;
use crate::attachments;
use crate::auth::{self, AuthUser, Bearer, Owner};
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
    /// A verified token whose account was read.
    User(AuthUser),
    /// A verified token whose account a folded read confirms in its own batch.
    Owed(Bearer),
    Origin,
}

impl Caller {
    fn user_id(&self) -> Option<UserId> {
        match self {
            Self::User(user) => Some(user.user.id),
            Self::Owed(bearer) => Some(bearer.user_id()),
            Self::Anyone | Self::Origin => None,
        }
    }

    /// Reads the account of an [`Caller::Owed`] caller now.
    async fn confirm<P: Platform>(self, ctx: &Ctx<'_, P>) -> EdgeResult<Self> {
        match self {
            Self::Owed(bearer) => Ok(Self::User(bearer.confirm(ctx).await?)),
            caller => Ok(caller),
        }
    }
}

/// The hot reads, which carry the account lookup in their own D1 batch: one round trip where
/// confirming first would make two. Every other handler gets an account already read.
const fn folds_account_check(handler: Handler) -> bool {
    matches!(
        handler,
        Handler::ListProjects
            | Handler::ShowProject
            | Handler::ListTasks
            | Handler::ShowTask
            | Handler::ListOrders
    )
}

/// Authenticates as `access` says. A verified token's account is read here, unless the handler
/// folds that read into its own ([`folds_account_check`]).
async fn caller<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    access: Access,
    handler: Handler,
) -> EdgeResult<Caller> {
    let bearer = match access {
        Access::Public => return Ok(Caller::Anyone),
        Access::Origin => {
            internal::verify_origin(ctx, request)?;
            return Ok(Caller::Origin);
        }
        Access::User => Some(auth::require_bearer(ctx, request)?),
        Access::UserOrGuest => auth::authenticate(ctx, request)?,
    };
    match bearer {
        None => Ok(Caller::Anyone),
        Some(bearer) if folds_account_check(handler) => Ok(Caller::Owed(bearer)),
        Some(bearer) => Ok(Caller::User(bearer.confirm(ctx).await?)),
    }
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
    let caller = match caller(ctx, request, route.access, route.handler).await {
        Ok(caller) => caller,
        Err(error) => return (Err(error), false, Limited::default()),
    };
    // A guest's order (and its token) is as private as a user's data.
    let private = credentials || caller.user_id().is_some() || route.access == Access::UserOrGuest;
    let limited = throttle::check(ctx, request, route.throttle, caller.user_id()).await;
    if let Some(refusal) = limited.refusal.clone() {
        // simplejwt reads the account before DRF throttles: a deleted account is 401, not 429.
        let answer = match caller.confirm(ctx).await {
            Ok(_) => refusal.into(),
            Err(error) => error,
        };
        return (Err(answer), private, limited);
    }
    let id = matched.id.as_deref();
    (run(ctx, request, route, id, caller).await, private, limited)
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
    caller: Caller,
) -> EdgeResult<Response> {
    if let Caller::Owed(bearer) = caller {
        return run_owed(ctx, request, route.handler, id, bearer).await;
    }
    let user = match &caller {
        Caller::User(user) => Some(user),
        Caller::Anyone | Caller::Owed(_) | Caller::Origin => None,
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
        Handler::ListProjects
        | Handler::ShowProject
        | Handler::ListTasks
        | Handler::ShowTask
        | Handler::ListOrders => {
            folded_read(ctx, request, route.handler, id, Owner::confirmed(owner()?)).await
        }
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

/// Runs a read that folds the account check into its batch. One refused before its batch read
/// the account (a bad filter, say) reads it then, so that a deleted account is 401 whatever
/// else is wrong, as in DRF, where authentication comes first. A fault is answered as it is:
/// D1 failing once is enough.
async fn run_owed<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    handler: Handler,
    id: Option<&str>,
    bearer: Bearer,
) -> EdgeResult<Response> {
    let owed = Cell::new(true);
    let answer = folded_read(ctx, request, handler, id, Owner::owed(&bearer, &owed)).await;
    if matches!(answer, Err(EdgeError::Api(_))) && owed.get() {
        bearer.confirm(ctx).await?;
    }
    answer
}

/// The reads [`folds_account_check`] names, for `owner`.
async fn folded_read<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    handler: Handler,
    id: Option<&str>,
    owner: Owner<'_>,
) -> EdgeResult<Response> {
    match handler {
        Handler::ListProjects => reads::list_projects(ctx, request, owner).await,
        Handler::ShowProject => reads::project(ctx, owner, project_id(id)?).await,
        Handler::ListTasks => reads::list_tasks(ctx, request, owner).await,
        Handler::ShowTask => reads::task(ctx, owner, task_id(id)?).await,
        Handler::ListOrders => orders::reads::list_orders(ctx, request, owner).await,
        _ => Err(EdgeError::fault(
            "dispatching a read",
            "the handler does not fold the account check",
        )),
    }
}
