//! Background jobs on apalis with Postgres storage: the monitor that runs them, and one module
//! per job.
//!
//! Jobs are plain async functions over [`JobContext`]; the queue is glue. Each one is
//! idempotent, so a retry, a duplicate or a re-run after a crash changes nothing it should not.
//! The queue's tables are created with the application's migrations ([`crate::db::migrate`]).
//!
//! - [`replication`]: `replicate` pushes pending change records to the edge (enqueued by every
//!   write) and `replication-sweep` does the same on a schedule;
//! - [`purge`]: `purge-expired` drops token rows and idempotency keys past their expiry
//!   (hourly), `purge-nonces` the edge's request nonces past their window (every minute);
//! - [`email`]: `email` sends one recorded email, at most once, retrying transient failures
//!   with backoff (enqueued by [`crate::email::enqueue`]);
//! - [`queues`]: what operators see of the queues, and their repairs (`origin-worker jobs`,
//!   the operator page);
//! - [`retry`]: the pause before a failed job runs again (apalis-postgres has none);
//! - [`stripe_events`]: `stripe-event` applies one stored Stripe event to its order (enqueued
//!   by the webhook).

pub mod email;
pub mod purge;
pub mod queues;
pub mod replication;
pub mod retry;
pub mod stripe_events;

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use apalis::prelude::*;
use apalis_cron::CronScheduler;
use apalis_postgres::{Config, PostgresStorage};

use crate::email::{EMAIL_QUEUE, SendEmail};
use crate::payments::events::{ApplyEvent, STRIPE_EVENT_QUEUE};
use crate::replication::outbox::{REPLICATE_QUEUE, Replicate};
use tokio::sync::watch;

use crate::state::JobContext;
use crate::supervisor;

/// Polls on a real interval. apalis's built-in interval strategy does not re-arm its timer
/// after firing; this one does. Pub/sub wakes the worker at once; the interval catches retries
/// and delayed jobs.
struct EveryInterval(tokio::time::Interval);

impl PollStrategy for EveryInterval {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _: &PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        let mut fired = false;
        while self.0.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            std::task::Poll::Ready(Some(()))
        } else {
            std::task::Poll::Pending
        }
    }
}

/// Wakes the worker when the queue's NOTIFY arrives, reading every notice that has: apalis's
/// own `.stream(Pubsub)` takes one notice per poll, and when that poll's fetch comes back empty
/// the listener is left with no waker, so later notices wake nobody until the interval fires
/// (`./dev bench-jobs` saw enqueue-to-start p99 of 0.5–0.9 s that way; 1.6 ms drained).
struct Notified(apalis_postgres::Pubsub);

impl PollStrategy for Notified {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _: &PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        use futures_util::StreamExt as _;
        let mut notified = false;
        while let std::task::Poll::Ready(Some(_)) = self.0.poll_next_unpin(cx) {
            notified = true;
        }
        if notified {
            std::task::Poll::Ready(Some(()))
        } else {
            std::task::Poll::Pending
        }
    }
}

/// Jobs a worker claims per fetch. A fetch costs 6–9 ms whatever its size (apalis's
/// `get_jobs` is planned without its LIMIT); at apalis's default of 10 that held a queue to
/// about 1,100 jobs/s, at 100 to about 6,000 (`docs/jobs-bench.md`).
const BATCH_SIZE: usize = 100;

/// How a queue's worker learns of work: its NOTIFY at once, and a poll every `period` for
/// retries and delayed jobs (which send no notice).
fn wake_up(db: &sqlx::PgPool, queue: &str, period: Duration) -> Strategy {
    Strategy::new()
        .apply(Notified(apalis_postgres::Pubsub::new(
            db.clone(),
            queue.to_owned(),
        )))
        .apply(every(period))
}

fn every(period: Duration) -> EveryInterval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    EveryInterval(interval)
}

/// One run of one worker, until it fails or `stop` says so.
type Run = Pin<Box<dyn Future<Output = Result<(), WorkerError>> + Send>>;

/// The future a worker's graceful shutdown waits for.
async fn until(stop: watch::Receiver<bool>) -> Result<(), std::io::Error> {
    supervisor::stopped(stop).await;
    Ok(())
}

/// The replication worker: woken by the queue's NOTIFY at once, polling every second for
/// retries and delayed jobs.
fn replicate_worker(ctx: &JobContext, stop: watch::Receiver<bool>) -> Run {
    let db = &ctx.state.db;
    let strategy = wake_up(db, REPLICATE_QUEUE, Duration::from_secs(1));
    let storage = PostgresStorage::<Replicate>::new(db)
        .with_config(
            Config::default()
                .queue(REPLICATE_QUEUE)
                .batch_size(BATCH_SIZE)
                .heartbeat_interval(Duration::from_secs(5))
                .missed_heartbeats(3),
        )
        .poll_with_strategy(strategy);
    let worker = WorkerBuilder::new(ctx.state.workers.claimant("replicate"))
        .backend(storage)
        .data(ctx.clone())
        .concurrency(1)
        .build(replication::replicate);
    Box::pin(worker.run_until(until(stop)))
}

/// The email worker: woken by the queue's NOTIFY for new emails, and polling often enough to
/// pick up a retry soon after its pause is over (twice per retry base, within 20 ms to 1 s).
fn email_worker(
    ctx: &email::EmailContext,
    workers: &supervisor::Workers,
    stop: watch::Receiver<bool>,
) -> Run {
    let db = &ctx.db;
    let poll = (ctx.retry_base / 2).clamp(Duration::from_millis(20), Duration::from_secs(1));
    let strategy = wake_up(db, EMAIL_QUEUE, poll);
    let storage = PostgresStorage::<SendEmail>::new(db)
        .with_config(
            Config::default()
                .queue(EMAIL_QUEUE)
                .batch_size(BATCH_SIZE)
                .heartbeat_interval(Duration::from_secs(5))
                .missed_heartbeats(3),
        )
        .poll_with_strategy(strategy);
    let worker = WorkerBuilder::new(workers.claimant("email"))
        .backend(storage)
        .data(ctx.clone())
        .concurrency(4)
        .build(email::send_email);
    Box::pin(worker.run_until(until(stop)))
}

/// The Stripe events worker: woken by the queue's NOTIFY at once, polling every second for
/// retries.
fn stripe_event_worker(ctx: &JobContext, stop: watch::Receiver<bool>) -> Run {
    let db = &ctx.state.db;
    let strategy = wake_up(db, STRIPE_EVENT_QUEUE, Duration::from_secs(1));
    let storage = PostgresStorage::<ApplyEvent>::new(db)
        .with_config(
            Config::default()
                .queue(STRIPE_EVENT_QUEUE)
                .batch_size(BATCH_SIZE)
                .heartbeat_interval(Duration::from_secs(5))
                .missed_heartbeats(3),
        )
        .poll_with_strategy(strategy);
    let worker = WorkerBuilder::new(ctx.state.workers.claimant("stripe-event"))
        .backend(storage)
        .data(ctx.clone())
        .concurrency(2)
        .build(stripe_events::apply);
    Box::pin(worker.run_until(until(stop)))
}

/// The scheduled replication sweep.
fn sweep_worker(ctx: &JobContext, schedule: &cron::Schedule, stop: watch::Receiver<bool>) -> Run {
    let worker = WorkerBuilder::new(ctx.state.workers.claimant("replication-sweep"))
        .backend(CronScheduler::new(schedule.clone()))
        .data(ctx.clone())
        .build(replication::sweep);
    Box::pin(worker.run_until(until(stop)))
}

/// The hourly purge of expired rows.
fn purge_worker(ctx: &JobContext, schedule: &cron::Schedule, stop: watch::Receiver<bool>) -> Run {
    let worker = WorkerBuilder::new(ctx.state.workers.claimant("purge-expired"))
        .backend(CronScheduler::new(schedule.clone()))
        .data(ctx.clone())
        .build(purge::purge_expired);
    Box::pin(worker.run_until(until(stop)))
}

/// The minutely purge of request nonces.
fn nonce_purge_worker(
    ctx: &JobContext,
    schedule: &cron::Schedule,
    stop: watch::Receiver<bool>,
) -> Run {
    let worker = WorkerBuilder::new(ctx.state.workers.claimant("purge-nonces"))
        .backend(CronScheduler::new(schedule.clone()))
        .data(ctx.clone())
        .build(purge::purge_nonces);
    Box::pin(worker.run_until(until(stop)))
}

/// Every worker, each under its own [`supervisor::supervise`], until `stop`. Their states are
/// in `ctx.state.workers` (what `/ready/` reports).
pub async fn run(
    ctx: JobContext,
    sweep_every: Duration,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let sweep_schedule = cron::Schedule::from_str(&format!(
        "*/{} * * * * *",
        sweep_every.as_secs().clamp(1, 59)
    ))?;
    let purge_schedule = cron::Schedule::from_str("0 17 * * * *")?;
    let nonce_schedule = cron::Schedule::from_str("30 * * * * *")?;
    let email_ctx = email::EmailContext::new(ctx.state.db.clone(), &ctx.state.settings.email)?;
    let workers = &ctx.state.workers;
    tokio::join!(
        supervisor::supervise("replicate", workers.clone(), stop.clone(), || {
            replicate_worker(&ctx, stop.clone())
        }),
        supervisor::supervise("replication-sweep", workers.clone(), stop.clone(), || {
            sweep_worker(&ctx, &sweep_schedule, stop.clone())
        }),
        supervisor::supervise("purge-expired", workers.clone(), stop.clone(), || {
            purge_worker(&ctx, &purge_schedule, stop.clone())
        }),
        supervisor::supervise("purge-nonces", workers.clone(), stop.clone(), || {
            nonce_purge_worker(&ctx, &nonce_schedule, stop.clone())
        }),
        supervisor::supervise("email", workers.clone(), stop.clone(), || {
            email_worker(&email_ctx, workers, stop.clone())
        }),
        supervisor::supervise("stripe-event", workers.clone(), stop.clone(), || {
            stripe_event_worker(&ctx, stop.clone())
        }),
    );
    Ok(())
}
