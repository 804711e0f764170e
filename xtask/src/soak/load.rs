//! The soak's load: requests started at a fixed rate whatever the answers (an open loop, so a
//! slow stack shows as latency, not as a lower rate), in a fixed mix, each recorded in the
//! minute it started.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Result;
use rand::Rng;
use rand::seq::SliceRandom;
use reqwest::Method;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::api::{self, Api, Seen, TASKS, TOKEN};
use crate::shutdown::Shutdown;

/// The mix, as a cycle of 20 requests: 60% task lists, 25% task details, 10% task creations,
/// 5% logins (the expensive request: a password hash).
const CYCLE: [Kind; 20] = {
    use Kind::{Create, Detail, List, Login};
    [
        List, Detail, List, List, Create, List, Detail, List, Detail, List, //
        List, Detail, List, Create, List, List, Detail, List, List, Login,
    ]
};
/// At most this many requests in flight: past it the stack is saturated, and a request that
/// cannot start is counted as skipped rather than queued.
const MAX_IN_FLIGHT: usize = 64;
/// The list queries the readers cycle through (all served by the edge from D1).
const LIST_QUERIES: [&str; 4] = [
    "",
    "&done=false&ordering=-due_date",
    "&ordering=title",
    "&search=soak",
];

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    List,
    Detail,
    Create,
    Login,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::List => "task list",
            Self::Detail => "task detail",
            Self::Create => "task create",
            Self::Login => "login",
        }
    }
}

/// One of the soak's users: what it owns, and its current access token (renewed by every
/// login of the mix).
#[derive(Debug)]
pub struct User {
    pub username: String,
    pub password: String,
    pub token: Mutex<String>,
    pub projects: Vec<i64>,
    pub tasks: Mutex<Vec<i64>>,
}

impl User {
    fn token(&self) -> String {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The answers of one minute (or of one kind over the run).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// By status, or by failure (`connect`, `timeout`, `broken`).
    pub seen: BTreeMap<String, u64>,
    pub latencies_ms: Vec<f64>,
    /// Ticks with no request started: too many were in flight.
    pub skipped: u64,
}

impl Stats {
    fn record(&mut self, seen: &Seen, elapsed: Duration) {
        *self.seen.entry(api::label(seen)).or_default() += 1;
        self.latencies_ms.push(elapsed.as_secs_f64() * 1000.0);
    }

    pub fn requests(&self) -> u64 {
        self.seen.values().sum()
    }

    /// Answers whose status starts with `class` (`'2'`, `'4'`, `'5'`).
    pub fn class(&self, class: char) -> u64 {
        self.seen
            .iter()
            .filter(|(label, _)| label.len() == 3 && label.starts_with(class))
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests that got no status at all.
    pub fn unanswered(&self) -> u64 {
        self.seen
            .iter()
            .filter(|(label, _)| label.parse::<u16>().is_err())
            .map(|(_, n)| n)
            .sum()
    }

    /// The latency below which `p` (0..=1) of the requests were answered (nearest rank).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, p)
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank within a small vector's length"
    )]
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Everything recorded: per minute of the run, and per kind over the whole run.
#[derive(Debug, Default)]
pub struct Record {
    pub minutes: Vec<Stats>,
    pub kinds: BTreeMap<Kind, Stats>,
}

/// Runs the load on `users` at `rate` requests per second from `started` for `length`;
/// returns the record.
pub async fn run(
    api: &Api,
    users: &[Arc<User>],
    rate: u32,
    started: Instant,
    length: Duration,
    shutdown: &Shutdown,
) -> Result<Record> {
    let record = Arc::new(Mutex::new(Record::default()));
    let minute_of = |at: Instant| {
        usize::try_from(at.duration_since(started).as_secs() / 60).unwrap_or(usize::MAX)
    };
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut in_flight = JoinSet::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    // Ticks missed while the runtime was busy are made up at once: the rate is the rate.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for tick in 0usize.. {
        tokio::select! {
            at = ticks.tick() => {
                let at = at.into_std();
                if at.duration_since(started) >= length {
                    break;
                }
                while in_flight.try_join_next().is_some() {}
                let kind = CYCLE[tick % CYCLE.len()];
                let minute = minute_of(at);
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    lock(&record).minute(minute).skipped += 1;
                    continue;
                };
                let user = Arc::clone(&users[rand::thread_rng().gen_range(0..users.len())]);
                let api = api.clone();
                let record = Arc::clone(&record);
                in_flight.spawn(async move {
                    let began = Instant::now();
                    let seen = one(&api, &user, kind, tick).await;
                    let elapsed = began.elapsed();
                    let mut record = lock(&record);
                    record.minute(minute).record(&seen, elapsed);
                    record.kinds.entry(kind).or_default().record(&seen, elapsed);
                    drop(slot);
                });
            }
            signal = shutdown.wait() => return Err(signal.into()),
        }
    }
    // The last requests get the client's timeout to finish; then whatever is left is dropped.
    let drain = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(drain);
    loop {
        tokio::select! {
            joined = in_flight.join_next() => if joined.is_none() { break },
            () = &mut drain => break,
            signal = shutdown.wait() => return Err(signal.into()),
        }
    }
    in_flight.abort_all();
    let mut record = lock(&record);
    Ok(std::mem::take(&mut *record))
}

impl Record {
    fn minute(&mut self, minute: usize) -> &mut Stats {
        if self.minutes.len() <= minute {
            self.minutes.resize_with(minute + 1, Stats::default);
        }
        &mut self.minutes[minute]
    }
}

fn lock(record: &Mutex<Record>) -> std::sync::MutexGuard<'_, Record> {
    record.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One request of the mix, as `user`.
async fn one(api: &Api, user: &User, kind: Kind, tick: usize) -> Seen {
    let token = user.token();
    match kind {
        Kind::List => {
            let project = user.projects[tick % user.projects.len()];
            let query = LIST_QUERIES[tick / CYCLE.len() % LIST_QUERIES.len()];
            api.get(&format!("{TASKS}?project={project}{query}"), Some(&token))
                .await
        }
        Kind::Detail => {
            let id = {
                let tasks = user.tasks.lock().unwrap_or_else(PoisonError::into_inner);
                tasks.choose(&mut rand::thread_rng()).copied().unwrap_or(0)
            };
            api.get(&format!("{TASKS}{id}/"), Some(&token)).await
        }
        Kind::Create => {
            let project = user.projects[tick % user.projects.len()];
            let body = json!({
                "project": project,
                "title": format!("soak task {tick}"),
                "detail": "written by the soak",
                "due_date": "2026-06-01",
            });
            let key = api::new_key();
            let seen = api
                .send(Method::POST, TASKS, Some(&token), Some(&body), Some(&key))
                .await;
            if let Ok(reply) = &seen
                && let Some(id) = reply.body["id"].as_i64()
            {
                user.tasks
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(id);
            }
            seen
        }
        Kind::Login => {
            let body = json!({"username": user.username, "password": user.password});
            let seen = api.send(Method::POST, TOKEN, None, Some(&body), None).await;
            if let Ok(reply) = &seen
                && let Some(access) = reply.body["access"].as_str()
            {
                access.clone_into(&mut user.token.lock().unwrap_or_else(PoisonError::into_inner));
            }
            seen
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_as_documented() {
        let share = |kind| CYCLE.iter().filter(|k| **k == kind).count() * 100 / CYCLE.len();
        assert_eq!(
            [
                share(Kind::List),
                share(Kind::Detail),
                share(Kind::Create),
                share(Kind::Login)
            ],
            [60, 25, 10, 5]
        );
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), Some(50.0));
        assert_eq!(percentile(&values, 0.99), Some(99.0));
        assert_eq!(percentile(&values, 1.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn classes_and_failures_are_counted_apart() {
        let mut stats = Stats::default();
        let reply = |status| {
            Ok(api::Reply {
                status,
                body: serde_json::Value::Null,
            })
        };
        for seen in [
            reply(200),
            reply(201),
            reply(503),
            reply(404),
            Err(api::Failure::Timeout),
        ] {
            stats.record(&seen, Duration::from_millis(10));
        }
        assert_eq!(
            (
                stats.requests(),
                stats.class('2'),
                stats.class('4'),
                stats.class('5'),
                stats.unanswered()
            ),
            (5, 2, 1, 1, 1)
        );
    }
}
