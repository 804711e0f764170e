//! The job queue's figures, and the Stripe webhook's acknowledgement, against a real Postgres.
//!
//! Prints medians over `--runs` runs of:
//!
//! - no-op job throughput through apalis-postgres with 1 and 4 worker tasks: `--jobs` jobs
//!   enqueued first, then the time until all are `Done` in `apalis.jobs`, claimed
//!   `--batch-size` a fetch (and 10, apalis's default, which the origin used before this
//!   benchmark showed its cost); and the mixed
//!   case, the same jobs enqueued (100 a transaction) while 4 tasks consume them;
//! - enqueue-to-start latency (p50, p99): one job a transaction at 200/s for 10 s onto an idle
//!   worker woken by the queue's NOTIFY; the moment the job function starts minus the moment
//!   the enqueue committed, both on this process's monotonic clock.
//!
//! The mixed case and the latency run twice: with the NOTIFY as apalis's `.stream(Pubsub)`
//! wires it, and with [`DrainedPubsub`], which does not lose wake-ups (the stream does, and
//! then waits for the polling interval; the origin now drains, see `origin_worker::jobs`);
//! - the origin's acknowledgement of a signed `payment_intent.succeeded` webhook (p50, p99),
//!   served in-process by the origin's router on a local TCP listener, one request at a time
//!   at 100/s.
//!
//! Run by `cargo xtask bench-jobs` (`./dev bench-jobs`), which starts a private Postgres and
//! sets `DATABASE_URL`. The bench uses queues of its own (`bench-noop`, `bench-latency`); the
//! webhook's rows are recognised by their event ids (`evt_bench_…`); everything it wrote is
//! deleted before each measurement. It is a long run and never part of `./dev test`.

#![expect(
    clippy::cast_precision_loss,
    reason = "counts of jobs and transactions, far below 2^52, turned into rates"
)]

use std::fmt::Write as _;
use std::future::IntoFuture;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use apalis::prelude::*;
use apalis_postgres::{Config, PgTask, PostgresStorage, Pubsub};
use clap::Parser;
use domain::paths;
use domain::signing::{self, Direction, SignedParts};
use futures::StreamExt as _;
use origin_worker::settings::Settings;
use origin_worker::state::AppState;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The queue of the throughput runs.
const NOOP_QUEUE: &str = "bench-noop";
/// The queue of the latency runs.
const LATENCY_QUEUE: &str = "bench-latency";
/// What the bench's webhook events' ids start with, so that only its own rows are deleted.
const EVENT_PREFIX: &str = "evt_bench_";
/// The queue the webhook enqueues onto (the application's).
const STRIPE_EVENT_QUEUE: &str = "stripe-event";

const ORIGIN_SECRET: &str = "bench-origin-secret-bench-origin-";
const JWT_KEY: &str = "bench-signing-key-bench-signing-k";
const WEBHOOK_SECRET: &str = "whsec_bench_webhook_secret";

/// apalis-postgres's default `batch_size`, which the origin's workers use.
const ORIGIN_BATCH_SIZE: usize = 10;
/// Enqueue-to-start: one job per transaction at this rate, for this long.
const LATENCY_RATE: u32 = 200;
const LATENCY_SECONDS: u32 = 10;
/// Webhook acknowledgements: one request at a time at this rate, for this long.
const WEBHOOK_RATE: u32 = 100;
const WEBHOOK_SECONDS: u32 = 10;
/// Jobs per transaction when filling the queue (before a throughput run, or during the mixed
/// one).
const FILL_BEFORE: usize = 1_000;
const FILL_DURING: usize = 100;
/// A run in which nothing moves for this long has failed.
const STALL: Duration = Duration::from_mins(1);

/// The targets printed next to the figures.
const TARGET_JOBS_PER_SEC: f64 = 3_000.0;
const TARGET_START_P50_MS: f64 = 10.0;
const TARGET_ACK_P99_MS: f64 = 20.0;

#[derive(Debug, Parser)]
#[command(about = "Job queue throughput and latency, and the webhook's acknowledgement")]
struct Args {
    /// Runs of every measurement; the table shows their medians.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Jobs per throughput run.
    #[arg(long, default_value_t = 20_000)]
    jobs: u64,
    /// apalis-postgres's `batch_size`: jobs claimed per fetch in the throughput runs.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// `cargo bench` passes `--bench` to every bench binary.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The job: does nothing but say when it started.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Noop {
    id: u64,
}

/// When a job's function started.
#[derive(Debug, Clone, Copy)]
struct Started {
    id: u64,
    at: Instant,
}

/// The worker's data: where the job function reports its start.
#[derive(Debug, Clone)]
struct Probe {
    started: mpsc::UnboundedSender<Started>,
}

async fn record_start(job: Noop, probe: Data<Probe>) -> Result<(), BoxDynError> {
    let at = Instant::now();
    probe.started.send(Started { id: job.id, at })?;
    Ok(())
}

/// How a worker claims and waits for jobs.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    batch_size: usize,
    poll_every: Duration,
    wake_up: WakeUp,
}

/// How the queue's NOTIFY reaches the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WakeUp {
    /// As `origin_worker::jobs` builds its workers: `Strategy::new().stream(Pubsub)`.
    Stream,
    /// Through [`DrainedPubsub`], which never leaves the listener without a waker.
    Drained,
}

/// The queue's notifications, every one waiting read at each poll.
///
/// apalis's stream strategy takes one notification per poll and stops there. When a poll
/// takes one and the fetch it was waiting for comes back empty (it started before that job
/// committed), the worker parks; the notifications behind it wake nobody, because the listener
/// was last polled into an item, not into `Pending`, and holds no waker. The worker then sleeps
/// until its polling interval fires (1 s in the origin). Reading the listener down to
/// `Pending` keeps it registered, so the next notification always wakes the worker.
struct DrainedPubsub(Pubsub);

impl PollStrategy for DrainedPubsub {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut notified = false;
        while let Poll::Ready(Some(_)) = self.0.poll_next_unpin(cx) {
            notified = true;
        }
        if notified {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

/// Wakes the worker at every tick of a repeating timer: the fallback behind the NOTIFY wake-up
/// (apalis's own interval strategy does not re-arm).
struct Every(tokio::time::Interval);

impl Every {
    fn new(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Self(interval)
    }
}

impl PollStrategy for Every {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        self.0.poll_tick(cx).map(|_| Some(()))
    }
}

/// A worker running on a task of its own until [`RunningWorker::stop`].
struct RunningWorker {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), WorkerError>>,
}

impl RunningWorker {
    /// Built as the origin builds its workers (`origin_worker::jobs`): Postgres storage on its
    /// queue, woken by the queue's NOTIFY (`Pubsub`) and a polling interval.
    fn start(pool: &PgPool, queue: &str, tuning: Tuning, concurrency: usize) -> (Self, Starts) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let pubsub = Pubsub::new(pool.clone(), queue.to_owned());
        let strategy = match tuning.wake_up {
            WakeUp::Stream => Strategy::new().stream(pubsub),
            WakeUp::Drained => Strategy::new().apply(DrainedPubsub(pubsub)),
        }
        .apply(Every::new(tuning.poll_every));
        let storage = PostgresStorage::<Noop>::new(pool)
            .with_config(
                Config::default()
                    .queue(queue)
                    .batch_size(tuning.batch_size)
                    .heartbeat_interval(Duration::from_secs(5))
                    .missed_heartbeats(3),
            )
            .poll_with_strategy(strategy);
        let name = format!("{queue}-{}", uuid::Uuid::new_v4().simple());
        let worker = WorkerBuilder::new(name)
            .backend(storage)
            .data(Probe { started: sender })
            .concurrency(concurrency)
            .build(record_start);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run_until(async move {
            let _ = stopped.await;
            Ok::<(), std::io::Error>(())
        }));
        (Self { stop, task }, Starts(receiver))
    }

    /// Stops it gracefully (its last acknowledgements are written) and waits until it has.
    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the worker's task panicked")?
            .map_err(|e| anyhow!("the worker failed: {e}"))
    }
}

/// The job starts a worker reports.
struct Starts(mpsc::UnboundedReceiver<Started>);

impl Starts {
    /// Waits for `count` starts; fails if none comes for [`STALL`].
    async fn collect(&mut self, count: u64) -> Result<Vec<Started>> {
        let mut starts = Vec::new();
        while (starts.len() as u64) < count {
            match tokio::time::timeout(STALL, self.0.recv()).await {
                Ok(Some(started)) => starts.push(started),
                Ok(None) => bail!("the worker stopped after {} of {count} jobs", starts.len()),
                Err(_) => bail!(
                    "no job started for {} s ({} of {count} did)",
                    STALL.as_secs(),
                    starts.len()
                ),
            }
        }
        Ok(starts)
    }
}

/// What one throughput run measured.
#[derive(Debug, Clone, Copy)]
struct Throughput {
    jobs_per_sec: f64,
    /// Transactions that wrote (each took a transaction id) per job: fetches, lock and
    /// acknowledgement batches, heartbeats, and the enqueues in the mixed run.
    write_transactions_per_job: f64,
    /// The mixed run's producer: jobs enqueued per second while the worker consumed.
    enqueued_per_sec: Option<f64>,
}

/// p50 and p99 of one latency run, in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Percentiles {
    p50: f64,
    p99: f64,
    samples: usize,
}

impl Percentiles {
    fn of(mut samples: Vec<f64>) -> Result<Self> {
        if samples.is_empty() {
            bail!("no samples");
        }
        samples.sort_by(f64::total_cmp);
        Ok(Self {
            p50: nearest_rank(&samples, 50),
            p99: nearest_rank(&samples, 99),
            samples: samples.len(),
        })
    }
}

/// The nearest-rank percentile of sorted samples.
fn nearest_rank(sorted: &[f64], percent: usize) -> f64 {
    let rank = (percent * sorted.len()).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        f64::midpoint(sorted[middle - 1], sorted[middle])
    } else {
        sorted[middle]
    }
}

/// The origin's configuration as the tests build it, with this database and a webhook secret.
fn settings(database_url: &str) -> Result<Settings> {
    let pairs = [
        ("ENVIRONMENT", "development"),
        ("DATABASE_URL", database_url),
        ("EDGE_URL", "http://127.0.0.1:9"),
        ("ORIGIN_SHARED_SECRET", ORIGIN_SECRET),
        ("JWT_SIGNING_KEY", JWT_KEY),
        ("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET),
    ];
    Settings::from_lookup(|name| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .map_err(|e| anyhow!("{e}"))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Deletes what the bench wrote: its queues' jobs and workers, its webhook events and their
/// jobs. Then vacuums the queue's table, so that every run starts from the same state.
async fn clean(pool: &PgPool) -> Result<()> {
    let queues = [NOOP_QUEUE, LATENCY_QUEUE];
    sqlx::query("DELETE FROM apalis.jobs WHERE job_type = ANY($1)")
        .bind(&queues[..])
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM apalis.workers WHERE worker_type = ANY($1)")
        .bind(&queues[..])
        .execute(pool)
        .await?;
    let ours = format!("{}%", EVENT_PREFIX.replace('_', "\\_"));
    sqlx::query(
        "DELETE FROM apalis.jobs WHERE job_type = $1 AND convert_from(job, 'UTF8') LIKE $2",
    )
    .bind(STRIPE_EVENT_QUEUE)
    .bind(format!("%\"{ours}\"%"))
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM stripe_events WHERE id LIKE $1")
        .bind(&ours)
        .execute(pool)
        .await?;
    // On a connection of its own: VACUUM refuses to run in a transaction, and a pooled
    // connection may still be closing one a stopped worker dropped.
    let mut connection = PgConnection::connect_with(&pool.connect_options()).await?;
    sqlx::raw_sql("VACUUM ANALYZE apalis.jobs, apalis.workers, stripe_events")
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

/// Enqueues jobs `ids` onto `queue`, `per_transaction` in each transaction, through
/// apalis-postgres's own insert.
async fn enqueue(
    pool: PgPool,
    queue: &'static str,
    ids: std::ops::Range<u64>,
    per_transaction: usize,
) -> Result<()> {
    let ids: Vec<u64> = ids.collect();
    for chunk in ids.chunks(per_transaction) {
        let run_at = u64::try_from(unix_now()).unwrap_or_default();
        let tasks = chunk
            .iter()
            .map(|&id| {
                let payload = serde_json::to_vec(&Noop { id })?;
                Ok(TaskBuilder::new(payload)
                    .max_attempts(1)
                    .run_at_timestamp(run_at)
                    .build())
            })
            .collect::<Result<Vec<PgTask>>>()?;
        let mut tx = pool.begin().await?;
        apalis_postgres::queries::push_tasks(&mut *tx, queue, tasks)
            .await
            .map_err(|e| anyhow!("enqueueing: {e}"))?;
        tx.commit().await?;
    }
    Ok(())
}

/// Waits until `expected` jobs of `queue` are `Done` in `apalis.jobs` (their acknowledgement
/// written), polling every 2 ms.
async fn until_done(pool: &PgPool, queue: &str, expected: u64) -> Result<()> {
    let expected = i64::try_from(expected)?;
    let mut last_progress = Instant::now();
    let mut last_done = -1;
    loop {
        let (done, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'Done'), \
                    count(*) FILTER (WHERE status IN ('Failed', 'Killed')) \
             FROM apalis.jobs WHERE job_type = $1",
        )
        .bind(queue)
        .fetch_one(pool)
        .await?;
        if failed > 0 {
            bail!("{failed} jobs of {queue} failed");
        }
        if done >= expected {
            return Ok(());
        }
        if done != last_done {
            last_done = done;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > STALL {
            bail!("only {done} of {expected} jobs of {queue} are Done");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The newest transaction id: a write transaction takes one, so the difference between two
/// readings counts the writing transactions in between (plus the reading itself).
async fn transaction_id(pool: &PgPool) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
            .fetch_one(pool)
            .await?,
    )
}

/// The bench's shared state.
struct Bench {
    pool: PgPool,
    jobs: u64,
    tuning: Tuning,
    origin: Origin,
}

impl Bench {
    /// `jobs` no-op jobs enqueued first, then drained by one worker with `concurrency` tasks
    /// claiming `batch_size` jobs a fetch: the time from the worker's start until the last is
    /// `Done`.
    async fn throughput_prefilled(
        &self,
        concurrency: usize,
        batch_size: usize,
    ) -> Result<Throughput> {
        clean(&self.pool).await?;
        enqueue(self.pool.clone(), NOOP_QUEUE, 0..self.jobs, FILL_BEFORE).await?;
        // Statistics that know the backlog, as autovacuum's would a minute later: the plan of
        // apalis's fetch depends on them, so a run must not depend on when autovacuum ran.
        sqlx::query("ANALYZE apalis.jobs")
            .execute(&self.pool)
            .await?;
        let tuning = Tuning {
            batch_size,
            ..self.tuning
        };
        let first_xid = transaction_id(&self.pool).await?;
        let started = Instant::now();
        let (worker, mut starts) =
            RunningWorker::start(&self.pool, NOOP_QUEUE, tuning, concurrency);
        starts.collect(self.jobs).await?;
        until_done(&self.pool, NOOP_QUEUE, self.jobs).await?;
        let elapsed = started.elapsed();
        let last_xid = transaction_id(&self.pool).await?;
        worker.stop().await?;
        Ok(self.throughput(elapsed, last_xid - first_xid - 1, None))
    }

    /// The same jobs enqueued, 100 a transaction as fast as one producer can, while a worker
    /// that was idle drains them: the time from the first enqueue until the last is `Done`.
    async fn throughput_mixed(&self, concurrency: usize, wake_up: WakeUp) -> Result<Throughput> {
        clean(&self.pool).await?;
        let tuning = Tuning {
            wake_up,
            ..self.tuning
        };
        let (worker, mut starts) =
            RunningWorker::start(&self.pool, NOOP_QUEUE, tuning, concurrency);
        // Registered and listening before the first job arrives.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let first_xid = transaction_id(&self.pool).await?;
        let started = Instant::now();
        let producer = tokio::spawn({
            let pool = self.pool.clone();
            let jobs = self.jobs;
            async move {
                enqueue(pool, NOOP_QUEUE, 0..jobs, FILL_DURING).await?;
                anyhow::Ok(started.elapsed())
            }
        });
        starts.collect(self.jobs).await?;
        until_done(&self.pool, NOOP_QUEUE, self.jobs).await?;
        let elapsed = started.elapsed();
        let last_xid = transaction_id(&self.pool).await?;
        let enqueued_in = producer.await.context("the producer panicked")??;
        worker.stop().await?;
        Ok(self.throughput(
            elapsed,
            last_xid - first_xid - 1,
            Some(self.jobs as f64 / enqueued_in.as_secs_f64()),
        ))
    }

    fn throughput(
        &self,
        elapsed: Duration,
        write_transactions: i64,
        enqueued_per_sec: Option<f64>,
    ) -> Throughput {
        Throughput {
            jobs_per_sec: self.jobs as f64 / elapsed.as_secs_f64(),
            write_transactions_per_job: write_transactions as f64 / self.jobs as f64,
            enqueued_per_sec,
        }
    }

    /// Jobs enqueued one a transaction, as the application enqueues them
    /// (`origin_worker::db::push_job`), at [`LATENCY_RATE`] onto an idle worker that polls only
    /// every second: what starts them sooner is the NOTIFY.
    async fn start_latency(&self, wake_up: WakeUp) -> Result<Percentiles> {
        clean(&self.pool).await?;
        let tuning = Tuning {
            poll_every: Duration::from_secs(1),
            wake_up,
            ..self.tuning
        };
        let (worker, mut starts) = RunningWorker::start(&self.pool, LATENCY_QUEUE, tuning, 1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let count = u64::from(LATENCY_RATE * LATENCY_SECONDS);
        let period = Duration::from_secs(1) / LATENCY_RATE;
        let mut committed = Vec::new();
        let first = Instant::now();
        for id in 0..count {
            tokio::time::sleep_until((first + period * u32::try_from(id)?).into()).await;
            let mut tx = self.pool.begin().await?;
            origin_worker::db::push_job(&mut tx, LATENCY_QUEUE, &Noop { id }, 1).await?;
            tx.commit().await?;
            committed.push(Instant::now());
        }
        let starts = starts.collect(count).await?;
        worker.stop().await?;
        let latencies = starts
            .iter()
            .map(|started| {
                let committed = committed[usize::try_from(started.id)?];
                Ok(signed_millis(committed, started.at))
            })
            .collect::<Result<Vec<f64>>>()?;
        Percentiles::of(latencies)
    }

    /// Signed `payment_intent.succeeded` events posted to the origin's webhook route one at a
    /// time at [`WEBHOOK_RATE`]: the time from sending each until its answer is read.
    async fn webhook_acknowledgement(&self) -> Result<Percentiles> {
        clean(&self.pool).await?;
        // The connection is open before the first measured request.
        for _ in 0..20 {
            self.origin.acknowledge().await?;
        }
        let count = WEBHOOK_RATE * WEBHOOK_SECONDS;
        let period = Duration::from_secs(1) / WEBHOOK_RATE;
        let mut latencies = Vec::new();
        let first = Instant::now();
        for n in 0..count {
            tokio::time::sleep_until((first + period * n).into()).await;
            latencies.push(self.origin.acknowledge().await?);
        }
        Percentiles::of(latencies)
    }
}

/// `later - earlier` in milliseconds, negative if `later` came first.
fn signed_millis(earlier: Instant, later: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(after) => after.as_secs_f64() * 1e3,
        None => -(earlier - later).as_secs_f64() * 1e3,
    }
}

/// The origin's router on a local port, and a client that posts webhooks to it as the edge
/// forwards them.
struct Origin {
    url: String,
    client: reqwest::Client,
}

impl Origin {
    async fn serve(state: AppState) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}{}", listener.local_addr()?, paths::STRIPE_WEBHOOK);
        let server = axum::serve(listener, origin_worker::api::router(state)).into_future();
        tokio::spawn(async move {
            if let Err(e) = server.await {
                eprintln!("    the origin's server stopped: {e}");
            }
        });
        Ok(Self {
            url,
            client: reqwest::Client::new(),
        })
    }

    /// Posts one new signed event; answers how long the origin took to acknowledge it, in ms.
    async fn acknowledge(&self) -> Result<f64> {
        let now = unix_now();
        let body = payment_succeeded(now)?.to_string().into_bytes();
        let request_id = uuid::Uuid::new_v4().to_string();
        let parts = SignedParts {
            direction: Direction::EdgeToOrigin,
            method: "POST",
            path_and_query: paths::STRIPE_WEBHOOK,
            body: &body,
            timestamp: now,
            user_id: None,
            request_id: &request_id,
            idempotency_key: None,
            // Fresh per call, as the edge makes them (the origin refuses a nonce seen before).
            nonce: Some(&request_id),
        };
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header(
                stripe_fake::signature::HEADER,
                stripe_fake::signature::sign(&body, WEBHOOK_SECRET, now),
            );
        for (name, value) in signing::signed_headers(ORIGIN_SECRET.as_bytes(), &parts) {
            request = request.header(name, value);
        }
        let request = request.body(body).build()?;
        let sent = Instant::now();
        let response = self.client.execute(request).await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        let took = sent.elapsed();
        let public = answer["status"].as_u64().unwrap_or_default();
        if !status.is_success()
            || !(200..300).contains(&public)
            || answer["body"]["duplicate"] != false
        {
            bail!("the webhook was not acknowledged as new: {status} {answer}");
        }
        Ok(took.as_secs_f64() * 1e3)
    }
}

/// A `payment_intent.succeeded` event as Stripe sends it, for an intent the fake Stripe
/// renders, with an id of the bench's own.
fn payment_succeeded(now: i64) -> Result<Value> {
    let mut params = serde_json::Map::new();
    params.insert("amount".to_owned(), json!("1999"));
    params.insert("currency".to_owned(), json!("eur"));
    let mut intent = stripe_fake::payment_intent::PaymentIntent::create(params, now)
        .map_err(|e| anyhow!("building the intent: {e}"))?;
    intent.succeed();
    Ok(json!({
        "id": format!("{EVENT_PREFIX}{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "api_version": stripe_fake::config::DEFAULT_API_VERSION,
        "created": now,
        "data": {"object": intent.to_json()},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "payment_intent.succeeded",
    }))
}

/// Every run's figures, per measurement.
#[derive(Debug, Default)]
struct Results {
    one_task: Vec<Throughput>,
    four_tasks: Vec<Throughput>,
    origin_batch: Vec<Throughput>,
    mixed: Vec<Throughput>,
    mixed_drained: Vec<Throughput>,
    start: Vec<Percentiles>,
    start_drained: Vec<Percentiles>,
    acknowledgement: Vec<Percentiles>,
}

/// One row of the table: the runs' median, their range, the target and whether it is met.
struct Row {
    label: String,
    unit: &'static str,
    values: Vec<f64>,
    target: Option<Target>,
}

#[derive(Clone, Copy)]
enum Target {
    AtLeast(f64),
    Below(f64),
}

/// The label column's width.
const LABEL: usize = 56;

impl Row {
    fn new(label: String, unit: &'static str, values: Vec<f64>) -> Self {
        Self {
            label,
            unit,
            values,
            target: None,
        }
    }

    fn target(self, target: Target) -> Self {
        Self {
            target: Some(target),
            ..self
        }
    }

    fn render(&self, out: &mut String) -> std::fmt::Result {
        let min = self.values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self
            .values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let median = median(&self.values);
        let (target, verdict) = match self.target {
            Some(Target::AtLeast(goal)) => (
                format!(">= {}", number(goal)),
                if median >= goal { "met" } else { "MISSED" },
            ),
            Some(Target::Below(goal)) => (
                format!("< {}", number(goal)),
                if median < goal { "met" } else { "MISSED" },
            ),
            None => (String::new(), ""),
        };
        writeln!(
            out,
            "| {:<LABEL$} | {:>9} {:<6} | {:>17} | {:>8} | {:<6} |",
            self.label,
            number(median),
            self.unit,
            format!("{} – {}", number(min), number(max)),
            target,
            verdict
        )
    }
}

/// Thousands separated for large figures, two decimals for small ones.
fn number(value: f64) -> String {
    if value.abs() < 100.0 {
        return format!("{value:.2}");
    }
    let whole = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

fn rates(runs: &[Throughput]) -> Vec<f64> {
    runs.iter().map(|run| run.jobs_per_sec).collect()
}

fn writes(runs: &[Throughput]) -> Vec<f64> {
    runs.iter()
        .map(|run| run.write_transactions_per_job)
        .collect()
}

fn producer(runs: &[Throughput]) -> Vec<f64> {
    runs.iter().filter_map(|run| run.enqueued_per_sec).collect()
}

fn p50s(runs: &[Percentiles]) -> Vec<f64> {
    runs.iter().map(|run| run.p50).collect()
}

fn p99s(runs: &[Percentiles]) -> Vec<f64> {
    runs.iter().map(|run| run.p99).collect()
}

impl Results {
    fn rows(&self, batch_size: usize) -> Vec<Row> {
        let jobs = Target::AtLeast(TARGET_JOBS_PER_SEC);
        let start = Target::Below(TARGET_START_P50_MS);
        let filled = |tasks: &str, batch: usize| {
            format!("No-op jobs, {tasks}, queue filled first, batch {batch}")
        };
        let mixed = |wake: &str| format!("No-op jobs, 4 tasks, enqueued meanwhile, {wake} wake");
        let producer_label = || "  its producer, 100 jobs a transaction".to_owned();
        vec![
            Row::new(
                filled("1 task", batch_size),
                "jobs/s",
                rates(&self.one_task),
            )
            .target(jobs),
            Row::new(
                filled("4 tasks", batch_size),
                "jobs/s",
                rates(&self.four_tasks),
            )
            .target(jobs),
            Row::new(
                filled("4 tasks", ORIGIN_BATCH_SIZE),
                "jobs/s",
                rates(&self.origin_batch),
            )
            .target(jobs),
            Row::new(mixed("origin's"), "jobs/s", rates(&self.mixed)).target(jobs),
            Row::new(producer_label(), "jobs/s", producer(&self.mixed)),
            Row::new(mixed("drained"), "jobs/s", rates(&self.mixed_drained)).target(jobs),
            Row::new(producer_label(), "jobs/s", producer(&self.mixed_drained)),
            Row::new(
                format!("Writing transactions per job, 1 task, batch {batch_size}"),
                "tx/job",
                writes(&self.one_task),
            ),
            Row::new(
                format!("Writing transactions per job, 4 tasks, batch {ORIGIN_BATCH_SIZE}"),
                "tx/job",
                writes(&self.origin_batch),
            ),
            Row::new(
                "Enqueue to start, p50, stream wake, 1 s poll".to_owned(),
                "ms",
                p50s(&self.start),
            )
            .target(start),
            Row::new(
                "Enqueue to start, p99, stream wake, 1 s poll".to_owned(),
                "ms",
                p99s(&self.start),
            ),
            Row::new(
                "Enqueue to start, p50, drained wake, 1 s poll".to_owned(),
                "ms",
                p50s(&self.start_drained),
            )
            .target(start),
            Row::new(
                "Enqueue to start, p99, drained wake, 1 s poll".to_owned(),
                "ms",
                p99s(&self.start_drained),
            ),
            Row::new(
                "Webhook acknowledgement at the origin, p50".to_owned(),
                "ms",
                p50s(&self.acknowledgement),
            ),
            Row::new(
                "Webhook acknowledgement at the origin, p99".to_owned(),
                "ms",
                p99s(&self.acknowledgement),
            )
            .target(Target::Below(TARGET_ACK_P99_MS)),
        ]
    }

    fn table(&self, runs: usize, batch_size: usize) -> Result<String> {
        let mut out = String::new();
        writeln!(
            out,
            "| {:<LABEL$} | {:>16} | {:>17} | {:>8} | {:<6} |",
            format!("Median of {runs} runs"),
            "median",
            "runs (min – max)",
            "target",
            ""
        )?;
        writeln!(
            out,
            "|{}|{}|{}|{}|{}|",
            "-".repeat(LABEL + 2),
            "-".repeat(18),
            "-".repeat(19),
            "-".repeat(10),
            "-".repeat(8)
        )?;
        for row in self.rows(batch_size) {
            row.render(&mut out)?;
        }
        Ok(out)
    }
}

/// `(load average 1.23)`, from `/proc/loadavg` where there is one: how busy the machine was
/// (other work on the same cores shows in the figures).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .map(|one_minute| format!(" (load average {one_minute})"))
        .unwrap_or_default()
}

fn progress(message: impl std::fmt::Display) {
    eprintln!("    {message}");
}

fn throughput_line(what: &str, run: &Throughput) {
    let producer = run
        .enqueued_per_sec
        .map(|rate| format!(", enqueued at {} jobs/s", number(rate)))
        .unwrap_or_default();
    progress(format!(
        "{what}: {} jobs/s ({:.3} writing transactions a job{producer})",
        number(run.jobs_per_sec),
        run.write_transactions_per_job
    ));
}

fn latency_line(what: &str, run: &Percentiles) {
    progress(format!(
        "{what}: p50 {} ms, p99 {} ms ({} samples)",
        number(run.p50),
        number(run.p99),
        run.samples
    ));
}

/// Every measurement once, interleaved so that a noisy minute spreads over all of them.
async fn one_run(bench: &Bench, results: &mut Results) -> Result<()> {
    let batch = bench.tuning.batch_size;
    let run = bench.throughput_prefilled(1, batch).await?;
    throughput_line("1 worker task, queue filled first", &run);
    results.one_task.push(run);
    let run = bench.throughput_prefilled(4, batch).await?;
    throughput_line("4 worker tasks, queue filled first", &run);
    results.four_tasks.push(run);
    let run = bench.throughput_prefilled(4, ORIGIN_BATCH_SIZE).await?;
    throughput_line(
        &format!("4 worker tasks, queue filled first, batch_size {ORIGIN_BATCH_SIZE}"),
        &run,
    );
    results.origin_batch.push(run);
    let run = bench.throughput_mixed(4, WakeUp::Stream).await?;
    throughput_line("4 worker tasks, enqueued meanwhile, stream wake-up", &run);
    results.mixed.push(run);
    let run = bench.throughput_mixed(4, WakeUp::Drained).await?;
    throughput_line("4 worker tasks, enqueued meanwhile, drained wake-up", &run);
    results.mixed_drained.push(run);
    let run = bench.start_latency(WakeUp::Stream).await?;
    latency_line("enqueue to start, stream wake-up", &run);
    results.start.push(run);
    let run = bench.start_latency(WakeUp::Drained).await?;
    latency_line("enqueue to start, drained wake-up", &run);
    results.start_drained.push(run);
    let run = bench.webhook_acknowledgement().await?;
    latency_line("webhook acknowledgement", &run);
    results.acknowledgement.push(run);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.runs == 0 || args.jobs == 0 || args.batch_size == 0 {
        bail!("--runs, --jobs and --batch-size must be at least 1");
    }
    let database_url = std::env::var("DATABASE_URL").context(
        "DATABASE_URL is not set: run `cargo xtask bench-jobs`, which starts a Postgres for it",
    )?;
    let settings = settings(&database_url)?;
    let pool = origin_worker::db::connect(&settings, Duration::from_secs(30)).await?;
    origin_worker::db::migrate(&pool).await?;
    let server_version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pool)
        .await?;
    let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&pool).await?;
    let pool_size = settings.database_pool_size;
    let tuning = Tuning {
        batch_size: args.batch_size,
        poll_every: Duration::from_millis(100),
        wake_up: WakeUp::Stream,
    };
    let origin = Origin::serve(AppState::new(pool.clone(), settings)).await?;
    let bench = Bench {
        pool,
        jobs: args.jobs,
        tuning,
        origin,
    };
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let settings_text = format!(
        "Settings: apalis-postgres Config::default() with batch_size {batch} (jobs claimed per \
         fetch; 10 is apalis's default), lock_tasks and persist_results on \
         (the defaults, as in the origin), heartbeat every 5 s; woken by apalis_postgres::Pubsub \
         (LISTEN on apalis::job::insert), either as apalis's stream wires it \
         (Strategy::new().stream(pubsub)) or drained to Pending at each poll, and polling \
         every {poll} ms in the throughput runs, every 1 s (as the origin) in the latency runs; \
         jobs enqueued with max_attempts 1. The origin's pool: \
         {pool_size} connections, checked before each use (origin_worker::db::connect). \
         Postgres {server_version} on the same machine (fsync {fsync}); {cores} cores.",
        batch = tuning.batch_size,
        poll = tuning.poll_every.as_millis(),
    );
    eprintln!("{settings_text}");
    let mut results = Results::default();
    for run in 1..=args.runs {
        eprintln!("==> Run {run} of {}{}", args.runs, load_average());
        one_run(&bench, &mut results).await?;
    }
    clean(&bench.pool).await?;
    println!();
    println!(
        "Jobs: {} no-op jobs per throughput run; latency: {} jobs at {}/s; webhook: {} events \
         at {}/s.",
        args.jobs,
        LATENCY_RATE * LATENCY_SECONDS,
        LATENCY_RATE,
        WEBHOOK_RATE * WEBHOOK_SECONDS,
        WEBHOOK_RATE
    );
    println!();
    print!("{}", results.table(args.runs, args.batch_size)?);
    println!();
    println!("{settings_text}");
    Ok(())
}
