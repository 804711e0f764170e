//! The `emails` table: one row per dedupe key, holding the email and where its delivery
//! stands (`pending` → `sending` → `sent`, or `failed`; see `0005_emails.sql`).
//!
//! Sending is claimed once the SMTP session is open and before any of the message is sent,
//! and the claim is committed on its own, so whatever happens to the process afterwards, a
//! second run finds it and does not send.

use sqlx::{PgConnection, PgPool};

use super::Email;

/// Where an email stands, as a run finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Not sent and not being sent (`pending`, or `failed` and retried by an operator):
    /// `attempts` were made before.
    Due { email: Email, attempts: u32 },
    /// Sent already.
    Sent,
    /// A run claimed it and has not finished: it is sending now, or it died mid-send and the
    /// email may or may not have gone out. Either way no other run may send it.
    Sending,
    /// No row: the email was never recorded.
    Missing,
}

/// Records an email as `pending`; `false` when its key was recorded already (and nothing
/// changed).
pub async fn insert(conn: &mut PgConnection, email: &Email) -> sqlx::Result<bool> {
    let message = serde_json::to_value(email).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let inserted = sqlx::query(
        "INSERT INTO emails (dedupe_key, kind, recipient, message) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(&email.dedupe_key)
    .bind(email.kind.as_str())
    .bind(&email.to)
    .bind(message)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Where the email stands.
pub async fn find(db: &PgPool, dedupe_key: &str) -> sqlx::Result<Found> {
    let row: Option<(String, sqlx::types::Json<Email>, i32)> =
        sqlx::query_as("SELECT status, message, attempts FROM emails WHERE dedupe_key = $1")
            .bind(dedupe_key)
            .fetch_optional(db)
            .await?;
    Ok(match row {
        None => Found::Missing,
        Some((status, email, attempts)) => match status.as_str() {
            "pending" | "failed" => Found::Due {
                email: email.0,
                attempts: count(attempts),
            },
            "sent" => Found::Sent,
            _ => Found::Sending,
        },
    })
}

/// Moves a due email to `sending` (committed at once, before any of it is sent) and counts
/// the attempt: `Some(attempt)` (1 for the first) when this run owns the delivery, `None` when
/// another run got there first. Of two concurrent runs, the row lock lets exactly one claim it.
///
/// A `failed` email is claimed too: nothing was sent for it, and only a dead job retried by an
/// operator runs for it again. It gets one more attempt (its count carries on).
pub async fn claim(db: &PgPool, dedupe_key: &str) -> sqlx::Result<Option<u32>> {
    let attempts: Option<i32> = sqlx::query_scalar(
        "UPDATE emails SET status = 'sending', attempts = attempts + 1 \
         WHERE dedupe_key = $1 AND status IN ('pending', 'failed') RETURNING attempts",
    )
    .bind(dedupe_key)
    .fetch_optional(db)
    .await?;
    Ok(attempts.map(count))
}

/// Counts an attempt that failed before the email was claimed (it could not be built, or the
/// server could not be reached or refused the session): nothing of it was sent. `to` is
/// [`Settled::Retry`] or [`Settled::Failed`]. `false` when another run had claimed or sent it
/// meanwhile (and nothing changed).
pub async fn record_unsent(
    db: &PgPool,
    dedupe_key: &str,
    to: Settled,
    error: &str,
) -> sqlx::Result<bool> {
    let status = match to {
        Settled::Sent | Settled::Retry => "pending",
        Settled::Failed => "failed",
    };
    let updated = sqlx::query(
        "UPDATE emails SET status = $2, last_error = $3, attempts = attempts + 1 \
         WHERE dedupe_key = $1 AND status IN ('pending', 'failed')",
    )
    .bind(dedupe_key)
    .bind(status)
    .bind(error)
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

fn count(attempts: i32) -> u32 {
    u32::try_from(attempts).unwrap_or(0)
}

/// Where a claimed email ends up after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The SMTP server accepted it.
    Sent,
    /// A transient failure: back to `pending` for the next attempt, with the reason.
    Retry,
    /// Given up: refused for good, or out of attempts.
    Failed,
}

/// Settles a claimed (`sending`) email; `error` is the reason of a retry or a failure.
pub async fn settle(
    db: &PgPool,
    dedupe_key: &str,
    to: Settled,
    error: Option<&str>,
) -> sqlx::Result<()> {
    let status = match to {
        Settled::Sent => "sent",
        Settled::Retry => "pending",
        Settled::Failed => "failed",
    };
    sqlx::query(
        "UPDATE emails SET status = $2, last_error = $3, \
             sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END \
         WHERE dedupe_key = $1 AND status = 'sending'",
    )
    .bind(dedupe_key)
    .bind(status)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}
