//! The Stripe API itself, under `/v1`: what async-stripe talks to.
//!
//! A call passes, outermost first: `stamp` (a `Request-Id`, one log line), `faults`
//! (injected failures), `authenticate` (the secret key), [`idempotency`] (replays), then the
//! resource's handler (`payment_intents`).

pub mod idempotency;
mod payment_intents;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::error::ApiError;
use crate::fake::Fake;
use crate::faults::Fault;
use crate::ids;

pub fn router(fake: Fake) -> Router {
    Router::new()
        .route("/v1/payment_intents", post(payment_intents::create))
        .route("/v1/payment_intents/{id}", get(payment_intents::retrieve))
        .fallback(unrecognized)
        .layer(from_fn_with_state(fake.clone(), idempotency::replay))
        .layer(from_fn_with_state(fake.clone(), authenticate))
        .layer(from_fn_with_state(fake.clone(), faults))
        .layer(from_fn(stamp))
        .with_state(fake)
}

/// The `Request-Id` Stripe gives every call (`req_…`), kept in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

async fn stamp(mut request: Request, next: Next) -> Response {
    let id = ids::new("req");
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("request-id", value);
    }
    tracing::info!(%method, path, status = response.status().as_u16(), request_id = id, "api call");
    response
}

async fn faults(State(fake): State<Fake>, request: Request, next: Next) -> Response {
    let Some(fault) = fake.next_fault() else {
        return next.run(request).await;
    };
    tracing::info!(?fault, "injected fault");
    match fault {
        Fault::ServerError => ApiError::server_error().into_response(),
        Fault::RateLimit { retry_after_secs } => {
            ApiError::rate_limited(retry_after_secs).into_response()
        }
        Fault::CardDeclined => ApiError::card_declined().into_response(),
        Fault::Hang { duration } => {
            // A task of its own, so the call completes even when the client gives up on it.
            let handled = tokio::spawn(async move {
                tokio::time::sleep(duration).await;
                next.run(request).await
            });
            handled
                .await
                .unwrap_or_else(|_| ApiError::server_error().into_response())
        }
    }
}

async fn authenticate(State(fake): State<Fake>, request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|key| !key.is_empty());
    match key {
        None => ApiError::missing_api_key().into_response(),
        Some(key) if accepts(fake.config(), key) => next.run(request).await,
        Some(key) => ApiError::invalid_api_key(key).into_response(),
    }
}

fn accepts(config: &Config, key: &str) -> bool {
    if config.api_keys.is_empty() {
        return key.len() > "sk_test_".len() && key.starts_with("sk_test_");
    }
    config
        .api_keys
        .iter()
        .any(|accepted| bool::from(accepted.expose().as_bytes().ct_eq(key.as_bytes())))
}

async fn unrecognized(request: Request) -> ApiError {
    ApiError::unrecognized_url(request.method().as_str(), request.uri().path())
}
