//! Configuration, from flags or the environment (`stripe-fake --help` lists both), read once.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use reqwest::Url;

/// The Stripe API version events are stamped with unless configured otherwise: the one the
/// pinned async-stripe is generated for, so it parses them without a version warning.
pub const DEFAULT_API_VERSION: &str = "2026-09-30.endive";

/// Everything the fake is configured with.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "stripe-fake",
    version,
    about = "A fake Stripe API server for tests and local runs."
)]
pub struct Config {
    /// Address to listen on (port 0: any free port).
    #[arg(long, env = "STRIPE_FAKE_LISTEN", default_value = "127.0.0.1:12111")]
    pub listen: SocketAddr,

    /// Secret API keys accepted (comma-separated in the environment). Without any, every
    /// `sk_test_…` key is accepted.
    #[arg(
        long = "api-key",
        env = "STRIPE_FAKE_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<Secret>,

    /// Where webhook events are sent.
    #[arg(long, env = "STRIPE_FAKE_WEBHOOK_URL", requires = "webhook_secrets")]
    pub webhook_url: Option<Url>,

    /// Webhook signing secrets (`whsec_…`, comma-separated in the environment). Events are
    /// signed with every one of them, one `v1` each, as Stripe does while a secret is rolled.
    #[arg(
        long = "webhook-secret",
        env = "STRIPE_FAKE_WEBHOOK_SECRETS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub webhook_secrets: Vec<Secret>,

    /// The `api_version` written into events.
    #[arg(long, env = "STRIPE_FAKE_API_VERSION", default_value = DEFAULT_API_VERSION)]
    pub api_version: String,
}

impl Default for Config {
    /// For tests: any free local port, any `sk_test_…` key, no webhook endpoint.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_keys: Vec::new(),
            webhook_url: None,
            webhook_secrets: Vec::new(),
            api_version: DEFAULT_API_VERSION.to_owned(),
        }
    }
}

/// A key or signing secret: its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(value.trim()))
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn secrets_are_listed_but_never_printed() {
        let config = Config::try_parse_from([
            "stripe-fake",
            "--api-key=sk_test_one,sk_test_two",
            "--webhook-url=http://127.0.0.1:8787/webhooks/stripe/",
            "--webhook-secret=whsec_old,whsec_new",
        ])
        .unwrap();
        assert_eq!(config.api_keys.len(), 2);
        assert_eq!(config.webhook_secrets[1].expose(), "whsec_new");
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("sk_test") && !printed.contains("whsec"),
            "{printed}"
        );
    }

    #[test]
    fn a_webhook_url_without_a_secret_is_refused() {
        let error = Config::try_parse_from(["stripe-fake", "--webhook-url=http://127.0.0.1:1/"])
            .expect_err("a URL without a secret");
        assert!(error.to_string().contains("--webhook-secret"), "{error}");
    }
}
