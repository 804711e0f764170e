//! Delivering pending change records to the edge.
//!
//! One batch at a time, in version order, under a transaction-scoped advisory lock so that
//! concurrent pushers (several jobs, several origin instances) never interleave. A batch is
//! marked pushed only after the edge acknowledged it; a crash between the two re-sends it,
//! which the edge's version guard makes harmless.

use domain::replication::{Change, ChangeBatch, ChangeKind, MAX_BATCH};
use domain::signing::{self, Direction, SignedParts};
use domain::{UserId, paths};
use sqlx::Row;

use crate::state::AppState;

/// Key of the advisory lock that serialises pushers.
const PUSH_LOCK: i64 = 0x0052_4550_4c49_4341; // "REPLICA"

/// Pushes every pending record; returns how many were delivered.
pub async fn push_pending(state: &AppState, client: &reqwest::Client) -> anyhow::Result<usize> {
    let mut delivered = 0;
    loop {
        let mut tx = state.db.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PUSH_LOCK)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "SELECT version, owner_id, change FROM replication_changes WHERE pushed_at IS NULL \
             ORDER BY version LIMIT $1",
        )
        .bind(i64::try_from(MAX_BATCH).unwrap_or(200))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(delivered);
        }
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let kind: ChangeKind = serde_json::from_value(row.try_get("change")?)?;
            let owner: Option<i64> = row.try_get("owner_id")?;
            changes.push(Change {
                version: row.try_get("version")?,
                owner: owner.map(UserId::new),
                kind,
            });
        }
        let versions: Vec<i64> = changes.iter().map(|c| c.version).collect();
        send(state, client, &ChangeBatch { changes }).await?;
        // The moment of delivery, not the transaction's start: it may have waited on the lock
        // while the records were written (the soak's lag read negative with `now()`).
        sqlx::query(
            "UPDATE replication_changes SET pushed_at = clock_timestamp() WHERE version = ANY($1)",
        )
        .bind(&versions)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        delivered += versions.len();
        tracing::info!(
            count = versions.len(),
            last_version = versions.last(),
            "replicated to the edge"
        );
    }
}

/// Sends one signed batch; any answer but 2xx is an error (the job retries).
pub async fn send(
    state: &AppState,
    client: &reqwest::Client,
    batch: &ChangeBatch,
) -> anyhow::Result<()> {
    call_edge(
        state,
        client,
        paths::INTERNAL_REPLICATE,
        serde_json::to_vec(batch)?,
    )
    .await?;
    Ok(())
}

/// A signed `POST` to one of the edge's internal endpoints; the answer's body, or an error for
/// anything but 2xx.
pub async fn call_edge(
    state: &AppState,
    client: &reqwest::Client,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<Vec<u8>> {
    let request_id = format!("origin-{}", uuid::Uuid::new_v4().simple());
    let timestamp = chrono::Utc::now().timestamp();
    let parts = SignedParts {
        direction: Direction::OriginToEdge,
        method: "POST",
        path_and_query: path,
        body: &body,
        timestamp,
        user_id: None,
        request_id: &request_id,
        idempotency_key: None,
        nonce: None,
    };
    let mut request = client
        .post(format!("{}{path}", state.settings.edge_url))
        .header("content-type", "application/json");
    for (name, value) in signing::signed_headers(state.settings.origin_secret.expose(), &parts) {
        request = request.header(name, value);
    }
    let response = request.body(body).send().await?;
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default().to_vec();
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
        anyhow::bail!("the edge refused {path} ({status}, request {request_id}): {text}");
    }
    Ok(bytes)
}
