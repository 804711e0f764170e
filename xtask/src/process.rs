//! Child processes: background services, setup steps and foreground commands, and the HTTP
//! readiness wait.
//!
//! A service runs in a process group of its own. The terminal's Ctrl-C then reaches xtask only,
//! which stops the services in order; and stopping signals the whole group, so that the
//! processes a service starts itself (`npx` → node → `workerd`) go with it. Setup steps and
//! foreground commands (nextest) stay in xtask's group: a Ctrl-C reaches them directly, as it
//! would in a shell.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::procfs;
use crate::shutdown::Shutdown;
use crate::ui::{note, shown, tail};

/// How long a service gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// A background process with its output in a log file.
#[derive(Debug)]
pub struct Service {
    name: &'static str,
    log: PathBuf,
    child: Child,
    exited: Option<ExitStatus>,
}

impl Service {
    /// Starts `command` in a new process group, stdin closed, stdout and stderr to `log`.
    pub fn spawn(name: &'static str, log: &Path, command: Command) -> Result<Self> {
        let out = File::create(log).with_context(|| format!("creating {}", shown(log)))?;
        let child = launch(name, log, out, command)?;
        Ok(Self {
            name,
            log: log.to_path_buf(),
            child,
            exited: None,
        })
    }

    /// Starts `command` in place of this service's stopped process (a restart by the chaos
    /// suite), appending to the same log, so that what happened before the restart stays
    /// readable. Teardown then stops the new process like the first.
    pub fn respawn(&mut self, command: Command) -> Result<()> {
        if self.group_alive() {
            bail!(
                "{} is still running: stop it before starting it again",
                self.name
            );
        }
        let mut out = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", shown(&self.log)))?;
        writeln!(out, "\n--- xtask: {} started again ---\n", self.name)?;
        self.child = launch(self.name, &self.log, out, command)?;
        self.exited = None;
        Ok(())
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The exit status once the process has exited (and been reaped); `None` while it runs.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Its process group: the leader's pid, as `process_group(0)` made it.
    fn group(&self) -> Pid {
        // Linux pids are below 2^22, so this never saturates.
        Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX))
    }

    /// The id of its process group (the soak sums the memory of its members).
    pub fn group_id(&self) -> i32 {
        self.group().as_raw()
    }

    /// Sends `signal` to the whole group and waits, without blocking the runtime (the chaos
    /// suite's load keeps running meanwhile), until nothing of it runs: [`GRACE`] for it to
    /// go, then SIGKILL. `SIGKILL` itself is the chaos suite's crash.
    pub async fn stop(&mut self, signal: Signal) {
        // ESRCH (already gone) is the only likely error and means the same as success.
        let _ = killpg(self.group(), signal);
        let gone = self.gone_within(GRACE).await;
        if !gone {
            note(format!(
                "{} did not stop within {} s: killed",
                self.name,
                GRACE.as_secs()
            ));
            let _ = killpg(self.group(), Signal::SIGKILL);
            if !self.gone_within(GRACE).await {
                note(format!("{} still has processes after SIGKILL", self.name));
            }
        }
    }

    async fn gone_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.group_alive() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Whether anything of the group is still running. The leader is reaped here; members
    /// orphaned by it are reaped by init, which may take its time (or, in a container whose
    /// first process is no init, never happen), so zombies do not count.
    fn group_alive(&mut self) -> bool {
        self.exited();
        let group = self.group().as_raw();
        match running_in_group(group) {
            Some(running) => running,
            // No /proc to read: any member, zombies included.
            None => killpg(self.group(), None).is_ok(),
        }
    }
}

/// Starts `command` in a new process group, stdin closed, stdout and stderr to `out` (the file
/// at `log`).
fn launch(name: &str, log: &Path, out: File, mut command: Command) -> Result<Child> {
    let err = out.try_clone()?;
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let child = command.spawn().with_context(|| {
        format!(
            "could not start {name} ({})",
            command.get_program().to_string_lossy()
        )
    })?;
    note(format!(
        "{name} started (pid {}, log {})",
        child.id(),
        shown(log)
    ));
    Ok(child)
}

/// Whether `/proc` lists a process of group `group` that is not a zombie; `None` if `/proc`
/// cannot be read.
fn running_in_group(group: i32) -> Option<bool> {
    Some(
        procfs::processes()?
            .iter()
            .any(|p| p.pgrp == group && !p.is_zombie()),
    )
}

/// Stops services: SIGTERM to every group at once, up to [`GRACE`] for all of them to go, then
/// SIGKILL for what is left.
pub fn stop_all(services: &mut [Service]) {
    for service in services.iter() {
        // ESRCH (already gone) is the only likely error and means the same as success.
        let _ = killpg(service.group(), Signal::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while services.iter_mut().any(Service::group_alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    for service in services.iter_mut() {
        if service.group_alive() {
            note(format!(
                "{} did not stop within {} s: killed",
                service.name,
                GRACE.as_secs()
            ));
            let _ = killpg(service.group(), Signal::SIGKILL);
        }
        let _ = service.child.wait();
    }
}

/// Runs a setup step to completion, its output to `log`. On failure the error carries the
/// log's last lines; on a signal the step is killed and `Interrupted` returned.
pub async fn run_logged(
    what: &str,
    command: Command,
    log: &Path,
    shutdown: &Shutdown,
) -> Result<()> {
    let status = run_to_log(what, command, log, shutdown).await?;
    if !status.success() {
        bail!(
            "{what} failed ({status}); last lines of {}:\n{}",
            shown(log),
            tail(log, 20)
        );
    }
    Ok(())
}

/// Runs a command to completion, its output to `log`, and returns its exit status, whatever it
/// is (the parity gate reads a failing fuzzer's report). On a signal the command is killed and
/// `Interrupted` returned.
pub async fn run_to_log(
    what: &str,
    command: Command,
    log: &Path,
    shutdown: &Shutdown,
) -> Result<ExitStatus> {
    let out = File::create(log).with_context(|| format!("creating {}", shown(log)))?;
    let err = out.try_clone()?;
    let mut command = tokio::process::Command::from(command);
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start {what}"))?;
    tokio::select! {
        status = child.wait() => Ok(status?),
        signal = shutdown.wait() => Err(signal.into()),
    }
}

/// Runs a command in the foreground (inheriting stdio, and xtask's environment without
/// `cargo run`'s additions) and returns its exit status. On a signal the command is stopped
/// too (by the terminal's own Ctrl-C, or else SIGTERM), waited for, and `Interrupted`
/// returned.
pub async fn run_foreground(mut command: Command, shutdown: &Shutdown) -> Result<ExitStatus> {
    for (name, _) in std::env::vars_os() {
        if is_cargo_run_var(&name) {
            command.env_remove(name);
        }
    }
    let mut command = tokio::process::Command::from(command);
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start {program}"))?;
    tokio::select! {
        status = child.wait() => Ok(status?),
        interrupted = shutdown.wait() => {
            // A Ctrl-C from the terminal has reached the command too (same process group), and
            // a second signal would make nextest kill its tests instead of letting them end:
            // give it time to stop on its own. Anything else was sent to xtask alone.
            let stopped_alone = interrupted.0 == Signal::SIGINT
                && tokio::time::timeout(GRACE, child.wait()).await.is_ok();
            if !stopped_alone
                && let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok())
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            child.wait().await?;
            Err(interrupted.into())
        }
    }
}

/// Whether `name` is one of the variables `cargo run` sets for the binary it runs (xtask), which
/// must not reach a nested cargo: build scripts such as ring's declare `rerun-if-env-changed` on
/// them, so `cargo nextest` would find them changed since `./dev`'s own build and rebuild half
/// the tree.
fn is_cargo_run_var(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("CARGO_PKG_")
        || matches!(
            &*name,
            "CARGO_MANIFEST_DIR" | "CARGO_MANIFEST_PATH" | "CARGO_PRIMARY_PACKAGE"
        )
}

/// Waits until `http://127.0.0.1:{port}{path}` answers 200, for at most `limit`. Fails early,
/// with the last lines of its log, if `service` exits meanwhile.
pub async fn wait_http(
    service: &mut Service,
    port: u16,
    path: &str,
    limit: Duration,
    shutdown: &Shutdown,
) -> Result<()> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let started = Instant::now();
    loop {
        if let Some(signal) = shutdown.requested() {
            return Err(signal.into());
        }
        if probe(port, path).await {
            note(format!(
                "{} ready after {} s ({url})",
                service.name,
                started.elapsed().as_secs()
            ));
            return Ok(());
        }
        if let Some(status) = service.exited() {
            bail!(
                "{} exited ({status}) before answering at {url}; last lines of {}:\n{}",
                service.name,
                shown(&service.log),
                tail(&service.log, 30)
            );
        }
        if started.elapsed() > limit {
            bail!(
                "{} did not answer at {url} within {} s; last lines of {}:\n{}",
                service.name,
                limit.as_secs(),
                shown(&service.log),
                tail(&service.log, 30)
            );
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            signal = shutdown.wait() => return Err(signal.into()),
        }
    }
}

/// One `GET` over plain HTTP/1.1: true on a 200. A hand-written request rather than an HTTP
/// client, because a status line is all a readiness check needs.
async fn probe(port: u16, path: &str) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 64];
        let mut read = 0;
        // The status line fits in the first bytes; read until it is complete or the peer closes.
        while read < head.len() {
            let n = stream.read(&mut head[read..]).await?;
            if n == 0 || head[..read + n].contains(&b'\n') {
                read += n;
                break;
            }
            read += n;
        }
        Ok::<_, std::io::Error>(is_ok_status(&head[..read]))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(true))
    )
}

/// Whether a response starts with a 200 status line (`HTTP/1.1 200 OK`).
fn is_ok_status(head: &[u8]) -> bool {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    matches!(
        (parts.next(), parts.next()),
        (Some(version), Some(b"200")) if version.starts_with(b"HTTP/1.")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_line() {
        assert!(is_ok_status(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
        ));
        assert!(is_ok_status(b"HTTP/1.0 200 OK\r\n"));
        assert!(!is_ok_status(b"HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(!is_ok_status(b"HTTP/1.1 2000"));
        assert!(!is_ok_status(b""));
    }

    #[test]
    fn nested_cargo_runs_do_not_inherit_xtasks_package_variables() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
        ] {
            assert!(is_cargo_run_var(OsStr::new(name)), "{name}");
        }
        for name in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "RUSTFLAGS",
            "E2E_EDGE_URL",
        ] {
            assert!(!is_cargo_run_var(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn stopping_takes_the_whole_group() {
        // A shell that ignores nothing and starts a grandchild: both must be gone after stop.
        let dir = crate::tempdir::TempDir::new("xtask-process").unwrap();
        let log = dir.path().join("sleeper.log");
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 60 & echo started; wait"]);
        let mut services = vec![Service::spawn("sleeper", &log, command).unwrap()];
        std::thread::sleep(Duration::from_millis(200));
        assert!(services[0].group_alive());
        stop_all(&mut services);
        assert!(!services[0].group_alive());
    }

    #[tokio::test]
    async fn a_killed_service_starts_again_and_is_still_stopped_at_the_end() {
        let dir = crate::tempdir::TempDir::new("xtask-process").unwrap();
        let log = dir.path().join("sleeper.log");
        let sleeper = || {
            let mut command = Command::new("sh");
            command.args(["-c", "echo up; sleep 60 & wait"]);
            command
        };
        let mut service = Service::spawn("sleeper", &log, sleeper()).unwrap();
        let first = service.group_id();
        std::thread::sleep(Duration::from_millis(200));
        assert!(service.respawn(sleeper()).is_err(), "still running");
        service.stop(Signal::SIGKILL).await;
        assert!(!service.group_alive());
        service.respawn(sleeper()).unwrap();
        assert_ne!(service.group_id(), first);
        std::thread::sleep(Duration::from_millis(200));
        assert!(service.group_alive());
        let mut services = vec![service];
        stop_all(&mut services);
        assert!(!services[0].group_alive());
        // One log across the restart, the first run's lines kept.
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.matches("up").count(), 2, "{text}");
        assert!(text.contains("sleeper started again"), "{text}");
    }
}
