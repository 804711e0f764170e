//! The replication job: pushes pending change records to the edge. Enqueued in the
//! transaction of every write by [`outbox::publish`](crate::replication::outbox::publish) (so
//! it exists exactly when the write does), and swept on a schedule in case the edge was down.

use apalis::prelude::{BoxDynError, Data, MetadataStore};
use apalis_cron::Tick;

use crate::replication::outbox::{REPLICATE_QUEUE, Replicate};
use crate::replication::push;
use crate::state::JobContext;
use crate::trace;

/// The replication job: a wake-up to push what is pending now. The outbox rows, not the job,
/// are the durable work, and the sweep pushes them every few seconds whatever happened to any
/// job; so a push that fails (the edge restarting, a network blip) ends the job all the same,
/// with a warning. Failing it instead only piled up dead jobs, three instant attempts each,
/// during every edge restart, for work the sweep did anyway (the chaos suite counted 144–255
/// per restart).
pub async fn replicate(
    _job: Replicate,
    ctx: Data<JobContext>,
    metadata: MetadataStore,
) -> Result<(), BoxDynError> {
    trace::in_job(REPLICATE_QUEUE, &metadata, async {
        if let Err(e) = push::push_pending(&ctx.state, &ctx.client).await {
            tracing::warn!(error = %format!("{e:#}"), "replication push failed; the sweep will retry");
        }
    })
    .await;
    Ok(())
}

/// The scheduled sweep: the same push, whether or not a write asked for it.
pub async fn sweep(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    if let Err(e) = push::push_pending(&ctx.state, &ctx.client).await {
        tracing::warn!(error = %format!("{e:#}"), "replication sweep failed");
    }
    Ok(())
}
