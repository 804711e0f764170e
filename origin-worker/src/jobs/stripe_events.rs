//! The `stripe-event` job: applies one stored Stripe event to its order
//! ([`payments::events::apply`]). Enqueued by the webhook in the transaction that stored the
//! event; safe to run twice (an applied event is not applied again).

use apalis::prelude::{BoxDynError, Data};

use crate::payments::events::{self, ApplyEvent};
use crate::state::JobContext;

pub async fn apply(job: ApplyEvent, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    events::apply(&ctx.state, &job.event_id).await?;
    Ok(())
}
