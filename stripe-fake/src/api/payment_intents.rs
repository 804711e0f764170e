//! `POST /v1/payment_intents` and `GET /v1/payment_intents/{id}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::Value;

use crate::error::ApiError;
use crate::fake::Fake;
use crate::form;

pub async fn create(State(fake): State<Fake>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let params = form::parse(&body)?;
    fake.create_payment_intent(params).map(Json)
}

pub async fn retrieve(
    State(fake): State<Fake>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    fake.payment_intent(&id)
        .map(|intent| Json(intent.to_json()))
        .ok_or_else(|| ApiError::no_such("payment_intent", "intent", &id))
}
