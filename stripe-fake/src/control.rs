//! The control API under `/_fake`: what a test (or a person with curl) does in Stripe's place.
//! Each route calls one [`Fake`] method; the crate documentation lists them.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::fake::{ControlError, Fake, Outcome};
use crate::faults::FaultRule;
use crate::webhook::{Delivery, DeliveryOptions};

pub fn router(fake: Fake) -> Router {
    Router::new()
        .route("/payment_intents/{id}/confirm", post(confirm))
        .route("/events", get(events))
        .route("/events/{id}/deliver", post(deliver))
        .route("/faults", get(faults).post(inject).delete(clear_faults))
        .route("/reset", post(reset))
        .with_state(fake)
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Confirm {
    outcome: Outcome,
    /// Send the event at once (the default), or only record it.
    deliver: bool,
    delivery: DeliveryOptions,
}

impl Default for Confirm {
    fn default() -> Self {
        Self {
            outcome: Outcome::default(),
            deliver: true,
            delivery: DeliveryOptions::default(),
        }
    }
}

async fn confirm(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    let request: Confirm = json_or_default(&body)?;
    let event = fake.confirm(&id, request.outcome)?;
    let delivery = if request.deliver {
        Some(fake.deliver(&event.id, &request.delivery).await?)
    } else {
        None
    };
    Ok(Json(json!({"event": event, "delivery": delivery})))
}

async fn events(State(fake): State<Fake>) -> Json<Value> {
    Json(json!(fake.events()))
}

async fn deliver(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Delivery>, Refusal> {
    let options: DeliveryOptions = json_or_default(&body)?;
    Ok(Json(fake.deliver(&id, &options).await?))
}

async fn faults(State(fake): State<Fake>) -> Json<Vec<FaultRule>> {
    Json(fake.faults())
}

async fn inject(
    State(fake): State<Fake>,
    body: Bytes,
) -> Result<(StatusCode, Json<Vec<FaultRule>>), Refusal> {
    let rule: FaultRule = serde_json::from_slice(&body)?;
    fake.inject(rule);
    Ok((StatusCode::CREATED, Json(fake.faults())))
}

async fn clear_faults(State(fake): State<Fake>) -> StatusCode {
    fake.clear_faults();
    StatusCode::NO_CONTENT
}

async fn reset(State(fake): State<Fake>) -> StatusCode {
    fake.reset();
    StatusCode::NO_CONTENT
}

/// An empty body means "the defaults", so `curl -X POST` is enough.
fn json_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, serde_json::Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
}

/// Why a control call was refused; answered as `{"error": "<why>"}`.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// 400
    #[error("the body is not the JSON expected")]
    BadJson(#[from] serde_json::Error),
    /// See [`ControlError`]'s variants.
    #[error(transparent)]
    Control(#[from] ControlError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadJson(_) => StatusCode::BAD_REQUEST,
            Self::Control(
                ControlError::UnknownPaymentIntent(_) | ControlError::UnknownEvent(_),
            ) => StatusCode::NOT_FOUND,
            Self::Control(
                ControlError::AlreadySucceeded(_)
                | ControlError::NoWebhookUrl
                | ControlError::NoWebhookSecret,
            ) => StatusCode::CONFLICT,
            Self::Control(ControlError::Unreachable { .. }) => StatusCode::BAD_GATEWAY,
        };
        let mut message = self.to_string();
        let mut source = std::error::Error::source(&self);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        tracing::warn!(status = status.as_u16(), message, "control call refused");
        (status, Json(json!({"error": message}))).into_response()
    }
}
