//! `POST /webhooks/stripe/`: Stripe's events, forwarded by the edge with their raw body and
//! `Stripe-Signature` untouched.
//!
//! The answer must be fast and final (Stripe retries anything but a 2xx for days): verify,
//! store the event once, enqueue its job in the same transaction, answer. The job applies it
//! ([`super::events`]). A redelivery hits the stored event's primary key and changes nothing.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use domain::ApiError;
use serde_json::{Value, json};
use stripe_webhook::Webhook;

use super::events;
use super::mask::mask_personal;
use super::store;
use crate::http::reply::{Failure, Reply};
use crate::http::signed::Signed;
use crate::state::AppState;

/// What identifies a verified event.
struct Verified {
    id: String,
    kind: String,
    created: i64,
}

/// Checks the signature against every configured secret (two while one is being rotated), with
/// Stripe's 300 s tolerance, and that the payload is an event. Which check failed goes to the
/// log; the client hears only that it was refused.
fn verify(state: &AppState, payload: &[u8], headers: &HeaderMap) -> Result<Verified, Failure> {
    let refuse = |why: &str| {
        tracing::warn!(reason = why, "refused a Stripe webhook");
        Failure::Api(ApiError::InvalidWebhook)
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refuse("no Stripe-Signature header"))?;
    let payload = std::str::from_utf8(payload).map_err(|_| refuse("the body is not UTF-8"))?;
    let secrets = &state.settings.stripe.webhook_secrets;
    if secrets.is_empty() {
        return Err(refuse("STRIPE_WEBHOOK_SECRETS is not set"));
    }
    let mut last_problem = None;
    for secret in secrets {
        let secret = std::str::from_utf8(secret.expose()).unwrap_or_default();
        match Webhook::construct_event(payload, signature, secret) {
            Ok(event) => {
                return Ok(Verified {
                    id: event.id.as_str().to_owned(),
                    kind: event.type_.as_str().to_owned(),
                    created: event.created,
                });
            }
            Err(problem) => last_problem = Some(problem.to_string()),
        }
    }
    Err(refuse(
        last_problem.as_deref().unwrap_or("no secret matched"),
    ))
}

/// `POST /webhooks/stripe/` → 200 once the event is stored (or was already).
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
) -> Result<Reply, Failure> {
    let event = verify(&state, &signed.body, &headers)?;
    let mut payload: Value =
        serde_json::from_slice(&signed.body).map_err(|_| Failure::Api(ApiError::InvalidWebhook))?;
    mask_personal(&mut payload);
    let mut tx = state.db.begin().await?;
    let new = store::insert_event(&mut tx, &event.id, &event.kind, event.created, &payload).await?;
    if new {
        events::enqueue(&mut tx, &event.id).await?;
    }
    tx.commit().await?;
    tracing::info!(event = %event.id, kind = %event.kind, duplicate = !new, "Stripe event received");
    Ok(Reply::new(
        StatusCode::OK,
        json!({"received": true, "duplicate": !new}),
    ))
}
