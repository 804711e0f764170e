//! A fresh folder under `$TMPDIR` (or `/tmp`), removed when dropped: the state of one test or
//! bench run, so that nothing carries over from the last one.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rand::Rng;
use rand::distributions::Alphanumeric;

use crate::ui::note;

#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `PREFIX.XXXXXX` (like `mktemp -d`), readable by every user: the Postgres cluster
    /// inside runs as `postgres` when xtask is root and must be able to reach its folder.
    pub fn new(prefix: &str) -> Result<Self> {
        let base = std::env::temp_dir();
        loop {
            let suffix: String = rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(6)
                .map(char::from)
                .collect();
            let path = base.join(format!("{prefix}.{suffix}"));
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            note(format!("could not remove {}: {e}", self.path.display()));
        }
    }
}
