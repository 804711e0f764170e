//! The origin's configuration, read once from the environment at start-up.

use std::net::SocketAddr;

use domain::auth::TokenLifetimes;
use domain::config::Vars;
pub use domain::config::{ConfigError, Environment, Secret};

/// Everything the origin is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: Secret,
    pub database_pool_size: u32,
    /// How long a request waits for a pooled connection before answering 503 (while Postgres
    /// is down every wait runs out, so this is how fast requests fail then).
    pub database_acquire_timeout: std::time::Duration,
    pub listen_addr: SocketAddr,
    /// Base URL of the edge, for the replication push.
    pub edge_url: String,
    pub origin_secret: Secret,
    pub jwt_signing_key: Secret,
    pub token_lifetimes: TokenLifetimes,
    pub signature_window_secs: i64,
    /// How often the replication sweep runs even without new writes.
    pub replication_sweep_secs: u64,
    /// How long an `Idempotency-Key` outcome is kept.
    pub idempotency_ttl_secs: i32,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup)?;
        let day = 24 * 3600;
        let listen_raw = vars
            .optional("LISTEN_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8700".into());
        let listen_addr = listen_raw.parse().map_err(|_| {
            ConfigError::new(
                "LISTEN_ADDR",
                format!("must be host:port, not `{listen_raw}`"),
            )
        })?;
        let database_url = vars.required("DATABASE_URL")?;
        if !database_url.starts_with("postgres://") && !database_url.starts_with("postgresql://") {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must be a postgres:// URL",
            ));
        }
        Ok(Self {
            environment: vars.environment(),
            database_url: Secret::new(database_url),
            database_acquire_timeout: std::time::Duration::from_millis(
                u64::try_from(vars.number("DATABASE_ACQUIRE_TIMEOUT_MS", 2000, 100..=30_000)?)
                    .unwrap_or(2000),
            ),
            database_pool_size: u32::try_from(vars.number("DATABASE_POOL_SIZE", 10, 1..=200)?)
                .unwrap_or(10),
            listen_addr,
            edge_url: vars.url("EDGE_URL")?,
            origin_secret: vars.key("ORIGIN_SHARED_SECRET")?,
            jwt_signing_key: vars.key("JWT_SIGNING_KEY")?,
            token_lifetimes: vars.token_lifetimes()?,
            signature_window_secs: vars.signature_window_secs()?,
            idempotency_ttl_secs: i32::try_from(vars.number(
                "IDEMPOTENCY_TTL_SECS",
                day,
                60..=30 * day,
            )?)
            .unwrap_or(86_400),
            replication_sweep_secs: u64::try_from(vars.number(
                "REPLICATION_SWEEP_SECS",
                30,
                1..=59, // a seconds-field cron step: `*/N` is only regular below 60
            )?)
            .unwrap_or(30),
        })
    }

    pub fn database_url(&self) -> &str {
        std::str::from_utf8(self.database_url.expose()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut all = vec![
            ("DATABASE_URL", "postgres://app@127.0.0.1:5432/app"),
            ("EDGE_URL", "http://127.0.0.1:8787"),
            ("ORIGIN_SHARED_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_SIGNING_KEY", "fedcba9876543210fedcba9876543210"),
        ];
        all.extend_from_slice(pairs);
        Settings::from_lookup(|name| {
            all.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_fill_what_is_unset() {
        let settings = with(&[]).unwrap();
        assert_eq!(settings.listen_addr.to_string(), "127.0.0.1:8700");
        assert_eq!(settings.token_lifetimes, TokenLifetimes::default());
        assert!(
            !format!("{settings:?}").contains("postgres://"),
            "the database URL may hold a password"
        );
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (name, value) in [
            ("LISTEN_ADDR", "nowhere"),
            ("DATABASE_URL", "mysql://x"),
            ("EDGE_URL", "edge"),
            ("JWT_SIGNING_KEY", "short"),
            ("DATABASE_POOL_SIZE", "0"),
        ] {
            assert_eq!(with(&[(name, value)]).unwrap_err().name, name);
        }
    }
}
