//! The SQL behind accounts and tokens. Every function takes a connection so callers decide the
//! transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::UserId;
use domain::replication::UserReplica;

use crate::db::timestamp;
use sqlx::PgConnection;

/// A user row, password hash included: it never leaves the origin.
#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub is_staff: bool,
    pub date_joined: DateTime<Utc>,
}

impl UserRow {
    pub fn user_id(&self) -> UserId {
        UserId::new(self.id)
    }

    /// The replicated (public) view of the user.
    pub fn replica(&self) -> UserReplica {
        UserReplica {
            id: UserId::new(self.id),
            username: self.username.clone(),
            email: self.email.clone(),
            is_staff: self.is_staff,
            date_joined: timestamp(self.date_joined),
        }
    }
}

macro_rules! user_columns {
    () => {
        "id, username, email, password_hash, is_staff, date_joined"
    };
}

pub async fn username_taken(conn: &mut PgConnection, username: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)")
        .bind(username)
        .fetch_one(conn)
        .await
}

/// Inserts a user. A taken username surfaces as a unique violation on `users_username_key`.
pub async fn insert_user(
    conn: &mut PgConnection,
    username: &str,
    email: &str,
    password_hash: &str,
) -> sqlx::Result<UserRow> {
    sqlx::query_as(concat!(
        "INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3) RETURNING ",
        user_columns!()
    ))
    .bind(username)
    .bind(email)
    .bind(password_hash)
    .fetch_one(conn)
    .await
}

pub async fn user_by_username(
    conn: &mut PgConnection,
    username: &str,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE username = $1"
    ))
    .bind(username)
    .fetch_optional(conn)
    .await
}

/// The user, locked for the rest of the transaction.
pub async fn user_for_update(conn: &mut PgConnection, id: UserId) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = $1 FOR UPDATE"
    ))
    .bind(id.get())
    .fetch_optional(conn)
    .await
}

/// The users with these ids that exist, in no particular order (the audit's repair reads them
/// back to replicate them).
pub async fn users_by_ids(conn: &mut PgConnection, ids: &[UserId]) -> sqlx::Result<Vec<UserRow>> {
    let ids: Vec<i64> = ids.iter().copied().map(UserId::get).collect();
    sqlx::query_as(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(conn)
    .await
}

pub async fn user_exists(conn: &mut PgConnection, id: UserId) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
        .bind(id.get())
        .fetch_one(conn)
        .await
}

pub async fn touch_last_login(conn: &mut PgConnection, id: UserId) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET last_login = now() WHERE id = $1")
        .bind(id.get())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_user(conn: &mut PgConnection, id: UserId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id.get())
        .execute(conn)
        .await?;
    Ok(())
}

/// Records an issued refresh token.
pub async fn insert_outstanding(
    conn: &mut PgConnection,
    jti: &str,
    user_id: UserId,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO outstanding_tokens (jti, user_id, expires_at) VALUES ($1, $2, to_timestamp($3::bigint))",
    )
    .bind(jti)
    .bind(user_id.get())
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn is_blacklisted(conn: &mut PgConnection, jti: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM blacklisted_tokens WHERE jti = $1)")
        .bind(jti)
        .fetch_one(conn)
        .await
}

/// Blacklists a token. `false` when it already was: of two concurrent callers exactly one gets
/// `true`, because the primary key decides.
pub async fn blacklist(
    conn: &mut PgConnection,
    jti: &str,
    user_id: UserId,
    expires_at: i64,
) -> sqlx::Result<bool> {
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO blacklisted_tokens (jti, user_id, expires_at) VALUES ($1, $2, to_timestamp($3::bigint)) \
         ON CONFLICT (jti) DO NOTHING RETURNING jti",
    )
    .bind(jti)
    .bind(user_id.get())
    .bind(expires_at)
    .fetch_optional(conn)
    .await?;
    Ok(inserted.is_some())
}

/// The users of these blacklisted tokens, by token id (a token purged since is not there).
pub async fn token_owners(
    conn: &mut PgConnection,
    jtis: &[&str],
) -> sqlx::Result<HashMap<String, UserId>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT jti, user_id FROM blacklisted_tokens WHERE jti = ANY($1)")
            .bind(jtis)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(jti, user)| (jti, UserId::new(user)))
        .collect())
}

/// Blacklists every unexpired refresh token of a user; returns the ids and expiries newly
/// blacklisted.
pub async fn blacklist_all_for_user(
    conn: &mut PgConnection,
    user_id: UserId,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "INSERT INTO blacklisted_tokens (jti, user_id, expires_at) \
         SELECT jti, user_id, expires_at FROM outstanding_tokens \
         WHERE user_id = $1 AND expires_at > now() \
         ON CONFLICT (jti) DO NOTHING \
         RETURNING jti, extract(epoch FROM expires_at)::bigint",
    )
    .bind(user_id.get())
    .fetch_all(conn)
    .await
}

/// Deletes token rows whose token has expired anyway; returns how many went.
pub async fn purge_expired(db: &sqlx::PgPool) -> sqlx::Result<u64> {
    let blacklisted = sqlx::query("DELETE FROM blacklisted_tokens WHERE expires_at < now()")
        .execute(db)
        .await?;
    let outstanding = sqlx::query("DELETE FROM outstanding_tokens WHERE expires_at < now()")
        .execute(db)
        .await?;
    Ok(blacklisted.rows_affected() + outstanding.rows_affected())
}
