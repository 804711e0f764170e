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

/// The two secrets the edge and the origin share.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    pub origin_shared_secret: String,
    pub jwt_signing_key: String,
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
    pub fn load_or_create(data: &Path) -> Result<Self> {
        let file = data.join("secrets.env");
        if file.exists() {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            return Self::parse(&text).with_context(|| format!("in {}", file.display()));
        }
        let secrets = Self::generate();
        write_private(&file, &secrets.vars())?;
        Ok(secrets)
    }

    /// 32 random bytes each, hex: what `./dev` generated, and long enough for production's
    /// 32-byte minimum.
    fn generate() -> Self {
        Self {
            origin_shared_secret: hex::encode(rand::random::<[u8; 32]>()),
            jwt_signing_key: hex::encode(rand::random::<[u8; 32]>()),
        }
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
        })
    }

    /// As `NAME`, value pairs: the variables both services read.
    pub fn vars(&self) -> [(&'static str, &str); 2] {
        [
            (ORIGIN_SHARED_SECRET, &self.origin_shared_secret),
            (JWT_SIGNING_KEY, &self.jwt_signing_key),
        ]
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
                "ORIGIN_SHARED_SECRET={}\nJWT_SIGNING_KEY={}\n",
                first.origin_shared_secret, first.jwt_signing_key
            )
        );
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
    fn never_shows_them_in_debug_output() {
        let secrets = Secrets::generate();
        assert!(!format!("{secrets:?}").contains(&secrets.jwt_signing_key));
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
