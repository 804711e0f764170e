//! The edge's configuration: read once per isolate from Workers vars and secrets, validated,
//! and refused with a message naming the variable when anything is missing or malformed.

use domain::auth::{TokenKeys, TokenLifetimes};
use domain::config::Vars;
pub use domain::config::{ConfigError, Environment, Keyring, Secret};
use domain::limits;
use domain::throttle::Rates;

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

impl CorsOrigins {
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.iter().any(|allowed| allowed == origin),
        }
    }
}

/// Everything the edge is configured with.
#[derive(Debug)]
pub struct Settings {
    pub environment: Environment,
    /// Base URL of the origin worker, without a trailing slash.
    pub origin_url: String,
    /// Shared with the origin; signs calls both ways (`ORIGIN_SHARED_SECRET`, rotated with an
    /// overlap: [`Keyring`]).
    pub origin_secret: Keyring,
    pub token_keys: TokenKeys,
    pub token_lifetimes: TokenLifetimes,
    pub cors_origins: CorsOrigins,
    pub signature_window_secs: i64,
    pub origin_timeout_ms: u32,
    pub throttle: ThrottleSettings,
    pub media: MediaSettings,
    /// `API_SERVERS`: the URLs the OpenAPI document names as its servers (comma-separated);
    /// none, and it names `/`, wherever it was fetched from.
    pub api_servers: Vec<String>,
    pub access_log: AccessLog,
}

/// `ACCESS_LOG`: which requests the edge writes its access line for: `all` by default in
/// development, where the line is how a request's ids are found; `problems` when deployed, where
/// every request is a data point in Analytics Engine and an invocation in Workers' own logs
/// anyway, and the line would cost about a quarter of a trivial request's CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLog {
    /// `all`: every request.
    All,
    /// `problems`: answers of 400 and above, and requests slower than [`AccessLog::SLOW_MS`].
    Problems,
}

impl AccessLog {
    /// How long a request may take before its line is written whatever its status.
    pub const SLOW_MS: u64 = 1_000;

    /// Whether a request that answered `status` after `millis` gets its line.
    pub const fn wants(self, status: u16, millis: u64) -> bool {
        match self {
            Self::All => true,
            Self::Problems => status >= 400 || millis >= Self::SLOW_MS,
        }
    }

    fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        match vars.optional("ACCESS_LOG").as_deref() {
            None if vars.environment() == Environment::Development => Ok(Self::All),
            None | Some("problems") => Ok(Self::Problems),
            Some("all") => Ok(Self::All),
            Some(other) => Err(ConfigError::new(
                "ACCESS_LOG",
                format!("must be all or problems, not `{other}`"),
            )),
        }
    }
}

/// Rate limiting ([`crate::throttle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// `THROTTLE_ENABLED` (`true` unless `false`): off, no request is counted or refused.
    pub enabled: bool,
    /// `THROTTLE_RATE_ANON`, `_USER`, `_BURST`, `_CREDENTIALS` (`100/day`, `1000/day`,
    /// `60/min`, `20/min`).
    pub rates: Rates,
    /// `THROTTLE_LEASE` (10, 1 to 100): how many requests an isolate may count ahead for one
    /// identity, away from the credentials endpoints (which count each request). The largest
    /// overshoot of any limit: 1 is exact, and costs a Durable Object call per request. The
    /// object grants at most a sixth of the tightest limit ([`crate::throttle::counts`]).
    pub lease: u32,
    /// `THROTTLE_LEASE_MS` (5000, 100 to 60000): how long a lease may be spent.
    pub lease_ms: i64,
}

/// Attachments: uploads and their signed download URLs ([`crate::attachments`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSettings {
    /// `MEDIA_SIGNING_KEY`: signs download URLs. Unset, it is derived from
    /// `ORIGIN_SHARED_SECRET` (HMAC-SHA256 over a fixed label), previous key and window
    /// included, so that a deployment needs no further secret; set it to rotate the URLs' key
    /// on its own.
    pub signing_key: Keyring,
    /// `MEDIA_URL_TTL_SECS` (3600, 60 to 604800): how long a download URL works.
    pub url_ttl_secs: i64,
    /// `UPLOAD_MAX_BYTES` (20 MiB, 1 to 100 MiB, the most a Workers request body may be): the
    /// largest file accepted.
    pub max_upload_bytes: u64,
    /// `ORPHAN_MIN_AGE_SECS` (86400; at least 3600 outside development): how old a blob no
    /// attachment refers to must be before the sweep removes it, so that an upload whose
    /// metadata is still on its way is never taken for an orphan.
    pub orphan_min_age_secs: i64,
}

impl MediaSettings {
    fn from_vars<F: Fn(&str) -> Option<String>>(
        vars: &Vars<F>,
        origin_secret: &Keyring,
    ) -> Result<Self, ConfigError> {
        let signing_key = if vars.optional("MEDIA_SIGNING_KEY").is_some() {
            vars.keyring("MEDIA_SIGNING_KEY")?
        } else {
            origin_secret.derive(domain::files::signed::derived_key)
        };
        Ok(Self {
            signing_key,
            url_ttl_secs: vars.number("MEDIA_URL_TTL_SECS", 3_600, 60..=604_800)?,
            max_upload_bytes: u64::try_from(vars.number(
                "UPLOAD_MAX_BYTES",
                i64::try_from(limits::DEFAULT_UPLOAD_BYTES).unwrap_or(i64::MAX),
                1..=i64::try_from(limits::MAX_UPLOAD_BYTES).unwrap_or(i64::MAX),
            )?)
            .unwrap_or(0),
            orphan_min_age_secs: vars.number(
                "ORPHAN_MIN_AGE_SECS",
                86_400,
                if vars.environment() == Environment::Development {
                    0..=2_592_000
                } else {
                    3_600..=2_592_000
                },
            )?,
        })
    }
}

impl ThrottleSettings {
    fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        let enabled = match vars.optional("THROTTLE_ENABLED").as_deref() {
            None | Some("true" | "1") => true,
            Some("false" | "0") => false,
            Some(other) => {
                return Err(ConfigError::new(
                    "THROTTLE_ENABLED",
                    format!("must be true or false, not `{other}`"),
                ));
            }
        };
        Ok(Self {
            enabled,
            rates: Rates::from_vars(vars)?,
            lease: u32::try_from(vars.number("THROTTLE_LEASE", 10, 1..=100)?).unwrap_or(10),
            lease_ms: vars.number("THROTTLE_LEASE_MS", 5_000, 100..=60_000)?,
        })
    }
}

impl Settings {
    /// Builds settings from a lookup (`env.var` / `env.secret` on Workers, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup)?;
        let environment = vars.environment();
        let cors_origins = match vars.optional("CORS_ALLOWED_ORIGINS").as_deref() {
            None if environment == Environment::Development => CorsOrigins::Any,
            None => CorsOrigins::List(Vec::new()),
            Some("*") if environment.is_deployed() => {
                return Err(ConfigError::new(
                    "CORS_ALLOWED_ORIGINS",
                    "`*` is for development only: list the origins that may call the API",
                ));
            }
            Some("*") => CorsOrigins::Any,
            Some(list) => CorsOrigins::List(
                list.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .collect(),
            ),
        };
        let origin_secret = vars.keyring("ORIGIN_SHARED_SECRET")?;
        let origin_url = vars.url("ORIGIN_URL")?;
        if environment.is_deployed() && !origin_url.starts_with("https://") {
            // Logins and their passwords are forwarded: signed, but only TLS hides them.
            return Err(ConfigError::new(
                "ORIGIN_URL",
                "must be https:// outside development (passwords travel to the origin)",
            ));
        }
        Ok(Self {
            environment,
            origin_url,
            media: MediaSettings::from_vars(&vars, &origin_secret)?,
            origin_secret,
            token_keys: TokenKeys::from_keyring(&vars.keyring("JWT_SIGNING_KEY")?),
            token_lifetimes: vars.token_lifetimes()?,
            cors_origins,
            signature_window_secs: vars.signature_window_secs()?,
            origin_timeout_ms: u32::try_from(vars.number(
                "ORIGIN_TIMEOUT_MS",
                10_000,
                100..=60_000,
            )?)
            .unwrap_or(10_000),
            throttle: ThrottleSettings::from_vars(&vars)?,
            api_servers: vars.urls("API_SERVERS")?,
            access_log: AccessLog::from_vars(&vars)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        ("ORIGIN_URL", "https://origin.example.com/"),
        ("ORIGIN_SHARED_SECRET", "0123456789abcdef0123456789abcdef"),
        ("JWT_SIGNING_KEY", "fedcba9876543210fedcba9876543210"),
    ];

    #[test]
    fn good_settings_parse_with_defaults() {
        let settings = Settings::from_lookup(lookup(GOOD)).unwrap();
        assert_eq!(settings.origin_url, "https://origin.example.com");
        assert_eq!(settings.environment, Environment::Production);
        assert_eq!(settings.token_lifetimes, TokenLifetimes::default());
        assert_eq!(settings.cors_origins, CorsOrigins::List(Vec::new()));
        assert_eq!(settings.access_log, AccessLog::Problems);
        assert!(
            !format!("{settings:?}").contains("0123456789abcdef"),
            "secrets must not print"
        );
    }

    #[test]
    fn each_problem_names_its_variable() {
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            &'static str,
        );
        let cases: &[Case] = &[
            ("missing origin", &[], "ORIGIN_URL"),
            (
                "short key",
                &[("JWT_SIGNING_KEY", "short")],
                "JWT_SIGNING_KEY",
            ),
            ("bad url", &[("ORIGIN_URL", "ftp://x")], "ORIGIN_URL"),
            (
                "bad number",
                &[("ACCESS_TOKEN_LIFETIME_SECS", "soon")],
                "ACCESS_TOKEN_LIFETIME_SECS",
            ),
            ("bad environment", &[("ENVIRONMENT", "prod")], "ENVIRONMENT"),
            ("bad access log", &[("ACCESS_LOG", "some")], "ACCESS_LOG"),
            (
                "any origin outside development",
                &[("CORS_ALLOWED_ORIGINS", "*")],
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                "the local origin outside development",
                &[("ORIGIN_URL", "http://127.0.0.1:8700")],
                "ORIGIN_URL",
            ),
            (
                "an old key with no end to its window",
                &[(
                    "JWT_SIGNING_KEY_PREVIOUS",
                    "0011223344556677889900112233445566",
                )],
                "JWT_SIGNING_KEY_PREVIOUS_UNTIL",
            ),
        ];
        for (case, overrides, variable) in cases {
            let mut pairs: Vec<(&str, &str)> = GOOD.to_vec();
            if *case == "missing origin" {
                pairs.retain(|(k, _)| *k != "ORIGIN_URL");
            }
            pairs.retain(|(k, _)| !overrides.iter().any(|(o, _)| o == k));
            pairs.extend_from_slice(overrides);
            let error = Settings::from_lookup(lookup(&pairs)).unwrap_err();
            assert_eq!(error.name, *variable, "case {case}: {error}");
        }
    }

    #[test]
    fn staging_is_held_to_productions_rules() {
        let mut pairs = GOOD.to_vec();
        pairs.push(("ENVIRONMENT", "staging"));
        let settings = Settings::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(settings.environment, Environment::Staging);
        pairs.push(("CORS_ALLOWED_ORIGINS", "*"));
        let error = Settings::from_lookup(lookup(&pairs)).unwrap_err();
        assert_eq!(error.name, "CORS_ALLOWED_ORIGINS");
    }

    #[test]
    fn development_accepts_short_keys_and_any_origin() {
        let mut pairs = GOOD.to_vec();
        pairs.retain(|(k, _)| *k != "JWT_SIGNING_KEY");
        pairs.push(("JWT_SIGNING_KEY", "dev"));
        pairs.push(("ENVIRONMENT", "development"));
        let settings = Settings::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(settings.cors_origins, CorsOrigins::Any);
        assert_eq!(settings.access_log, AccessLog::All);
    }

    #[test]
    fn the_access_line_is_written_for_problems_and_slow_requests_unless_all_are_asked_for() {
        let quick = AccessLog::SLOW_MS - 1;
        let cases = [
            (200, quick, false),
            (304, quick, false),
            (200, AccessLog::SLOW_MS, true),
            (400, 0, true),
            (429, 0, true),
            (503, quick, true),
        ];
        for (status, millis, wanted) in cases {
            assert_eq!(
                AccessLog::Problems.wants(status, millis),
                wanted,
                "{status} in {millis} ms"
            );
            assert!(AccessLog::All.wants(status, millis));
        }
        let mut pairs = GOOD.to_vec();
        pairs.push(("ACCESS_LOG", "all"));
        let settings = Settings::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(settings.access_log, AccessLog::All);
        pairs.extend([("ENVIRONMENT", "development"), ("ACCESS_LOG", "problems")]);
        pairs.retain(|pair| *pair != ("ACCESS_LOG", "all"));
        let settings = Settings::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(settings.access_log, AccessLog::Problems);
    }
}
