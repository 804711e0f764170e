//! Who is calling: bearer access tokens verified at the edge, with no origin round trip.

use domain::ApiError;
use domain::auth::{Claims, TokenProblem, TokenType};
use domain::limits::MAX_TOKEN_CHARS;
use domain::replication::UserReplica;

use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeResult};
use crate::http::Request;
use crate::platform::Platform;
use crate::replica;

/// A caller whose access token verified and whose account still exists.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: UserReplica,
    pub claims: Claims,
}

/// Reads `Authorization: Bearer <token>` as simplejwt's `JWTAuthentication` does: no header or
/// another scheme is anonymous; `Bearer` with anything but one token is an error.
pub async fn authenticate<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
) -> EdgeResult<Option<AuthUser>> {
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
            let user = replica::find_user(ctx.replica(), claims.user_id())
                .await
                .context("reading the user")?
                .ok_or(ApiError::UserNotFound)?;
            Ok(Some(AuthUser { user, claims }))
        }
        [_, _] => Err(ApiError::InvalidBearer(TokenProblem::Invalid).into()),
        _ => Err(ApiError::BadAuthorizationHeader.into()),
    }
}

/// Like [`authenticate`], for endpoints that need a user.
pub async fn require_user<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
) -> EdgeResult<AuthUser> {
    authenticate(ctx, request)
        .await?
        .ok_or_else(|| ApiError::NotAuthenticated.into())
}
