//! A scrape of `GET /metrics` ([`crate::metrics`] says what each metric means): the request
//! histogram kept in memory, and gauges read at the scrape from Postgres, the pool and the
//! supervisor.

use std::fmt::Write as _;

use crate::jobs::queues;
use crate::metrics::{escape, header};
use crate::state::AppState;
use crate::supervisor::WorkerState;

/// Every metric, as a scrape reads it.
pub async fn render(state: &AppState) -> String {
    let mut out = String::new();
    state.metrics.write_requests(&mut out);
    let database_up = write_database_gauges(state, &mut out).await.is_ok();
    header(
        &mut out,
        "origin_database_up",
        "gauge",
        "Whether this scrape could read Postgres.",
    );
    let _ = writeln!(out, "origin_database_up {}", u8::from(database_up));

    let pool = &state.db;
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    header(
        &mut out,
        "origin_db_pool_connections",
        "gauge",
        "The pool's open connections, idle or in use.",
    );
    let _ = writeln!(out, "origin_db_pool_connections{{state=\"idle\"}} {idle}");
    let _ = writeln!(
        out,
        "origin_db_pool_connections{{state=\"in_use\"}} {}",
        size.saturating_sub(idle)
    );
    header(
        &mut out,
        "origin_db_pool_max_connections",
        "gauge",
        "The most connections the pool opens (DATABASE_POOL_SIZE).",
    );
    let _ = writeln!(
        out,
        "origin_db_pool_max_connections {}",
        state.settings.database_pool_size
    );

    header(
        &mut out,
        "origin_worker_running",
        "gauge",
        "1 while a background worker runs; 0 while it waits to be restarted or has stopped.",
    );
    for (worker, worker_state) in state.workers.snapshot() {
        let running = u8::from(worker_state == WorkerState::Running);
        let _ = writeln!(
            out,
            "origin_worker_running{{worker=\"{}\"}} {running}",
            escape(worker)
        );
    }
    out
}

/// The gauges read from Postgres; nothing is written if any read fails.
async fn write_database_gauges(state: &AppState, out: &mut String) -> sqlx::Result<()> {
    let counts = queues::counts(&state.db).await?;
    let (backlog, lag): (i64, f64) = sqlx::query_as(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0) \
         FROM replication_changes WHERE pushed_at IS NULL",
    )
    .fetch_one(&state.db)
    .await?;
    header(out, "origin_jobs", "gauge", "Jobs by queue and state.");
    for queue in &counts {
        let queue_name = escape(&queue.queue);
        for (state_name, count) in [
            ("pending", queue.pending),
            ("running", queue.running),
            ("retrying", queue.retrying),
            ("dead", queue.dead),
            ("done", queue.done),
        ] {
            let _ = writeln!(
                out,
                "origin_jobs{{queue=\"{queue_name}\",state=\"{state_name}\"}} {count}"
            );
        }
    }
    header(
        out,
        "origin_outbox_backlog",
        "gauge",
        "Change records not yet pushed to the edge.",
    );
    let _ = writeln!(out, "origin_outbox_backlog {backlog}");
    header(
        out,
        "origin_replication_lag_seconds",
        "gauge",
        "Age of the oldest change record not yet pushed to the edge (0 when none is waiting).",
    );
    let _ = writeln!(out, "origin_replication_lag_seconds {lag:.3}");
    Ok(())
}
