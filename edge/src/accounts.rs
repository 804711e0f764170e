//! The account and token endpoints. The edge answers `me` and `token/verify/` alone; the rest
//! it checks with the origin's own rules (so an obviously bad request never costs a round
//! trip) and forwards. The origin stays the authority.

use domain::ApiError;
use domain::auth::{Login, NewAccount, TokenType};
use domain::input::JsonBody;
use serde_json::json;

use crate::auth::AuthUser;
use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeResult};
use crate::forward::forward;
use crate::http::{Request, Response};
use crate::platform::Platform;
use crate::replica;

fn body(request: &Request) -> Result<JsonBody, ApiError> {
    JsonBody::parse(request.header("content-type"), &request.body)
}

/// `POST /api/v1/auth/register/`.
pub async fn register<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> EdgeResult<Response> {
    NewAccount::from_body(&body(request)?)?;
    forward(ctx, request, None).await
}

/// `POST /api/token/`.
pub async fn obtain<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> EdgeResult<Response> {
    Login::from_body(&body(request)?)?;
    forward(ctx, request, None).await
}

/// `POST /api/token/refresh/` and `/api/token/blacklist/`: both take `{refresh}`.
pub async fn refresh_or_blacklist<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
) -> EdgeResult<Response> {
    ctx.settings.token_keys.decode_field(
        &body(request)?,
        "refresh",
        Some(TokenType::Refresh),
        ctx.now,
    )?;
    forward(ctx, request, None).await
}

/// `GET /api/v1/auth/me/`: straight from the replica.
pub fn me(user: &AuthUser) -> Response {
    Response::json(200, &json!(user.user))
}

/// `POST /api/token/verify/`: any valid token of ours that is not blacklisted.
pub async fn verify<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> EdgeResult<Response> {
    let claims = ctx
        .settings
        .token_keys
        .decode_field(&body(request)?, "token", None, ctx.now)?;
    let denied = replica::is_denied(ctx.replica(), &claims.jti)
        .await
        .context("reading the denylist")?;
    if denied {
        return Err(ApiError::VerifyBlacklisted.into());
    }
    Ok(Response::json(200, &json!({})))
}
