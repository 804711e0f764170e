//! The account and token endpoints, as simplejwt and the seed's account app answer them.

use axum::extract::State;
use axum::http::StatusCode;
use domain::ApiError;
use domain::auth::{Claims, Login, NewAccount, TokenPair, TokenProblem, TokenSubject, TokenType};
use domain::input::{JsonBody, Text};
use domain::limits::MAX_PASSWORD_CHARS;
use domain::replication::ChangeKind;
use domain::{FieldErrors, Secret};
use serde_json::json;

use super::{passwords, store};
use crate::begin_write;
use crate::email::{self, Email};
use crate::http::reply::{Failure, Reply};
use crate::http::signed::Signed;
use crate::http::write::Write;
use crate::orders;
use crate::replication::outbox::{self, NewChange};
use crate::state::AppState;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// simplejwt's `jti`: 32 hex digits of a random UUID.
fn new_jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

const USERNAME_TAKEN: &str = "A user with that username already exists.";

/// `POST /api/v1/auth/register/` → 201 `{id, username, email}`.
pub async fn register(State(state): State<AppState>, signed: Signed) -> Result<Reply, Failure> {
    let account = NewAccount::from_body(&signed.json()?)?;
    let mut write = begin_write!(&state, &signed);
    // Checked before hashing so a taken name costs no Argon2 work; the unique key still
    // decides races.
    if store::username_taken(&mut write.tx, account.username.as_str()).await? {
        return Err(taken());
    }
    let hash = passwords::hash(account.password).await?;
    let inserted = store::insert_user(
        &mut write.tx,
        account.username.as_str(),
        account.email.as_str(),
        &hash,
    )
    .await;
    let user = match inserted {
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("users_username_key") => {
            return Err(taken());
        }
        other => other?,
    };
    let changes = outbox::publish(&mut write.tx, vec![NewChange::user(user.replica())]).await?;
    let welcome = Email::welcome(user.user_id(), &user.username, &user.email);
    email::enqueue(&mut write.tx, &welcome).await?;
    tracing::info!(user_id = user.id, "registered");
    let reply = Reply::new(
        StatusCode::CREATED,
        json!({"id": user.id, "username": user.username, "email": user.email}),
    )
    .with_changes(changes);
    write.commit(reply).await
}

fn taken() -> Failure {
    Failure::Api(ApiError::Validation(FieldErrors::single(
        "username",
        USERNAME_TAKEN,
    )))
}

/// `POST /api/token/` → 200 `{refresh, access}`.
pub async fn obtain(State(state): State<AppState>, signed: Signed) -> Result<Reply, Failure> {
    let login = Login::from_body(&signed.json()?)?;
    let mut conn = state.db.acquire().await?;
    let user = store::user_by_username(&mut conn, &login.username).await?;
    drop(conn);
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    if !passwords::verify(login.password, stored).await? {
        return Err(Failure::Api(ApiError::BadCredentials));
    }
    let Some(user) = user else {
        return Err(Failure::Api(ApiError::BadCredentials));
    };
    let now = now();
    let life = state.settings.token_lifetimes;
    let subject = TokenSubject {
        user_id: user.user_id(),
        username: user.username.clone(),
        is_staff: user.is_staff,
    };
    let refresh = Claims::refresh_for(&subject, new_jti(), now, life);
    let access = refresh.access_from(new_jti(), now, life);
    let mut write = begin_write!(&state, &signed);
    store::insert_outstanding(&mut write.tx, &refresh.jti, user.user_id(), refresh.exp).await?;
    store::touch_last_login(&mut write.tx, user.user_id()).await?;
    write.commit(pair(&state, &refresh, &access)).await
}

fn pair(state: &AppState, refresh: &Claims, access: &Claims) -> Reply {
    let tokens = TokenPair {
        refresh: state.tokens.encode(refresh),
        access: state.tokens.encode(access),
    };
    Reply::new(StatusCode::OK, json!(tokens))
}

/// Reads and verifies the `refresh` field as a refresh token.
fn refresh_claims(state: &AppState, body: &JsonBody) -> Result<Claims, Failure> {
    Ok(state
        .tokens
        .decode_field(body, "refresh", Some(TokenType::Refresh), now())?)
}

fn blacklisted() -> Failure {
    Failure::Api(ApiError::TokenNotValid(TokenProblem::Blacklisted))
}

/// Blacklists the presented refresh token and returns its denial for the edge, keyed by the
/// token's user. A token already blacklisted is refused: of two concurrent requests with one
/// token, the primary key lets exactly one through.
async fn revoke(write: &mut Write, token: &Claims) -> Result<NewChange, Failure> {
    if !store::blacklist(&mut write.tx, &token.jti, token.user_id(), token.exp).await? {
        return Err(blacklisted());
    }
    Ok(NewChange::owned_by(
        token.user_id(),
        ChangeKind::TokenDeny {
            jti: token.jti.clone(),
            expires_at: token.exp,
        },
    ))
}

/// `POST /api/token/refresh/` → 200 `{access, refresh}`; the presented token is blacklisted.
pub async fn refresh(State(state): State<AppState>, signed: Signed) -> Result<Reply, Failure> {
    let old = refresh_claims(&state, &signed.json()?)?;
    let mut write = begin_write!(&state, &signed);
    if store::is_blacklisted(&mut write.tx, &old.jti).await? {
        return Err(blacklisted());
    }
    if !store::user_exists(&mut write.tx, old.user_id()).await? {
        return Err(Failure::Api(ApiError::NoActiveAccountForToken));
    }
    let deny = revoke(&mut write, &old).await?;
    let now = now();
    let life = state.settings.token_lifetimes;
    let refresh = old.rotated(new_jti(), now, life);
    let access = refresh.access_from(new_jti(), now, life);
    store::insert_outstanding(&mut write.tx, &refresh.jti, refresh.user_id(), refresh.exp).await?;
    let changes = outbox::publish(&mut write.tx, vec![deny]).await?;
    write
        .commit(pair(&state, &refresh, &access).with_changes(changes))
        .await
}

/// `POST /api/token/blacklist/` → 200 `{}` (logout).
pub async fn blacklist(State(state): State<AppState>, signed: Signed) -> Result<Reply, Failure> {
    let token = refresh_claims(&state, &signed.json()?)?;
    let mut write = begin_write!(&state, &signed);
    let deny = revoke(&mut write, &token).await?;
    let changes = outbox::publish(&mut write.tx, vec![deny]).await?;
    write
        .commit(Reply::new(StatusCode::OK, json!({})).with_changes(changes))
        .await
}

/// `DELETE /api/v1/auth/me/` with `{password}` → 204. Revokes every refresh token of the user
/// and removes the account (and, through the schema, everything it owns).
pub async fn delete_me(State(state): State<AppState>, signed: Signed) -> Result<Reply, Failure> {
    let user_id = signed.user()?;
    let body = signed.json()?;
    let mut fields = body.fields();
    // Trimmed, as at registration and login.
    let password = fields.text("password", Text::required(MAX_PASSWORD_CHARS));
    let password = fields.finish_with(|| password)?;

    let mut write = begin_write!(&state, &signed);
    let user = store::user_for_update(&mut write.tx, user_id)
        .await?
        .ok_or(Failure::Api(ApiError::UserNotFound))?;
    if !passwords::verify(Secret::new(password), Some(user.password_hash.clone())).await? {
        return Err(Failure::Api(ApiError::Validation(FieldErrors::single(
            "password",
            "Password is incorrect.",
        ))));
    }
    let mut records: Vec<NewChange> = store::blacklist_all_for_user(&mut write.tx, user_id)
        .await?
        .into_iter()
        .map(|(jti, expires_at)| {
            NewChange::owned_by(user_id, ChangeKind::TokenDeny { jti, expires_at })
        })
        .collect();
    let revoked = records.len();
    // Projects, tasks and attachments go with the user (foreign keys cascade); the edge
    // cascades the same way when it applies the user's deletion (and removes the files).
    // Orders stay, the shop's records, detached (`ON DELETE SET NULL`): replicated again
    // after the deletion, without an owner, so (like a guest's) to every shard.
    let orders = orders::store::order_ids_of(&mut write.tx, user_id).await?;
    store::delete_user(&mut write.tx, user_id).await?;
    records.push(NewChange::owned_by(
        user_id,
        ChangeKind::UserDelete { id: user_id },
    ));
    let detached = orders::store::orders_by_ids(&mut write.tx, &orders).await?;
    records.extend(detached.into_iter().map(NewChange::order));
    let changes = outbox::publish(&mut write.tx, records).await?;
    tracing::info!(
        user_id = user_id.get(),
        revoked,
        detached_orders = orders.len(),
        "account deleted"
    );
    write
        .commit(Reply::no_content().with_changes(changes))
        .await
}
