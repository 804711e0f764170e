//! The origin's container image, through the binary copied back out of it: `scripts/image.sh
//! build` builds the image (a static musl binary on `scratch`, `Containerfile`) and copies its
//! `/origin-worker` to `target/image/extracted/origin-worker`; `ORIGIN_IMAGE_BIN` names that
//! file. Containers cannot be run here, so the test runs the image's binary as the image would
//! (`serve`, only the environment given, no file of the repository's), against a database of
//! its own on the stack's Postgres: it starts, applies every migration, answers `/health/` and
//! its own `health-check` (the image's HEALTHCHECK), and exits 0 on SIGTERM.
//!
//! It listens on a port of its own and its `EDGE_URL` and `SMTP_URL` lead nowhere: it never
//! meets the stack's origin, edge, inbox or data.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;

/// How long the binary may take to answer `/health/` (Postgres is up already: it connects and
/// migrates in well under a second).
const START: Duration = Duration::from_secs(30);
/// How long it may take to exit after SIGTERM (nothing is in flight).
const STOP: Duration = Duration::from_secs(10);

fn var(name: &str, why: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: {why}"))
}

/// The binary copied out of the image: never a test that passes without one.
fn image_binary() -> PathBuf {
    let why = "it names the origin-worker binary copied out of the container image; \
               `scripts/image.sh build` builds the image and prints it \
               (ORIGIN_IMAGE_BIN=target/image/extracted/origin-worker)";
    let path = PathBuf::from(var("ORIGIN_IMAGE_BIN", why));
    assert!(
        path.is_file(),
        "ORIGIN_IMAGE_BIN={} does not exist: run `scripts/image.sh build` first",
        path.display()
    );
    path
}

/// A new, empty database on the stack's cluster; its URL.
async fn fresh_database() -> String {
    let admin_url = var(
        "E2E_DATABASE_URL",
        "the end-to-end tests run under `./dev test` (cargo xtask test), which starts Postgres",
    );
    let name = format!("image_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("connecting to the stack's Postgres: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = admin_url
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("a database URL has a path: {admin_url}"));
    format!("{base}/{name}")
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port()
}

/// The migrations the binary carries (`sqlx::migrate!("../migrations/postgres")`): one per
/// `.sql` file (a reversible one would be `.up.sql` and `.down.sql`, counted once).
fn migration_count() -> i64 {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres");
    let count = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("reading {}: {e}", folder.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            Path::new(name)
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("sql"))
                && !name.ends_with(".down.sql")
        })
        .count();
    assert!(count > 0, "no migrations in {}", folder.display());
    i64::try_from(count).unwrap()
}

/// The binary, running, its stdout and stderr (its log) collected as they come; killed when
/// dropped, so a failing test leaves none behind.
struct Running {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Running {
    fn start(binary: &Path, env: &[(&str, String)]) -> Self {
        let mut child = Command::new(binary)
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(name, value)| (*name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        let stderr = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        for mut stream in [stdout, stderr].into_iter().flatten() {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buffer) {
                    output
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            });
        }
        Self { child, output }
    }

    /// What it printed so far (its JSON log lines and any error).
    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, as `podman stop`, systemd and Kubernetes stop it. (The workspace forbids
    /// `unsafe`, so no `kill(2)` here: the `kill` command sends it.)
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("running kill: {e}"));
        assert!(status.success(), "kill -s TERM failed: {status}");
    }

    /// Waits up to `limit` for it to exit.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET url` answers 200.
async fn answers_200(client: &reqwest::Client, url: &str) -> bool {
    client
        .get(url)
        .send()
        .await
        .is_ok_and(|answer| answer.status() == reqwest::StatusCode::OK)
}

/// `origin-worker health-check` as the image's HEALTHCHECK runs it: only `LISTEN_ADDR` set.
fn health_check(binary: &Path, listen: &str) -> (Option<i32>, String) {
    let output = Command::new(binary)
        .arg("health-check")
        .env_clear()
        .env("LISTEN_ADDR", listen)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {} health-check: {e}", binary.display()));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_image_binary_starts_migrates_and_answers_health() {
    let binary = image_binary();
    let database_url = fresh_database().await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    // Only what it needs, under production's rules (keys of 32 bytes and more, an https://
    // edge that is not this machine, SMTP_URL set), as the image runs it. The edge's host is
    // one that never resolves (.invalid) and the SMTP port is closed: with no writes there is
    // nothing to push or send anyway.
    let env = [
        ("ENVIRONMENT", "production".to_owned()),
        ("DATABASE_URL", database_url.clone()),
        ("LISTEN_ADDR", listen.clone()),
        ("EDGE_URL", "https://edge.invalid".to_owned()),
        ("SMTP_URL", "smtp://127.0.0.1:9".to_owned()),
        (
            "ORIGIN_SHARED_SECRET",
            "image-test-origin-secret-0123456789abcdef".to_owned(),
        ),
        (
            "JWT_SIGNING_KEY",
            "image-test-jwt-signing-key-0123456789abcdef".to_owned(),
        ),
        ("RUST_LOG", "info,sqlx=warn,apalis=warn".to_owned()),
    ];
    let mut origin = Running::start(&binary, &env);

    // It answers /health/ (and so has connected and migrated: it listens only after both).
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let health = format!("http://{listen}/health/");
    let started = Instant::now();
    loop {
        if let Some(status) = origin.exited() {
            panic!(
                "{} serve exited ({status}) before answering /health/; its output:\n{}",
                binary.display(),
                origin.output()
            );
        }
        if answers_200(&client, &health).await {
            break;
        }
        assert!(
            started.elapsed() < START,
            "{} serve did not answer {health} with 200 within {} s; its output:\n{}",
            binary.display(),
            START.as_secs(),
            origin.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every migration ran, in the database it was given.
    let db = PgPoolOptions::new()
        .max_connections(1)
        .connect(&database_url)
        .await
        .unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&db)
        .await
        .unwrap_or_else(|e| panic!("reading _sqlx_migrations: {e}\n{}", origin.output()));
    assert_eq!(
        applied,
        migration_count(),
        "migrations applied vs files in migrations/postgres; its output:\n{}",
        origin.output()
    );
    let users: bool = sqlx::query_scalar("SELECT to_regclass('public.users') IS NOT NULL")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(users, "the users table (0001_accounts.sql) is missing");
    db.close().await;

    // The image's HEALTHCHECK: `health-check` with only LISTEN_ADDR, exit 0 while it serves.
    let (code, stderr) = health_check(&binary, &listen);
    assert_eq!(code, Some(0), "health-check while serving: {stderr}");

    // SIGTERM: a clean exit, promptly.
    origin.terminate();
    let Some(status) = origin.wait_exit(STOP) else {
        panic!(
            "{} did not exit within {} s of SIGTERM; its output:\n{}",
            binary.display(),
            STOP.as_secs(),
            origin.output()
        );
    };
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}; its output:\n{}",
        origin.output()
    );

    // And the HEALTHCHECK notices when nothing answers.
    let (code, _) = health_check(&binary, &listen);
    assert_eq!(code, Some(1), "health-check with the origin stopped");

    // Tidy: the database goes (nothing holds it now).
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&var("E2E_DATABASE_URL", "set above"))
        .await
        .unwrap();
    let name = database_url.rsplit_once('/').map(|(_, name)| name).unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}
