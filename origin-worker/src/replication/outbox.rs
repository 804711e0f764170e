//! Change records are written in the same transaction as the change they describe, so a
//! committed change always has its record and a rolled-back one never does; the job that
//! delivers them is enqueued in that transaction too ([`publish`]).

use domain::replication::{Change, ChangeKind};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::db;

/// Appends one change record and returns it with its version.
pub async fn record(conn: &mut PgConnection, kind: ChangeKind) -> sqlx::Result<Change> {
    let payload = serde_json::to_value(&kind).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO replication_changes (change) VALUES ($1) RETURNING version",
    )
    .bind(payload)
    .fetch_one(conn)
    .await?;
    Ok(Change { version, kind })
}

/// Queue name of the replication job.
pub const REPLICATE_QUEUE: &str = "replicate";

/// Payload of the replication job: nothing but when it was asked for (the job pushes whatever
/// is pending when it runs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replicate {
    pub requested_at: i64,
}

/// Records the changes in the outbox and enqueues the job that delivers them, all inside the
/// caller's transaction; returns the records (with their versions) for the reply.
pub async fn publish(conn: &mut PgConnection, kinds: Vec<ChangeKind>) -> sqlx::Result<Vec<Change>> {
    let mut changes = Vec::with_capacity(kinds.len());
    for kind in kinds {
        changes.push(record(conn, kind).await?);
    }
    replicate_soon(conn).await?;
    Ok(changes)
}

/// Enqueues a replication job inside the caller's transaction.
pub async fn replicate_soon(conn: &mut PgConnection) -> sqlx::Result<()> {
    let requested_at = chrono::Utc::now().timestamp();
    // Failed jobs are re-fetched without delay; a few attempts ride out a blip, and the sweep
    // covers longer outages.
    db::push_job(conn, REPLICATE_QUEUE, &Replicate { requested_at }, 3).await
}
