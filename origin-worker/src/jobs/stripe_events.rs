//! The `stripe-event` job: applies one stored Stripe event to its order
//! ([`payments::events::apply`]). Enqueued by the webhook in the transaction that stored the
//! event; safe to run twice (an applied event is not applied again).
//!
//! Applying fails only when the database does (an outage, a restart): the job then runs again
//! after a pause that doubles from 1 s to 5 min, so a Postgres restart does not use up its
//! attempts in a second. After the last attempt ([`STRIPE_EVENT_ATTEMPTS`], about an hour and
//! a half of retries) it is dead: `origin-worker jobs retry ID` or `replay-webhook EVENT`
//! applies it then. The event itself stays stored either way; the webhook already said 200.

use std::time::Duration;

use apalis::prelude::{Attempt, BoxDynError, Data, MetadataStore, TaskId};

use super::retry;
use crate::payments::events::{self, ApplyEvent, STRIPE_EVENT_QUEUE};
use crate::state::JobContext;
use crate::trace;

const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_CAP: Duration = Duration::from_mins(5);

/// The job, in the trace of the webhook call that stored the event.
pub async fn apply(
    job: ApplyEvent,
    ctx: Data<JobContext>,
    task: TaskId,
    attempt: Attempt,
    metadata: MetadataStore,
) -> Result<(), BoxDynError> {
    trace::in_job(STRIPE_EVENT_QUEUE, &metadata, run(job, ctx, task, attempt)).await
}

async fn run(
    job: ApplyEvent,
    ctx: Data<JobContext>,
    task: TaskId,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let Err(error) = events::apply(&ctx.state, &job.event_id).await else {
        return Ok(());
    };
    let run = u32::try_from(attempt.current()).unwrap_or(u32::MAX).max(1);
    let delay = retry::backoff(RETRY_BASE, RETRY_CAP, run, retry::jitter());
    tracing::warn!(
        event = %job.event_id,
        attempt = run,
        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        error = %format!("{error:#}"),
        "Stripe event not applied; retrying later"
    );
    // If the database is still away this fails too, and apalis retries at its own pace.
    if let Err(e) = retry::run_later(&ctx.state.db, &task, delay).await {
        tracing::warn!(error = %e, "could not delay the Stripe event's retry");
    }
    Err(error.into())
}
