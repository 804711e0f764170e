//! Reading configuration variables, once, with errors that name the variable. Both deployables
//! build their typed settings on [`Vars`]: the edge over Workers vars and secrets, the origin
//! over the process environment.

use std::fmt;
use std::ops::RangeInclusive;

use crate::auth::TokenLifetimes;
pub use crate::keyring::Keyring;
pub use crate::secret::Secret;
use crate::signing::DEFAULT_WINDOW_SECS;

/// Shortest signing key accepted outside local development.
pub const MIN_KEY_BYTES: usize = 32;

/// Where a deployable runs. Development relaxes the key-length rule and allows every CORS
/// origin; staging and production, the deployed environments, refuse development's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    /// Staging or production: somewhere development's settings must never reach.
    pub fn is_deployed(self) -> bool {
        self != Self::Development
    }
}

/// A variable that stopped start-up, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration variable {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(name: &'static str, problem: impl Into<String>) -> Self {
        Self {
            name,
            problem: problem.into(),
        }
    }
}

/// A source of variables plus the environment they were declared for.
pub struct Vars<F> {
    lookup: F,
    environment: Environment,
}

impl<F> fmt::Debug for Vars<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vars")
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// Reads `ENVIRONMENT` (`development`, `staging` or `production`, the default) first.
    pub fn new(lookup: F) -> Result<Self, ConfigError> {
        let environment = match lookup("ENVIRONMENT").as_deref().map(str::trim) {
            None | Some("" | "production") => Environment::Production,
            Some("development") => Environment::Development,
            Some("staging") => Environment::Staging,
            Some(other) => {
                return Err(ConfigError::new(
                    "ENVIRONMENT",
                    format!("must be `development`, `staging` or `production`, not `{other}`"),
                ));
            }
        };
        Ok(Self {
            lookup,
            environment,
        })
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The trimmed value, or `None` when unset or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name)
            .ok_or_else(|| ConfigError::new(name, "is not set"))
    }

    /// A secret key: required, and at least [`MIN_KEY_BYTES`] long outside development.
    pub fn key(&self, name: &'static str) -> Result<Secret, ConfigError> {
        let value = self.required(name)?;
        if self.environment.is_deployed() && value.len() < MIN_KEY_BYTES {
            return Err(ConfigError::new(
                name,
                format!("must be at least {MIN_KEY_BYTES} bytes outside development"),
            ));
        }
        Ok(Secret::new(value))
    }

    /// A key being rotated ([`Keyring`]): `name` signs; `{name}_PREVIOUS`, when set, still
    /// verifies until `{name}_PREVIOUS_UNTIL` (unix seconds, required with it, so that an old
    /// key never lingers by oversight). Each key as [`Vars::key`] reads it.
    pub fn keyring(&self, name: &'static str) -> Result<Keyring, ConfigError> {
        let ring = Keyring::new(self.key(name)?);
        let (previous, until) = previous_names(name)
            .ok_or_else(|| ConfigError::new(name, "has no rotation variables (a bug)"))?;
        if self.optional(previous).is_none() {
            return Ok(ring);
        }
        let key = self.key(previous)?;
        let until = self
            .optional(until)
            .ok_or_else(|| {
                ConfigError::new(
                    until,
                    format!("must say when {previous} stops verifying (unix seconds)"),
                )
            })?
            .parse::<i64>()
            .ok()
            .filter(|until| *until > 0)
            .ok_or_else(|| ConfigError::new(until, "must be a time in unix seconds"))?;
        Ok(ring.with_previous(key, until))
    }

    /// A whole number within `range`, or `default` when unset.
    pub fn number(
        &self,
        name: &'static str,
        default: i64,
        range: RangeInclusive<i64>,
    ) -> Result<i64, ConfigError> {
        let Some(raw) = self.optional(name) else {
            return Ok(default);
        };
        raw.parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ConfigError::new(
                    name,
                    format!(
                        "must be a whole number from {} to {}, not `{raw}`",
                        range.start(),
                        range.end()
                    ),
                )
            })
    }

    /// `ACCESS_TOKEN_LIFETIME_SECS` (15 minutes; at most a day) and
    /// `REFRESH_TOKEN_LIFETIME_SECS` (7 days; at most a year), read the same on both sides.
    pub fn token_lifetimes(&self) -> Result<TokenLifetimes, ConfigError> {
        let day = 24 * 3600;
        let defaults = TokenLifetimes::default();
        Ok(TokenLifetimes {
            access_secs: self.number(
                "ACCESS_TOKEN_LIFETIME_SECS",
                defaults.access_secs,
                1..=day,
            )?,
            refresh_secs: self.number(
                "REFRESH_TOKEN_LIFETIME_SECS",
                defaults.refresh_secs,
                1..=365 * day,
            )?,
        })
    }

    /// `SIGNATURE_WINDOW_SECS`: how far apart the two sides' clocks may be, and how long a
    /// signed call stays valid (5–600 s).
    pub fn signature_window_secs(&self) -> Result<i64, ConfigError> {
        self.number("SIGNATURE_WINDOW_SECS", DEFAULT_WINDOW_SECS, 5..=600)
    }

    /// A URL starting with `http://` or `https://`, without a trailing slash.
    pub fn url(&self, name: &'static str) -> Result<String, ConfigError> {
        checked_url(name, &self.required(name)?)
    }

    /// A comma-separated list of URLs, each as [`Self::url`] takes it; empty when unset.
    pub fn urls(&self, name: &'static str) -> Result<Vec<String>, ConfigError> {
        let Some(list) = self.optional(name) else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| checked_url(name, url))
            .collect()
    }
}

/// The variables that hold a rotated key's predecessor and its window's end. An error names a
/// variable by a static name, so the keys that rotate are listed.
fn previous_names(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "JWT_SIGNING_KEY" => Some(("JWT_SIGNING_KEY_PREVIOUS", "JWT_SIGNING_KEY_PREVIOUS_UNTIL")),
        "ORIGIN_SHARED_SECRET" => Some((
            "ORIGIN_SHARED_SECRET_PREVIOUS",
            "ORIGIN_SHARED_SECRET_PREVIOUS_UNTIL",
        )),
        "MEDIA_SIGNING_KEY" => Some((
            "MEDIA_SIGNING_KEY_PREVIOUS",
            "MEDIA_SIGNING_KEY_PREVIOUS_UNTIL",
        )),
        _ => None,
    }
}

fn checked_url(name: &'static str, value: &str) -> Result<String, ConfigError> {
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(ConfigError::new(
            name,
            "must start with http:// or https://",
        ));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(
        pairs: &'static [(&'static str, &'static str)],
    ) -> Vars<impl Fn(&str) -> Option<String>> {
        Vars::new(move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    #[test]
    fn short_keys_are_refused_outside_development() {
        let production = vars(&[("K", "short")]);
        assert_eq!(production.key("K").unwrap_err().name, "K");
        let development = vars(&[("K", "short"), ("ENVIRONMENT", "development")]);
        assert_eq!(development.key("K").unwrap().expose(), b"short");
    }

    #[test]
    fn a_rotated_key_needs_the_end_of_its_window() {
        const NEW: &str = "a-new-key-of-at-least-32-bytes!!";
        const OLD: &str = "an-old-key-of-at-least-32-bytes!";
        let ring = vars(&[("JWT_SIGNING_KEY", NEW)])
            .keyring("JWT_SIGNING_KEY")
            .unwrap();
        assert_eq!(ring.previous_until(), None);
        let without_end = vars(&[("JWT_SIGNING_KEY", NEW), ("JWT_SIGNING_KEY_PREVIOUS", OLD)])
            .keyring("JWT_SIGNING_KEY")
            .unwrap_err();
        assert_eq!(without_end.name, "JWT_SIGNING_KEY_PREVIOUS_UNTIL");
        for name in [
            "JWT_SIGNING_KEY",
            "ORIGIN_SHARED_SECRET",
            "MEDIA_SIGNING_KEY",
        ] {
            let (previous, until) = previous_names(name).unwrap();
            let ring = vars(Box::leak(Box::new([
                (name, NEW),
                (previous, OLD),
                (until, "1700000000"),
            ])))
            .keyring(name)
            .unwrap();
            assert_eq!(ring.previous_at(1_699_999_999), Some(OLD.as_bytes()));
            assert_eq!(ring.previous_at(1_700_000_000), None);
            let short = vars(Box::leak(Box::new([
                (name, NEW),
                (previous, "short"),
                (until, "1700000000"),
            ])))
            .keyring(name)
            .unwrap_err();
            assert_eq!(
                short.name, previous,
                "the old key is held to the same length"
            );
        }
    }

    #[test]
    fn url_lists_are_checked_url_by_url() {
        let v = vars(&[
            ("LIST", "https://a.example.com/, http://b.example.com"),
            ("BAD", "https://a.example.com,ftp://b"),
        ]);
        assert_eq!(
            v.urls("LIST").unwrap(),
            ["https://a.example.com", "http://b.example.com"]
        );
        assert_eq!(v.urls("BAD").unwrap_err().name, "BAD");
        assert_eq!(v.urls("UNSET").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn numbers_outside_their_range_name_the_variable() {
        let v = vars(&[("N", "0"), ("M", "x")]);
        assert!(
            v.number("N", 5, 1..=10)
                .unwrap_err()
                .problem
                .contains("from 1 to 10")
        );
        assert_eq!(v.number("M", 5, 1..=10).unwrap_err().name, "M");
        assert_eq!(v.number("UNSET", 5, 1..=10), Ok(5));
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret(<redacted>)"
        );
    }
}
