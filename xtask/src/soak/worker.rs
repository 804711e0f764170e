//! The worker's own memory, apart from the `workerd` process around it: the JavaScript heap of
//! its isolate (through the inspector `wrangler dev --inspector-port` opens, after a full
//! garbage collection, so what is left is what is still referenced) and its wasm linear memory
//! (the edge's origin-signed `GET /internal/isolate/`).
//!
//! If both stay flat while the process grows, the growth is the runtime's (its allocator, the
//! local D1's SQLite), not the worker's.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use domain::signing::{self, Direction, SignedParts};
use domain::wire::IsolateStats;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::secrets::Secrets;

/// How long one reading may take (a full collection included).
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The worker's memory at one moment, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerMemory {
    /// The JavaScript heap still in use after a full collection, when it was read.
    pub js_heap_used: Option<u64>,
    /// The JavaScript heap V8 has reserved, when it was read.
    pub js_heap_total: Option<u64>,
    /// The wasm linear memory (the Rust heap's high-water mark).
    pub linear_memory: u64,
    /// Requests the isolate has handled: a drop means a new isolate, whose memory starts over.
    pub requests_handled: u64,
}

/// Where to read it.
#[derive(Debug)]
pub struct WorkerProbe {
    pub http: reqwest::Client,
    pub edge_url: String,
    pub inspector_port: u16,
    /// `/internal/` answers only requests signed with the origin's secret.
    pub secrets: Secrets,
}

impl WorkerProbe {
    /// Reads the wasm memory, and the JavaScript heap too when `js_heap` is set: that takes an
    /// inspector session and a full collection, which stall the isolate for 1 to 5 s (the soak
    /// measured it), so the soak reads it only at rest, before and after the load.
    pub async fn read(&self, js_heap: bool) -> Result<WorkerMemory> {
        let (used, total) = if js_heap {
            let (used, total) = tokio::time::timeout(READ_TIMEOUT, self.js_heap())
                .await
                .context("the inspector did not answer in time")??;
            (Some(used), Some(total))
        } else {
            (None, None)
        };
        let isolate = self.isolate().await?;
        Ok(WorkerMemory {
            js_heap_used: used,
            js_heap_total: total,
            linear_memory: isolate
                .linear_memory_bytes
                .context("the edge reports no linear memory (not running as wasm?)")?,
            requests_handled: isolate.requests_handled,
        })
    }

    /// `HeapProfiler.collectGarbage`, then `Runtime.getHeapUsage`: (used, total) bytes.
    async fn js_heap(&self) -> Result<(u64, u64)> {
        let targets: Value = self
            .http
            .get(format!("http://127.0.0.1:{}/json", self.inspector_port))
            .send()
            .await
            .context("listing the inspector's targets")?
            .json()
            .await
            .context("reading the inspector's targets")?;
        let url = targets[0]["webSocketDebuggerUrl"]
            .as_str()
            .with_context(|| format!("no debugger URL in {targets}"))?;
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        for (id, method) in [
            (1, "HeapProfiler.collectGarbage"),
            (2, "Runtime.getHeapUsage"),
        ] {
            let call = json!({"id": id, "method": method}).to_string();
            socket.send(Message::text(call)).await?;
        }
        // Replies come in order; events (none asked for) are skipped.
        while let Some(message) = socket.next().await {
            let Message::Text(text) = message? else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text)?;
            if let Some(error) = reply.get("error") {
                bail!("the inspector refused: {error}");
            }
            if reply["id"] == 2 {
                let bytes = |field: &str| {
                    reply["result"][field]
                        .as_f64()
                        .filter(|size| size.is_finite() && *size >= 0.0)
                        .with_context(|| format!("no {field} in {reply}"))
                };
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "finite, non-negative byte counts far below 2^53"
                )]
                let heap = (bytes("usedSize")? as u64, bytes("totalSize")? as u64);
                let _ = socket.close(None).await;
                return Ok(heap);
            }
        }
        bail!("the inspector closed before answering")
    }

    async fn isolate(&self) -> Result<IsolateStats> {
        isolate_stats(
            &self.http,
            &self.edge_url,
            &self.secrets.origin_shared_secret,
        )
        .await
    }
}

/// The edge's `GET /internal/isolate/`, signed as the origin signs with `secret`.
pub async fn isolate_stats(
    http: &reqwest::Client,
    edge_url: &str,
    secret: &str,
) -> Result<IsolateStats> {
    let path = domain::paths::INTERNAL_ISOLATE;
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let parts = SignedParts {
        direction: Direction::OriginToEdge,
        method: "GET",
        path_and_query: path,
        body: b"",
        timestamp: i64::try_from(timestamp)?,
        user_id: None,
        request_id: "xtask-isolate",
        idempotency_key: None,
        nonce: None,
    };
    let mut request = http.get(format!("{edge_url}{path}"));
    for (name, value) in signing::signed_headers(secret.as_bytes(), &parts) {
        request = request.header(name, value);
    }
    let response = request.send().await.context("asking the edge isolate")?;
    let status = response.status();
    if !status.is_success() {
        bail!("the edge isolate answered {status}");
    }
    response
        .json()
        .await
        .context("reading the edge isolate's figures")
}
