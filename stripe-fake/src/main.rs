//! `stripe-fake`: the fake Stripe server as a process, configured by flags or environment
//! (`stripe-fake --help`). Everything else lives in the library.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use stripe_fake::{Config, Server};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let server = Server::start(config.clone())
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    // The URL's origin and path only: a query string could hold a token.
    let webhook_url = config
        .webhook_url
        .as_ref()
        .map(|url| format!("{}{}", url.origin().ascii_serialization(), url.path()));
    tracing::info!(
        api = server.url(),
        webhook_url,
        api_keys = config.api_keys.len(),
        webhook_secrets = config.webhook_secrets.len(),
        api_version = config.api_version,
        "fake Stripe listening"
    );
    shutdown_signal().await?;
    tracing::info!("fake Stripe stopping");
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("cannot listen for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}
