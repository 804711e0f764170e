//! The origin's internal HTTP API: the same paths as the public API, answered only for the
//! edge (every write endpoint takes [`signed::Signed`]), plus unsigned `/health/` and `/ready/`
//! for operators.

pub mod reply;
pub mod signed;
pub mod write;

use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use domain::ApiError;
use serde_json::json;
use tracing::Instrument;

use crate::state::AppState;
use crate::{auth, projects};
use reply::{Failure, ParkedFailure, Reply};

/// The router with its request layer.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health/", get(health))
        .route("/ready/", get(ready))
        .route("/api/v1/auth/register/", post(auth::handlers::register))
        .route(
            "/api/v1/auth/me/",
            axum::routing::delete(auth::handlers::delete_me),
        )
        .route("/api/token/", post(auth::handlers::obtain))
        .route("/api/token/refresh/", post(auth::handlers::refresh))
        .route("/api/token/blacklist/", post(auth::handlers::blacklist))
        .route(
            "/api/v1/projects/",
            post(projects::handlers::create_project),
        )
        .route(
            "/api/v1/projects/{id}/",
            put(projects::handlers::update_project)
                .patch(projects::handlers::update_project)
                .delete(projects::handlers::delete_project),
        )
        .route(
            "/api/v1/projects/{id}/archive/",
            post(projects::handlers::archive_project),
        )
        .route("/api/v1/tasks/", post(projects::handlers::create_task))
        .route(
            "/api/v1/tasks/{id}/",
            put(projects::handlers::update_task)
                .patch(projects::handlers::update_task)
                .delete(projects::handlers::delete_task),
        )
        .fallback(|| async { Failure::Api(ApiError::NotFound(None)) })
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

async fn health() -> Reply {
    Reply::new(axum::http::StatusCode::OK, json!({"status": "ok"}))
}

async fn ready(State(state): State<AppState>) -> Result<Reply, Failure> {
    sqlx::query("SELECT 1")
        .execute(&state.db)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "readiness: postgres is down");
            Failure::Api(ApiError::Unavailable)
        })?;
    Ok(Reply::new(
        axum::http::StatusCode::OK,
        json!({"status": "ready"}),
    ))
}

/// Runs each request in a span carrying the edge's request id, logs its outcome once, and
/// renders parked failures with that id.
async fn request_context(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(domain::signing::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| id.len() <= domain::limits::MAX_REQUEST_ID_CHARS)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    async move {
        let started = Instant::now();
        let mut response = next.run(request).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Some(failure) = response.extensions_mut().remove::<ParkedFailure>() {
            if failure.error.status() >= 500 {
                tracing::error!(error = failure.detail.as_deref().unwrap_or(""), status = failure.error.status(), elapsed_ms, "request failed");
            } else if let Some(detail) = &failure.detail {
                tracing::warn!(error = %detail, status = failure.error.status(), elapsed_ms, "request refused");
            } else {
                tracing::info!(status = failure.error.status(), elapsed_ms, "request answered");
            }
            if !failure.unsigned {
                response = reply::render(&failure, &request_id);
            }
        } else {
            tracing::info!(status = response.status().as_u16(), elapsed_ms, "request answered");
        }
        response.headers_mut().insert(
            domain::signing::REQUEST_ID_HEADER,
            request_id.parse().unwrap_or_else(|_| axum::http::HeaderValue::from_static("-")),
        );
        response.into_response()
    }
    .instrument(span)
    .await
}
