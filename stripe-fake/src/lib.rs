//! A fake Stripe API server that the project owns, for tests and `./dev run`.
//!
//! The origin creates payment intents through async-stripe with its base URL pointed here, and
//! receives webhook events this server signs and sends. The fake speaks Stripe's wire format
//! for what the project uses, and does on request what Stripe does on its own (payments
//! settling, events arriving twice or out of order) or on a bad day (500, 429, slowness).
//!
//! # The Stripe API (`/v1`)
//!
//! - `POST /v1/payment_intents`, a form body (`amount`, `currency`, `metadata[order_id]`,
//!   `automatic_payment_methods[enabled]`, …): the payment intent object, `requires_payment_method`,
//!   with its `client_secret`. Parameters the fake does not know are kept and ignored;
//!   `confirm=true` does not confirm (use the control API).
//! - `GET /v1/payment_intents/{id}`.
//! - `Authorization: Bearer sk_test_…` on every call, else 401; with no keys configured any
//!   `sk_test_…` key is accepted.
//! - `Idempotency-Key` on POSTs: see [`api::idempotency`].
//! - Errors in Stripe's shape, `{"error": {"type", "message", "code", "param", …}}`, with its
//!   statuses; every answer carries a `Request-Id`.
//!
//! # The control API (`/_fake`, JSON, no authentication)
//!
//! | Call | Does |
//! |---|---|
//! | `POST /_fake/payment_intents/{id}/confirm` `{"outcome": "succeeded"}` | settles the intent and sends `payment_intent.succeeded`; answers `{"event", "delivery"}` |
//! | … `{"outcome": "payment_failed"}` | back to `requires_payment_method` with `last_payment_error`; sends `payment_intent.payment_failed` |
//! | … `{"deliver": false}` | records the event without sending it |
//! | … `{"delivery": {…}}` | sends it with these [`DeliveryOptions`] |
//! | `GET /_fake/events` | the events recorded, oldest first: `[{"id", "type", "payment_intent", "created"}]` |
//! | `POST /_fake/events/{id}/deliver` [`DeliveryOptions`] | sends a recorded event (again: a duplicate); answers the [`Delivery`] |
//! | `POST /_fake/faults` `{"kind": "server_error", "count": 2}` | the next 2 API calls answer 500; see [`faults`] |
//! | … `{"kind": "rate_limit", "retry_after_secs": 1}` | 429 with `Retry-After` |
//! | … `{"kind": "card_declined"}` | 402 `card_error` |
//! | … `{"kind": "hang", "hang_ms": 15000}` | held 15 s, then handled |
//! | `GET /_fake/faults`, `DELETE /_fake/faults` | the rules left; clear them |
//! | `POST /_fake/reset` | forgets intents, events, idempotency keys and faults |
//!
//! An empty body means the defaults. [`DeliveryOptions`] are `{"timestamp": <unix>,
//! "secrets": ["whsec_old", "whsec_new"], "signature": "<verbatim header>", "unsigned": true}`,
//! all optional: by default an event is signed now with every configured secret (one `v1`
//! each, as during a secret roll). To send events in a chosen order, record them with
//! `"deliver": false` and deliver them in that order. A delivery whose endpoint answers (any
//! status) is a 200 here; an endpoint that cannot be reached is a 502.
//!
//! Tests in the same process use [`Server`] and the same operations on [`Fake`], and
//! [`signature`] to build or check `Stripe-Signature` headers.
//!
//! # Layout
//!
//! [`config`] (flags and environment), [`fake`] (the state and its operations), [`api`] (the
//! `/v1` routes and their layers), [`control`] (`/_fake`), [`payment_intent`] and [`event`]
//! (Stripe's objects), [`form`] (Stripe's form encoding), [`error`] (Stripe's error object),
//! [`faults`], [`webhook`] (delivery) and [`signature`].

pub mod api;
pub mod config;
pub mod control;
pub mod error;
pub mod event;
pub mod fake;
pub mod faults;
pub mod form;
mod ids;
pub mod payment_intent;
pub mod signature;
pub mod webhook;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::{Config, Secret};
pub use event::{Event, EventType};
pub use fake::{ControlError, Fake, Outcome};
pub use faults::{Fault, FaultRule};
pub use webhook::{Delivery, DeliveryOptions};

/// Both APIs on one router.
pub fn app(fake: Fake) -> Router {
    api::router(fake.clone()).nest("/_fake", control::router(fake))
}

/// The fake, listening. Dropping it stops the server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    fake: Fake,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds `config.listen` (port 0 picks a free one) and serves in a background task.
    pub async fn start(config: Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let fake = Fake::new(config);
        let app = app(fake.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the fake Stripe stopped serving");
            }
        });
        Ok(Self { addr, fake, task })
    }

    /// The API base URL to give the Stripe client, e.g. `http://127.0.0.1:12111/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn fake(&self) -> &Fake {
        &self.fake
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
