//! The `emails` table: one row per dedupe key, holding the email and where its delivery
//! stands (`pending` → `sending` → `sent`, or `failed`; see `0005_emails.sql`).
//!
//! Sending is claimed before the SMTP conversation starts and the claim is committed on its
//! own, so whatever happens to the process, a second run finds it and does not send.

use sqlx::{PgConnection, PgPool};

use super::Email;

/// What a run may do with an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This run owns the delivery: send it. `attempt` counts this one (1 for the first).
    Claimed { email: Email, attempt: u32 },
    /// Sent already.
    Sent,
    /// Another run claimed it and has not finished: it is sending now, or it died mid-send
    /// and the email may or may not have gone out. Either way this run must not send.
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

/// Moves a `pending` email to `sending` (committed at once, before anything is sent) and
/// counts the attempt; otherwise says where it stands. Of two concurrent runs, the row lock
/// lets exactly one claim it.
///
/// A `failed` email is claimed too: nothing was sent for it, and only a dead job retried by an
/// operator runs for it again. It gets one more attempt (its count carries on).
pub async fn claim(db: &PgPool, dedupe_key: &str) -> sqlx::Result<Claim> {
    let claimed: Option<(sqlx::types::Json<Email>, i32)> = sqlx::query_as(
        "UPDATE emails SET status = 'sending', attempts = attempts + 1 \
         WHERE dedupe_key = $1 AND status IN ('pending', 'failed') RETURNING message, attempts",
    )
    .bind(dedupe_key)
    .fetch_optional(db)
    .await?;
    if let Some((email, attempt)) = claimed {
        return Ok(Claim::Claimed {
            email: email.0,
            attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        });
    }
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM emails WHERE dedupe_key = $1")
            .bind(dedupe_key)
            .fetch_optional(db)
            .await?;
    Ok(match status.as_deref() {
        None => Claim::Missing,
        Some("sent") => Claim::Sent,
        // `sending`, or (claimable above) a row another run moved between the two statements.
        Some(_) => Claim::Sending,
    })
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
