//! The Postgres pool, the migrations (the application's and the job queue's), pushing a job
//! inside a writer's transaction, and how a stored time is rendered.

use std::time::Duration;

use apalis::prelude::{MetadataStore, TaskBuilder};
use apalis_postgres::{PgTask, PostgresStorage};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool};

use crate::settings::Settings;
use crate::trace;

/// A pool that waits for Postgres at start-up (it may still be starting, or restarting) for up
/// to `patience`, logging each failed attempt.
pub async fn connect(settings: &Settings, patience: Duration) -> anyhow::Result<PgPool> {
    let options = PgPoolOptions::new()
        .max_connections(settings.database_pool_size)
        // Fail fast while Postgres is away (503 with Retry-After, well inside the edge's
        // timeout), and never hand out a connection that died with a restarted server.
        .acquire_timeout(settings.database_acquire_timeout)
        .test_before_acquire(true);
    let started = std::time::Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match options.clone().connect(settings.database_url()).await {
            Ok(pool) => return Ok(pool),
            Err(e) if started.elapsed() < patience => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis(), "Postgres is not answering yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(anyhow::anyhow!("connecting to Postgres: {e}")),
        }
    }
}

/// Applies the application's migrations, then creates the job queue's tables (in their own
/// `apalis` schema) if they are missing.
///
/// The queue's setup is called here rather than from [`crate::jobs`], which sits above the
/// stores: `db` stays below everything that reads the database.
///
/// Migrations this build does not know (a newer release applied them) are left alone rather
/// than refused, so that a rollback to the previous image starts: every migration is additive
/// (`docs/operations.md`), so older code runs on a newer schema.
pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    let mut migrator = sqlx::migrate!("../migrations/postgres");
    migrator.set_ignore_missing(true);
    migrator.run(db).await?;
    PostgresStorage::setup(db)
        .await
        .map_err(|e| anyhow::anyhow!("apalis setup: {e}"))
}

/// Pushes a job onto `queue` inside the caller's transaction, so it exists exactly when the
/// caller's writes do, carrying the current trace ([`crate::trace`]) in its metadata. Errors
/// stay the database's own: a connection lost here is still a 503.
pub async fn push_job(
    conn: &mut PgConnection,
    queue: &str,
    payload: &impl Serialize,
    max_attempts: usize,
) -> sqlx::Result<()> {
    // The transaction's own clock, so the queue's NOTIFY trigger (`run_at <= now()`) fires
    // even when the transaction has been open a while.
    let now: i64 = sqlx::query_scalar("SELECT floor(extract(epoch FROM now()))::bigint")
        .fetch_one(&mut *conn)
        .await?;
    let payload = serde_json::to_vec(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let mut metadata = MetadataStore::new();
    if let Some(trace) = trace::current() {
        metadata.replace(trace::METADATA_KEY, trace.header());
    }
    let task: PgTask = TaskBuilder::new(payload)
        .max_attempts(max_attempts)
        .run_at_timestamp(u64::try_from(now).unwrap_or_default())
        .with_metadata(metadata)
        .build();
    apalis_postgres::queries::push_tasks(conn, queue, vec![task])
        .await
        .map_err(|e| match e {
            apalis_postgres::Error::Database(e) => e,
            other => sqlx::Error::Protocol(format!("enqueueing a {queue} job: {other}")),
        })
}

/// RFC 3339 in UTC with microseconds, as DRF renders a `DateTimeField`; fixed width, so the
/// text sorts like the time.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
