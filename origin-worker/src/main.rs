//! The origin worker binary; everything lives in the library.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    origin_worker::cli::main().await
}
