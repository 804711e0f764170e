//! `POST /api/v1/payments/intent/`: the Stripe `PaymentIntent` an order is paid through.
//!
//! One intent per order, whatever the retries: the first create carries a Stripe
//! `Idempotency-Key` derived from the order (a retry after a lost answer gets the same intent
//! from Stripe), and its id is stored on the order, so a later request reads it back instead of
//! creating another (Stripe keeps idempotency keys for 24 hours only). No transaction is held
//! open across the call to Stripe.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use domain::orders::{ORDER_TOKEN_HEADER, OrderStatus, PaymentIntentRequest, token_digest};
use domain::{ApiError, FieldErrors, OrderId};
use serde_json::json;
use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest as _};
use stripe_core::PaymentIntent;
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentAutomaticPaymentMethods, RetrievePaymentIntent,
};
use subtle::ConstantTimeEq as _;

use super::store::{self, Payable};
use crate::http::reply::{Failure, Reply};
use crate::http::signed::Signed;
use crate::state::AppState;

fn not_found() -> Failure {
    Failure::Api(ApiError::NotFound(Some("Order")))
}

/// Whether the caller may pay for this order: it is their user's, or a guest's whose token
/// they present. Anything else looks like a missing order.
fn may_pay(order: &Payable, signed: &Signed, headers: &HeaderMap) -> bool {
    if let Some(user) = signed.caller {
        return order.user_id == Some(user.get());
    }
    let presented = headers
        .get(ORDER_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(token_digest);
    match (presented, &order.token_digest) {
        (Some(presented), Some(stored)) => {
            bool::from(presented.as_bytes().ct_eq(stored.as_bytes()))
        }
        _ => false,
    }
}

/// Stripe unreachable, slow or refusing for now: a 503 the client may retry (the idempotency
/// key makes the retry safe). Anything else Stripe refuses is a fault of ours.
fn stripe_failure(error: &StripeError) -> Failure {
    let transient = match error {
        StripeError::Stripe(_, status) => *status == 429 || *status >= 500,
        StripeError::Timeout | StripeError::ClientError(_) => true,
        StripeError::JSONDeserialize(_) | StripeError::ConfigError(_) => false,
    };
    if transient {
        tracing::warn!(error = %error, "Stripe is unavailable");
        Failure::Api(ApiError::Unavailable)
    } else {
        Failure::Internal(anyhow::anyhow!("Stripe refused: {error}"))
    }
}

/// The key of the order's one create request.
fn idempotency_key(order: OrderId) -> Result<IdempotencyKey, Failure> {
    IdempotencyKey::new(format!("order-{order}-payment-intent"))
        .map_err(|e| Failure::Internal(anyhow::anyhow!("idempotency key: {e:?}")))
}

/// Creates the order's intent (under its idempotency key) and stores its id.
async fn create(
    state: &AppState,
    stripe: &stripe::Client,
    order: &Payable,
    id: OrderId,
) -> Result<PaymentIntent, Failure> {
    // Infallible: a code the enum lacks becomes its `Unknown`, and Stripe judges it.
    let Ok(currency) = order.currency.parse::<stripe_types::Currency>();
    let intent = CreatePaymentIntent::new(order.total_cents, currency)
        .metadata(HashMap::from([("order_id".to_owned(), id.to_string())]))
        .automatic_payment_methods(CreatePaymentIntentAutomaticPaymentMethods::new(true))
        .customize()
        .request_strategy(RequestStrategy::Idempotent(idempotency_key(id)?))
        .send(stripe)
        .await
        .map_err(|e| stripe_failure(&e))?;
    let mut conn = state.db.acquire().await?;
    let kept = store::keep_payment_intent(&mut conn, id, intent.id.as_str()).await?;
    if kept != intent.id.as_str() {
        // Unreachable while the key holds: the same order's create answers the same intent.
        // Say so loudly if Stripe ever disagrees.
        tracing::error!(order = %id, kept, created = %intent.id, "a second intent for one order");
    }
    Ok(intent)
}

/// `POST /api/v1/payments/intent/` → 200 `{client_secret}`.
pub async fn create_intent(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
) -> Result<Reply, Failure> {
    let asked = PaymentIntentRequest::from_body(&signed.json()?)?;
    let order = {
        let mut conn = state.db.acquire().await?;
        store::payable(&mut conn, asked.order, false).await?
    }
    .filter(|order| may_pay(order, &signed, &headers))
    .ok_or_else(not_found)?;
    if order.status() == Some(OrderStatus::Paid) {
        return Err(Failure::Api(ApiError::Validation(FieldErrors::single(
            "order_id",
            "This order is paid already.",
        ))));
    }
    let stripe = state.stripe.as_deref().ok_or_else(|| {
        tracing::error!("STRIPE_SECRET_KEY is not set: payments are off");
        Failure::Api(ApiError::Unavailable)
    })?;
    let intent = if let Some(id) = &order.payment_intent_id {
        RetrievePaymentIntent::new(id.as_str())
            .send(stripe)
            .await
            .map_err(|e| stripe_failure(&e))?
    } else {
        // async-stripe's request futures are large; boxed, they stay off the handler's stack.
        Box::pin(create(&state, stripe, &order, asked.order)).await?
    };
    let client_secret = intent.client_secret.ok_or_else(|| {
        Failure::Internal(anyhow::anyhow!("Stripe's intent has no client_secret"))
    })?;
    Ok(Reply::new(
        StatusCode::OK,
        json!({"client_secret": client_secret}),
    ))
}
