//! Change records are written in the same transaction as the change they describe, so a
//! committed change always has its record and a rolled-back one never does.

use domain::replication::{Change, ChangeKind};
use sqlx::PgConnection;

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
