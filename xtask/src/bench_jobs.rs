//! `cargo xtask bench-jobs [--runs N] [--jobs N]`: the job queue's benchmark
//! (`origin-worker/benches/jobs.rs`) against a private Postgres cluster of its own.
//!
//! The bench is built first (release, as `cargo bench` builds), so that the cluster does not
//! idle through a long link; then the cluster starts in a temporary folder on a free port, the
//! bench runs with `DATABASE_URL` pointing at it and its output shown as it comes, and the
//! cluster and the folder go. The bench prints its own progress and table.

use std::process::{Command, ExitCode};

use anyhow::{Result, bail};

use crate::postgres::Postgres;
use crate::process;
use crate::shutdown::Shutdown;
use crate::stack::Ports;
use crate::tempdir::TempDir;
use crate::ui::{ROOT, note, say};

/// What `cargo xtask bench-jobs` was asked for.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Runs of every measurement (the table shows their medians).
    pub runs: u32,
    /// No-op jobs per throughput run.
    pub jobs: u32,
}

/// Builds and runs the bench; its exit code.
pub async fn run(settings: Settings, shutdown: &Shutdown) -> Result<ExitCode> {
    say("Building the job benchmark (release)");
    let built = process::run_foreground(bench_command(&["--no-run"]), shutdown).await?;
    if !built.success() {
        bail!("the job benchmark did not build");
    }
    // Declared before the cluster, so dropped after it: the folder goes once Postgres is down.
    let state = TempDir::new("ptb-bench-jobs")?;
    let port = Ports::free()?.postgres;
    let postgres = Postgres::start(&state.path().join("pg"), port, shutdown).await?;
    note(format!(
        "a private Postgres cluster in {}",
        state.path().display()
    ));

    say(format!(
        "Job benchmark: {} runs of {} jobs (several minutes)",
        settings.runs, settings.jobs
    ));
    let runs = settings.runs.to_string();
    let jobs = settings.jobs.to_string();
    let mut bench = bench_command(&["--", "--runs", &runs, "--jobs", &jobs]);
    bench.env(
        "DATABASE_URL",
        format!("postgres://postgres@127.0.0.1:{port}/app"),
    );
    let status = process::run_foreground(bench, shutdown).await?;
    drop(postgres);
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `cargo bench -p origin-worker --bench jobs` with `extra` arguments, from the workspace root.
fn bench_command(extra: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command
        .current_dir(&*ROOT)
        .args(["bench", "--quiet", "-p", "origin-worker", "--bench", "jobs"])
        .args(extra);
    command
}
