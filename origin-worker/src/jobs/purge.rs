//! The purge job: drops rows past their use, hourly.

use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;

use crate::auth;
use crate::state::JobContext;

/// The scheduled purge of rows past their use: expired token records and idempotency keys.
pub async fn purge_expired(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let tokens = auth::store::purge_expired(&ctx.state.db).await?;
    let keys = sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
    )
    .bind(f64::from(ctx.state.settings.idempotency_ttl_secs))
    .execute(&ctx.state.db)
    .await?
    .rows_affected();
    if tokens + keys > 0 {
        tracing::info!(tokens, idempotency_keys = keys, "purged expired rows");
    }
    Ok(())
}
