//! The end-to-end harness. `./dev test` starts the whole stack on fresh state (Postgres, the
//! origin, MailDev and `wrangler dev` running the real wasm in workerd) and passes its
//! addresses in `E2E_*` variables; the tests speak HTTP only, except where they check that
//! nothing was written (Postgres) or that a request id reached the logs.
//!
//! Every answer the edge gives through [`Stack::send`] (and so [`Stack::get`], [`Stack::post`]
//! and the rest) is checked against the OpenAPI document ([`contract`]): a test that gets an
//! answer the document does not describe fails, whatever it asserts itself.
//!
//! The tests of `tests/origin_control.rs` run an origin of their own ([`OriginProcess`]) in
//! place of the stack's, to crash it and to point it at a scripted SMTP server ([`smtp`]).

pub mod contract;
pub mod smtp;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub use domain::auth::TokenLifetimes;
use domain::auth::{Claims, TokenKeys, TokenSubject};
use domain::signing::{self, Direction, SignedParts};
use domain::{UserId, paths};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the end-to-end tests run under `./dev test`, which starts the stack"
        )
    })
}

/// The running stack.
#[derive(Debug, Clone)]
pub struct Stack {
    pub edge: String,
    pub origin: String,
    pub logs: String,
    http: reqwest::Client,
}

impl Stack {
    pub fn new() -> Self {
        Self {
            edge: var("E2E_EDGE_URL"),
            origin: var("E2E_ORIGIN_URL"),
            logs: var("E2E_LOG_DIR"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    /// A request to the edge.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.edge))
    }

    /// Sends and reads the answer, and panics if it is an answer of the edge that the OpenAPI
    /// document does not describe ([`contract`]). Answers of the origin (its internal,
    /// signed API) are not the document's.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let (client, request) = request.build_split();
        let request = request.unwrap_or_else(|e| panic!("building the request: {e}"));
        let (method, url) = (request.method().clone(), request.url().clone());
        let response = client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("request failed: {method} {url}: {e}"));
        let answer = Answer::read(response).await;
        if self.is_edge(&url) {
            contract::assert_documented(&method, &url, &answer);
        }
        answer
    }

    /// Whether `url` is the edge's (scheme, host and port).
    fn is_edge(&self, url: &reqwest::Url) -> bool {
        reqwest::Url::parse(&self.edge).is_ok_and(|edge| edge.origin() == url.origin())
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.request(Method::GET, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Answer {
        let mut request = self.request(Method::POST, path).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// A request with a JSON body as `token`'s user.
    pub async fn call(&self, method: Method, path: &str, body: &Value, token: &str) -> Answer {
        self.send(self.request(method, path).json(body).bearer_auth(token))
            .await
    }

    pub async fn delete(&self, path: &str, body: &Value, token: &str) -> Answer {
        self.send(
            self.request(Method::DELETE, path)
                .json(body)
                .bearer_auth(token),
        )
        .await
    }

    /// A direct call to the origin, signed as the edge would sign it (to make writes the edge
    /// never sees).
    pub async fn origin_signed(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        user: Option<i64>,
    ) -> Answer {
        self.origin_signed_with_key(method, path, body, user, None)
            .await
    }

    /// Like [`Stack::origin_signed`], with an `Idempotency-Key`.
    pub async fn origin_signed_with_key(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        user: Option<i64>,
        key: Option<&str>,
    ) -> Answer {
        let body = body.to_string().into_bytes();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let parts = SignedParts {
            direction: Direction::EdgeToOrigin,
            method,
            path_and_query: path,
            body: &body,
            timestamp: chrono_now(),
            user_id: user.map(UserId::new),
            request_id: "e2e-direct",
            idempotency_key: key,
            nonce: Some(&nonce),
        };
        let request = self
            .http
            .request(
                method.parse().unwrap_or(Method::POST),
                format!("{}{path}", self.origin),
            )
            .header("content-type", "application/json");
        let request = signed(request, &parts).body(body);
        self.send(request).await
    }

    /// A call to one of the edge's `/internal/` endpoints, signed as the origin signs it.
    pub async fn edge_internal(
        &self,
        method: Method,
        path_and_query: &str,
        body: &Value,
    ) -> Answer {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let parts = SignedParts {
            direction: Direction::OriginToEdge,
            method: method.as_str(),
            path_and_query,
            body: &body,
            timestamp: chrono_now(),
            user_id: None,
            request_id: "e2e-internal",
            idempotency_key: None,
            nonce: None,
        };
        let request = self
            .request(method.clone(), path_and_query)
            .header("content-type", "application/json");
        self.send(signed(request, &parts).body(body)).await
    }

    /// A change batch pushed to the edge as the origin pushes it.
    pub async fn push_to_edge(&self, batch: &Value) -> Answer {
        let body = batch.to_string().into_bytes();
        let parts = SignedParts {
            direction: Direction::OriginToEdge,
            method: "POST",
            path_and_query: paths::INTERNAL_REPLICATE,
            body: &body,
            timestamp: chrono_now(),
            user_id: None,
            request_id: "e2e-push",
            idempotency_key: None,
            nonce: None,
        };
        let request = self
            .request(Method::POST, paths::INTERNAL_REPLICATE)
            .header("content-type", "application/json");
        self.send(signed(request, &parts).body(body)).await
    }

    /// Registers a fresh user (random name) and logs in.
    pub async fn user(&self) -> User {
        let username = unique("user");
        let password = "a-fine-password".to_owned();
        let created = self
            .post(
                "/api/v1/auth/register/",
                &json!({"username": username, "password": password, "email": format!("{username}@example.com")}),
                None,
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let tokens = self
            .post(
                "/api/token/",
                &json!({"username": username, "password": password}),
                None,
            )
            .await;
        assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
        User {
            id: created.body["id"].as_i64().unwrap_or_default(),
            username,
            password,
            access: tokens.body["access"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            refresh: tokens.body["refresh"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// Registers a new user (named from `prefix`) through the edge in the trace `traceparent`
    /// names, and checks that it was created; the answer.
    pub async fn register_traced(&self, prefix: &str, traceparent: &str) -> Answer {
        let username = unique(prefix);
        let registered = self
            .send(
                self.request(Method::POST, "/api/v1/auth/register/")
                    .header(domain::trace::TRACEPARENT, traceparent)
                    .json(&json!({
                        "username": username,
                        "password": "a-fine-password",
                        "email": format!("{username}@example.com"),
                    })),
            )
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "registering through the edge: {:?}",
            registered.body
        );
        registered
    }

    async fn database() -> sqlx::PgPool {
        sqlx::PgPool::connect(&var("E2E_DATABASE_URL"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads a Postgres count (to prove nothing was written).
    pub async fn count(&self, sql: &'static str) -> i64 {
        let pool = Self::database().await;
        let n = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        pool.close().await;
        n
    }

    /// A Postgres count with one bound value.
    pub async fn count_where<T>(&self, sql: &'static str, value: T) -> i64
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    {
        let pool = Self::database().await;
        let n = sqlx::query_scalar(sql)
            .bind(value)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        pool.close().await;
        n
    }

    /// How many users Postgres holds with this name.
    pub async fn users_named(&self, username: &str) -> i64 {
        self.count_where(
            "SELECT count(*) FROM users WHERE username = $1",
            username.to_owned(),
        )
        .await
    }

    /// Both services' log text.
    pub fn log_text(&self) -> (String, String) {
        let read = |name: &str| {
            std::fs::read_to_string(format!("{}/{name}", self.logs)).unwrap_or_default()
        };
        (read("edge.log"), read("origin.log"))
    }

    /// Polls `check` until it holds or `limit` passes.
    pub async fn eventually<F, Fut>(&self, limit: Duration, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        while started.elapsed() < limit {
            if check().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }
}

impl Default for Stack {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs an origin subcommand (`check-edge`, `products add …`) with the stack's configuration,
/// as an operator would; (exit code, stdout).
pub fn origin_command(args: &[&str]) -> (i32, String) {
    let output = std::process::Command::new(var("E2E_ORIGIN_BIN"))
        .args(args)
        .env("ENVIRONMENT", "development")
        .env("DATABASE_URL", var("E2E_DATABASE_URL"))
        .env("EDGE_URL", var("E2E_EDGE_URL"))
        .env("ORIGIN_SHARED_SECRET", var("E2E_ORIGIN_SECRET"))
        .env("JWT_SIGNING_KEY", var("E2E_JWT_SIGNING_KEY"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("running the origin binary: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code().unwrap_or(-1), stdout)
}

/// How long an origin may take to answer `/health/` after its start (xtask waits as long).
const ORIGIN_START: Duration = Duration::from_mins(1);

/// An origin a test starts, kills and restarts itself: the stack's binary with the stack's
/// configuration (as `xtask`'s `Stack::origin_command` sets it, from the `E2E_*` variables) and
/// the test's overrides (its own SMTP server, short retries), listening on the stack's origin
/// port, so the edge forwards to it. `cargo xtask test` stops the stack's origin while these
/// tests run; two origins would share the jobs.
///
/// Its output is appended to `origin-control.log` in the stack's log folder. It is killed
/// (SIGKILL) when dropped, so a failing test leaves none behind.
#[derive(Debug)]
pub struct OriginProcess {
    /// What the test set on top of the stack's configuration.
    overrides: Vec<(String, String)>,
    child: Option<Child>,
    log: PathBuf,
}

impl OriginProcess {
    /// Starts `origin-worker serve` with the stack's configuration and `overrides` (which win),
    /// and waits until it answers `/health/`. Panics if an origin answers already (the stack's
    /// was not stopped), or if this one exits or stays silent (with its log's last lines).
    pub async fn start<N, V>(overrides: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut origin = Self {
            overrides: overrides
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
            child: None,
            log: PathBuf::from(var("E2E_LOG_DIR")).join("origin-control.log"),
        };
        assert!(
            !answers_health().await,
            "an origin answers at {} already: these tests run their own, and only under \
             `cargo xtask test`, which stops the stack's origin for them",
            var("E2E_ORIGIN_URL")
        );
        origin.spawn().await;
        origin
    }

    /// Kills the process at once (SIGKILL: a crash, no shutdown of any kind) and waits until
    /// it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error means it has exited already, which is what was wanted.
            let _ = child.kill();
            let _ = child.wait();
            self.note(&format!("killed pid {} (SIGKILL)", child.id()));
        }
    }

    /// Asks the process to stop as a service manager does (SIGTERM) and waits up to `limit`
    /// for it to exit: its exit status, or `None` if it was still running then (it is then
    /// killed).
    pub async fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("running kill: {e}"));
        assert!(sent.success(), "kill -TERM {} failed", child.id());
        self.note(&format!("sent SIGTERM to pid {}", child.id()));
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                self.note(&format!("pid {} exited: {status}", child.id()));
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        self.note(&format!(
            "pid {} still ran {} s after SIGTERM: killed",
            child.id(),
            limit.as_secs()
        ));
        None
    }

    /// Starts the origin again, as it started the first time, and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// The origin's log so far (every start of every test, appended).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.log.display()));
        let stderr = log
            .try_clone()
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.log.display()));
        let mut command = std::process::Command::new(var("E2E_ORIGIN_BIN"));
        command
            .arg("serve")
            .envs(stack_origin_env())
            .envs(self.overrides.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", var("E2E_ORIGIN_BIN")));
        let overridden: Vec<_> = self
            .overrides
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        self.note(&format!(
            "started pid {} with the stack's configuration, overriding {}",
            child.id(),
            overridden.join(", ")
        ));
        self.child = Some(child);
        self.wait_healthy().await;
    }

    async fn wait_healthy(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "the origin exited ({status}) before answering /health/; the end of {}:\n{}",
                    self.log.display(),
                    last_lines(&self.log_text(), 30)
                );
            }
            if answers_health().await {
                return;
            }
            assert!(
                started.elapsed() < ORIGIN_START,
                "the origin did not answer /health/ within {} s; the end of {}:\n{}",
                ORIGIN_START.as_secs(),
                self.log.display(),
                last_lines(&self.log_text(), 30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A line in the log saying what the test did to the process.
    fn note(&self, what: &str) {
        use std::io::Write as _;
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
        {
            let _ = writeln!(log, "=== origin-control: {what}");
        }
    }
}

impl Drop for OriginProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The stack origin's environment, as `xtask`'s `Stack::origin_command` sets it. The tests'
/// process inherits xtask's environment as the stack's origin does, so a `RUST_LOG` or
/// `REPLICATION_SWEEP_SECS` given to `cargo xtask test` reaches both.
fn stack_origin_env() -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("ENVIRONMENT", "development".to_owned()),
        ("DATABASE_URL", var("E2E_DATABASE_URL")),
        ("LISTEN_ADDR", var("E2E_ORIGIN_LISTEN")),
        ("EDGE_URL", var("E2E_EDGE_URL")),
        (
            "SMTP_URL",
            format!("smtp://127.0.0.1:{}", var("E2E_SMTP_PORT")),
        ),
        ("STRIPE_API_BASE", var("E2E_STRIPE_URL")),
        ("ORIGIN_SHARED_SECRET", var("E2E_ORIGIN_SECRET")),
        ("JWT_SIGNING_KEY", var("E2E_JWT_SIGNING_KEY")),
        ("STRIPE_SECRET_KEY", var("E2E_STRIPE_SECRET_KEY")),
        ("STRIPE_WEBHOOK_SECRETS", var("E2E_STRIPE_WEBHOOK_SECRET")),
    ];
    for (name, default) in [
        ("REPLICATION_SWEEP_SECS", "5"),
        ("RUST_LOG", "info,sqlx=warn,apalis=warn"),
    ] {
        if std::env::var_os(name).is_none() {
            env.push((name, default.to_owned()));
        }
    }
    env
}

/// Whether something answers `GET /health/` at the stack's origin address with a 2xx.
async fn answers_health() -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    client
        .get(format!("{}/health/", var("E2E_ORIGIN_URL")))
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Adds the signed headers of `parts`, made with the stack's shared secret.
fn signed(
    mut request: reqwest::RequestBuilder,
    parts: &SignedParts<'_>,
) -> reqwest::RequestBuilder {
    for (name, value) in signing::signed_headers(var("E2E_ORIGIN_SECRET").as_bytes(), parts) {
        request = request.header(name, value);
    }
    request
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    /// The body as text (lossily, where it is not UTF-8).
    pub text: String,
    /// The body exactly as it arrived.
    pub bytes: Vec<u8>,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Self {
            status,
            headers,
            body,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `errors` part of an error envelope.
    pub fn errors(&self) -> &Value {
        &self.body["errors"]
    }
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub fn chrono_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    )
    .unwrap_or_default()
}

/// Tokens signed with the stack's key, for cases a client could not get from the API (expired).
pub fn forge(user: &User, issued_at: i64, lifetimes: TokenLifetimes) -> (String, String) {
    let keys = TokenKeys::from_secret(var("E2E_JWT_SIGNING_KEY").as_bytes());
    let subject = TokenSubject {
        user_id: UserId::new(user.id),
        username: user.username.clone(),
        is_staff: false,
    };
    let refresh = Claims::refresh_for(&subject, unique("r"), issued_at, lifetimes);
    let access = refresh.access_from(unique("a"), issued_at, lifetimes);
    (keys.encode(&refresh), keys.encode(&access))
}

/// Base64url without padding (JWT segments), of text.
pub fn base64url(text: &str) -> String {
    base64url_bytes(text.as_bytes())
}

/// Base64url without padding, of any bytes (a signature).
pub fn base64url_bytes(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Decodes a base64url JWT segment.
pub fn base64url_decode(segment: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    for chunk in segment.as_bytes().chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| {
            acc | (u32::from(value(*c)) << (18 - 6 * i))
        });
        for i in 0..chunk.len().saturating_sub(1) {
            #[expect(clippy::cast_possible_truncation, reason = "one byte at a time")]
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
