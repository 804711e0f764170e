//! What every handler and job shares.

use std::sync::Arc;

use domain::auth::TokenKeys;
use sqlx::PgPool;

use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::supervisor::Workers;

/// Cheap to clone: everything inside is shared.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: PgPool,
    pub settings: Arc<Settings>,
    pub tokens: Arc<TokenKeys>,
    /// The background workers' states (empty where none run, as in tests of the API).
    pub workers: Workers,
    /// What the API's requests took (`GET /metrics` on the operator listener).
    pub metrics: Arc<Metrics>,
    /// The Stripe API client; `None` when no key is configured (payments answer 503).
    pub stripe: Option<Arc<stripe::Client>>,
}

impl AppState {
    pub fn new(db: PgPool, settings: Settings) -> Self {
        let tokens = TokenKeys::from_keyring(&settings.jwt_signing_key);
        let stripe = stripe_client(&settings);
        Self {
            db,
            settings: Arc::new(settings),
            tokens: Arc::new(tokens),
            workers: Workers::default(),
            metrics: Arc::default(),
            stripe,
        }
    }
}

/// The Stripe client for the configured key and base URL. A key that cannot build a client
/// (not valid in a header) leaves payments off, with the reason in the log.
fn stripe_client(settings: &Settings) -> Option<Arc<stripe::Client>> {
    let stripe = &settings.stripe;
    let key = std::str::from_utf8(stripe.secret_key.as_ref()?.expose()).ok()?;
    match stripe::ClientBuilder::new(key)
        .url(stripe.api_base.as_str())
        .timeout(stripe.timeout)
        .build()
    {
        Ok(client) => Some(Arc::new(client)),
        Err(e) => {
            tracing::error!(error = %e, "the Stripe client could not be built: payments are off");
            None
        }
    }
}

/// What the jobs share: the state and an HTTP client for the edge.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub state: AppState,
    pub client: reqwest::Client,
}
