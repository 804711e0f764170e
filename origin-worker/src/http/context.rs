//! The request layer around every endpoint.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use domain::trace::TRACEPARENT;

use crate::http::reply::{self, ParkedFailure};
use crate::metrics::Metrics;
use crate::trace::{self, ScopeTrace as _};

/// Runs each request in a span carrying the edge's request id and the trace it continues (the
/// edge's `traceparent`, or a new trace), logs its outcome once, and renders parked failures
/// with that id. The jobs the request enqueues carry the trace on ([`crate::trace`]).
pub async fn request_context(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .headers()
        .get(domain::signing::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| id.len() <= domain::limits::MAX_REQUEST_ID_CHARS)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        trace_id = tracing::field::Empty,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let caller = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    let trace = trace::begin(&span, caller);
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
        metrics.observe(
            &route,
            method.as_str(),
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
        response.headers_mut().insert(
            domain::signing::REQUEST_ID_HEADER,
            request_id.parse().unwrap_or_else(|_| axum::http::HeaderValue::from_static("-")),
        );
        response.into_response()
    }
    .instrument(span)
    .scope_trace(trace)
    .await
}
