//! Who is calling: bearer access tokens verified at the edge, with no origin round trip.

use domain::auth::{Claims, TokenProblem, TokenType};
use domain::limits::MAX_TOKEN_CHARS;
use domain::replication::UserReplica;
use std::cell::Cell;

use domain::{ApiError, UserId};

use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeResult};
use crate::http::Request;
use crate::platform::{Platform, Rows, Statement};
use crate::replica;

/// A caller whose access token verified and whose account still exists.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: UserReplica,
    pub claims: Claims,
}

/// A caller whose access token verified. simplejwt also looks the account up on every
/// request, which is a D1 read: [`Bearer::confirm`] makes it alone, or a read carries it in its
/// own batch through [`Owner`], sparing a round trip.
#[derive(Debug, Clone)]
pub struct Bearer {
    pub claims: Claims,
}

impl Bearer {
    pub fn user_id(&self) -> UserId {
        self.claims.user_id()
    }

    /// Reads the account: gone is 401, as simplejwt's "User not found".
    pub async fn confirm<P: Platform>(self, ctx: &Ctx<'_, P>) -> EdgeResult<AuthUser> {
        let user = replica::find_user(ctx.replica(), self.user_id())
            .await
            .context("reading the user")?
            .ok_or(ApiError::UserNotFound)?;
        Ok(AuthUser {
            user,
            claims: self.claims,
        })
    }
}

/// The user a read is scoped to, and whether that read must still confirm their account.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub id: UserId,
    /// Set while the account is unread; cleared by [`Owner::settle`].
    owed: Option<&'a Cell<bool>>,
}

impl<'a> Owner<'a> {
    pub const fn confirmed(id: UserId) -> Self {
        Self { id, owed: None }
    }

    /// The token's user, whose account the read confirms in its own batch. `owed` starts set
    /// and tells the caller afterwards whether the read got that far.
    pub fn owed(bearer: &Bearer, owed: &'a Cell<bool>) -> Self {
        owed.set(true);
        Self {
            id: bearer.user_id(),
            owed: Some(owed),
        }
    }

    /// The lookup to put first in the read's batch, while the account is unread; its answer
    /// goes to [`Owner::settle`].
    pub fn check(self) -> Option<Statement> {
        self.owed
            .is_some_and(Cell::get)
            .then(|| replica::account_lookup(self.id))
    }

    /// Reads the answer to [`Owner::check`]: no row is 401, as [`Bearer::confirm`].
    pub fn settle(self, rows: impl Rows) -> EdgeResult<()> {
        if !replica::account_found(rows).context("reading the user")? {
            return Err(ApiError::UserNotFound.into());
        }
        if let Some(owed) = self.owed {
            owed.set(false);
        }
        Ok(())
    }
}

/// Reads `Authorization: Bearer <token>` as simplejwt's `JWTAuthentication` does: no header or
/// another scheme is anonymous; `Bearer` with anything but one token is an error. The account
/// is not read yet: see [`Bearer`].
pub fn authenticate<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
) -> EdgeResult<Option<Bearer>> {
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
            Ok(Some(Bearer { claims }))
        }
        [_, _] => Err(ApiError::InvalidBearer(TokenProblem::Invalid).into()),
        _ => Err(ApiError::BadAuthorizationHeader.into()),
    }
}

/// Like [`authenticate`], for endpoints that need a user.
pub fn require_bearer<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> EdgeResult<Bearer> {
    authenticate(ctx, request)?.ok_or_else(|| ApiError::NotAuthenticated.into())
}
