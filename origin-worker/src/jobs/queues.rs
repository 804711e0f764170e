//! The operator's view of the job queues, straight from apalis-postgres's `apalis.jobs` table:
//! counts per queue and state, a job's whole record, and the two repairs: retrying a dead job
//! and killing one that should not run.
//!
//! apalis's statuses are folded into the states an operator asks about:
//!
//! | state      | apalis rows                                                  |
//! |------------|--------------------------------------------------------------|
//! | `pending`  | `Pending` or `Queued`: waiting for a worker (or for `run_at`) |
//! | `running`  | `Running`: a worker holds it                                 |
//! | `retrying` | `Failed` with attempts left: runs again at `run_at`          |
//! | `dead`     | `Killed` (given up on, or killed), or `Failed` with none left |
//! | `done`     | `Done`                                                       |
//!
//! Payloads are shown as stored: every job carries keys (`dedupe_key`, `event_id`, a change
//! id), never an address or a secret.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// A state an operator filters by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Running,
    Retrying,
    Dead,
    Done,
}

impl State {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Running,
        Self::Retrying,
        Self::Dead,
        Self::Done,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Dead => "dead",
            Self::Done => "done",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| format!("no state `{text}`: pending, running, retrying, dead or done"))
    }
}

/// The SQL expression that folds a row's apalis status into a [`State`]'s name.
const STATE_OF: &str = "CASE \
     WHEN status IN ('Pending', 'Queued') THEN 'pending' \
     WHEN status = 'Running' THEN 'running' \
     WHEN status = 'Failed' AND attempts < max_attempts THEN 'retrying' \
     WHEN status IN ('Failed', 'Killed') THEN 'dead' \
     WHEN status = 'Done' THEN 'done' \
     ELSE lower(status) END";

/// How many jobs of one queue are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub queue: String,
    pub pending: i64,
    pub running: i64,
    pub retrying: i64,
    pub dead: i64,
    pub done: i64,
}

impl QueueCounts {
    pub const fn of(&self, state: State) -> i64 {
        match state {
            State::Pending => self.pending,
            State::Running => self.running,
            State::Retrying => self.retrying,
            State::Dead => self.dead,
            State::Done => self.done,
        }
    }
}

/// One job, as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct JobSummary {
    pub id: String,
    pub queue: String,
    #[sqlx(try_from = "String")]
    pub state: StateName,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    /// The last run's error, if it failed (its first line, at most 200 characters).
    pub last_error: Option<String>,
}

/// A whole job: its summary, its payload and the record of its last run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDetail {
    #[serde(flatten)]
    pub summary: JobSummary,
    /// apalis's own status, unfolded.
    pub status: String,
    pub payload: serde_json::Value,
    pub last_result: Option<serde_json::Value>,
    /// The worker holding it (or that last held it), and since when.
    pub lock_by: Option<String>,
    pub lock_at: Option<DateTime<Utc>>,
}

/// A state's name as read from the database (a `String` newtype so rows decode even if
/// apalis ever adds a status this version does not know).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StateName(pub String);

impl From<String> for StateName {
    fn from(name: String) -> Self {
        Self(name)
    }
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which jobs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub queue: Option<String>,
    pub state: Option<State>,
    /// At most this many, newest first (by `run_at`).
    pub limit: i64,
}

/// The counts of every queue that has jobs, by queue name.
pub async fn counts(db: &PgPool) -> sqlx::Result<Vec<QueueCounts>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT job_type, {STATE_OF} AS state, count(*) FROM apalis.jobs \
         GROUP BY 1, 2 ORDER BY 1"
    )))
    .fetch_all(db)
    .await?;
    let mut queues: Vec<QueueCounts> = Vec::new();
    for (queue, state, count) in rows {
        if queues.last().is_none_or(|last| last.queue != queue) {
            queues.push(QueueCounts {
                queue: queue.clone(),
                ..QueueCounts::default()
            });
        }
        let Some(counts) = queues.last_mut() else {
            continue;
        };
        match state.parse::<State>() {
            Ok(State::Pending) => counts.pending += count,
            Ok(State::Running) => counts.running += count,
            Ok(State::Retrying) => counts.retrying += count,
            Ok(State::Dead) => counts.dead += count,
            Ok(State::Done) => counts.done += count,
            Err(_) => {}
        }
    }
    Ok(queues)
}

/// The columns of a [`JobSummary`].
fn summary_columns() -> String {
    format!(
        "id, job_type AS queue, {STATE_OF} AS state, attempts, max_attempts, run_at, done_at, \
         left(split_part(COALESCE(last_result ->> 'Err', ''), E'\\n', 1), 200) AS last_error"
    )
}

/// Jobs matching `filter`, newest first.
pub async fn list(db: &PgPool, filter: &Filter) -> sqlx::Result<Vec<JobSummary>> {
    let mut jobs: Vec<JobSummary> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM (SELECT {} FROM apalis.jobs) AS j \
         WHERE ($1::text IS NULL OR queue = $1) AND ($2::text IS NULL OR state = $2) \
         ORDER BY run_at DESC, id DESC LIMIT $3",
        summary_columns()
    )))
    .bind(filter.queue.as_deref())
    .bind(filter.state.map(State::as_str))
    .bind(filter.limit)
    .fetch_all(db)
    .await?;
    for job in &mut jobs {
        if job.last_error.as_deref() == Some("") {
            job.last_error = None;
        }
    }
    Ok(jobs)
}

/// What [`show`] reads besides the summary.
type DetailColumns = (
    String,
    Option<String>,
    Option<serde_json::Value>,
    Option<String>,
    Option<DateTime<Utc>>,
);

/// One job, or `None`.
pub async fn show(db: &PgPool, id: &str) -> sqlx::Result<Option<JobDetail>> {
    let Some(mut summary) = sqlx::query_as::<_, JobSummary>(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM apalis.jobs WHERE id = $1",
        summary_columns()
    )))
    .bind(id)
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    if summary.last_error.as_deref() == Some("") {
        summary.last_error = None;
    }
    let (status, payload, last_result, lock_by, lock_at): DetailColumns = sqlx::query_as(
        "SELECT status, convert_from(job, 'UTF8'), last_result, lock_by, lock_at \
         FROM apalis.jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await?;
    let payload = payload
        .map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
        .unwrap_or_default();
    Ok(Some(JobDetail {
        summary,
        status,
        payload,
        last_result,
        lock_by,
        lock_at,
    }))
}

/// What an operator's repair did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Repair {
    /// Done: the job is now in `state`.
    Changed { state: State },
    /// Nothing done: the job is in `state`, where this repair does not apply.
    Refused { state: StateName, why: &'static str },
    /// There is no such job.
    Missing,
}

/// Runs a dead job again, now: it becomes `pending` with one more attempt allowed than it
/// has used (its attempt count carries on), and its queue's worker is woken. Only dead jobs:
/// a retrying one will run anyway, and a done one did its work.
pub async fn retry(db: &PgPool, id: &str) -> sqlx::Result<Repair> {
    let mut tx = db.begin().await?;
    let Some(state) = locked_state(&mut tx, id).await? else {
        return Ok(Repair::Missing);
    };
    if state.0 != State::Dead.as_str() {
        return Ok(Repair::Refused {
            state,
            why: "only a dead job is retried",
        });
    }
    sqlx::query(
        "UPDATE apalis.jobs SET status = 'Pending', run_at = now(), \
             max_attempts = GREATEST(max_attempts, attempts + 1), \
             lock_by = NULL, lock_at = NULL, done_at = NULL \
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    // apalis-postgres wakes workers on INSERT only; this is the same notice, so the job runs
    // now rather than at the worker's next poll.
    sqlx::query(
        "SELECT pg_notify('apalis::job::insert', \
             json_build_object('job_type', job_type, 'id', id, 'run_at', run_at)::text) \
         FROM apalis.jobs WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Repair::Changed {
        state: State::Pending,
    })
}

/// Returns to the queue every job still claimed under one of `claimants` (this process's
/// workers, at shutdown): fetched and not started, or cut off by the shutdown's deadline. Each
/// runs again from the start on whichever worker takes it next, which every job allows (they
/// are idempotent). Other workers are told at once, as for [`retry`]. How many were given back.
pub async fn give_back(db: &PgPool, claimants: &[String]) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    let returned: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
         WHERE lock_by = ANY($1) AND status IN ('Queued', 'Running') \
         RETURNING id, job_type, run_at",
    )
    .bind(claimants)
    .fetch_all(&mut *tx)
    .await?;
    for (id, job_type, run_at) in &returned {
        sqlx::query(
            "SELECT pg_notify('apalis::job::insert', \
                 json_build_object('job_type', $1::text, 'id', $2::text, 'run_at', $3)::text)",
        )
        .bind(job_type)
        .bind(id)
        .bind(run_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(u64::try_from(returned.len()).unwrap_or(u64::MAX))
}

/// Stops a job that has not run to the end from ever running (again): it becomes dead, with
/// the reason in its record. A running job is refused: its worker would overwrite the state
/// when it finishes (stop the origin, or wait for it).
pub async fn kill(db: &PgPool, id: &str) -> sqlx::Result<Repair> {
    let mut tx = db.begin().await?;
    let Some(state) = locked_state(&mut tx, id).await? else {
        return Ok(Repair::Missing);
    };
    let why = match state.0.parse::<State>() {
        Ok(State::Pending | State::Retrying) => None,
        Ok(State::Running) => Some("a running job cannot be killed; wait for it to end"),
        Ok(State::Dead) => Some("there is nothing left to stop"),
        Ok(State::Done) => Some("it ran to the end"),
        Err(_) => Some("its state is not one this version knows"),
    };
    if let Some(why) = why {
        return Ok(Repair::Refused { state, why });
    }
    sqlx::query(
        "UPDATE apalis.jobs SET status = 'Killed', done_at = now(), \
             last_result = jsonb_build_object('Err', 'killed by an operator') \
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Repair::Changed { state: State::Dead })
}

/// The job's state, its row locked until the transaction ends (so a worker cannot take it
/// meanwhile).
async fn locked_state(tx: &mut sqlx::PgConnection, id: &str) -> sqlx::Result<Option<StateName>> {
    let state: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {STATE_OF} FROM apalis.jobs WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await?;
    Ok(state.map(StateName))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_from_their_names() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>(), Ok(state));
        }
        let error = "stuck".parse::<State>().unwrap_err();
        assert!(
            error.contains("pending, running, retrying, dead or done"),
            "{error}"
        );
    }
}
