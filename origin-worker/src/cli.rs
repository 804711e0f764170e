//! The binary's commands, as clap subcommands (`origin-worker --help` lists them). A bare
//! `origin-worker` serves.
//!
//! Exit codes: 2 for a command line or configuration error (the message names the variable),
//! 1 when `check-edge` or `resync-edge` leaves D1 out of sync or a command fails.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio::sync::watch;

use crate::audit;
use crate::replication::push;
use crate::settings::Settings;
use crate::state::{AppState, JobContext};
use crate::supervisor::stopped;
use crate::{api, db, jobs};

/// The origin: Postgres as the source of truth, the signed internal API the edge forwards
/// writes to, its jobs, and the operator commands.
#[derive(Debug, Parser)]
#[command(name = "origin-worker", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
enum Command {
    /// Serve the internal API and run every job worker until SIGINT/SIGTERM (the default)
    Serve,
    /// Apply the migrations and exit
    Migrate,
    /// Deliver pending change records to the edge now, and exit
    Push,
    /// Compare D1 with Postgres (counts and per-row versions); exit 1 on any difference
    CheckEdge,
    /// Repair D1: write and push change records for every difference (safe while serving);
    /// exit 1 if still out of sync
    ResyncEdge,
}

/// Parses the command line and runs the command. Every command applies the migrations first.
pub async fn main() -> anyhow::Result<ExitCode> {
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    init_tracing();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("origin-worker: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let pool = db::connect(&settings, Duration::from_secs(30)).await?;
    db::migrate(&pool).await?;
    let state = AppState::new(pool, settings);
    match command {
        Command::Serve => serve(state).await?,
        Command::Migrate => tracing::info!("migrations applied"),
        Command::Push => {
            let pushed = push::push_pending(&state, &edge_client()?).await?;
            tracing::info!(pushed, "pending changes delivered");
        }
        Command::CheckEdge => {
            let report = audit::check(&state, &edge_client()?).await?;
            println!("{report}");
            return Ok(in_sync(&report));
        }
        Command::ResyncEdge => {
            let written = audit::resync(&state, &edge_client()?, |line| println!("{line}")).await?;
            let report = audit::check(&state, &edge_client()?).await?;
            println!("{written} change records written\n{report}");
            return Ok(in_sync(&report));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// 0 when D1 matches Postgres, 1 otherwise.
fn in_sync(report: &audit::Report) -> ExitCode {
    if report.in_sync() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,apalis=warn"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .init();
}

/// The HTTP client for calls to the edge.
pub fn edge_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .build()?)
}

async fn serve(state: AppState) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let listener = tokio::net::TcpListener::bind(state.settings.listen_addr).await?;
    tracing::info!(addr = %state.settings.listen_addr, "origin listening");
    let server = axum::serve(listener, api::router(state.clone()))
        .with_graceful_shutdown(stopped(stop_rx.clone()));

    let ctx = JobContext {
        state: state.clone(),
        client: edge_client()?,
    };
    let sweep_every = Duration::from_secs(state.settings.replication_sweep_secs);
    let workers = jobs::run(ctx, sweep_every, stop_rx);

    let (http_result, jobs_result) =
        tokio::join!(async { server.await.map_err(anyhow::Error::from) }, workers);
    http_result?;
    jobs_result
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminated => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
