//! The email job: sends one recorded email ([`crate::email::enqueue`]), at most once.
//!
//! [`deliver`] is the whole logic and can be called directly; [`send_email`] is the glue that
//! tells apalis-postgres what came of it:
//!
//! - sent, or sent before: `Ok`, the job is `Done`;
//! - a transient failure with attempts left: the job's `run_at` is moved [`retry::backoff`] into
//!   the future and the job fails. apalis-postgres fetches a `Failed` job again only once
//!   `attempts < max_attempts AND run_at < now()` (its `get_jobs`), so the retry is a delayed
//!   re-run, not a pause inside the job;
//! - a permanent failure (SMTP 5xx, a bad address), the last attempt, or an email an earlier
//!   run claimed and never finished: an [`AbortError`], which apalis records as `Killed` and
//!   never fetches again. That is the dead-letter state: the job stays in `apalis.jobs` with
//!   its error in `last_result`, and the email's row says `failed` (or `sending`).
//!
//! # What at-most-once costs
//!
//! A run first builds the message and opens the SMTP session (greeting, `EHLO`, TLS,
//! authentication); only then does it claim the email's row (`sending`, committed on its own),
//! and only then does `MAIL FROM` go out. A run that finds the row claimed does not send.
//!
//! - A crash before the claim (a slow greeting, a refused connection) costs nothing: the row
//!   is still due, apalis re-runs the orphaned job once the dead worker's heartbeat is stale,
//!   and that run sends it.
//! - A crash between the server accepting the message and the row saying `sent` never sends
//!   it twice.
//! - The price: a crash (or a lost database) after the claim and before the server accepted
//!   the message loses it. Nothing will send it. The window is one mail transaction (`MAIL`,
//!   `RCPT`, `DATA`: milliseconds on a healthy server). The row stays in `sending` and the
//!   job that finds it ends dead, which is how an operator sees it (`origin-worker jobs list
//!   --state dead`, or `SELECT * FROM emails WHERE status = 'sending'`); whether it arrived is
//!   then a question for the mail server's logs.
//!
//! A timeout after the message was handed over is retried as transient, although the server
//! may have taken it: at-most-once holds against crashes and re-runs, not against a server
//! that accepts a message and never says so.

use std::time::Duration;

use apalis::prelude::{AbortError, BoxDynError, Data, MetadataStore, TaskId};
use sqlx::PgPool;

use super::retry;
use crate::email::sender::{Mailer, SendError};
use crate::email::store::{self, Found, Settled};
use crate::email::{EMAIL_QUEUE, Email, SendEmail, render};
use crate::settings::EmailSettings;
use crate::trace;

/// The longest pause between two attempts at an email, however many came before.
pub const EMAIL_RETRY_CAP: Duration = Duration::from_mins(15);

/// What the email worker shares.
#[derive(Debug, Clone)]
pub struct EmailContext {
    pub db: PgPool,
    pub mailer: Mailer,
    /// The pause before the first retry; it doubles after each.
    pub retry_base: Duration,
    /// Deliveries tried before an email is given up on.
    pub max_attempts: u32,
}

impl EmailContext {
    pub fn new(db: PgPool, settings: &EmailSettings) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            mailer: Mailer::new(settings)?,
            retry_base: settings.retry_base,
            max_attempts: settings.max_attempts,
        })
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The SMTP server accepted it.
    Sent,
    /// Sent by an earlier run: nothing done.
    AlreadySent,
    /// Not sent, for a reason worth another try after `delay`; the email is `pending` again.
    RetryIn { delay: Duration, reason: String },
    /// Not sent, and this job will not send it.
    Dead { reason: String },
}

impl Delivery {
    /// Why it was not sent (empty when it was).
    pub fn reason(&self) -> &str {
        match self {
            Self::Sent | Self::AlreadySent => "",
            Self::RetryIn { reason, .. } | Self::Dead { reason } => reason,
        }
    }
}

/// Builds the email, opens an SMTP session, claims the email, hands it over and records the
/// outcome. Errors are the database's; the email is then left as the failing statement found
/// it (at worst `sending`: not sent again).
pub async fn deliver(ctx: &EmailContext, dedupe_key: &str) -> sqlx::Result<Delivery> {
    let (email, attempts) = match store::find(&ctx.db, dedupe_key).await? {
        Found::Due { email, attempts } => (email, attempts),
        found => return Ok(not_due(&found)),
    };
    // Everything that can fail before the server sees any of the message, unclaimed: a crash
    // here leaves the email due, and the next run sends it.
    let ready = match render::render(&email.kind) {
        Ok(rendered) => ctx.mailer.prepare(&email.to, &rendered),
        Err(e) => Err(SendError::Permanent(format!("rendering: {e}"))),
    };
    let (message, session) = match ready {
        Ok(message) => match ctx.mailer.connect().await {
            Ok(session) => (message, session),
            Err(error) => return unsent(ctx, &email, attempts + 1, error).await,
        },
        Err(error) => return unsent(ctx, &email, attempts + 1, error).await,
    };
    // From here the server may get the message: claim it first, so no other run sends it.
    let Some(attempt) = store::claim(&ctx.db, dedupe_key).await? else {
        session.close().await;
        return Ok(not_due(&store::find(&ctx.db, dedupe_key).await?));
    };
    let Err(error) = session.transmit(&message).await else {
        store::settle(&ctx.db, dedupe_key, Settled::Sent, None).await?;
        return Ok(Delivery::Sent);
    };
    let (to, delivery) = judge(ctx, &email.to, attempt, error);
    store::settle(&ctx.db, dedupe_key, to, Some(delivery.reason())).await?;
    Ok(delivery)
}

/// What a run does with an email it found not due.
fn not_due(found: &Found) -> Delivery {
    match found {
        Found::Sent => Delivery::AlreadySent,
        Found::Sending | Found::Due { .. } => Delivery::Dead {
            reason: "claimed by an earlier run that did not finish; it may have been sent, so \
                     it is not sent again"
                .into(),
        },
        Found::Missing => Delivery::Dead {
            reason: "no such email recorded".into(),
        },
    }
}

/// Records a failure before the claim (nothing was sent) as this run's attempt.
async fn unsent(
    ctx: &EmailContext,
    email: &Email,
    attempt: u32,
    error: SendError,
) -> sqlx::Result<Delivery> {
    let (to, delivery) = judge(ctx, &email.to, attempt, error);
    if store::record_unsent(&ctx.db, &email.dedupe_key, to, delivery.reason()).await? {
        Ok(delivery)
    } else {
        // Another run claimed or sent it meanwhile: its outcome stands.
        Ok(not_due(&store::find(&ctx.db, &email.dedupe_key).await?))
    }
}

/// A failed attempt: retried later if it was transient and attempts are left, given up on
/// otherwise. The reason does not quote the recipient's address.
fn judge(ctx: &EmailContext, to: &str, attempt: u32, error: SendError) -> (Settled, Delivery) {
    let (transient, reason) = error.reason_without(to);
    if !transient {
        return (Settled::Failed, Delivery::Dead { reason });
    }
    if attempt >= ctx.max_attempts {
        let reason = format!("gave up after {attempt} attempts: {reason}");
        return (Settled::Failed, Delivery::Dead { reason });
    }
    let delay = retry::backoff(ctx.retry_base, EMAIL_RETRY_CAP, attempt, retry::jitter());
    (Settled::Retry, Delivery::RetryIn { delay, reason })
}

/// The job: [`deliver`], and what apalis should make of it (see the module's doc), in the
/// trace of the request that enqueued it.
pub async fn send_email(
    job: SendEmail,
    ctx: Data<EmailContext>,
    task: TaskId,
    metadata: MetadataStore,
) -> Result<(), BoxDynError> {
    trace::in_job(EMAIL_QUEUE, &metadata, send(job, ctx, task)).await
}

async fn send(job: SendEmail, ctx: Data<EmailContext>, task: TaskId) -> Result<(), BoxDynError> {
    let key = job.dedupe_key.as_str();
    match deliver(&ctx, key).await? {
        Delivery::Sent => {
            tracing::info!(email = key, "email sent");
            Ok(())
        }
        Delivery::AlreadySent => {
            tracing::info!(email = key, "email already sent; nothing to do");
            Ok(())
        }
        Delivery::RetryIn { delay, reason } => {
            tracing::warn!(
                email = key,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %reason,
                "email not sent; retrying later"
            );
            retry::run_later(&ctx.db, &task, delay).await?;
            Err(reason.into())
        }
        Delivery::Dead { reason } => {
            tracing::error!(email = key, error = %reason, "email not sent; giving up");
            Err(AbortError::new(reason).into())
        }
    }
}
