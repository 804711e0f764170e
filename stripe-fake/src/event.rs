//! Stripe's event object, as a webhook delivers it.

use serde::Serialize;
use serde_json::{Value, json};

use crate::ids;
use crate::payment_intent::PaymentIntent;

/// The event types the fake emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum EventType {
    #[serde(rename = "payment_intent.succeeded")]
    PaymentIntentSucceeded,
    #[serde(rename = "payment_intent.payment_failed")]
    PaymentIntentPaymentFailed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentIntentSucceeded => "payment_intent.succeeded",
            Self::PaymentIntentPaymentFailed => "payment_intent.payment_failed",
        }
    }
}

/// A stored event. Its payload is rendered once, so every delivery of it (a duplicate, a
/// replay) carries the same bytes, as Stripe's do; only the signature's timestamp changes.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub payment_intent: String,
    pub created: i64,
    #[serde(skip)]
    pub payload: String,
}

impl Event {
    /// The event for `intent` as it stands now.
    pub fn new(kind: EventType, intent: &PaymentIntent, api_version: &str, now: i64) -> Self {
        let id = ids::new("evt");
        let payload = json!({
            "id": id,
            "object": "event",
            "api_version": api_version,
            "created": now,
            "data": {"object": intent.to_json()},
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": Value::Null, "idempotency_key": Value::Null},
            "type": kind.as_str(),
        })
        .to_string();
        Self {
            id,
            kind,
            payment_intent: intent.id.clone(),
            created: now,
            payload,
        }
    }
}
