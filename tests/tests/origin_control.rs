//! The origin under the tests' control: each test runs an origin of its own
//! ([`OriginProcess`]), sending to a scripted SMTP server of its own ([`FakeSmtp`]), and follows
//! one welcome email from a registration through the edge to the SMTP server, through
//! refusals, a dead letter and a crash.
//!
//! `cargo xtask test` runs these alone, after every other test, with the stack's origin
//! stopped: it would take the jobs, and these tests kill theirs. One at a time
//! (`.config/nextest.toml`): they all listen on the stack's origin port.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use domain::auth::TokenLifetimes;
use e2e::smtp::{FakeSmtp, Stage};
use e2e::{OriginProcess, Stack, chrono_now, forge, unique};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

/// The pause before an email's first retry (`EMAIL_RETRY_BASE_MS`): short, so three attempts
/// take about a second.
const RETRY_BASE_MS: u64 = 200;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run under `./dev test`"))
}

/// The origin's configuration on top of the stack's: this server, short retries, and
/// `smtp_timeout` for one delivery.
fn sending_to(smtp: &FakeSmtp, smtp_timeout: Duration) -> [(&'static str, String); 3] {
    [
        ("SMTP_URL", smtp.url()),
        ("SMTP_TIMEOUT_MS", smtp_timeout.as_millis().to_string()),
        ("EMAIL_RETRY_BASE_MS", RETRY_BASE_MS.to_string()),
    ]
}

/// An `emails` row.
#[derive(Debug, sqlx::FromRow)]
struct EmailRow {
    status: String,
    attempts: i32,
    last_error: Option<String>,
}

/// An email job in `apalis.jobs`.
#[derive(Debug, sqlx::FromRow)]
#[expect(
    dead_code,
    reason = "its attempts and result are for the assertion messages"
)]
struct Job {
    status: String,
    attempts: i32,
    last_result: Option<String>,
}

/// What the SMTP server and the database say of one email at one moment.
#[derive(Debug)]
struct Seen {
    /// Messages the SMTP server accepted for the address.
    messages: usize,
    /// `RCPT TO`s naming the address: the attempts that reached the server.
    rcpts: usize,
    row: Option<EmailRow>,
    /// Every email job for the email's key (one, unless something queued it twice).
    jobs: Vec<Job>,
}

impl Seen {
    fn row_is(&self, status: &str) -> bool {
        self.row.as_ref().is_some_and(|row| row.status == status)
    }

    /// Whether its one job has `status` (`Done`, `Killed`, …).
    fn job_is(&self, status: &str) -> bool {
        matches!(self.jobs.as_slice(), [job] if job.status == status)
    }
}

/// A welcome email, followed: a user registered through the edge (the origin queues the
/// email), its address, and the email's dedupe key.
struct Welcome {
    address: String,
    key: String,
    db: PgPool,
}

impl Welcome {
    /// A fresh name and address, not registered yet: a test scripts the SMTP server for the
    /// address first.
    fn address() -> (String, String) {
        let username = unique("mail");
        let address = format!("{username}@example.com");
        (username, address)
    }

    /// Registers `username` with `address` through the edge.
    async fn register(username: &str, address: &str) -> Self {
        let stack = Stack::new();
        let created = stack
            .post(
                "/api/v1/auth/register/",
                &json!({"username": username, "password": "a-fine-password", "email": address}),
                None,
            )
            .await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "registering {username} through the edge: {:?}",
            created.body
        );
        let id = created.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no user id in {:?}", created.body));
        Self {
            address: address.to_owned(),
            key: format!("welcome:{id}"),
            db: PgPool::connect(&var("E2E_DATABASE_URL")).await.unwrap(),
        }
    }

    async fn seen(&self, smtp: &FakeSmtp) -> Seen {
        let row =
            sqlx::query_as("SELECT status, attempts, last_error FROM emails WHERE dedupe_key = $1")
                .bind(&self.key)
                .fetch_optional(&self.db)
                .await
                .unwrap();
        let jobs = sqlx::query_as(
            "SELECT status, attempts, last_result::text AS last_result FROM apalis.jobs \
             WHERE job_type = 'email' AND convert_from(job, 'UTF8')::jsonb ->> 'dedupe_key' = $1",
        )
        .bind(&self.key)
        .fetch_all(&self.db)
        .await
        .unwrap();
        Seen {
            messages: smtp.received_by(&self.address).len(),
            rcpts: smtp.rcpt_attempts_for(&self.address),
            row,
            jobs,
        }
    }

    /// Looks every 100 ms until `done` holds or `limit` passes; the last look either way.
    async fn watch_until(
        &self,
        smtp: &FakeSmtp,
        limit: Duration,
        done: impl Fn(&Seen) -> bool,
    ) -> Seen {
        poll(limit, || self.seen(smtp), done).await
    }
}

/// Calls `look` every 100 ms until `done` holds for what it saw or `limit` passes; what it saw
/// last either way.
async fn poll<T, F, Fut>(limit: Duration, mut look: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let seen = look().await;
        if done(&seen) || started.elapsed() >= limit {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_email_refused_with_451_twice_is_delivered_on_the_third_try() {
    let smtp = FakeSmtp::start().await.unwrap();
    let _origin = OriginProcess::start(sending_to(&smtp, Duration::from_secs(5))).await;
    let (username, address) = Welcome::address();
    smtp.script_for(&address, Stage::Rcpt, [451, 451]);

    let welcome = Welcome::register(&username, &address).await;
    let seen = welcome
        .watch_until(&smtp, Duration::from_secs(30), |seen| {
            seen.messages > 0 && seen.row_is("sent") && seen.job_is("Done")
        })
        .await;

    assert_eq!(seen.messages, 1, "one message delivered: {seen:#?}");
    assert_eq!(seen.rcpts, 3, "451, 451, then 250: {seen:#?}");
    let row = seen.row.as_ref().unwrap();
    assert_eq!(
        (row.status.as_str(), row.attempts),
        ("sent", 3),
        "{seen:#?}"
    );
    assert!(seen.job_is("Done"), "its job is done: {seen:#?}");
}

#[tokio::test]
async fn an_email_refused_with_550_is_dead_after_one_try_and_an_operator_retries_it() {
    let smtp = FakeSmtp::start().await.unwrap();
    let _origin = OriginProcess::start(sending_to(&smtp, Duration::from_secs(5))).await;
    let (username, address) = Welcome::address();
    smtp.script_for(&address, Stage::Rcpt, [550]);

    let welcome = Welcome::register(&username, &address).await;
    welcome
        .watch_until(&smtp, Duration::from_secs(30), |seen| seen.job_is("Killed"))
        .await;
    // Five retry pauses: a retry, had there been one, would have come by now.
    tokio::time::sleep(Duration::from_millis(5 * RETRY_BASE_MS)).await;
    let seen = welcome.seen(&smtp).await;

    assert!(
        seen.job_is("Killed"),
        "its job is dead (Killed), not retried: {seen:#?}"
    );
    let row = seen.row.as_ref().unwrap();
    assert_eq!(
        (row.status.as_str(), row.attempts),
        ("failed", 1),
        "{seen:#?}"
    );
    assert!(
        row.last_error.as_deref().is_some_and(|e| e.contains("550")),
        "the server's refusal is kept: {seen:#?}"
    );
    assert_eq!(seen.rcpts, 1, "one try: {seen:#?}");
    assert_eq!(seen.messages, 0, "nothing delivered: {seen:#?}");

    // An operator finds it among the dead, and once the address is fixed, retries it.
    let key: String = sqlx::query_scalar(
        "SELECT id FROM apalis.jobs WHERE job_type = 'email' \
         AND convert_from(job, 'UTF8')::jsonb ->> 'dedupe_key' = $1",
    )
    .bind(&welcome.key)
    .fetch_one(&welcome.db)
    .await
    .unwrap();
    let (code, listed) = e2e::origin_command(&[
        "jobs", "list", "--queue", "email", "--state", "dead", "--limit", "1000", "--json",
    ]);
    assert_eq!(code, 0, "{listed}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let ours = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|job| job["id"] == key.as_str());
    assert!(
        ours.is_some_and(|job| job["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("550"))),
        "the dead job is listed with its error: {listed:#}"
    );
    let (code, said) = e2e::origin_command(&["jobs", "retry", &key]);
    assert_eq!(
        (code, said.trim()),
        (0, format!("{key}: now pending").as_str())
    );
    let seen = welcome
        .watch_until(&smtp, Duration::from_secs(30), |seen| seen.job_is("Done"))
        .await;
    assert_eq!(seen.messages, 1, "delivered on the retry: {seen:#?}");
    let row = seen.row.as_ref().unwrap();
    assert_eq!(
        (row.status.as_str(), row.attempts),
        ("sent", 2),
        "{seen:#?}"
    );
}

#[tokio::test]
async fn an_origin_killed_mid_email_sends_it_exactly_once_after_its_restart() {
    let smtp = FakeSmtp::start().await.unwrap();
    // Longer than the test waits before the kill: the job must still be connecting then.
    let mut origin = OriginProcess::start(sending_to(&smtp, Duration::from_mins(1))).await;
    let (username, address) = Welcome::address();
    smtp.hold_greetings();

    let welcome = Welcome::register(&username, &address).await;
    let held = smtp.wait_until_held(1, Duration::from_secs(30)).await;
    assert!(
        held >= 1,
        "the email job connects to the SMTP server (held {held}, connections {}): {:#?}",
        smtp.connections(),
        welcome.seen(&smtp).await
    );
    origin.kill();
    let at_the_kill = welcome.seen(&smtp).await;
    smtp.release_greetings();
    origin.restart().await;

    // The killed worker's job goes back to the queue once its heartbeat is stale (15 s), when
    // the new worker registers or on its next heartbeat (every 5 s); a dead job never sends.
    let seen = welcome
        .watch_until(&smtp, Duration::from_mins(1), |seen| {
            (seen.messages > 0 && seen.row_is("sent") && seen.job_is("Done"))
                || seen.job_is("Killed")
        })
        .await;
    assert_eq!(
        seen.messages, 1,
        "one message after the restart: {seen:#?}\nat the kill: {at_the_kill:#?}"
    );
    assert!(
        seen.row_is("sent") && seen.job_is("Done"),
        "the email is sent and its job done: {seen:#?}\nat the kill: {at_the_kill:#?}"
    );
    // Nothing else left to run it again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = welcome.seen(&smtp).await;
    assert_eq!(later.messages, 1, "still one message: {later:#?}");
}

/// One client's registrations through the edge until `stop`: the usernames the edge
/// acknowledged (201), and how many answers were anything else.
async fn register_until(stop: Arc<AtomicBool>, client: usize) -> (Vec<String>, usize) {
    let stack = Stack::new();
    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    while !stop.load(Ordering::SeqCst) {
        let username = unique(&format!("term{client}"));
        let created = stack
            .post(
                "/api/v1/auth/register/",
                &json!({
                    "username": username,
                    "password": "a-fine-password",
                    "email": format!("{username}@example.com"),
                }),
                None,
            )
            .await;
        if created.status == StatusCode::CREATED {
            acknowledged.push(username);
        } else {
            refused += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (acknowledged, refused)
}

#[tokio::test]
async fn sigterm_under_load_loses_no_acknowledged_write_and_leaves_no_job_claimed() {
    const DEADLINE_SECS: u64 = 3;
    const CLIENTS: usize = 4;
    let smtp = FakeSmtp::start().await.unwrap();
    let mut overrides = sending_to(&smtp, Duration::from_mins(1)).to_vec();
    overrides.push(("SHUTDOWN_DEADLINE_SECS", DEADLINE_SECS.to_string()));
    let mut origin = OriginProcess::start(overrides).await;
    let db = PgPool::connect(&var("E2E_DATABASE_URL")).await.unwrap();
    // Every welcome email's job stays in flight, connecting to a server that does not greet.
    smtp.hold_greetings();

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| tokio::spawn(register_until(stop.clone(), client)))
        .collect();
    let held = smtp.wait_until_held(2, Duration::from_secs(30)).await;
    assert!(held >= 2, "email jobs reach the SMTP server (held {held})");
    // Writes are still arriving when the signal comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = origin
        .terminate(Duration::from_secs(DEADLINE_SECS + 15))
        .await;
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for client in clients {
        let (mine, not_mine) = client.await.unwrap();
        acknowledged.extend(mine);
        refused += not_mine;
    }
    let log = origin.log_text();
    assert!(
        status.is_some_and(|status| status.success()),
        "the origin exits 0 within the deadline after SIGTERM ({status:?}); its log's end:\n{}",
        last_lines(&log, 30)
    );
    assert!(
        acknowledged.len() >= 4,
        "the load was acknowledged before the signal ({} acknowledged, {refused} refused)",
        acknowledged.len()
    );

    // Every acknowledged registration is in Postgres, with its email recorded.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users u JOIN emails e ON e.dedupe_key = 'welcome:' || u.id \
         WHERE u.username = ANY($1)",
    )
    .bind(&acknowledged)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        usize::try_from(stored).unwrap(),
        acknowledged.len(),
        "every acknowledged user and welcome email is stored"
    );
    // Nothing is left claimed by the stopped process: the jobs it had fetched or was running
    // are back in the queue.
    let claimed: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT job_type, status, lock_by FROM apalis.jobs \
         WHERE status IN ('Queued', 'Running') OR (lock_by IS NOT NULL AND status = 'Pending')",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(claimed.is_empty(), "jobs left claimed: {claimed:?}");
    assert!(
        log.contains("jobs returned to the queue"),
        "the held emails' jobs were given back; the log's end:\n{}",
        last_lines(&log, 30)
    );

    // A new origin sends every acknowledged user's welcome exactly once.
    smtp.release_greetings();
    origin.restart().await;
    let addresses: Vec<String> = acknowledged
        .iter()
        .map(|username| format!("{username}@example.com"))
        .collect();
    let delivered = poll(
        Duration::from_mins(1),
        || async {
            addresses
                .iter()
                .map(|address| smtp.received_by(address).len())
                .collect::<Vec<_>>()
        },
        |counts| counts.iter().all(|&count| count >= 1),
    )
    .await;
    assert!(
        delivered.iter().all(|&count| count == 1),
        "each acknowledged user's welcome arrives once: {:?}",
        addresses.iter().zip(&delivered).collect::<Vec<_>>()
    );
}

/// The last `n` lines of `text`.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[tokio::test]
async fn a_refresh_token_from_before_a_key_rotation_works_until_the_overlap_ends() {
    const OVERLAP_SECS: i64 = 6;
    let stack = Stack::new();
    let overlap_ends = chrono_now() + OVERLAP_SECS;
    // The origin rotated: a new key signs, the stack's (the old one) verifies until the end.
    let _origin = OriginProcess::start([
        (
            "JWT_SIGNING_KEY",
            "a-new-signing-key-of-32-bytes-ok".to_owned(),
        ),
        ("JWT_SIGNING_KEY_PREVIOUS", var("E2E_JWT_SIGNING_KEY")),
        ("JWT_SIGNING_KEY_PREVIOUS_UNTIL", overlap_ends.to_string()),
    ])
    .await;
    let user = stack.user().await;
    // Two refresh tokens issued before the rotation, under the old key.
    let (during_overlap, _) = forge(&user, chrono_now(), TokenLifetimes::default());
    let (after_overlap, _) = forge(&user, chrono_now(), TokenLifetimes::default());

    let renewed = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": during_overlap}),
            None,
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);

    let wait = overlap_ends + 1 - chrono_now();
    tokio::time::sleep(Duration::from_secs(u64::try_from(wait).unwrap_or(0))).await;
    let refused = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": after_overlap}),
            None,
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.errors()["code"], json!("token_not_valid"));
}

/// Bodies posted, with the path each was posted to.
type Posts = Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// An OTLP/HTTP collector that records every body posted to it, by path, and answers 200.
struct FakeCollector {
    url: String,
    received: Posts,
}

impl FakeCollector {
    async fn start() -> Self {
        use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Posts::default();
        let record = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut stream = tokio::io::BufReader::new(stream);
                    loop {
                        let mut request_line = String::new();
                        if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let path = request_line
                            .split_whitespace()
                            .nth(1)
                            .unwrap_or_default()
                            .to_owned();
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            stream.read_line(&mut line).await.unwrap();
                            if line.trim().is_empty() {
                                break;
                            }
                            if let Some((name, value)) = line.split_once(':')
                                && name.eq_ignore_ascii_case("content-length")
                            {
                                length = value.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0; length];
                        stream.read_exact(&mut body).await.unwrap();
                        record.lock().unwrap().push((path, body));
                        stream
                            .get_mut()
                            .write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                                  content-length: 0\r\n\r\n",
                            )
                            .await
                            .unwrap();
                    }
                });
            }
        });
        Self { url, received }
    }

    /// How often `bytes` occur in the bodies posted to `path` so far.
    fn occurrences(&self, path: &str, bytes: &[u8]) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(posted, _)| posted == path)
            .map(|(_, body)| body.windows(bytes.len()).filter(|w| *w == bytes).count())
            .sum()
    }
}

#[tokio::test]
async fn with_an_otlp_endpoint_the_origin_exports_a_requests_span_and_its_jobs_in_the_clients_trace()
 {
    let collector = FakeCollector::start().await;
    let mut origin = OriginProcess::start([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.clone()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ])
    .await;
    let stack = Stack::new();
    let trace_id = *uuid::Uuid::new_v4().as_bytes();
    let traceparent = format!("00-{}-00f067aa0ba902b7-01", hex(&trace_id));
    stack.register_traced("exported", &traceparent).await;
    // The request's span and at least one job's (the welcome email, the replication push):
    // each span carries the trace id once.
    let spans = poll(
        Duration::from_secs(20),
        || async { collector.occurrences("/v1/traces", &trace_id) },
        |&spans| spans >= 2,
    )
    .await;
    let status = origin.terminate(Duration::from_secs(15)).await;
    assert!(
        spans >= 2,
        "spans in the client's trace reached the collector: {spans}; posts: {:?}",
        collector
            .received
            .lock()
            .unwrap()
            .iter()
            .map(|(path, body)| (path.clone(), body.len()))
            .collect::<Vec<_>>()
    );
    assert!(
        collector.occurrences("/v1/traces", b"origin-worker") >= 1,
        "the spans name their service"
    );
    assert!(status.is_some_and(|status| status.success()), "{status:?}");
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}
