//! Local secrets: generated once per data folder into `secrets.env` (mode 600, never
//! committed), handed to the children through their environment or a 0600 file, never on a
//! command line, which `ps` shows to every user of the machine.

use std::fmt;
use std::fs::{OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};

const ORIGIN_SHARED_SECRET: &str = "ORIGIN_SHARED_SECRET";
const JWT_SIGNING_KEY: &str = "JWT_SIGNING_KEY";
const STRIPE_SECRET_KEY: &str = "STRIPE_SECRET_KEY";
const STRIPE_WEBHOOK_SECRETS: &str = "STRIPE_WEBHOOK_SECRETS";

/// The two secrets the edge and the origin share.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    pub origin_shared_secret: String,
    pub jwt_signing_key: String,
    /// The key the origin calls the fake Stripe with (`sk_test_…`).
    pub stripe_secret_key: String,
    /// What the fake Stripe signs webhooks with and the origin verifies them by (`whsec_…`).
    pub stripe_webhook_secret: String,
}

// Written by hand so that a `{:?}` in a log or an error never shows them.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    /// The data folder's secrets, created on first use. The file format is `./dev`'s
    /// (`NAME=value` lines), so an existing `.data/secrets.env` keeps working.
    /// A file from before the Stripe secrets existed gets them added.
    pub fn load_or_create(data: &Path) -> Result<Self> {
        let file = data.join("secrets.env");
        if file.exists() {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let secrets = Self::parse(&text).with_context(|| format!("in {}", file.display()))?;
            if !text.contains(STRIPE_WEBHOOK_SECRETS) {
                write_private(&file, &secrets.all())?;
            }
            return Ok(secrets);
        }
        let secrets = Self::generate();
        write_private(&file, &secrets.all())?;
        Ok(secrets)
    }

    /// 32 random bytes each, hex: what `./dev` generated, and long enough for production's
    /// 32-byte minimum.
    fn generate() -> Self {
        Self {
            origin_shared_secret: hex::encode(rand::random::<[u8; 32]>()),
            jwt_signing_key: hex::encode(rand::random::<[u8; 32]>()),
            stripe_secret_key: Self::stripe_key(),
            stripe_webhook_secret: Self::stripe_webhook_secret(),
        }
    }

    /// Stripe's shapes, so nothing downstream mistakes them for something else.
    fn stripe_key() -> String {
        format!("sk_test_{}", hex::encode(rand::random::<[u8; 24]>()))
    }

    fn stripe_webhook_secret() -> String {
        format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()))
    }

    fn parse(text: &str) -> Result<Self> {
        let find = |name: &str| {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(key, _)| key.trim() == name)
                .map(|(_, value)| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .with_context(|| format!("{name} is missing"))
        };
        Ok(Self {
            origin_shared_secret: find(ORIGIN_SHARED_SECRET)?,
            jwt_signing_key: find(JWT_SIGNING_KEY)?,
            stripe_secret_key: find(STRIPE_SECRET_KEY).unwrap_or_else(|_| Self::stripe_key()),
            stripe_webhook_secret: find(STRIPE_WEBHOOK_SECRETS)
                .unwrap_or_else(|_| Self::stripe_webhook_secret()),
        })
    }

    /// As `NAME`, value pairs: the variables both services read.
    pub fn vars(&self) -> [(&'static str, &str); 2] {
        [
            (ORIGIN_SHARED_SECRET, &self.origin_shared_secret),
            (JWT_SIGNING_KEY, &self.jwt_signing_key),
        ]
    }

    /// The origin's: the shared ones and Stripe's (the edge never needs Stripe's).
    pub fn origin_vars(&self) -> [(&'static str, &str); 4] {
        let [shared, jwt] = self.vars();
        [
            shared,
            jwt,
            (STRIPE_SECRET_KEY, &self.stripe_secret_key),
            (STRIPE_WEBHOOK_SECRETS, &self.stripe_webhook_secret),
        ]
    }

    /// Everything, as `secrets.env` holds it.
    fn all(&self) -> [(&'static str, &str); 4] {
        self.origin_vars()
    }
}

/// Writes `NAME=value` lines (the format of `.dev.vars` and `.env` files) to `path`, readable
/// by its owner only, replacing what was there.
pub fn write_private(path: &Path, vars: &[(&str, &str)]) -> Result<()> {
    let mut text = String::new();
    for (name, value) in vars {
        // One line per variable, unquoted: a line break would start another variable.
        if value.contains(['\n', '\r']) {
            bail!("{name} holds a line break");
        }
        text.extend([name, "=", value, "\n"]);
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // `mode` applies to a new file only; an older file may have been wider.
    file.set_permissions(Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tempdir::TempDir;

    #[test]
    fn created_once_private_and_in_the_dev_format() {
        let dir = TempDir::new("xtask-secrets").unwrap();
        let first = Secrets::load_or_create(dir.path()).unwrap();
        let file = dir.path().join("secrets.env");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            format!(
                "ORIGIN_SHARED_SECRET={}\nJWT_SIGNING_KEY={}\nSTRIPE_SECRET_KEY={}\nSTRIPE_WEBHOOK_SECRETS={}\n",
                first.origin_shared_secret,
                first.jwt_signing_key,
                first.stripe_secret_key,
                first.stripe_webhook_secret
            )
        );
        assert!(first.stripe_secret_key.starts_with("sk_test_"));
        assert!(first.stripe_webhook_secret.starts_with("whsec_"));
        assert_eq!(first.origin_shared_secret.len(), 64);
        assert_ne!(first.origin_shared_secret, first.jwt_signing_key);
        // The second start of the same folder reads them back.
        assert_eq!(Secrets::load_or_create(dir.path()).unwrap(), first);
    }

    #[test]
    fn reads_a_file_written_by_the_shell_scripts() {
        let parsed = Secrets::parse("ORIGIN_SHARED_SECRET=abc\nJWT_SIGNING_KEY=def\n").unwrap();
        assert_eq!(parsed.origin_shared_secret, "abc");
        assert_eq!(parsed.jwt_signing_key, "def");
        assert!(Secrets::parse("ORIGIN_SHARED_SECRET=abc\n").is_err());
    }

    #[test]
    fn an_older_file_gains_the_stripe_secrets_and_keeps_the_rest() {
        let dir = TempDir::new("xtask-secrets").unwrap();
        let file = dir.path().join("secrets.env");
        std::fs::write(&file, "ORIGIN_SHARED_SECRET=abc\nJWT_SIGNING_KEY=def\n").unwrap();
        let loaded = Secrets::load_or_create(dir.path()).unwrap();
        assert_eq!(
            (
                loaded.origin_shared_secret.as_str(),
                loaded.jwt_signing_key.as_str()
            ),
            ("abc", "def")
        );
        assert_eq!(
            Secrets::load_or_create(dir.path()).unwrap(),
            loaded,
            "written back, read again"
        );
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains(&loaded.stripe_webhook_secret)
        );
    }

    #[test]
    fn never_shows_them_in_debug_output() {
        let secrets = Secrets::generate();
        let shown = format!("{secrets:?}");
        assert!(!shown.contains(&secrets.jwt_signing_key));
        assert!(!shown.contains(&secrets.stripe_webhook_secret));
    }

    #[test]
    fn a_rewritten_file_is_narrowed_to_its_owner() {
        let dir = TempDir::new("xtask-secrets").unwrap();
        let file = dir.path().join("edge.vars");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        write_private(&file, &[("A", "1"), ("B", "2")]).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "A=1\nB=2\n");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(write_private(&file, &[("A", "1\nB=2")]).is_err());
    }
}
