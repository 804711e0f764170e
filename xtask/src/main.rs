//! `cargo xtask`: the local stack and the test runs on it.
//!
//! `./dev` installs the tools, lints and builds, then hands over to this binary for everything
//! that starts, waits for or stops a process:
//!
//! - `cargo xtask run`: the stack on `.data/` with the fixed ports, until Ctrl-C;
//! - `cargo xtask test [-- NEXTEST ARGS]`: a fresh stack in a temporary folder, the tests
//!   against it, the operator tests alone after them, then the tests that run their own origin
//!   (`origin_control`) with the stack's stopped; then `chaos --short` and `parity`, each
//!   on a stack of its own (both skipped when NEXTEST ARGS filter the tests);
//! - `cargo xtask chaos [--short]`: faults injected into a fresh stack under load (`chaos`);
//! - `cargo xtask parity [--gate drf|contract|both] [--examples N] [--seed S]`: schemathesis
//!   against a fresh stack's edge, with the DRF service's own document (the parity gate) and
//!   with ours (the contract gate) (`parity`);
//! - `cargo xtask soak [--minutes N] [--rate R] [--origin-bin PATH]`: a fixed-rate mixed load
//!   on a fresh stack, and what drifted over the minutes (`soak`, `docs/soak.md`);
//! - `cargo xtask bench-jobs [--runs N] [--jobs N]`: the job queue's throughput and latency
//!   and the webhook's acknowledgement, on a private Postgres (`bench_jobs`,
//!   `docs/jobs-bench.md`);
//! - `cargo xtask stack [--origin-bin PATH] [--wrangler-var NAME:VALUE]... -- CMD [ARGS]...`: a
//!   fresh stack, CMD run with its addresses in the environment (`./dev bench`).
//!
//! Everything assumes the binaries are built (`./dev` builds them first).

mod api;
mod bench_jobs;
mod chaos;
mod parity;
mod postgres;
mod process;
mod procfs;
mod secrets;
mod shutdown;
mod soak;
mod stack;
mod table;
mod tempdir;
mod ui;

use std::path::PathBuf;
use std::process::{Command, ExitCode, ExitStatus};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

use crate::shutdown::{Interrupted, Shutdown};
use crate::stack::{Options, Ports, Stack};
use crate::tempdir::TempDir;
use crate::ui::{ROOT, error, note, say, shown, tail};

#[derive(Debug, Parser)]
#[command(about = "The local stack and the runs on it: tests, chaos, soak (called by ./dev)")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// The stack on .data/ with the fixed ports, until Ctrl-C or until a service exits.
    Run,
    /// A fresh stack on free ports, then every test against it (nextest).
    Test {
        /// Passed on to both `cargo nextest run` invocations (a test name, `--nocapture`, …).
        #[arg(last = true)]
        nextest_args: Vec<String>,
    },
    /// A fresh stack on free ports, faults injected under load, and the proof that nothing
    /// acknowledged was lost or doubled (exit 1 if anything was).
    Chaos {
        /// Fewer kills and a shorter warm-up, the same checks: the form `test` runs.
        #[arg(long)]
        short: bool,
    },
    /// A fresh stack on free ports, then schemathesis against its edge with the DRF service's
    /// OpenAPI document (the parity gate) and with our own (the contract gate), and every
    /// failure their lists (`parity/deviations.toml`, `parity/contract.toml`) do not name
    /// (exit 1 if any).
    Parity {
        /// Which gates run.
        #[arg(long, value_enum, default_value_t = Gates::Both)]
        gate: Gates,
        /// Test cases per operation and phase (each gate's fixed count by default).
        #[arg(long)]
        examples: Option<u32>,
        /// The fuzzer's seed (the gate's fixed seed by default).
        #[arg(long, default_value_t = parity::DEFAULT_SEED)]
        seed: u64,
        /// Fuzz an edge already listening on this port of 127.0.0.1 (another build's stack)
        /// instead of starting one.
        #[arg(long, value_name = "PORT")]
        edge_port: Option<u16>,
    },
    /// A fresh stack, a fixed-rate mixed load for some minutes, and what drifted: errors,
    /// latency, memory, replication backlog and lag (written to docs/soak.md).
    Soak {
        /// How long the load runs.
        #[arg(long, default_value_t = 30)]
        minutes: u32,
        /// Requests per second (reads of lists and details, writes, logins).
        #[arg(long, default_value_t = 40)]
        rate: u32,
        /// The origin binary to run (default: target/debug/origin-worker; ./dev soak passes
        /// the release build).
        #[arg(long, value_name = "PATH")]
        origin_bin: Option<PathBuf>,
    },
    /// A private Postgres, then the job benchmark (`cargo bench -p origin-worker --bench
    /// jobs`): no-op job throughput, enqueue-to-start latency, webhook acknowledgement.
    BenchJobs {
        /// Runs of every measurement; the table shows their medians.
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// No-op jobs per throughput run.
        #[arg(long, default_value_t = 20_000)]
        jobs: u32,
    },
    /// The edge isolate's figures (its `/internal/isolate/`, as JSON) for the stack whose
    /// `E2E_EDGE_URL` and `E2E_ORIGIN_SECRET` are set: what `./dev bench --attachments` reads.
    Isolate,
    /// A fresh stack on free ports, then CMD with the stack's `E2E_*` variables set.
    Stack {
        /// The origin binary to run (default: target/debug/origin-worker).
        #[arg(long, value_name = "PATH")]
        origin_bin: Option<PathBuf>,
        /// An extra variable for the edge, as `wrangler dev --var NAME:VALUE`; repeatable.
        #[arg(long = "wrangler-var", value_name = "NAME:VALUE")]
        wrangler_vars: Vec<String>,
        /// The command to run, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
}

/// The fuzzing gates `cargo xtask parity` runs.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Gates {
    Drf,
    Contract,
    Both,
}

impl Gates {
    fn selected(self) -> &'static [&'static parity::Gate] {
        match self {
            Self::Drf => &[&parity::DRF],
            Self::Contract => &[&parity::CONTRACT],
            Self::Both => &[&parity::DRF, &parity::CONTRACT],
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every stack has been dropped, so stopped, by the time `dispatch` returns.
    match dispatch(cli.command).await {
        Ok(code) => code,
        Err(e) => {
            if let Some(signal) = e.downcast_ref::<Interrupted>() {
                note(format!("stopped: {signal}"));
                ExitCode::from(130)
            } else {
                error(format!("{e:#}"));
                ExitCode::FAILURE
            }
        }
    }
}

async fn dispatch(task: Task) -> Result<ExitCode> {
    let shutdown = Shutdown::listen()?;
    match task {
        Task::Run => run(&shutdown).await,
        Task::Test { nextest_args } => test(&nextest_args, &shutdown).await,
        Task::Chaos { short } => Ok(exit_code(chaos::run(short, &shutdown).await?)),
        Task::Parity {
            gate,
            examples,
            seed,
            edge_port,
        } => {
            let settings = parity::Settings {
                examples,
                seed,
                edge_port,
            };
            Ok(exit_code(
                parity::run(gate.selected(), settings, &shutdown).await?,
            ))
        }
        Task::Soak {
            minutes,
            rate,
            origin_bin,
        } => {
            let defaults = Options::default();
            let options = Options {
                origin_bin: origin_bin.unwrap_or(defaults.origin_bin),
                ..defaults
            };
            let settings = soak::Settings { minutes, rate };
            Ok(exit_code(soak::run(settings, options, &shutdown).await?))
        }
        Task::Isolate => {
            let var = |name: &str| {
                std::env::var(name).with_context(|| format!("{name} is not set (run on a stack)"))
            };
            let stats = soak::worker::isolate_stats(
                &reqwest::Client::new(),
                &var("E2E_EDGE_URL")?,
                &var("E2E_ORIGIN_SECRET")?,
            )
            .await?;
            println!("{}", serde_json::to_string(&stats)?);
            Ok(ExitCode::SUCCESS)
        }
        Task::BenchJobs { runs, jobs } => {
            bench_jobs::run(bench_jobs::Settings { runs, jobs }, &shutdown).await
        }
        Task::Stack {
            origin_bin,
            wrangler_vars,
            command,
        } => {
            let defaults = Options::default();
            let options = Options {
                origin_bin: origin_bin.unwrap_or(defaults.origin_bin),
                // Given after the defaults: `wrangler dev` keeps the last of a name.
                wrangler_vars: defaults
                    .wrangler_vars
                    .into_iter()
                    .chain(wrangler_vars)
                    .collect(),
            };
            stack_exec(options, &command, &shutdown).await
        }
    }
}

/// `./dev run`: the stack on `.data/` until Ctrl-C (exit 0) or until a service exits (exit 1).
async fn run(shutdown: &Shutdown) -> Result<ExitCode> {
    let data = ROOT.join(".data");
    let ports = Ports::RUN;
    let mut stack = Stack::start(&data, ports, Options::default(), shutdown).await?;
    // A newcomer can place an order at once: the demo catalogue, on the first start only.
    stack
        .run_origin(&["products", "seed-demo"], "seed-demo.log", shutdown)
        .await?;
    let logs = shown(&stack.endpoints().logs());
    println!(
        "
  API        http://127.0.0.1:{edge}/api/v1/   (health: /health/, readiness: /ready/)
  API docs   http://127.0.0.1:{edge}/api/docs/  (Swagger UI; the document: /api/schema/)
  Redoc      http://127.0.0.1:{edge}/api/redoc/
  Products   http://127.0.0.1:{edge}/api/v1/products/  (orders: POST /api/v1/orders/)
  Stripe     http://127.0.0.1:{stripe}/_fake/events (the fake Stripe's control API)
  Inbox      http://127.0.0.1:{inbox}/          (SMTP on 127.0.0.1:{smtp})
  Origin     http://127.0.0.1:{origin}/          (internal; signed requests only)
  Jobs       http://127.0.0.1:{operator}/          (the job queues; metrics: /metrics)
  Postgres   postgres://postgres@127.0.0.1:{pg}/app
  Logs       {logs}/

  Ctrl-C stops everything. Data stays in {data}/ for the next run.
",
        edge = ports.edge,
        operator = ports.operator,
        inbox = ports.inbox,
        smtp = ports.smtp,
        origin = ports.origin,
        stripe = ports.stripe,
        pg = ports.postgres,
        data = shown(&data),
    );
    stack.watch(shutdown).await?;
    eprintln!();
    Ok(ExitCode::SUCCESS)
}

/// `./dev test`: the tests ([`tests`]), then the short chaos suite on a stack of its own (it
/// kills processes, which the tests' stack must never see), then the two fuzzing gates on
/// another (their fuzzer's data must not meet the tests'). A test filter skips both: it was asked for
/// some tests, not for minutes of faults and fuzzing.
async fn test(nextest_args: &[String], shutdown: &Shutdown) -> Result<ExitCode> {
    let tests_passed = tests(nextest_args, shutdown).await?;
    if !nextest_args.is_empty() {
        note(
            "chaos suite and fuzzing gates skipped: a test filter was given \
             (`./dev chaos --short` and `cargo xtask parity` run them)",
        );
        return Ok(exit_code(tests_passed));
    }
    say("Chaos suite (short), on a fresh stack of its own");
    let chaos_passed = chaos::run(true, shutdown).await?;
    say("The DRF parity gate and the contract gate, on a fresh stack of their own");
    let parity_settings = parity::Settings {
        examples: None,
        seed: parity::DEFAULT_SEED,
        edge_port: None,
    };
    let parity_passed = parity::run(Gates::Both.selected(), parity_settings, shutdown).await?;
    if !tests_passed {
        error("tests failed (see above)");
    }
    if !chaos_passed {
        error("the chaos suite failed (see its table above)");
    }
    if !parity_passed {
        error("a fuzzing gate failed (see its table above)");
    }
    Ok(exit_code(tests_passed && chaos_passed && parity_passed))
}

fn exit_code(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The tests: fresh state (cluster, D1, inbox, logs) in a temporary folder, free ports so a
/// running `./dev run` or another test run is never in the way, then the three nextest runs.
/// Whether all passed; the stack is stopped when this returns.
async fn tests(nextest_args: &[String], shutdown: &Shutdown) -> Result<bool> {
    // Declared before the stack, so dropped after it: the folder goes once nothing uses it.
    let state = TempDir::new("ptb-test")?;
    let started = Instant::now();
    let mut stack =
        Stack::start(state.path(), Ports::free()?, Options::default(), shutdown).await?;
    note(format!(
        "stack up in {} s ({})",
        started.elapsed().as_secs(),
        state.path().display()
    ));
    let env = stack.endpoints().env();

    say("Tests: unit, origin against Postgres, end-to-end through wrangler dev");
    let everything = nextest(
        &[
            "--workspace",
            "-E",
            "not (binary(operator) | binary(origin_control) | binary(throttling) \
             | binary(throttling_restart))",
        ],
        nextest_args,
        &env,
        shutdown,
    )
    .await?;
    // The operator tests damage D1 on purpose: alone, after everything else.
    say("Tests: operator commands (check-edge, resync-edge), run alone");
    let operator = nextest(
        &["-p", "e2e", "-E", "binary(operator)"],
        nextest_args,
        &env,
        shutdown,
    )
    .await?;
    // These tests run an origin of their own in place of the stack's (which would take their
    // jobs), to crash it and to point it at their own SMTP server: alone, last.
    say("Tests: the origin under the tests' control (crashes, SMTP failures), run alone");
    stack
        .stop_service(
            crate::stack::Part::Origin,
            nix::sys::signal::Signal::SIGTERM,
        )
        .await;
    let origin_control = nextest(
        &["-p", "e2e", "-E", "binary(origin_control)"],
        nextest_args,
        &env,
        shutdown,
    )
    .await?;
    // Back as it was, so whatever runs on this stack next has an origin.
    stack
        .restart_service(crate::stack::Part::Origin, shutdown)
        .await?;
    let throttling = throttling_tests(&mut stack, nextest_args, &env, shutdown).await?;

    if everything.success() && operator.success() && origin_control.success() && throttling {
        return Ok(true);
    }
    say("Logs of this run (last lines)");
    let logs = stack.endpoints().logs();
    for log in ["origin.log", "origin-control.log", "edge.log"] {
        println!("--- {log}");
        println!("{}", tail(&logs.join(log), 40));
    }
    // The temporary folder goes with the stack; the logs of a failed run stay for reading.
    let kept = ROOT.join(".data/last-failed-test-logs");
    match stack.endpoints().keep_logs(&kept) {
        Ok(()) => note(format!("all logs of this run: {}/", shown(&kept))),
        Err(e) => note(format!("could not keep the logs: {e:#}")),
    }
    Ok(false)
}

/// The limits the throttling tests expect (`tests/tests/throttling.rs`).
const THROTTLING_LIMITS: &[&str] = &[
    "THROTTLE_RATE_ANON:5/day",
    "THROTTLE_RATE_USER:100/day",
    "THROTTLE_RATE_BURST:4/min",
    "THROTTLE_RATE_CREDENTIALS:3/min",
    "THROTTLE_LEASE:2",
];

/// The rate limits through the real edge: restarted on small limits for `throttling`, then
/// restarted once more for `throttling_restart` (the counts must outlive their objects).
/// Whether both passed.
async fn throttling_tests(
    stack: &mut Stack,
    nextest_args: &[String],
    env: &[(&'static str, String)],
    shutdown: &Shutdown,
) -> Result<bool> {
    say("Tests: rate limits, the edge restarted on small ones");
    stack.add_wrangler_vars(THROTTLING_LIMITS);
    let edge = crate::stack::Part::Edge;
    stack
        .stop_service(edge, nix::sys::signal::Signal::SIGTERM)
        .await;
    stack.restart_service(edge, shutdown).await?;
    let limits = nextest(
        &["-p", "e2e", "-E", "binary(throttling)"],
        nextest_args,
        env,
        shutdown,
    )
    .await?;
    say("Tests: the rate limiter's counts after another restart of the edge");
    stack
        .stop_service(edge, nix::sys::signal::Signal::SIGTERM)
        .await;
    stack.restart_service(edge, shutdown).await?;
    let restarted = nextest(
        &["-p", "e2e", "-E", "binary(throttling_restart)"],
        nextest_args,
        env,
        shutdown,
    )
    .await?;
    Ok(limits.success() && restarted.success())
}

/// One `cargo nextest run` with the stack's variables. `--no-fail-fast`: one run reports every
/// failure.
async fn nextest(
    selection: &[&str],
    extra: &[String],
    env: &[(&'static str, String)],
    shutdown: &Shutdown,
) -> Result<ExitStatus> {
    let mut command = Command::new("cargo");
    command
        .current_dir(&*ROOT)
        .args(["nextest", "run", "--cargo-quiet", "--no-fail-fast"])
        .args(selection)
        .envs(env.iter().map(|(name, value)| (*name, value)));
    if !extra.is_empty() {
        // A name filter usually matches tests of one run only; the other run finding nothing
        // is no failure.
        command.arg("--no-tests=pass").args(extra);
    }
    process::run_foreground(command, shutdown).await
}

/// `./dev bench`: a fresh stack, then the given command with the stack's variables.
async fn stack_exec(options: Options, command: &[String], shutdown: &Shutdown) -> Result<ExitCode> {
    let state = TempDir::new("ptb-stack")?;
    let stack = Stack::start(state.path(), Ports::free()?, options, shutdown).await?;
    let Some((program, args)) = command.split_first() else {
        bail!("no command given: cargo xtask stack -- CMD [ARGS]...");
    };
    say(format!("Running {}", command.join(" ")));
    let mut child = Command::new(program);
    child
        .args(args)
        .current_dir(&*ROOT)
        .envs(stack.endpoints().env());
    let status = process::run_foreground(child, shutdown).await?;
    drop(stack);
    // Its exit code, or 1 if it was killed by a signal.
    Ok(status
        .code()
        .and_then(|code| u8::try_from(code).ok())
        .map_or(ExitCode::FAILURE, ExitCode::from))
}
