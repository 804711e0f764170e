//! The fake's state and everything it can do, called by the HTTP layers ([`crate::api`],
//! [`crate::control`]) and directly by tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::idempotency::IdempotencyKeys;
use crate::config::{Config, Secret};
use crate::error::ApiError;
use crate::event::{Event, EventType};
use crate::faults::{Fault, FaultQueue, FaultRule};
use crate::payment_intent::{PaymentIntent, Status};
use crate::signature;
use crate::webhook::{self, Delivery, DeliveryOptions};

/// How a confirmation ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// `succeeded`, and a `payment_intent.succeeded` event.
    #[default]
    Succeeded,
    /// Back to `requires_payment_method` with a `last_payment_error`, and a
    /// `payment_intent.payment_failed` event.
    PaymentFailed,
}

/// Why a control operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// 404
    #[error("no such payment intent: {0}")]
    UnknownPaymentIntent(String),
    /// 404
    #[error("no such event: {0}")]
    UnknownEvent(String),
    /// 409: Stripe cannot confirm an intent that has succeeded.
    #[error("payment intent {0} has already succeeded")]
    AlreadySucceeded(String),
    /// 409
    #[error("no webhook URL is configured")]
    NoWebhookUrl,
    /// 409
    #[error("no webhook secret is configured to sign with")]
    NoWebhookSecret,
    /// 502: the endpoint could not be reached, or did not answer in time.
    #[error("delivering {event} failed")]
    Unreachable {
        event: String,
        #[source]
        source: reqwest::Error,
    },
}

/// The fake Stripe: its configuration and its objects. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct Fake {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    http: reqwest::Client,
    objects: Mutex<Objects>,
    faults: Mutex<FaultQueue>,
    idempotency: Mutex<IdempotencyKeys>,
}

#[derive(Debug, Default)]
struct Objects {
    intents: HashMap<String, PaymentIntent>,
    events: Vec<Event>,
}

impl Fake {
    pub fn new(config: Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                http: reqwest::Client::new(),
                objects: Mutex::default(),
                faults: Mutex::default(),
                idempotency: Mutex::default(),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// `POST /v1/payment_intents`: the new intent's object.
    pub fn create_payment_intent(&self, params: Map<String, Value>) -> Result<Value, ApiError> {
        let intent = PaymentIntent::create(params, unix_now())?;
        let object = intent.to_json();
        lock(&self.inner.objects)
            .intents
            .insert(intent.id.clone(), intent);
        Ok(object)
    }

    /// The intent with this id, as stored.
    pub fn payment_intent(&self, id: &str) -> Option<PaymentIntent> {
        lock(&self.inner.objects).intents.get(id).cloned()
    }

    /// Every intent created, in no particular order.
    pub fn payment_intents(&self) -> Vec<PaymentIntent> {
        lock(&self.inner.objects)
            .intents
            .values()
            .cloned()
            .collect()
    }

    /// Settles the intent as if the customer had paid (or been declined), and records the
    /// event Stripe would send. Nothing is delivered: see [`Fake::deliver`].
    pub fn confirm(&self, id: &str, outcome: Outcome) -> Result<Event, ControlError> {
        let mut objects = lock(&self.inner.objects);
        let intent = objects
            .intents
            .get_mut(id)
            .ok_or_else(|| ControlError::UnknownPaymentIntent(id.to_owned()))?;
        if intent.status == Status::Succeeded {
            return Err(ControlError::AlreadySucceeded(id.to_owned()));
        }
        let kind = match outcome {
            Outcome::Succeeded => {
                intent.succeed();
                EventType::PaymentIntentSucceeded
            }
            Outcome::PaymentFailed => {
                intent.fail();
                EventType::PaymentIntentPaymentFailed
            }
        };
        let event = Event::new(kind, intent, &self.inner.config.api_version, unix_now());
        objects.events.push(event.clone());
        tracing::info!(event = %event.id, kind = kind.as_str(), intent = id, "event recorded");
        Ok(event)
    }

    /// Every event recorded, oldest first.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.inner.objects).events.clone()
    }

    /// Sends a recorded event to the webhook URL, again if it was sent before (a duplicate).
    /// Any answer from the endpoint is a [`Delivery`]; failing to get one is an error.
    pub async fn deliver(
        &self,
        event_id: &str,
        options: &DeliveryOptions,
    ) -> Result<Delivery, ControlError> {
        let event = lock(&self.inner.objects)
            .events
            .iter()
            .find(|event| event.id == event_id)
            .cloned()
            .ok_or_else(|| ControlError::UnknownEvent(event_id.to_owned()))?;
        let config = &self.inner.config;
        let url = config
            .webhook_url
            .as_ref()
            .ok_or(ControlError::NoWebhookUrl)?;
        let header = if options.unsigned {
            None
        } else if let Some(verbatim) = &options.signature {
            Some(verbatim.clone())
        } else {
            let secrets: Vec<&str> = match &options.secrets {
                Some(secrets) => secrets.iter().map(String::as_str).collect(),
                None => config.webhook_secrets.iter().map(Secret::expose).collect(),
            };
            if secrets.is_empty() {
                return Err(ControlError::NoWebhookSecret);
            }
            let timestamp = options.timestamp.unwrap_or_else(unix_now);
            Some(signature::sign_with_secrets(
                event.payload.as_bytes(),
                secrets,
                timestamp,
            ))
        };
        let delivery = webhook::post(&self.inner.http, url, &event, header)
            .await
            .map_err(|source| ControlError::Unreachable {
                event: event.id.clone(),
                source,
            })?;
        tracing::info!(event = %event.id, status = delivery.status, "event delivered");
        Ok(delivery)
    }

    /// Makes the next calls fail: see [`crate::faults`].
    pub fn inject(&self, rule: FaultRule) {
        tracing::info!(?rule, "fault injected");
        lock(&self.inner.faults).push(rule);
    }

    /// The fault rules not yet used up.
    pub fn faults(&self) -> Vec<FaultRule> {
        lock(&self.inner.faults).pending()
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Forgets every intent, event, idempotency key and fault.
    pub fn reset(&self) {
        *lock(&self.inner.objects) = Objects::default();
        *lock(&self.inner.idempotency) = IdempotencyKeys::default();
        self.clear_faults();
    }

    pub(crate) fn next_fault(&self) -> Option<Fault> {
        lock(&self.inner.faults).take()
    }

    pub(crate) fn idempotency_keys(&self) -> MutexGuard<'_, IdempotencyKeys> {
        lock(&self.inner.idempotency)
    }
}

/// A panic while a lock was held leaves plain data behind, still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
