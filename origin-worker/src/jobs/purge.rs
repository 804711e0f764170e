//! The purge jobs: rows past their use go hourly, once per hour across every origin instance
//! (`purge-expired`); the edge's request nonces, every minute, by whichever instance
//! (`purge-nonces`: deleting expired rows twice does no harm).

use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;

use crate::auth;
use crate::http::signed;
use crate::state::{AppState, JobContext};

/// The scheduled purge of rows past their use: expired token records and idempotency keys.
pub async fn purge_expired(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    purge_once(&ctx.state).await?;
    Ok(())
}

/// Runs this hour's purge unless another instance (or an earlier tick of this one) took it;
/// whether it ran.
pub async fn purge_once(state: &AppState) -> anyhow::Result<bool> {
    // Every instance's scheduler fires at minute 17; the hour names the tick, so clocks a few
    // seconds apart still agree on it.
    let taken = sqlx::query(
        "INSERT INTO cron_runs (job, tick) VALUES ('purge-expired', date_trunc('hour', now())) \
         ON CONFLICT DO NOTHING",
    )
    .execute(&state.db)
    .await?
    .rows_affected();
    if taken == 0 {
        tracing::debug!("this hour's purge ran elsewhere");
        return Ok(false);
    }
    let tokens = auth::store::purge_expired(&state.db).await?;
    let keys = sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
    )
    .bind(f64::from(state.settings.idempotency_ttl_secs))
    .execute(&state.db)
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM cron_runs WHERE tick < now() - interval '30 days'")
        .execute(&state.db)
        .await?;
    if tokens + keys > 0 {
        tracing::info!(tokens, idempotency_keys = keys, "purged expired rows");
    }
    Ok(true)
}

/// The scheduled purge of request nonces past their signature window.
pub async fn purge_nonces(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let gone = signed::forget_expired_nonces(&ctx.state.db).await?;
    tracing::debug!(gone, "expired request nonces purged");
    Ok(())
}
