//! A private Postgres cluster in a folder of the stack's data: initialised once, started on the
//! stack's port, database `app` created, stopped (`pg_ctl -m fast stop`) when dropped.
//!
//! `initdb` refuses to run as root, so when xtask is root every server binary runs as the
//! `postgres` user (`runuser`), which also owns the cluster's folder. Clients connect over TCP
//! (trust authentication, 127.0.0.1 only), so they need no such care.
//!
//! The chaos suite stops and starts the server of a running stack ([`Postgres::stop_server`],
//! [`Postgres::start_server`]); dropping stops it if it runs at that moment.

use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::unistd::{User, geteuid};

use crate::process::run_logged;
use crate::shutdown::Shutdown;
use crate::ui::{note, say, shown, tail};

/// Where Debian's `postgresql` package puts the server binaries, one folder per major version.
const INSTALL_ROOT: &str = "/usr/lib/postgresql";

/// A running (or starting) cluster. Dropping it stops the server.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// Whether the server binaries run as the `postgres` user (xtask is root).
    run_as_user: bool,
}

impl Postgres {
    /// Initialises `dir` (once), starts the server on `port`, creates database `app`.
    pub async fn start(dir: &Path, port: u16, shutdown: &Shutdown) -> Result<Self> {
        let bin = server_bin()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", shown(dir)))?;
        let run_as_user = geteuid().is_root();
        if run_as_user {
            let user = User::from_name("postgres")?
                .context("xtask runs as root but there is no `postgres` user to run Postgres")?;
            chown(dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .with_context(|| format!("handing {} to postgres", shown(dir)))?;
        }
        // From here on, whatever went wrong, dropping `postgres` stops what was started.
        let postgres = Self {
            bin,
            dir: dir.to_path_buf(),
            port,
            run_as_user,
        };
        let data = postgres.data();
        if !data.join("PG_VERSION").exists() {
            say(format!(
                "Initialising a private Postgres cluster in {}",
                shown(dir)
            ));
            let mut initdb = postgres.server("initdb");
            initdb.arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]);
            run_logged("initdb", initdb, &dir.join("initdb.log"), shutdown).await?;
        }
        if postgres.running() {
            note(format!("Postgres already running in {}", shown(dir)));
        } else {
            postgres.start_server(shutdown).await?;
        }
        postgres.create_app_database()?;
        Ok(postgres)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A server binary, run as `postgres` when xtask is root.
    fn server(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.run_as_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn running(&self) -> bool {
        self.server("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("status")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Starts the server on the initialised cluster and waits until it accepts connections.
    pub async fn start_server(&self, shutdown: &Shutdown) -> Result<()> {
        // fsync off: the cluster is scratch state, and the tests create a database each.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let server_log = self.dir.join("postgres.log");
        let mut pg_ctl = self.server("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(&server_log)
            .args(["-w", "-t", "30", "-o", &options, "start"]);
        // pg_ctl's own chatter goes to a log of its own: the server's log file is opened by
        // the server as `postgres`, and must not be created by root first.
        let pg_ctl_log = self.dir.join("pg_ctl.log");
        if let Err(e) = run_logged("pg_ctl start", pg_ctl, &pg_ctl_log, shutdown).await {
            if e.is::<crate::shutdown::Interrupted>() {
                return Err(e);
            }
            bail!(
                "Postgres did not start ({e:#}); last lines of {}:\n{}",
                shown(&server_log),
                tail(&server_log, 20)
            );
        }
        note(format!("Postgres listening on 127.0.0.1:{}", self.port));
        Ok(())
    }

    /// Stops the server (`pg_ctl -m fast stop`: clients are disconnected, open transactions
    /// roll back) and waits until it is down. Without blocking the runtime: the chaos suite's
    /// load keeps running meanwhile.
    pub async fn stop_server(&self, shutdown: &Shutdown) -> Result<()> {
        let mut pg_ctl = self.server("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "-t", "30", "stop"]);
        run_logged(
            "pg_ctl stop",
            pg_ctl,
            &self.dir.join("pg_ctl-stop.log"),
            shutdown,
        )
        .await?;
        note("Postgres stopped");
        Ok(())
    }

    /// The postmaster's pid, from `postmaster.pid`, while the server runs.
    pub fn postmaster_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// A client for database `app`.
    pub fn client(&self) -> Psql {
        Psql {
            program: self.bin.join("psql"),
            port: self.port,
        }
    }

    fn create_app_database(&self) -> Result<()> {
        let exists = self.psql("SELECT 1 FROM pg_database WHERE datname = 'app'")?;
        if exists.trim() != "1" {
            self.psql("CREATE DATABASE app")?;
        }
        Ok(())
    }

    fn psql(&self, sql: &str) -> Result<String> {
        let output = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "postgres", "-tAqc", sql])
            .stdin(Stdio::null())
            .output()
            .context("could not run psql")?;
        psql_rows(sql, &output)
    }
}

/// What psql printed for `sql`, or its complaint when it failed.
fn psql_rows(sql: &str, output: &std::process::Output) -> Result<String> {
    if !output.status.success() {
        bail!(
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `psql` on database `app` over TCP, for the few reads the chaos suite and the soak make: a
/// process per query costs milliseconds, and keeps a Postgres driver out of xtask's build.
#[derive(Debug, Clone)]
pub struct Psql {
    program: PathBuf,
    port: u16,
}

impl Psql {
    /// How long one query may take, connecting included.
    const LIMIT: Duration = Duration::from_secs(20);

    /// Runs `sql` and returns its rows as psql prints them unaligned (`-tA`): one line per
    /// row, columns separated by `|`.
    pub async fn query(&self, sql: &str) -> Result<String> {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "app", "-tAXqc", sql])
            // A server that is down refuses at once; one that hangs must not hang us.
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Self::LIMIT, command.output())
            .await
            .with_context(|| format!("psql `{sql}` took over {} s", Self::LIMIT.as_secs()))?
            .context("could not run psql")?;
        psql_rows(sql, &output)
    }

    /// A query whose answer is one number.
    pub async fn number(&self, sql: &str) -> Result<i64> {
        let text = self.query(sql).await?;
        text.trim()
            .parse()
            .with_context(|| format!("psql `{sql}` answered {text:?}, not a number"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if !self.data().join("postmaster.pid").exists() {
            return;
        }
        let stopped = self
            .server("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match stopped {
            Ok(status) if status.success() => note("Postgres stopped"),
            Ok(status) => note(format!("pg_ctl stop failed ({status})")),
            Err(e) => note(format!("could not run pg_ctl stop: {e}")),
        }
    }
}

/// The newest installed server's `bin` folder.
fn server_bin() -> Result<PathBuf> {
    let versions: Vec<String> = std::fs::read_dir(INSTALL_ROOT)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.path().join("bin/pg_ctl").is_file())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    match newest(&versions) {
        Some(version) => Ok(Path::new(INSTALL_ROOT).join(version).join("bin")),
        None => bail!("no PostgreSQL server in {INSTALL_ROOT}/*/bin: run `./dev setup`"),
    }
}

/// The highest version among folder names like `16` or `9.6`, compared as numbers.
fn newest(versions: &[String]) -> Option<&str> {
    let key = |name: &str| -> Vec<u32> {
        name.split('.')
            .map(|part| part.parse().unwrap_or(0))
            .collect()
    };
    versions
        .iter()
        .max_by_key(|name| key(name))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_newest_server_by_number() {
        let found = ["9.6", "17", "15"].map(String::from);
        assert_eq!(newest(&found), Some("17"));
        assert_eq!(newest(&["9.6".to_owned(), "10".to_owned()]), Some("10"));
        assert_eq!(newest(&[]), None);
    }
}
