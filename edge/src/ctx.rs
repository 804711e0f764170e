//! What one request is handled with. A leaf: every handler imports it, it imports no handler.

use std::error::Error;

use domain::trace::TraceContext;

use crate::platform::Platform;
use crate::settings::Settings;

/// The platform, the settings, and the facts of this request that every step shares.
pub struct Ctx<'a, P: Platform> {
    pub platform: &'a P,
    pub settings: &'a Settings,
    /// Unix seconds, read once per request.
    pub now: i64,
    pub request_id: &'a str,
    /// This request's place in its trace: the client's `traceparent` continued (or a new
    /// trace) under the edge's own span id. Its trace id is on every log line, and the origin
    /// is handed it.
    pub trace: TraceContext,
}

impl<'a, P: Platform> Ctx<'a, P> {
    pub fn replica(&self) -> &'a P::Replica {
        self.platform.replica()
    }

    pub fn origin(&self) -> &'a P::Origin {
        self.platform.origin()
    }

    /// Logs a problem the request survives (a write-through that can wait for the push, a
    /// prune for the next one), with the request id and the cause chain.
    pub fn warn(&self, what: &str, error: &(dyn Error + 'static)) {
        self.platform.log(&self.log_line("warn", what, error));
    }

    /// One JSON log line: level, request and trace ids, what was being done, and the error
    /// with its causes.
    pub fn log_line(&self, level: &str, what: &str, error: &(dyn Error + 'static)) -> String {
        serde_json::json!({
            "level": level,
            "request_id": self.request_id,
            "trace_id": self.trace.trace_id(),
            "message": what,
            "error": domain::error::chain(error),
        })
        .to_string()
    }
}

impl<P: Platform> std::fmt::Debug for Ctx<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("now", &self.now)
            .field("request_id", &self.request_id)
            .field("trace", &self.trace)
            .finish_non_exhaustive()
    }
}
