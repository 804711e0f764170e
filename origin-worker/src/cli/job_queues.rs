//! `origin-worker jobs …`: the queues as an operator sees them ([`crate::jobs::queues`]), as
//! tables or, with `--json`, as JSON.

use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use sqlx::PgPool;

use super::table::Table;
use crate::jobs::queues::{self, Filter, JobSummary, QueueCounts, Repair, State};

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum JobsCommand {
    /// How many jobs each queue has in each state (pending, running, retrying, dead, done)
    Counts {
        #[arg(long)]
        json: bool,
    },
    /// Jobs, newest first, after the counts
    List {
        /// Only this queue (`email`, `stripe-event`, `replicate`)
        #[arg(long)]
        queue: Option<String>,
        /// Only jobs in this state: pending, running, retrying, dead or done
        #[arg(long)]
        state: Option<State>,
        /// At most this many jobs (1 to 1000)
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One job in full: its payload, its last result and its worker
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Run a dead job again, now (one more attempt; its count carries on)
    Retry { id: String },
    /// Make a pending or retrying job dead, so that it never runs again
    Kill { id: String },
}

/// Runs the command; exit 1 when the job does not exist or the repair does not apply.
pub async fn run(db: &PgPool, command: JobsCommand) -> anyhow::Result<ExitCode> {
    match command {
        JobsCommand::Counts { json } => {
            let counts = queues::counts(db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&counts)?);
            } else {
                print!("{}", counts_table(&counts));
            }
        }
        JobsCommand::List {
            queue,
            state,
            limit,
            json,
        } => {
            let filter = Filter {
                queue,
                state,
                limit,
            };
            let counts = queues::counts(db).await?;
            let jobs = queues::list(db, &filter).await?;
            if json {
                let shown = serde_json::json!({"counts": counts, "jobs": jobs});
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                print!("{}\n{}", counts_table(&counts), jobs_table(&jobs, &filter));
            }
        }
        JobsCommand::Show { id, json } => {
            let Some(job) = queues::show(db, &id).await? else {
                eprintln!("origin-worker: there is no job {id}");
                return Ok(ExitCode::FAILURE);
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                let summary = &job.summary;
                let mut table = Table::new(&["FIELD", "VALUE"]);
                let mut field = |name: &str, value: String| table.row(vec![name.into(), value]);
                field("id", summary.id.clone());
                field("queue", summary.queue.clone());
                field(
                    "state",
                    format!("{} (apalis: {})", summary.state, job.status),
                );
                field(
                    "attempts",
                    format!("{} of {}", summary.attempts, summary.max_attempts),
                );
                field("run at", time(summary.run_at));
                field("done at", summary.done_at.map_or_else(String::new, time));
                field("worker", job.lock_by.clone().unwrap_or_default());
                field("locked at", job.lock_at.map_or_else(String::new, time));
                field("payload", job.payload.to_string());
                field(
                    "last result",
                    job.last_result
                        .as_ref()
                        .map_or_else(String::new, ToString::to_string),
                );
                print!("{table}");
            }
        }
        JobsCommand::Retry { id } => return Ok(repaired(&id, queues::retry(db, &id).await?)),
        JobsCommand::Kill { id } => return Ok(repaired(&id, queues::kill(db, &id).await?)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Says what a repair did; exit 1 unless it changed the job.
fn repaired(id: &str, repair: Repair) -> ExitCode {
    match repair {
        Repair::Changed { state } => {
            println!("{id}: now {state}");
            ExitCode::SUCCESS
        }
        Repair::Refused { state, why } => {
            eprintln!("origin-worker: {id} is {state}: {why}");
            ExitCode::FAILURE
        }
        Repair::Missing => {
            eprintln!("origin-worker: there is no job {id}");
            ExitCode::FAILURE
        }
    }
}

/// One row per queue, one column per state, and a total row.
fn counts_table(counts: &[QueueCounts]) -> String {
    let mut table = Table::new(&[
        "QUEUE",
        "#PENDING",
        "#RUNNING",
        "#RETRYING",
        "#DEAD",
        "#DONE",
    ]);
    let mut total = QueueCounts {
        queue: "(all)".into(),
        ..QueueCounts::default()
    };
    for queue in counts {
        total.pending += queue.pending;
        total.running += queue.running;
        total.retrying += queue.retrying;
        total.dead += queue.dead;
        total.done += queue.done;
    }
    for queue in counts.iter().chain(std::iter::once(&total)) {
        let mut row = vec![queue.queue.clone()];
        row.extend(State::ALL.map(|state| queue.of(state).to_string()));
        table.row(row);
    }
    table.to_string()
}

fn jobs_table(jobs: &[JobSummary], filter: &Filter) -> String {
    let mut table = Table::new(&["ID", "QUEUE", "STATE", "#ATTEMPTS", "RUN AT", "LAST ERROR"]);
    for job in jobs {
        table.row(vec![
            job.id.clone(),
            job.queue.clone(),
            job.state.to_string(),
            format!("{}/{}", job.attempts, job.max_attempts),
            time(job.run_at),
            job.last_error.clone().unwrap_or_default(),
        ]);
    }
    let what = match (&filter.queue, filter.state) {
        (Some(queue), Some(state)) => format!("{state} job(s) in {queue}"),
        (Some(queue), None) => format!("job(s) in {queue}"),
        (None, Some(state)) => format!("{state} job(s)"),
        (None, None) => "job(s)".into(),
    };
    let shown = if table.is_empty() {
        String::new()
    } else {
        table.to_string()
    };
    let limited = if i64::try_from(jobs.len()).unwrap_or(i64::MAX) == filter.limit {
        format!(" (the newest {}; --limit for more)", filter.limit)
    } else {
        String::new()
    };
    format!("{shown}{} {what}{limited}\n", jobs.len())
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
