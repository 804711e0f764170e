//! Liveness and readiness.

use domain::ApiError;
use serde_json::json;

use super::{Spec, Success, Tag};
use crate::examples::envelope;
use crate::schemas;

pub(super) fn health() -> Spec {
    let ok = Success::ok(
        "The isolate answers.",
        schemas::HEALTH,
        json!({"status": "ok"}),
    );
    Spec::new("health_retrieve", Tag::Health, "Liveness", ok)
        .describe("Asks nothing of any dependency: for a load balancer's liveness probe.")
}

pub(super) fn ready() -> Spec {
    let ok = Success::ok(
        "D1 and the origin (and through it Postgres) answer.",
        schemas::READINESS,
        json!({"status": "ready"}),
    );
    let mut down = envelope(&ApiError::Unavailable);
    down["errors"]["down"] = json!(["origin"]);
    Spec::new("ready_retrieve", Tag::Health, "Readiness", ok)
        .refuses(
            503,
            "down",
            "A dependency does not answer; `errors.down` names which (`d1`, `origin`).",
            down,
        )
        .without_retry_after(503)
}
