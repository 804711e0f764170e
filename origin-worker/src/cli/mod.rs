//! The binary's commands, as clap subcommands (`origin-worker --help` lists them). A bare
//! `origin-worker` serves.
//!
//! Exit codes: 2 for a command line or configuration error (the message names the variable),
//! 1 when `check-edge` or `resync-edge` leaves D1 out of sync or a command fails (a product
//! or a job that does not exist, a repair that does not apply, too).
//!
//! - [`job_queues`]: `jobs counts|list|show|retry|kill`;
//! - [`table`]: the aligned tables they print.

mod job_queues;
mod table;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio::sync::watch;

use domain::ProductId;
use domain::orders::{NewProduct, Product};

use crate::audit;
use crate::orders::catalogue;
use crate::replication::push;
use crate::settings::Settings;
use crate::state::{AppState, JobContext};
use crate::supervisor::stopped;
use crate::{api, db, jobs, payments, telemetry};
use table::Table;

/// The origin: Postgres as the source of truth, the signed internal API the edge forwards
/// writes to, its jobs, and the operator commands.
#[derive(Debug, Parser)]
#[command(name = "origin-worker", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
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
    /// Apply a stored Stripe event again (one that failed, or to check): an event already
    /// applied changes nothing and says what it did then
    ReplayWebhook {
        /// The event's id (`evt_…`)
        event_id: String,
    },
    /// The job queues: counts per state, jobs, one job; retry a dead job, kill one
    Jobs {
        #[command(subcommand)]
        command: job_queues::JobsCommand,
    },
    /// The catalogue: list, add, retire or restore products (the edge's list follows)
    Products {
        #[command(subcommand)]
        command: ProductsCommand,
    },
    /// Exit 0 if the origin on this machine answers `/health/` with 200, 1 otherwise (a
    /// container's HEALTHCHECK). Reads only `LISTEN_ADDR`; never touches the database
    HealthCheck {
        /// The URL to ask instead of `/health/` on `LISTEN_ADDR`
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
enum ProductsCommand {
    /// Every product, on sale or not
    List {
        /// One JSON array instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Add a product, on sale at once
    Add {
        #[arg(long)]
        name: String,
        /// In the smallest unit of the currency (cents), 1 to 99,999,999
        #[arg(long)]
        price_cents: i64,
        /// ISO 4217 code
        #[arg(long, default_value = "usd")]
        currency: String,
        /// The product as JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Take a product off sale (placed orders keep it)
    Retire { id: i64 },
    /// Put a retired product on sale again
    Restore { id: i64 },
    /// Add the demo catalogue if there are no products yet (`./dev run` does, on each start)
    SeedDemo,
}

/// Parses the command line and runs the command. Every command applies the migrations first.
pub async fn main() -> anyhow::Result<ExitCode> {
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    if let Command::HealthCheck { url } = command {
        return Ok(health_check(url).await);
    }
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
        Command::Products { command } => return products(&state, command).await,
        Command::Jobs { command } => return job_queues::run(&state.db, command).await,
        // Answered above, before the settings are read.
        Command::HealthCheck { url } => return Ok(health_check(url).await),
        Command::ReplayWebhook { event_id } => {
            return Ok(match payments::events::apply(&state, &event_id).await {
                Ok(outcome) => {
                    println!("{event_id}: {outcome}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("origin-worker: {event_id}: {e:#}");
                    ExitCode::FAILURE
                }
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn products(state: &AppState, command: ProductsCommand) -> anyhow::Result<ExitCode> {
    let (shown, json) = match command {
        ProductsCommand::List { json } => (catalogue::list(state).await?, json),
        ProductsCommand::Add {
            name,
            price_cents,
            currency,
            json,
        } => match NewProduct::parse(&name, price_cents, &currency) {
            Ok(product) => (vec![catalogue::add(state, &product).await?], json),
            Err(problem) => {
                eprintln!("origin-worker: {problem}");
                return Ok(ExitCode::from(2));
            }
        },
        ProductsCommand::Retire { id } | ProductsCommand::Restore { id } => {
            let active = matches!(command, ProductsCommand::Restore { .. });
            let changed = match ProductId::parse(&id.to_string()) {
                Some(id) => catalogue::set_active(state, id, active).await?,
                None => None,
            };
            let Some(product) = changed else {
                eprintln!("origin-worker: there is no product {id}");
                return Ok(ExitCode::FAILURE);
            };
            (vec![product], false)
        }
        ProductsCommand::SeedDemo => {
            let added = catalogue::seed_demo(state).await?;
            if added.is_empty() {
                println!("the catalogue has products already; nothing added");
                return Ok(ExitCode::SUCCESS);
            }
            (added, false)
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&shown)?);
    } else {
        print!("{}", products_table(&shown));
    }
    Ok(ExitCode::SUCCESS)
}

/// Products as an aligned table, with a count.
fn products_table(products: &[Product]) -> String {
    let mut table = Table::new(&["#ID", "NAME", "#PRICE", "CURRENCY", "STATE"]);
    for p in products {
        table.row(vec![
            p.id.to_string(),
            p.name.clone(),
            format!("{}.{:02}", p.price_cents / 100, p.price_cents % 100),
            p.currency.as_str().to_uppercase(),
            if p.active { "on sale" } else { "retired" }.to_owned(),
        ]);
    }
    format!("{table}{} product(s)\n", products.len())
}

/// 0 when D1 matches Postgres, 1 otherwise.
fn in_sync(report: &audit::Report) -> ExitCode {
    if report.in_sync() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `origin-worker health-check`: `/health/` on the address `LISTEN_ADDR` names (a wildcard
/// address is asked on loopback), or `url`.
async fn health_check(url: Option<String>) -> ExitCode {
    let url = url.unwrap_or_else(|| {
        let listen = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:8700".to_owned());
        match listen.parse::<std::net::SocketAddr>() {
            Ok(addr) if addr.ip().is_unspecified() => {
                format!("http://127.0.0.1:{}/health/", addr.port())
            }
            _ => format!("http://{listen}/health/"),
        }
    });
    let answer = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(client) => client.get(&url).send().await,
        Err(e) => {
            eprintln!("origin-worker health-check: {e}");
            return ExitCode::FAILURE;
        }
    };
    match answer {
        Ok(answer) if answer.status() == reqwest::StatusCode::OK => ExitCode::SUCCESS,
        Ok(answer) => {
            eprintln!(
                "origin-worker health-check: {url} answered {}",
                answer.status()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("origin-worker health-check: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// JSON log lines on stdout, filtered by `RUST_LOG`; and spans over OTLP when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set ([`telemetry`]).
fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,apalis=warn"));
    let lines = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false);
    let (exporter, problem) = match telemetry::layer() {
        Ok(exporter) => (exporter, None),
        Err(problem) => (None, Some(problem)),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(exporter)
        .init();
    if let Some(problem) = problem {
        tracing::error!(error = %problem, "spans are not exported");
    }
}

/// The HTTP client for calls to the edge.
pub fn edge_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .build()?)
}

/// Serves the API, the operator page and every job worker until SIGTERM or SIGINT, then shuts
/// down within `SHUTDOWN_DEADLINE_SECS`: no new connections or jobs are taken, requests and jobs
/// in flight finish, and at the deadline whatever is still running is dropped. Either way every
/// job still claimed by this process goes back to the queue before it exits, so none waits for
/// its heartbeat to go stale on another worker.
async fn serve(state: AppState) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(state.settings.listen_addr).await?;
    tracing::info!(addr = %state.settings.listen_addr, "origin listening");
    let server = axum::serve(listener, api::router(state.clone()))
        .with_graceful_shutdown(stopped(stop_rx.clone()));

    let ctx = JobContext {
        state: state.clone(),
        client: edge_client()?,
    };
    let sweep_every = Duration::from_secs(state.settings.replication_sweep_secs);
    let operator = operator_page(&state, stop_rx.clone());
    let workers = jobs::run(ctx, sweep_every, stop_rx);
    let everything = async {
        let (http, operator, jobs) = tokio::join!(
            async { server.await.map_err(anyhow::Error::from) },
            operator,
            workers
        );
        http.and(operator).and(jobs)
    };
    tokio::pin!(everything);

    let ended = tokio::select! {
        // Everything ended before any signal (only errors end it).
        ended = &mut everything => {
            let _ = stop_tx.send(true);
            ended
        }
        () = shutdown_signal() => {
            let deadline = state.settings.shutdown_deadline;
            tracing::info!(
                deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
                "shutting down: finishing the requests and jobs in flight"
            );
            let _ = stop_tx.send(true);
            tokio::time::timeout(deadline, &mut everything)
                .await
                .unwrap_or_else(|_| {
                    tracing::warn!("the shutdown deadline passed: dropping what still runs");
                    Ok(())
                })
        }
    };
    give_back_claimed(&state).await;
    telemetry::flush();
    ended
}

/// Returns this process's claimed jobs to the queue ([`jobs::queues::give_back`]), and says how
/// many in the log. A failure is logged: the jobs then come back when another worker sees this
/// one's heartbeat go stale.
async fn give_back_claimed(state: &AppState) {
    match jobs::queues::give_back(&state.db, &state.workers.claimants()).await {
        Ok(0) => tracing::info!("no job left claimed"),
        Ok(returned) => tracing::info!(returned, "jobs returned to the queue"),
        Err(e) => tracing::error!(
            error = %e,
            "jobs could not be returned to the queue: they return once this worker's heartbeat \
             is stale"
        ),
    }
}

/// Serves the operator page on its own listener until `stop`, when `OPERATOR_LISTEN_ADDR` is
/// set.
async fn operator_page(state: &AppState, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let settings = &state.settings.operator;
    let Some(addr) = settings.listen_addr else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(
        addr = %addr,
        token = settings.token.is_some(),
        "operator page listening"
    );
    let page = crate::operator::router(state.clone(), settings.token.clone());
    axum::serve(listener, page)
        .with_graceful_shutdown(stopped(stop))
        .await?;
    Ok(())
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
