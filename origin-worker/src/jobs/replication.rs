//! The replication job: pushes pending change records to the edge. Enqueued in the
//! transaction of every write by [`outbox::publish`](crate::replication::outbox::publish) (so
//! it exists exactly when the write does), and swept on a schedule in case the edge was down.

use apalis::prelude::{BoxDynError, Data};
use apalis_cron::Tick;

use crate::replication::outbox::Replicate;
use crate::replication::push;
use crate::state::JobContext;

/// The replication job.
pub async fn replicate(_job: Replicate, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    match push::push_pending(&ctx.state, &ctx.client).await {
        Ok(_) => Ok(()),
        Err(e) => {
            // The outbox rows are the durable state; the sweep delivers them if every attempt
            // of this job fails.
            tracing::warn!(error = %format!("{e:#}"), "replication push failed");
            Err(BoxDynError::from(e))
        }
    }
}

/// The scheduled sweep: the same push, whether or not a write asked for it.
pub async fn sweep(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    if let Err(e) = push::push_pending(&ctx.state, &ctx.client).await {
        tracing::warn!(error = %format!("{e:#}"), "replication sweep failed");
    }
    Ok(())
}
