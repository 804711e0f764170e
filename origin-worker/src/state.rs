//! What every handler and job shares.

use std::sync::Arc;

use domain::auth::TokenKeys;
use sqlx::PgPool;

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
}

impl AppState {
    pub fn new(db: PgPool, settings: Settings) -> Self {
        let tokens = TokenKeys::from_secret(settings.jwt_signing_key.expose());
        Self {
            db,
            settings: Arc::new(settings),
            tokens: Arc::new(tokens),
            workers: Workers::default(),
        }
    }
}

/// What the jobs share: the state and an HTTP client for the edge.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub state: AppState,
    pub client: reqwest::Client,
}
