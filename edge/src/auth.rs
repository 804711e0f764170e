//! Who is calling: bearer access tokens verified at the edge (no origin round trip), and the
//! endpoints the edge answers alone (`me`, `token/verify/`).

use domain::ApiError;
use domain::auth::{Claims, TokenProblem, TokenType};
use domain::input::JsonBody;
use domain::limits::MAX_TOKEN_CHARS;
use domain::replication::UserReplica;
use serde_json::json;

use crate::app::Ctx;
use crate::http::{Request, Response};
use crate::ports::{Origin, Replica};
use crate::replica;

/// A caller whose access token verified and whose account still exists.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: UserReplica,
    pub claims: Claims,
}

/// Reads `Authorization: Bearer <token>` as simplejwt's `JWTAuthentication` does: no header or
/// another scheme is anonymous; `Bearer` with anything but one token is an error.
pub async fn authenticate<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
) -> Result<Option<AuthUser>, ApiError> {
    let Some(header) = request.header("authorization") else {
        return Ok(None);
    };
    let parts: Vec<&str> = header.split_whitespace().collect();
    match parts.as_slice() {
        [] => Ok(None),
        [scheme, ..] if *scheme != "Bearer" => Ok(None),
        [_, token] if token.len() <= MAX_TOKEN_CHARS => {
            let claims = ctx
                .settings
                .token_keys
                .decode(token, Some(TokenType::Access), ctx.now)
                .map_err(ApiError::InvalidBearer)?;
            let user = replica::find_user(ctx.replica, claims.user_id())
                .await
                .map_err(|e| ctx.fault("reading the user", &e))?
                .ok_or(ApiError::UserNotFound)?;
            Ok(Some(AuthUser { user, claims }))
        }
        [_, _] => Err(ApiError::InvalidBearer(TokenProblem::Invalid)),
        _ => Err(ApiError::BadAuthorizationHeader),
    }
}

/// Like [`authenticate`], for endpoints that need a user.
pub async fn require_user<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
) -> Result<AuthUser, ApiError> {
    authenticate(ctx, request)
        .await?
        .ok_or(ApiError::NotAuthenticated)
}

/// `GET /api/v1/auth/me/`: straight from the replica.
pub fn me(user: &AuthUser) -> Response {
    Response::json(200, &json!(user.user))
}

/// `POST /api/token/verify/`: any valid token of ours that is not blacklisted.
pub async fn verify<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
) -> Result<Response, ApiError> {
    let body = JsonBody::parse(request.header("content-type"), &request.body)?;
    let claims = ctx
        .settings
        .token_keys
        .decode_field(&body, "token", None, ctx.now)?;
    let denied = replica::is_denied(ctx.replica, &claims.jti)
        .await
        .map_err(|e| ctx.fault("reading the denylist", &e))?;
    if denied {
        return Err(ApiError::VerifyBlacklisted);
    }
    Ok(Response::json(200, &json!({})))
}

/// Early checks for the token endpoints the origin answers: the same rules the origin applies,
/// so obviously bad requests never cost a round trip. The origin stays the authority.
pub fn precheck_token_body<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
    field: &'static str,
) -> Result<(), ApiError> {
    let body = JsonBody::parse(request.header("content-type"), &request.body)?;
    ctx.settings
        .token_keys
        .decode_field(&body, field, Some(TokenType::Refresh), ctx.now)?;
    Ok(())
}
