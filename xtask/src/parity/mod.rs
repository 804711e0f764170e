//! `cargo xtask parity [--gate drf|contract|both] [--examples N] [--seed S]`: schemathesis
//! (pinned in `parity/requirements.txt`, installed by `./dev` into `.data/venv-parity`) fuzzes
//! a fresh local stack's edge as an authenticated user, once per [`Gate`]:
//!
//! - the **DRF parity gate** ([`DRF`]) with the DRF service's own OpenAPI document: what existing
//!   clients were promised, on the checks of issue 8;
//! - the **contract gate** ([`CONTRACT`]) with our own document (`openapi/openapi.json`, which
//!   `apidoc` generates from the code): every check schemathesis has, in every phase (examples,
//!   coverage, fuzzing and the stateful one, which follows the links between operations and so
//!   works on real ids).
//!
//! Every failure must be one that the gate's list of deviations names with its reason.
//!
//! One run:
//!
//! 1. a fresh stack (temporary folder, free ports, as `cargo xtask test` starts it) with the
//!    demo catalogue on sale, or an edge already running (`--edge-port`: another build, such as
//!    an older commit's stack);
//! 2. per gate, a user of its own registered and logged in, two projects with two tasks each,
//!    so that list and detail operations have something to show;
//! 3. schemathesis with the gate's document and checks, a fixed seed and example count, one
//!    worker (so the order of requests, and with it the run, is reproducible), every test case
//!    run to its end after a failure (a listed failure must not hide an unlisted one on the
//!    same operation), and its NDJSON report; its console output goes to a log;
//! 4. the access token checked once more: a token that stopped working half-way would have
//!    turned the rest of the run into 401s, which no check counts;
//! 5. the report read ([`report`]), each failure matched against the list ([`deviations`]) and
//!    the table printed ([`verdict`]): operation, check, count, listed or NOT LISTED, then an
//!    example of each unlisted failure. Anything unlisted, an error of schemathesis, or a run
//!    cut short fails the gate.
//!
//! What it leaves in the gate's folder (`.data/parity/`, `.data/contract/`): `report.ndjson`,
//! `junit.xml` and `schemathesis.log`; the stack's `logs/` go to the first gate's folder.

mod deviations;
mod document;
mod report;
mod verdict;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::json;

use crate::api::{Api, PROJECTS, TASKS};
use crate::process;
use crate::shutdown::Shutdown;
use crate::stack::{Options, Ports, Stack};
use crate::tempdir::TempDir;
use crate::ui::{ROOT, error, note, say, shown};

use report::Run;
use verdict::{Verdict, counts_by_check};

/// The checks issue 8 asks for. Status-code conformance is left out on purpose: DRF's document
/// lists only the 2xx answers, so every 4xx would "fail" it.
const DRF_CHECKS: [&str; 5] = [
    "not_a_server_error",
    "content_type_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "use_after_free",
];

/// Every check schemathesis 4 has but `max_response_time` (which needs a limit, and timing is
/// the benchmark's business): our own document lists every answer, its status, content type,
/// body and headers, so all of them hold us to it.
const ALL_CHECKS: [&str; 14] = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "use_after_free",
    "ensure_resource_availability",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
    "object_level_authorization",
];

/// What the gates fuzz: the edge on `edge_port`, with the fuzzer and settings of the run.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    fuzzer: &'a Path,
    api: &'a Api,
    edge_port: u16,
    settings: Settings,
}

/// A gate's document's operations, and the failures it accepts.
#[derive(Debug)]
struct Listed {
    operations: Vec<String>,
    deviations: Vec<deviations::Deviation>,
}

/// One fuzzing run's document, checks and accepted failures.
#[derive(Debug)]
pub struct Gate {
    /// As the output names it.
    pub title: &'static str,
    /// The OpenAPI document, relative to the workspace.
    document: &'static str,
    checks: &'static [&'static str],
    /// The accepted failures, each with its reason (see [`deviations`]).
    deviations: &'static str,
    /// schemathesis's settings that are not on its command line: how the access token is
    /// sent, filled in from the environment so that it never shows in `ps`.
    config: &'static str,
    /// A Python file of schemathesis hooks (`SCHEMATHESIS_HOOKS`), if the gate has one.
    hooks: Option<&'static str>,
    /// Test cases per operation and phase unless `--examples` says otherwise.
    pub examples: u32,
    /// Where its report and the fuzzer's output go, relative to the workspace.
    out: &'static str,
}

/// The DRF parity gate: the DRF service's own document, issue 8's checks.
pub const DRF: Gate = Gate {
    title: "DRF parity gate",
    document: "../shared/reference/drf-service/openapi.json",
    checks: &DRF_CHECKS,
    deviations: "parity/deviations.toml",
    // On every request: DRF's document names no security scheme to attach it to.
    config: "parity/schemathesis.toml",
    hooks: None,
    // About two minutes of fuzzing on two cores.
    examples: 120,
    out: ".data/parity",
};

/// The contract gate: our own document, every check.
pub const CONTRACT: Gate = Gate {
    title: "Contract gate",
    document: "openapi/openapi.json",
    checks: &ALL_CHECKS,
    deviations: "parity/contract.toml",
    // Through the document's `jwtAuth` scheme.
    config: "parity/contract-schemathesis.toml",
    hooks: Some("parity/hooks.py"),
    examples: 40,
    out: ".data/contract",
};

/// The fixed seed of both gates.
pub const DEFAULT_SEED: u64 = 20_261_122;

const TOKEN_VARIABLE: &str = "PARITY_ACCESS_TOKEN";
const PASSWORD: &str = "a-parity-password";

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Test cases per operation and phase; `None`: each gate's own count.
    pub examples: Option<u32>,
    pub seed: u64,
    /// Fuzz the edge on this port of 127.0.0.1 instead of a fresh stack.
    pub edge_port: Option<u16>,
}

/// Runs `gates` one after the other on one stack; `Ok(true)` when every failure of every gate
/// is listed. An error means a gate could not run (the fuzzer missing, the stack not starting,
/// a signal).
pub async fn run(gates: &[&Gate], settings: Settings, shutdown: &Shutdown) -> Result<bool> {
    let started = Instant::now();
    let fuzzer = fuzzer()?;
    // Every list read before the stack starts: a typo in one fails at once.
    let mut prepared = Vec::new();
    for gate in gates {
        prepared.push((gate, gate.listed()?));
    }

    // Declared before the stack, so dropped after it.
    let state = TempDir::new("ptb-parity")?;
    let (stack, edge_port) = if let Some(port) = settings.edge_port {
        (None, port)
    } else {
        let stack =
            Stack::start(state.path(), Ports::free()?, Options::default(), shutdown).await?;
        // Products on sale, so that orders can be placed, read and paid for.
        stack
            .run_origin(&["products", "seed-demo"], "seed-demo.log", shutdown)
            .await?;
        note(format!(
            "stack up in {} s, the demo catalogue on sale ({})",
            started.elapsed().as_secs(),
            state.path().display()
        ));
        let port = stack.endpoints().ports.edge;
        (Some(stack), port)
    };
    let target = Target {
        fuzzer: &fuzzer,
        api: &Api::new(edge_port, Duration::from_secs(20))?,
        edge_port,
        settings,
    };

    let mut passed = true;
    for (gate, listed) in &prepared {
        passed &= gate.run(&target, listed, shutdown).await?;
    }
    if let (Some(stack), Some((gate, _))) = (&stack, prepared.first()) {
        let kept = ROOT.join(gate.out).join("logs");
        if let Err(e) = stack.endpoints().keep_logs(&kept) {
            note(format!("could not keep the stack's logs: {e:#}"));
        }
    }
    Ok(passed)
}

impl Gate {
    fn document(&self) -> PathBuf {
        ROOT.join(self.document)
    }

    /// The document's operations, and the accepted failures (every entry naming one of them
    /// and one of the gate's checks).
    fn listed(&self) -> Result<Listed> {
        let operations = document::load(&self.document())?;
        let deviations = deviations::load(&ROOT.join(self.deviations), self.checks, &operations)?;
        Ok(Listed {
            operations,
            deviations,
        })
    }

    /// One fuzzing run against the target's edge, judged; whether it passed.
    async fn run(&self, target: &Target<'_>, listed: &Listed, shutdown: &Shutdown) -> Result<bool> {
        let Target {
            fuzzer,
            api,
            edge_port,
            settings,
        } = *target;
        let started = Instant::now();
        let out = ROOT.join(self.out);
        if out.exists() {
            std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", shown(&out)))?;
        }
        std::fs::create_dir_all(&out)?;
        let token = arrange(api).await?;

        let examples = settings.examples.unwrap_or(self.examples);
        let mut command = self.command(fuzzer, edge_port, settings.seed, examples, &out);
        say(format!(
            "{}: fuzzing the edge with {} (seed {}, {examples} examples per operation)",
            self.title,
            shown(&self.document()),
            settings.seed,
        ));
        note(format!("{TOKEN_VARIABLE}=… {}", shown_command(&command)));
        command.env(TOKEN_VARIABLE, &token);
        let log = out.join("schemathesis.log");
        let status = process::run_to_log("schemathesis", command, &log, shutdown).await?;
        note(format!(
            "schemathesis exited ({status}) after {} s; its output: {}",
            started.elapsed().as_secs(),
            shown(&log)
        ));
        let token_works =
            matches!(api.get(PROJECTS, Some(&token)).await, Ok(reply) if reply.status == 200);

        let report = out.join("report.ndjson");
        let text = std::fs::read_to_string(&report).with_context(|| {
            format!(
                "schemathesis wrote no report ({}); the end of its output:\n{}",
                shown(&report),
                crate::ui::tail(&log, 30)
            )
        })?;
        let run = report::parse(&text).with_context(|| format!("reading {}", shown(&report)))?;
        let passed = judge(&run, &listed.deviations, &listed.operations, token_works);
        say(format!(
            "{} {} in {} s",
            self.title,
            if passed { "passed" } else { "FAILED" },
            started.elapsed().as_secs()
        ));
        Ok(passed)
    }

    /// The schemathesis command line, run in `out` (schemathesis and Hypothesis keep caches in
    /// the working folder).
    fn command(
        &self,
        fuzzer: &Path,
        edge_port: u16,
        seed: u64,
        examples: u32,
        out: &Path,
    ) -> Command {
        let mut command = Command::new(fuzzer);
        command
            .current_dir(out)
            .arg("--config-file")
            .arg(ROOT.join(self.config))
            .arg("run")
            .arg(self.document())
            .args(["--url", &format!("http://127.0.0.1:{edge_port}")])
            .args(["--checks", &self.checks.join(",")])
            .args(["--seed", &seed.to_string()])
            .args(["--max-examples", &examples.to_string()])
            .arg("--continue-on-failure")
            .args(["--workers", "1"])
            // No examples carried over from an earlier run: the seed alone decides.
            .args(["--generation-database", "none"])
            .args(["--report", "ndjson,junit"])
            .arg("--report-ndjson-path")
            .arg(out.join("report.ndjson"))
            .arg("--report-junit-path")
            .arg(out.join("junit.xml"))
            .arg("--no-color");
        if let Some(hooks) = self.hooks {
            command.env("SCHEMATHESIS_HOOKS", ROOT.join(hooks));
        }
        command
    }
}

/// Prints the table and what else is wrong with the run; whether the gate passes.
fn judge(
    run: &Run,
    listed: &[deviations::Deviation],
    operations: &[String],
    token_works: bool,
) -> bool {
    let verdict = Verdict::judge(&run.failures, listed);
    println!("{}", verdict.render(listed));
    let counts: Vec<String> = counts_by_check(&run.failures)
        .into_iter()
        .map(|(check, count)| format!("{check} {count}"))
        .collect();
    note(format!(
        "schemathesis {}: {} failures by check: {}",
        run.version.as_deref().unwrap_or("(version unknown)"),
        run.failures.len(),
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        }
    ));
    let idle = run.never_succeeded(operations);
    if !idle.is_empty() {
        note(format!(
            "never answered 2xx, so tested only on the way to a refusal: {}",
            idle.join(", ")
        ));
    }
    for group in verdict.unlisted() {
        let example = group.example;
        error(format!(
            "NOT LISTED: {} on {} ({} times); for example:\n    {}\n    answered {}: {}\n    {}",
            group.check,
            group.operation,
            group.count,
            example.request,
            example
                .status
                .map_or("nothing".to_owned(), |s| s.to_string()),
            example.body.chars().take(400).collect::<String>(),
            example.message.lines().next().unwrap_or_default(),
        ));
    }
    for e in &run.errors {
        error(format!("schemathesis could not test: {e}"));
    }
    if !run.finished {
        error("the run did not finish (its report has no end)");
    }
    if !token_works {
        error(format!(
            "the access token no longer worked after the run ({PROJECTS} refused it): whatever \
             came after it expired or was revoked was tested as 401s only; raise \
             ACCESS_TOKEN_LIFETIME_SECS for a run this long"
        ));
    }
    verdict.passed() && run.errors.is_empty() && run.finished && token_works
}

/// The venv's schemathesis, installed by `./dev` (scripts/lib.sh, `ensure_schemathesis`).
fn fuzzer() -> Result<PathBuf> {
    let path = ROOT.join(".data/venv-parity/bin/schemathesis");
    if !path.is_file() {
        bail!(
            "{} is missing: `./dev setup` installs it (pinned in parity/requirements.txt)",
            shown(&path)
        );
    }
    Ok(path)
}

/// A user of its own, and some data: two projects with two tasks each. Returns the access
/// token.
async fn arrange(api: &Api) -> Result<String> {
    let username = format!("parity{:08x}", rand::random::<u32>());
    let (_, token) = api.account(&username, PASSWORD).await?;
    for p in 1..=2 {
        let project = api.project(&token, &format!("parity project {p}")).await?;
        for t in 1..=2 {
            let body = json!({"project": project, "title": format!("parity task {t}")});
            match api
                .send(Method::POST, TASKS, Some(&token), Some(&body), None)
                .await
            {
                Ok(reply) if reply.is_success() => {}
                other => bail!("creating a task: {}", crate::api::label(&other)),
            }
        }
    }
    // Read once, so that a broken setup fails here rather than as a thousand odd failures.
    match api.get(PROJECTS, Some(&token)).await {
        Ok(reply) if reply.status == 200 => Ok(token),
        other => bail!("listing projects: {}", crate::api::label(&other)),
    }
}

/// A command line as it would be typed, paths inside the workspace shortened.
fn shown_command(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| shown(Path::new(part)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzzer_runs_the_issues_checks_reproducibly() {
        let command = DRF.command(
            Path::new("/v/bin/schemathesis"),
            4000,
            42,
            7,
            Path::new("/o"),
        );
        let line = shown_command(&command);
        for expected in [
            "--url http://127.0.0.1:4000",
            "--checks not_a_server_error,content_type_conformance,response_schema_conformance,\
             positive_data_acceptance,use_after_free",
            "--seed 42",
            "--max-examples 7",
            "--continue-on-failure",
            "--workers 1",
            "--generation-database none",
            "--report-ndjson-path /o/report.ndjson",
            "--config-file parity/schemathesis.toml run ",
            "/shared/reference/drf-service/openapi.json ",
        ] {
            assert!(line.contains(expected), "{expected:?} not in {line}");
        }
        assert_eq!(command.get_current_dir(), Some(Path::new("/o")));
        assert!(
            command
                .get_envs()
                .all(|(name, _)| name != "SCHEMATHESIS_HOOKS")
        );
    }

    #[test]
    fn the_contract_gate_runs_every_check_on_our_own_document_with_its_hooks() {
        let command = CONTRACT.command(
            Path::new("/v/bin/schemathesis"),
            4000,
            42,
            7,
            Path::new("/o"),
        );
        let line = shown_command(&command);
        assert!(line.contains(" run openapi/openapi.json "), "{line}");
        assert!(
            line.contains("--config-file parity/contract-schemathesis.toml "),
            "{line}"
        );
        assert!(
            line.contains(&format!("--checks {} ", ALL_CHECKS.join(","))),
            "{line}"
        );
        let hooks = command
            .get_envs()
            .find(|(name, _)| *name == "SCHEMATHESIS_HOOKS")
            .and_then(|(_, value)| value);
        assert_eq!(hooks, Some(ROOT.join("parity/hooks.py").as_os_str()));
        let unique: std::collections::BTreeSet<_> = ALL_CHECKS.iter().collect();
        assert_eq!(unique.len(), ALL_CHECKS.len(), "a check listed twice");
    }

    #[test]
    fn the_hooks_know_the_longest_idempotency_key_the_edge_takes() {
        let hooks = std::fs::read_to_string(ROOT.join("parity/hooks.py")).unwrap();
        let longest = format!(
            "\nLONGEST = {}\n",
            domain::limits::MAX_IDEMPOTENCY_KEY_CHARS
        );
        assert!(
            hooks.contains(&longest),
            "parity/hooks.py lacks {longest:?}"
        );
    }

    #[test]
    fn every_gates_config_and_hooks_exist() {
        for gate in [&DRF, &CONTRACT] {
            assert!(ROOT.join(gate.config).is_file(), "{}", gate.config);
            if let Some(hooks) = gate.hooks {
                assert!(ROOT.join(hooks).is_file(), "{hooks}");
            }
        }
    }
}
