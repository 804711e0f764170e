//! `cargo xtask chaos [--short]`: faults injected into a fresh local stack under load, and the
//! proof that nothing acknowledged was lost or doubled.
//!
//! One stack (temporary folder, free ports, as `cargo xtask test` starts it), then one scenario
//! after another on it. Each scenario registers its own user and project, starts the load
//! ([`load`]: 8 writers creating tasks, each write under its own `Idempotency-Key` and retried
//! with it; 2 readers listing them), injects its fault ([`faults`]) once the load runs, stops
//! the load when the stack is whole again, and then checks ([`verify`]) until everything agrees
//! or 30 s have passed since the fault's end:
//!
//! - the acknowledged writes are exactly the scenario's rows in Postgres and at the edge, each
//!   once;
//! - no replication job is left to run (done, or dead after its attempts);
//! - the origin's `/ready/` answers 200 (no worker left dead);
//!
//! and then `origin-worker check-edge` must report "in sync". [`report`] prints one table of
//! every scenario (stdout, Markdown) with what the clients saw; any failure makes the exit code
//! non-zero. `--short` (the form `cargo xtask test` runs) has fewer kills and a shorter warm-up,
//! and the same checks.

mod faults;
mod load;
mod report;
mod verify;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::api::Api;
use crate::shutdown::{Interrupted, Shutdown};
use crate::stack::{Options, Ports, Stack};
use crate::tempdir::TempDir;
use crate::ui::{ROOT, error, note, say, shown};

use faults::Fault;
use load::{Load, Target};
use report::{Evidence, Outcome};
use verify::Probe;

/// Concurrent writers and readers in every scenario.
const WRITERS: usize = 8;
const READERS: usize = 2;
/// How long a client waits for one answer: above the edge's own wait for the origin, so that a
/// slow origin shows as the edge's 5xx rather than as the client's timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "a-chaos-password";

/// One scenario: a name for the table, the fault, and whether readers must see only 200s (the
/// edge stays up, and reads never reach the origin).
#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    fault: Fault,
    reads_stay_up: bool,
}

/// The scenarios, in the order they run. Outages last 10 s in both forms (the issue saw the
/// job worker die after 8 s); `short` kills the origin 3 times rather than 5.
fn scenarios(short: bool) -> Vec<Scenario> {
    let outage = Duration::from_secs(10);
    let (kills, between) = if short {
        (3, Duration::from_secs(3))
    } else {
        (5, Duration::from_secs(4))
    };
    vec![
        Scenario {
            name: "postgres-restart",
            fault: Fault::PostgresRestart,
            reads_stay_up: true,
        },
        Scenario {
            name: "postgres-down",
            fault: Fault::PostgresDown(outage),
            reads_stay_up: true,
        },
        Scenario {
            name: "origin-sigkill",
            fault: Fault::OriginKilled {
                times: kills,
                between,
            },
            reads_stay_up: true,
        },
        Scenario {
            name: "edge-restart",
            fault: Fault::EdgeRestart,
            reads_stay_up: false,
        },
        Scenario {
            name: "origin-stopped",
            fault: Fault::OriginStopped(outage),
            reads_stay_up: true,
        },
    ]
}

/// Runs the suite on a fresh stack; `Ok(true)` when every scenario passed. An error means the
/// suite could not go on (a part that did not come back, a signal).
pub async fn run(short: bool, shutdown: &Shutdown) -> Result<bool> {
    let started = Instant::now();
    // Declared before the stack, so dropped after it.
    let state = TempDir::new("ptb-chaos")?;
    let mut stack =
        Stack::start(state.path(), Ports::free()?, Options::default(), shutdown).await?;
    note(format!(
        "stack up in {} s ({})",
        started.elapsed().as_secs(),
        state.path().display()
    ));
    // The load's warm-up before each fault: long enough for jobs to be in flight.
    let warmup = Duration::from_secs(if short { 4 } else { 8 });
    let mut outcomes = Vec::new();
    let mut stopped_by = None;
    for scenario in scenarios(short) {
        match run_scenario(&mut stack, scenario, warmup, shutdown).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) if e.is::<Interrupted>() => return Err(e),
            Err(e) => {
                stopped_by = Some(e.context(format!("scenario {}", scenario.name)));
                break;
            }
        }
    }
    let passed = stopped_by.is_none() && outcomes.iter().all(Outcome::passed);
    say(format!(
        "Chaos suite{}: {} of {} scenarios passed in {} s",
        if short { " (short)" } else { "" },
        outcomes.iter().filter(|o| o.passed()).count(),
        scenarios(short).len(),
        started.elapsed().as_secs()
    ));
    println!("{}", report::render(&outcomes));
    if let Some(e) = &stopped_by {
        error(format!("the suite stopped early: {e:#}"));
    }
    // Kept whether or not it passed: the request ids of the error bodies above lead into them.
    let kept = ROOT.join(".data/last-chaos-logs");
    match stack.endpoints().keep_logs(&kept) {
        Ok(()) => note(format!("all logs of this run: {}/", shown(&kept))),
        Err(e) => note(format!("could not keep the logs: {e:#}")),
    }
    Ok(passed)
}

async fn run_scenario(
    stack: &mut Stack,
    scenario: Scenario,
    warmup: Duration,
    shutdown: &Shutdown,
) -> Result<Outcome> {
    say(format!("Chaos: {} ({})", scenario.name, scenario.fault));
    let endpoints = stack.endpoints().clone();
    let edge = Api::new(endpoints.ports.edge, REQUEST_TIMEOUT)?;
    let origin = Api::new(endpoints.ports.origin, Duration::from_secs(5))?;
    let psql = stack.psql()?;
    let username = format!(
        "chaos_{}_{:08x}",
        scenario.name.replace('-', "_"),
        rand::random::<u32>()
    );
    let (_, token) = edge.account(&username, PASSWORD).await?;
    let project = edge
        .project(&token, &format!("Chaos: {}", scenario.fault))
        .await?;
    let target = Arc::new(Target {
        api: edge.clone(),
        token,
        project,
        prefix: format!("chaos-{}", scenario.name),
    });

    let probe = Probe {
        edge: &edge,
        origin: &origin,
        psql: &psql,
        token: &target.token,
        project,
        prefix: &target.prefix,
    };
    // Dead jobs are counted per scenario: those of earlier scenarios stay in the table.
    let dead_before = probe.jobs().await?.dead;

    let load = Load::start(&target, WRITERS, READERS);
    shutdown.sleep(warmup).await?;
    let injected = Instant::now();
    scenario.fault.inject(stack, shutdown).await?;
    let recovered = Instant::now();
    note(format!(
        "stack whole again after {:.1} s; load stopping",
        injected.elapsed().as_secs_f64()
    ));
    let jobs_at_recovery = probe.jobs().await.ok().map(|jobs| jobs.pending);
    let tally = load.finish(shutdown).await?;
    let mut acked = tally.acked.clone();
    acked.sort_unstable();
    let settled = probe.settle(&acked, recovered, shutdown).await?;
    let check_edge = verify::check_edge(&endpoints, shutdown).await?;
    let outcome = Outcome::assess(Evidence {
        scenario: scenario.name,
        tally,
        acked: &acked,
        snapshot: &settled.snapshot,
        converged: settled.converged,
        jobs_at_recovery,
        dead_before,
        check_edge,
        reads_stay_up: scenario.reads_stay_up,
    });
    note(format!(
        "{}: {} writes acknowledged, {}{}",
        if outcome.passed() { "pass" } else { "FAIL" },
        outcome.acked,
        settled.converged.map_or_else(
            || "not converged".to_owned(),
            |d| format!("converged {:.1} s after the fault", d.as_secs_f64())
        ),
        if settled.waited_for.is_empty() {
            String::new()
        } else {
            format!(" (last waited for: {})", settled.waited_for.join(", "))
        }
    ));
    for failure in &outcome.failures {
        note(format!("  {failure}"));
    }
    for (status, body) in &outcome.examples {
        note(format!("  first {status} seen: {body}"));
    }
    Ok(outcome)
}
