//! The load every scenario runs under: writers creating tasks, each write under its own
//! `Idempotency-Key` and sent again with that key after any failure, and readers listing the
//! tasks, all counting what they saw.
//!
//! Stopping is two-speed on purpose: readers stop at once, but a writer finishes the write it
//! has started (retrying until it is answered or its deadline passes). A write abandoned half
//! way would be neither acknowledged nor known to be absent, and the scenario could no longer
//! say whether Postgres holds exactly the acknowledged writes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::{self, Api, Seen, TASKS, Write, worth_retrying};
use crate::shutdown::Shutdown;

/// How long one write is retried before it is given up (and the scenario fails): longer than
/// any outage a scenario causes, `wrangler dev`'s cold start included.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(90);
/// At most this many writes per writer and reads per reader in one scenario, whatever else
/// goes wrong: far more than a scenario's seconds allow.
const MAX_REQUESTS: usize = 100_000;
/// The pause between two reads of one reader, so that readers watch rather than saturate.
const READ_PAUSE: Duration = Duration::from_millis(50);

/// Who the load acts as, and on what.
#[derive(Debug)]
pub struct Target {
    pub api: Api,
    pub token: String,
    pub project: i64,
    /// Every title of the scenario starts with this; titles are unique within a run.
    pub prefix: String,
}

/// What the clients saw, and the fate of every write.
#[derive(Debug, Default)]
pub struct Tally {
    /// Per attempt (a retried write counts each attempt), by status or failure label.
    pub writes: BTreeMap<String, u64>,
    pub reads: BTreeMap<String, u64>,
    /// Attempts beyond the first, over all writes.
    pub retries: u64,
    /// Titles of the writes answered 2xx.
    pub acked: Vec<String>,
    /// Titles of the writes still unanswered (or answered 5xx) at their deadline.
    pub abandoned: Vec<String>,
    /// Writes answered with a 4xx that no retry changes (title, status and body).
    pub rejected: Vec<(String, String)>,
    /// The first body of each error status clients saw (`"500"` → its body), as evidence.
    pub examples: BTreeMap<String, String>,
}

impl Tally {
    fn count(&mut self, write: bool, seen: &Seen) {
        let label = api::label(seen);
        if let Ok(reply) = seen
            && reply.status >= 400
        {
            self.examples.entry(label.clone()).or_insert_with(|| {
                let mut body = reply.body.to_string();
                body.truncate(300);
                body
            });
        }
        let counts = if write {
            &mut self.writes
        } else {
            &mut self.reads
        };
        *counts.entry(label).or_default() += 1;
    }
}

/// The running load.
#[derive(Debug)]
pub struct Load {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    tally: Arc<Mutex<Tally>>,
}

impl Load {
    /// Starts `writers` writers and `readers` readers against `target`.
    pub fn start(target: &Arc<Target>, writers: usize, readers: usize) -> Self {
        let (stop, stopped) = watch::channel(false);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let mut tasks = JoinSet::new();
        for writer in 1..=writers {
            tasks.spawn(write_loop(
                Arc::clone(target),
                writer,
                stopped.clone(),
                Arc::clone(&tally),
            ));
        }
        for _ in 0..readers {
            tasks.spawn(read_loop(
                Arc::clone(target),
                stopped.clone(),
                Arc::clone(&tally),
            ));
        }
        Self { stop, tasks, tally }
    }

    /// Stops the load and waits for every writer to finish its write (bounded by
    /// [`WRITE_DEADLINE`]); returns the tally.
    pub async fn finish(mut self, shutdown: &Shutdown) -> Result<Tally> {
        self.stop.send_replace(true);
        let limit = tokio::time::sleep(WRITE_DEADLINE + Duration::from_secs(10));
        tokio::pin!(limit);
        loop {
            tokio::select! {
                joined = self.tasks.join_next() => if joined.is_none() { break },
                () = &mut limit => {
                    // Cannot happen while every write has its deadline. Were it to, the write
                    // in progress would be in no list: say so.
                    crate::ui::note("load: writers still busy past their deadline: aborted");
                    self.tasks.abort_all();
                    break;
                }
                signal = shutdown.wait() => return Err(signal.into()),
            }
        }
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(std::mem::take(&mut *tally))
    }
}

async fn write_loop(
    target: Arc<Target>,
    writer: usize,
    stopped: watch::Receiver<bool>,
    tally: Arc<Mutex<Tally>>,
) {
    let lock = || tally.lock().unwrap_or_else(PoisonError::into_inner);
    for n in 1..=MAX_REQUESTS {
        if *stopped.borrow() {
            break;
        }
        let title = format!("{}-w{writer}-{n}", target.prefix);
        let body = json!({"project": target.project, "title": title});
        let key = api::new_key();
        let write = Write {
            path: TASKS,
            token: Some(&target.token),
            body: &body,
            key: &key,
        };
        let mut attempts = 0u64;
        let last = target
            .api
            .write_retrying(write, Instant::now() + WRITE_DEADLINE, |seen| {
                attempts += 1;
                lock().count(true, seen);
            })
            .await;
        let settled = !worth_retrying(&last);
        let mut tally = lock();
        tally.retries += attempts.saturating_sub(1);
        match last {
            Ok(reply) if reply.is_success() => tally.acked.push(title),
            Ok(reply) if settled => {
                tally
                    .rejected
                    .push((title, format!("{} {}", reply.status, reply.body)));
            }
            _ => tally.abandoned.push(title),
        }
    }
}

async fn read_loop(target: Arc<Target>, stopped: watch::Receiver<bool>, tally: Arc<Mutex<Tally>>) {
    let path = format!("{TASKS}?project={}&page_size=20", target.project);
    for _ in 0..MAX_REQUESTS {
        if *stopped.borrow() {
            break;
        }
        let seen = target.api.get(&path, Some(&target.token)).await;
        let failed = !matches!(&seen, Ok(reply) if reply.status == 200);
        tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .count(false, &seen);
        // A failing edge is asked less often: it is probably restarting.
        let pause = if failed { READ_PAUSE * 4 } else { READ_PAUSE };
        tokio::time::sleep(pause).await;
    }
}
