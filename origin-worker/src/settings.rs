//! The origin's configuration, read once from the environment at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use domain::auth::TokenLifetimes;
use domain::config::Vars;
pub use domain::config::{ConfigError, Environment, Keyring, Secret};

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
    /// `ORIGIN_SHARED_SECRET` (and, while it is rotated, the previous one: [`Keyring`]).
    pub origin_secret: Keyring,
    /// `JWT_SIGNING_KEY` (likewise).
    pub jwt_signing_key: Keyring,
    pub token_lifetimes: TokenLifetimes,
    pub signature_window_secs: i64,
    /// How often the replication sweep runs even without new writes.
    pub replication_sweep_secs: u64,
    /// `SHUTDOWN_DEADLINE_SECS` (30, 1 to 600): how long a shutdown waits for the requests and
    /// jobs in flight before it drops them (their jobs go back to the queue either way).
    pub shutdown_deadline: Duration,
    /// How long an `Idempotency-Key` outcome is kept.
    pub idempotency_ttl_secs: i32,
    pub stripe: StripeSettings,
    /// Where email goes, and how hard the email job tries.
    pub email: EmailSettings,
    /// The operator page of the job queues.
    pub operator: OperatorSettings,
}

/// The operator page ([`crate::operator`]): its own listener, never the API's.
#[derive(Debug, Clone)]
pub struct OperatorSettings {
    /// `OPERATOR_LISTEN_ADDR`: where the page is served; unset, it is not served.
    pub listen_addr: Option<SocketAddr>,
    /// `OPERATOR_TOKEN`: the password the page asks for (HTTP Basic, any user name), or a
    /// bearer token. Required when the address is not a loopback one.
    pub token: Option<Secret>,
}

impl OperatorSettings {
    fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        let listen_addr = match vars.optional("OPERATOR_LISTEN_ADDR") {
            None => None,
            Some(raw) => Some(raw.parse::<SocketAddr>().map_err(|_| {
                ConfigError::new(
                    "OPERATOR_LISTEN_ADDR",
                    format!("must be host:port, not `{raw}`"),
                )
            })?),
        };
        let token = vars.optional("OPERATOR_TOKEN");
        if let Some(token) = &token
            && token.len() < 16
        {
            return Err(ConfigError::new(
                "OPERATOR_TOKEN",
                "must be at least 16 characters",
            ));
        }
        if listen_addr.is_some_and(|addr| !addr.ip().is_loopback()) && token.is_none() {
            return Err(ConfigError::new(
                "OPERATOR_TOKEN",
                "is required when OPERATOR_LISTEN_ADDR is not a loopback address",
            ));
        }
        Ok(Self {
            listen_addr,
            token: token.map(Secret::new),
        })
    }
}

/// Stripe: where its API is (the project's fake in development and tests), the key, and the
/// webhook signing secrets.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// `STRIPE_API_BASE` (default `https://api.stripe.com/`).
    pub api_base: String,
    /// `STRIPE_SECRET_KEY`; without it payments answer 503 and say why in the log.
    pub secret_key: Option<Secret>,
    /// `STRIPE_WEBHOOK_SECRETS`, comma-separated: two while a secret is being rotated, and an
    /// event verifies with either.
    pub webhook_secrets: Vec<Secret>,
    /// `STRIPE_TIMEOUT_MS` (default 10 s): a slower call is a 503 the client may retry.
    pub timeout: std::time::Duration,
}

impl StripeSettings {
    fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        let api_base = match vars.optional("STRIPE_API_BASE") {
            Some(_) => deployed_https(vars, "STRIPE_API_BASE")?,
            None => "https://api.stripe.com/".to_owned(),
        };
        let webhook_secrets = vars
            .optional("STRIPE_WEBHOOK_SECRETS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|secret| !secret.is_empty())
            .map(|secret| Secret::new(secret.to_owned()))
            .collect();
        Ok(Self {
            // async-stripe appends `v1/…` to the base as given.
            api_base: if api_base.ends_with('/') {
                api_base
            } else {
                format!("{api_base}/")
            },
            secret_key: vars
                .optional("STRIPE_SECRET_KEY")
                .filter(|key| !key.is_empty())
                .map(Secret::new),
            webhook_secrets,
            timeout: std::time::Duration::from_millis(
                u64::try_from(vars.number("STRIPE_TIMEOUT_MS", 10_000, 100..=60_000)?)
                    .unwrap_or(10_000),
            ),
        })
    }
}

/// The SMTP server, the sender, and the email job's retries.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `SMTP_URL`, as lettre reads it: `smtp://host:port` (plain, the local inbox in
    /// development), `smtp://…?tls=required` or `smtps://user:password@host` (TLS). It may hold
    /// a password, so it is a [`Secret`].
    pub smtp_url: Secret,
    /// `EMAIL_FROM`: `Name <address>` or a bare address.
    pub from: lettre::message::Mailbox,
    /// `SMTP_TIMEOUT_MS`: the longest one delivery may take, connecting included.
    pub smtp_timeout: Duration,
    /// `EMAIL_MAX_ATTEMPTS`: deliveries tried before an email is given up on.
    pub max_attempts: u32,
    /// `EMAIL_RETRY_BASE_MS`: the pause before the first retry; it doubles after each.
    pub retry_base: Duration,
}

impl EmailSettings {
    /// The defaults send to a local inbox (MailDev) as `Projects API <noreply@example.com>`;
    /// outside development `SMTP_URL` must be set (a relay on this machine is fine, the
    /// development inbox by default is not).
    fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        let smtp_url = if vars.environment().is_deployed() {
            vars.required("SMTP_URL")?
        } else {
            vars.optional("SMTP_URL")
                .unwrap_or_else(|| "smtp://127.0.0.1:1025".into())
        };
        // lettre's own reading decides; the message never echoes the URL (it may hold a
        // password).
        let scheme_ok = smtp_url.starts_with("smtp://") || smtp_url.starts_with("smtps://");
        if !scheme_ok
            || lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&smtp_url).is_err()
        {
            return Err(ConfigError::new(
                "SMTP_URL",
                "must be an smtp:// or smtps:// URL, such as smtp://127.0.0.1:1025",
            ));
        }
        let from_raw = vars
            .optional("EMAIL_FROM")
            .unwrap_or_else(|| "Projects API <noreply@example.com>".into());
        let from = from_raw.parse().map_err(|_| {
            ConfigError::new(
                "EMAIL_FROM",
                format!("must be `Name <address>` or an address, not `{from_raw}`"),
            )
        })?;
        let millis = |name: &'static str, default: i64, range: std::ops::RangeInclusive<i64>| {
            vars.number(name, default, range)
                .map(|n| Duration::from_millis(n.unsigned_abs()))
        };
        Ok(Self {
            smtp_url: Secret::new(smtp_url),
            from,
            smtp_timeout: millis("SMTP_TIMEOUT_MS", 10_000, 100..=120_000)?,
            max_attempts: u32::try_from(vars.number("EMAIL_MAX_ATTEMPTS", 8, 1..=20)?).unwrap_or(8),
            retry_base: millis("EMAIL_RETRY_BASE_MS", 2_000, 1..=60_000)?,
        })
    }

    pub fn smtp_url(&self) -> &str {
        std::str::from_utf8(self.smtp_url.expose()).unwrap_or_default()
    }
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
            edge_url: deployed_https(&vars, "EDGE_URL")?,
            origin_secret: vars.keyring("ORIGIN_SHARED_SECRET")?,
            jwt_signing_key: vars.keyring("JWT_SIGNING_KEY")?,
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
            shutdown_deadline: Duration::from_secs(
                u64::try_from(vars.number("SHUTDOWN_DEADLINE_SECS", 30, 1..=600)?).unwrap_or(30),
            ),
            stripe: StripeSettings::from_vars(&vars)?,
            email: EmailSettings::from_vars(&vars)?,
            operator: OperatorSettings::from_vars(&vars)?,
        })
    }

    pub fn database_url(&self) -> &str {
        std::str::from_utf8(self.database_url.expose()).unwrap_or_default()
    }
}

/// A URL that must be `https://` to a host other than this machine outside development: what
/// travels there is private (pushed rows, payments), and a loopback address is a development
/// setting (the local edge, the fake Stripe) left in by mistake.
fn deployed_https<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
    name: &'static str,
) -> Result<String, ConfigError> {
    let url = vars.url(name)?;
    if !vars.environment().is_deployed() {
        return Ok(url);
    }
    let host = url::Url::parse(&url)
        .ok()
        .and_then(|parsed| parsed.host_str().map(str::to_owned))
        .unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !url.starts_with("https://") || loopback {
        return Err(ConfigError::new(
            name,
            format!("must be an https:// URL to another host outside development, not `{url}`"),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Development settings, as `./dev run` has them, and `pairs` on top.
    fn with(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut all = vec![
            ("ENVIRONMENT", "development"),
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

    /// What a production deployment sets, and `pairs` on top.
    fn deployed(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut all = vec![
            ("ENVIRONMENT", "production"),
            ("EDGE_URL", "https://api.example.com"),
            ("SMTP_URL", "smtp://127.0.0.1:25"),
        ];
        all.extend_from_slice(pairs);
        with(&all)
    }

    #[test]
    fn a_deployed_start_refuses_development_settings() {
        assert_eq!(deployed(&[]).unwrap().environment, Environment::Production);
        for (name, value) in [
            ("JWT_SIGNING_KEY", "short"),
            ("ORIGIN_SHARED_SECRET", "short"),
            ("EDGE_URL", "http://127.0.0.1:8787"),
            ("EDGE_URL", "https://localhost:8787"),
            ("STRIPE_API_BASE", "http://127.0.0.1:12111"),
            ("STRIPE_API_BASE", "https://[::1]:12111"),
        ] {
            let error = deployed(&[(name, value)]).unwrap_err();
            assert_eq!(error.name, name, "{name}={value}: {error}");
        }
        let no_smtp = with(&[
            ("ENVIRONMENT", "staging"),
            ("EDGE_URL", "https://api.example.com"),
        ])
        .unwrap_err();
        assert_eq!(
            no_smtp.name, "SMTP_URL",
            "the local inbox is no default there"
        );
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
            ("DATABASE_POOL_SIZE", "0"),
            ("SHUTDOWN_DEADLINE_SECS", "0"),
        ] {
            assert_eq!(with(&[(name, value)]).unwrap_err().name, name);
        }
    }

    #[test]
    fn email_defaults_to_the_local_inbox_and_hides_the_smtp_password() {
        let email = with(&[]).unwrap().email;
        assert_eq!(email.smtp_url(), "smtp://127.0.0.1:1025");
        assert_eq!(email.from.to_string(), "Projects API <noreply@example.com>");
        assert_eq!(email.max_attempts, 8);
        assert_eq!(email.retry_base, Duration::from_secs(2));

        let settings = with(&[("SMTP_URL", "smtps://mailer:hunter2@smtp.example.com")]).unwrap();
        assert_eq!(
            settings.email.smtp_url(),
            "smtps://mailer:hunter2@smtp.example.com"
        );
        assert!(
            !format!("{settings:?}").contains("hunter2"),
            "the SMTP URL may hold a password"
        );
    }

    #[test]
    fn malformed_email_values_name_their_variable() {
        for (name, value) in [
            ("SMTP_URL", "http://127.0.0.1:1025"),
            ("SMTP_URL", "smtp://"),
            ("EMAIL_FROM", "not an address"),
            ("SMTP_TIMEOUT_MS", "0"),
            ("EMAIL_MAX_ATTEMPTS", "0"),
            ("EMAIL_RETRY_BASE_MS", "soon"),
        ] {
            let error = with(&[(name, value)]).unwrap_err();
            assert_eq!(error.name, name, "{value}");
        }
        let error = with(&[("SMTP_URL", "ftp://mailer:hunter2@host")]).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn the_operator_page_is_off_unless_asked_for_and_guarded_off_loopback() {
        let settings = with(&[]).unwrap();
        assert!(settings.operator.listen_addr.is_none());

        let local = with(&[("OPERATOR_LISTEN_ADDR", "127.0.0.1:8701")]).unwrap();
        assert_eq!(
            local.operator.listen_addr.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:8701")
        );
        assert!(local.operator.token.is_none(), "loopback needs no token");

        let open = with(&[("OPERATOR_LISTEN_ADDR", "0.0.0.0:8701")]).unwrap_err();
        assert_eq!(open.name, "OPERATOR_TOKEN");
        let short = with(&[("OPERATOR_TOKEN", "hunter2")]).unwrap_err();
        assert_eq!(short.name, "OPERATOR_TOKEN");
        assert!(!short.to_string().contains("hunter2"));
        let guarded = with(&[
            ("OPERATOR_LISTEN_ADDR", "0.0.0.0:8701"),
            ("OPERATOR_TOKEN", "a-long-operator-token"),
        ])
        .unwrap();
        assert!(guarded.operator.token.is_some());
        assert!(!format!("{guarded:?}").contains("a-long-operator-token"));
    }
}
