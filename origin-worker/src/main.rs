//! The origin worker binary; everything lives in the library.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    origin_worker::cli::main().await
}
