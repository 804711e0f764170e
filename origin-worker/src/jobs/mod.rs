//! Background jobs on apalis with Postgres storage.
//!
//! Jobs are plain async functions over [`AppState`]; the queue is glue. Each one is idempotent,
//! so a retry, a duplicate or a re-run after a crash changes nothing it should not.
//!
//! - `replicate`: pushes pending change records to the edge. Enqueued in the transaction of
//!   every write (so it exists exactly when the write does), and swept on a schedule in case
//!   the edge was down;
//! - `purge-expired`: drops token rows and idempotency keys past their expiry (hourly).

use std::str::FromStr;
use std::time::Duration;

use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use apalis_postgres::{Config, PgTask, PostgresStorage};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::replication::push;
use crate::state::AppState;

/// Queue name of the replication job.
pub const REPLICATE_QUEUE: &str = "replicate";

/// Payload of the replication job: nothing but when it was asked for (the job pushes whatever
/// is pending when it runs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replicate {
    pub requested_at: i64,
}

/// Enqueues a replication job inside the caller's transaction.
pub async fn replicate_soon(conn: &mut PgConnection) -> sqlx::Result<()> {
    // The transaction's own clock, so the queue's NOTIFY trigger (`run_at <= now()`) fires
    // even when the transaction has been open a while.
    let now: i64 = sqlx::query_scalar("SELECT floor(extract(epoch FROM now()))::bigint")
        .fetch_one(&mut *conn)
        .await?;
    let payload = serde_json::to_vec(&Replicate { requested_at: now })
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let task: PgTask = TaskBuilder::new(payload)
        // Failed jobs are re-fetched without delay; a few attempts ride out a blip, and the
        // sweep covers longer outages.
        .max_attempts(3)
        .run_at_timestamp(u64::try_from(now).unwrap_or_default())
        .build();
    apalis_postgres::queries::push_tasks(conn, REPLICATE_QUEUE, vec![task])
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("enqueueing the replication job: {e}")))
}

/// Shared by the jobs: the state and an HTTP client for the edge.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub state: AppState,
    pub client: reqwest::Client,
}

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

/// The scheduled purge of rows past their use: expired token records and idempotency keys.
pub async fn purge_expired(_tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let tokens = crate::auth::store::purge_expired(&ctx.state.db).await?;
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

fn every(period: Duration) -> EveryInterval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    EveryInterval(interval)
}

/// Worker names must be unique per process: a restarted process that reused its predecessor's
/// name would keep that worker's heartbeat alive and strand its in-flight jobs.
fn worker_name(job: &str) -> String {
    format!(
        "{job}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Creates the queue's tables (schema `apalis`) if they are missing.
pub async fn setup(db: &sqlx::PgPool) -> anyhow::Result<()> {
    PostgresStorage::setup(db)
        .await
        .map_err(|e| anyhow::anyhow!("apalis setup: {e}"))
}

/// Every worker, in one monitor that stops when `shutdown` resolves.
pub async fn run(
    ctx: JobContext,
    sweep_every: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = ctx.state.db.clone();
    let replicate_ctx = ctx.clone();
    let sweep_ctx = ctx.clone();
    let purge_ctx = ctx;
    let sweep_schedule = cron::Schedule::from_str(&format!(
        "*/{} * * * * *",
        sweep_every.as_secs().clamp(1, 59)
    ))?;
    let purge_schedule = cron::Schedule::from_str("0 17 * * * *")?;
    let monitor = Monitor::new()
        .register(move |_restarts| {
            let strategy = Strategy::new()
                .stream(apalis_postgres::Pubsub::new(
                    db.clone(),
                    REPLICATE_QUEUE.to_owned(),
                ))
                .apply(every(Duration::from_secs(1)));
            let storage = PostgresStorage::<Replicate>::new(&db)
                .with_config(
                    Config::default()
                        .queue(REPLICATE_QUEUE)
                        .heartbeat_interval(Duration::from_secs(5))
                        .missed_heartbeats(3),
                )
                .poll_with_strategy(strategy);
            WorkerBuilder::new(worker_name("replicate"))
                .backend(storage)
                .data(replicate_ctx.clone())
                .concurrency(1)
                .build(replicate)
        })
        .register(move |_| {
            WorkerBuilder::new(worker_name("replication-sweep"))
                .backend(CronScheduler::new(sweep_schedule.clone()))
                .data(sweep_ctx.clone())
                .build(sweep)
        })
        .register(move |_| {
            WorkerBuilder::new(worker_name("purge-expired"))
                .backend(CronScheduler::new(purge_schedule.clone()))
                .data(purge_ctx.clone())
                .build(purge_expired)
        })
        .shutdown_timeout(Duration::from_secs(10));
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("job monitor: {e}"))
}
