//! Keeps every worker running for as long as the process lives.
//!
//! apalis ends a worker for good when its backend fails (a Postgres outage ends the poller with
//! `PoolTimedOut`), and its monitor restarts one only at once, with no pause. Each worker here
//! runs in its own task under [`supervise`]: when it ends without being asked to (an error, a
//! panic, or a stream that simply stops), it is built again under a fresh name (a reused name
//! would strand the dead one's jobs) after a pause that doubles up to [`MAX_BACKOFF`], and
//! starts over from the shortest pause once it has stayed up for [`STABLE_AFTER`].
//!
//! [`Workers`] holds each worker's state; `/ready/` answers 503 while any is not running.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use apalis::prelude::WorkerError;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

/// The first pause before a restart.
pub const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// The longest pause: short enough that jobs resume within seconds of Postgres returning.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A worker that ran this long before failing is restarted after the shortest pause again.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);

/// Where a worker is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum WorkerState {
    Running,
    /// Ended with `error`; starts again after a pause. `restarts` counts every restart so far.
    Restarting {
        restarts: u32,
        error: String,
    },
    /// Asked to stop (shutdown).
    Stopped,
}

/// Every supervised worker's state, by name, and every name this process's workers have claimed
/// jobs under. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Workers {
    states: Arc<Mutex<BTreeMap<&'static str, WorkerState>>>,
    claimants: Arc<Mutex<Vec<String>>>,
}

impl Workers {
    fn set(&self, name: &'static str, state: WorkerState) {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, state);
    }

    /// A copy of every state, by worker name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, WorkerState> {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A new name, unique to this start of this worker, for apalis to claim jobs under
    /// (`lock_by`); remembered, so that a shutdown can give back what is still claimed under
    /// any of them. A restarted process that reused its predecessor's name would keep that
    /// worker's heartbeat alive and strand its in-flight jobs; the process id alone is not
    /// unique either (every container's process is 1).
    pub fn claimant(&self, worker: &str) -> String {
        let name = format!("{worker}-{}", uuid::Uuid::new_v4().simple());
        self.claimants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.clone());
        name
    }

    /// Every name [`Workers::claimant`] has handed out.
    pub fn claimants(&self) -> Vec<String> {
        self.claimants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether every registered worker is running (none registered counts as all).
    pub fn all_running(&self) -> bool {
        self.snapshot()
            .values()
            .all(|state| *state == WorkerState::Running)
    }
}

/// The next pause: doubled, within [`MIN_BACKOFF`] and [`MAX_BACKOFF`]; back to the minimum
/// when the worker had been up for [`STABLE_AFTER`].
pub fn next_backoff(previous: Option<Duration>, ran_for: Duration) -> Duration {
    match previous {
        Some(pause) if ran_for < STABLE_AFTER => (pause * 2).min(MAX_BACKOFF),
        _ => MIN_BACKOFF,
    }
}

/// Resolves once `stop` says so.
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    // A dropped sender means the process is going away: stop too.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Runs the worker that `start` builds and runs (until `stop`), again and again, until `stop`.
/// Each attempt runs in its own task, so a panic is a failure like any other.
pub async fn supervise<F, Fut>(
    name: &'static str,
    workers: Workers,
    stop: watch::Receiver<bool>,
    mut start: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), WorkerError>> + Send + 'static,
{
    let mut restarts = 0;
    let mut pause = None;
    loop {
        workers.set(name, WorkerState::Running);
        let started = Instant::now();
        let ended = tokio::spawn(start()).await;
        if *stop.borrow() {
            workers.set(name, WorkerState::Stopped);
            return;
        }
        let error = match ended {
            Ok(Ok(())) => "the worker ended on its own".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(join) if join.is_panic() => format!("the worker panicked: {join}"),
            Err(join) => format!("the worker's task ended: {join}"),
        };
        restarts += 1;
        let wait = next_backoff(pause, started.elapsed());
        pause = Some(wait);
        tracing::error!(
            worker = name,
            restarts,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            error = %error,
            "worker ended; restarting"
        );
        workers.set(name, WorkerState::Restarting { restarts, error });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stopped(stop.clone()) => {
                workers.set(name, WorkerState::Stopped);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn pauses_double_up_to_the_cap_and_reset_after_a_stable_run() {
        let short = Duration::from_secs(1);
        let mut pause = None;
        let mut seen = Vec::new();
        for _ in 0..8 {
            let next = next_backoff(pause, short);
            seen.push(next.as_millis());
            pause = Some(next);
        }
        assert_eq!(seen, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(next_backoff(pause, STABLE_AFTER), MIN_BACKOFF);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_or_panicking_worker_is_restarted_until_stopped() {
        let workers = Workers::default();
        let (stop_tx, stop_rx) = watch::channel(false);
        let attempts = Arc::new(AtomicU32::new(0));
        let counted = attempts.clone();
        let supervisor = tokio::spawn(supervise(
            "flaky",
            workers.clone(),
            stop_rx.clone(),
            move || {
                let attempt = counted.fetch_add(1, Ordering::SeqCst);
                let stop = stop_rx.clone();
                async move {
                    match attempt {
                        0 => Err(WorkerError::PanicError("poll failed".into())),
                        1 => panic!("a handler bug"),
                        _ => {
                            stopped(stop).await;
                            Ok(())
                        }
                    }
                }
            },
        ));
        // Two failures, each followed by a pause; then the third attempt runs.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        assert!(workers.all_running(), "{:?}", workers.snapshot());
        stop_tx.send(true).unwrap();
        supervisor.await.unwrap();
        assert_eq!(workers.snapshot()["flaky"], WorkerState::Stopped);
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_waiting_to_restart_is_not_running() {
        let workers = Workers::default();
        let (stop_tx, stop_rx) = watch::channel(false);
        let supervisor = tokio::spawn(supervise("down", workers.clone(), stop_rx, || async {
            Err(WorkerError::PanicError("Postgres is down".into()))
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!workers.all_running());
        assert!(matches!(
            workers.snapshot()["down"],
            WorkerState::Restarting { .. }
        ));
        stop_tx.send(true).unwrap();
        supervisor.await.unwrap();
    }
}
