//! Unsigned liveness and readiness answers for operators and load balancers.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use crate::http::reply::Reply;
use crate::state::AppState;

/// `GET /health/`: the process answers.
pub async fn health() -> Reply {
    Reply::new(StatusCode::OK, json!({"status": "ok"}))
}

/// `GET /ready/`: Postgres answers and every background worker is running. Otherwise 503,
/// saying which is not (and each worker's state, with the error that ended it).
pub async fn ready(State(state): State<AppState>) -> Reply {
    let postgres = match sqlx::query("SELECT 1").execute(&state.db).await {
        Ok(_) => "up",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: postgres is down");
            "down"
        }
    };
    let workers = state.workers.snapshot();
    let ready = postgres == "up" && state.workers.all_running();
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    Reply::new(
        status,
        json!({"status": word, "postgres": postgres, "workers": workers}),
    )
}
