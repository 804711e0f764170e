//! The binary's commands.
//!
//! - `serve` (default): the internal API and every job worker, until SIGINT/SIGTERM;
//! - `migrate`: apply migrations and exit;
//! - `push`: deliver pending change records to the edge now, and exit;
//! - `check-edge`: compare D1 with Postgres (counts and per-row versions); exit 1 on any
//!   difference;
//! - `resync-edge`: write and push change records for every difference (safe while live).

use std::time::Duration;

use tokio::sync::watch;

use crate::jobs::{self, JobContext};
use crate::settings::Settings;
use crate::state::AppState;
use crate::{db, http, replication};

const USAGE: &str = "usage: origin-worker [serve | migrate | push | check-edge | resync-edge]";

/// Parses the command line and runs the command.
pub async fn main() -> anyhow::Result<()> {
    init_tracing();
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    if !matches!(
        command.as_str(),
        "serve" | "migrate" | "push" | "check-edge" | "resync-edge"
    ) {
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("origin-worker: {e}");
            std::process::exit(2);
        }
    };
    let pool = db::connect(&settings, Duration::from_secs(30)).await?;
    db::migrate(&pool).await?;
    let state = AppState::new(pool, settings);
    match command.as_str() {
        "migrate" => {
            tracing::info!("migrations applied");
            Ok(())
        }
        "push" => {
            let pushed = replication::push::push_pending(&state, &edge_client()?).await?;
            tracing::info!(pushed, "pending changes delivered");
            Ok(())
        }
        "check-edge" => {
            let report = replication::audit::check(&state, &edge_client()?).await?;
            println!("{report}");
            if !report.in_sync() {
                std::process::exit(1);
            }
            Ok(())
        }
        "resync-edge" => {
            let written =
                replication::audit::resync(&state, &edge_client()?, |line| println!("{line}"))
                    .await?;
            let report = replication::audit::check(&state, &edge_client()?).await?;
            println!("{written} change records written\n{report}");
            if !report.in_sync() {
                std::process::exit(1);
            }
            Ok(())
        }
        _ => serve(state).await,
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
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let listener = tokio::net::TcpListener::bind(state.settings.listen_addr).await?;
    tracing::info!(addr = %state.settings.listen_addr, "origin listening");
    let server = axum::serve(listener, http::router(state.clone()))
        .with_graceful_shutdown(stopped(stop_rx.clone()));

    let ctx = JobContext {
        state: state.clone(),
        client: edge_client()?,
    };
    let sweep_every = Duration::from_secs(state.settings.replication_sweep_secs);
    let workers = jobs::run(ctx, sweep_every, stopped(stop_rx));

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
