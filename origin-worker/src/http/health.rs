//! Unsigned liveness and readiness answers for operators and load balancers.

use axum::extract::State;
use axum::http::StatusCode;
use domain::ApiError;
use serde_json::json;

use crate::http::reply::{Failure, Reply};
use crate::state::AppState;

/// `GET /health/`: the process answers.
pub async fn health() -> Reply {
    Reply::new(StatusCode::OK, json!({"status": "ok"}))
}

/// `GET /ready/`: Postgres answers too.
pub async fn ready(State(state): State<AppState>) -> Result<Reply, Failure> {
    sqlx::query("SELECT 1")
        .execute(&state.db)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "readiness: postgres is down");
            Failure::Api(ApiError::Unavailable)
        })?;
    Ok(Reply::new(StatusCode::OK, json!({"status": "ready"})))
}
