//! After a fault: what Postgres, the edge, the job queue and the origin say, polled until they
//! agree with what the clients were told (or the time allowed runs out), then `check-edge`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::api::Api;
use crate::postgres::Psql;
use crate::shutdown::Shutdown;
use crate::stack::Endpoints;

/// How long after the fault's end everything must agree: every write answered and stored once,
/// visible at the edge, every job done, the origin ready.
pub const CONVERGE_LIMIT: Duration = Duration::from_secs(30);

/// Replication jobs of apalis-postgres's table that are still to run: waiting (`Pending`),
/// fetched (`Queued`), running, or failed with attempts left (fetched again). Dead ones are
/// `Killed`, or `Failed` with none left. The queue's name is the origin's `REPLICATE_QUEUE`.
const JOBS_SQL: &str = "SELECT \
     count(*) FILTER (WHERE status IN ('Pending', 'Queued', 'Running') \
                      OR (status = 'Failed' AND attempts < max_attempts)), \
     count(*) FILTER (WHERE status = 'Killed' \
                      OR (status = 'Failed' AND attempts >= max_attempts)) \
     FROM apalis.jobs WHERE job_type = 'replicate'";

/// Where to look.
#[derive(Debug)]
pub struct Probe<'a> {
    pub edge: &'a Api,
    pub origin: &'a Api,
    pub psql: &'a Psql,
    pub token: &'a str,
    pub project: i64,
    pub prefix: &'a str,
}

/// The replication queue's jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Jobs {
    pub pending: i64,
    pub dead: i64,
}

/// One look at everything; an unreadable part is its error's text.
#[derive(Debug)]
pub struct Snapshot {
    /// This scenario's task titles in Postgres, sorted.
    pub postgres: Result<Vec<String>, String>,
    /// The same as the edge lists them, sorted.
    pub edge: Result<Vec<String>, String>,
    pub jobs: Result<Jobs, String>,
    /// The origin's `/ready/` answered 200; else what it answered (which worker is not
    /// running, or that Postgres is down).
    pub ready: Result<(), String>,
}

impl Snapshot {
    /// What does not agree yet: Postgres or the edge holding other than exactly the
    /// acknowledged writes (`acked`, sorted) each once, jobs left to run, the origin not ready.
    pub fn unsettled(&self, acked: &[String]) -> Vec<&'static str> {
        let mut waiting = Vec::new();
        if self.postgres.as_deref() != Ok(acked) {
            waiting.push("Postgres rows");
        }
        if self.edge.as_deref() != Ok(acked) {
            waiting.push("edge rows");
        }
        if !self.jobs.as_ref().is_ok_and(|jobs| jobs.pending == 0) {
            waiting.push("replication jobs");
        }
        if self.ready.is_err() {
            waiting.push("/ready/");
        }
        waiting
    }
}

impl Probe<'_> {
    pub async fn snapshot(&self) -> Snapshot {
        let sorted = |mut titles: Vec<String>| {
            titles.sort_unstable();
            titles
        };
        Snapshot {
            postgres: self
                .postgres_titles()
                .await
                .map(sorted)
                .map_err(|e| format!("{e:#}")),
            edge: self
                .edge
                .task_titles(self.token, self.project)
                .await
                .map(sorted)
                .map_err(|e| format!("{e:#}")),
            jobs: self.jobs().await.map_err(|e| format!("{e:#}")),
            ready: match self.origin.get("/ready/", None).await {
                Ok(reply) if reply.status == 200 => Ok(()),
                Ok(reply) => Err(format!("{} {}", reply.status, reply.body)),
                Err(failure) => Err(failure.to_string()),
            },
        }
    }

    async fn postgres_titles(&self) -> Result<Vec<String>> {
        // Both values are made by the suite (a number, letters, digits and dashes).
        let rows = self
            .psql
            .query(&format!(
                "SELECT title FROM tasks WHERE project_id = {} AND title LIKE '{}-%'",
                self.project, self.prefix
            ))
            .await?;
        Ok(rows.lines().map(str::to_owned).collect())
    }

    pub async fn jobs(&self) -> Result<Jobs> {
        let row = self.psql.query(JOBS_SQL).await?;
        let (pending, dead) = row
            .trim()
            .split_once('|')
            .with_context(|| format!("unexpected answer {row:?}"))?;
        Ok(Jobs {
            pending: pending.parse()?,
            dead: dead.parse()?,
        })
    }

    /// Looks until everything agrees with `acked` (sorted) or [`CONVERGE_LIMIT`] has passed
    /// since `recovered`.
    pub async fn settle(
        &self,
        acked: &[String],
        recovered: Instant,
        shutdown: &Shutdown,
    ) -> Result<Settled> {
        let deadline = recovered + CONVERGE_LIMIT;
        let mut waited_for = Vec::new();
        loop {
            let snapshot = self.snapshot().await;
            let waiting = snapshot.unsettled(acked);
            if waiting.is_empty() {
                return Ok(Settled {
                    snapshot,
                    converged: Some(recovered.elapsed()),
                    waited_for,
                });
            }
            if Instant::now() >= deadline {
                return Ok(Settled {
                    snapshot,
                    converged: None,
                    waited_for: waiting,
                });
            }
            waited_for = waiting;
            shutdown.sleep(Duration::from_millis(500)).await?;
        }
    }
}

/// The end of [`Probe::settle`].
#[derive(Debug)]
pub struct Settled {
    /// The last look.
    pub snapshot: Snapshot,
    /// When everything agreed, since the fault's end; `None` if not within the limit.
    pub converged: Option<Duration>,
    /// What the last look before agreement (or the last look) was still waiting for.
    pub waited_for: Vec<&'static str>,
}

/// Runs `origin-worker check-edge` against the stack, as an operator would; whether it exited
/// 0 ("in sync"), and its report (or why it could not run).
pub async fn check_edge(endpoints: &Endpoints, shutdown: &Shutdown) -> Result<(bool, String)> {
    let mut command = tokio::process::Command::new(&endpoints.origin_bin);
    command
        .arg("check-edge")
        .env("ENVIRONMENT", "development")
        .env("DATABASE_URL", endpoints.database_url())
        .env("EDGE_URL", endpoints.edge_url())
        .envs(endpoints.secrets.vars())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::select! {
        output = tokio::time::timeout(Duration::from_mins(2), command.output()) => output,
        signal = shutdown.wait() => return Err(signal.into()),
    };
    Ok(match output {
        Ok(Ok(output)) => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            // The report is on stdout; a failure to run says why on stderr.
            let report = if output.status.success() {
                stdout.trim().to_owned()
            } else {
                format!("{}\n{}", stdout.trim(), stderr.trim())
                    .trim()
                    .to_owned()
            };
            (output.status.success(), report)
        }
        Ok(Err(e)) => (false, format!("could not run check-edge: {e}")),
        Err(_) => (false, "check-edge took over 120 s".to_owned()),
    })
}
