//! `cargo xtask soak [--minutes N] [--rate R]`: a fresh stack under a steady mixed load, well
//! under saturation, for long enough to see what drifts.
//!
//! [`load`] starts requests at a fixed rate (60% task lists, 25% task details, 10% task
//! creations, 5% logins, by 4 users) and records every answer in the minute it started.
//! [`sample`] looks at the stack once a minute: the memory of the origin, workerd and Postgres
//! (resident and private), the worker's own inside workerd ([`worker`]: its JavaScript heap
//! and wasm linear memory), the outbox's backlog, the replication lag, and how long a write
//! takes to be readable at the edge. [`report`] turns both into `docs/soak.md` (printed too)
//! and the exit code: 1 if any request got a 5xx or no answer, or a service's private memory
//! (or the worker's own) grew by more than 10% over the second half of the run, where a leak
//! still grows and warming up no longer does.
//!
//! `./dev soak` builds the release origin first, as `./dev bench` does, and passes it with
//! `--origin-bin`.

mod load;
mod report;
mod sample;
pub mod worker;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::api::{self, Api, TASKS, Write};
use crate::shutdown::Shutdown;
use crate::stack::{Options, Ports, Stack};
use crate::tempdir::TempDir;
use crate::ui::{ROOT, note, say, shown};

use load::User;
use sample::{Sample, Sampler};
use worker::WorkerProbe;

/// What `cargo xtask soak` was asked for.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub minutes: u32,
    /// Requests per second.
    pub rate: u32,
}

const USERS: usize = 4;
const PROJECTS_PER_USER: usize = 2;
const TASKS_PER_PROJECT: usize = 25;
const PASSWORD: &str = "a-soak-password";

/// Runs the soak; `Ok(true)` when every target was met.
pub async fn run(settings: Settings, options: Options, shutdown: &Shutdown) -> Result<bool> {
    let state = TempDir::new("ptb-soak")?;
    let stack = Stack::start(state.path(), Ports::free()?, options, shutdown).await?;
    let endpoints = stack.endpoints().clone();
    // Generous: a request slower than this is a failure worth counting, not waiting for.
    let api = Api::new(endpoints.ports.edge, Duration::from_secs(30))?;

    say(format!(
        "Soak: seeding {USERS} users, {} projects, {} tasks",
        USERS * PROJECTS_PER_USER,
        USERS * PROJECTS_PER_USER * TASKS_PER_PROJECT
    ));
    let users = seed(&api).await?;
    let probe = Sampler {
        api: api.clone(),
        psql: stack.psql()?,
        user: Arc::clone(&users[0]),
        pids: stack.pids(),
        edge_port: endpoints.ports.edge,
        worker: WorkerProbe {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            edge_url: endpoints.edge_url(),
            inspector_port: endpoints.ports.inspector,
            secrets: endpoints.secrets.clone(),
        },
    };
    let before = probe.memory();
    let heap_at_rest = || async {
        match probe.worker.read(true).await {
            Ok(worker) => worker.js_heap_used,
            Err(e) => {
                note(format!(
                    "soak: could not read the worker's JavaScript heap: {e:#}"
                ));
                None
            }
        }
    };
    let heap_before = heap_at_rest().await;

    say(format!(
        "Soak: {} requests/s for {} min (a line a minute)",
        settings.rate, settings.minutes
    ));
    let started = Instant::now();
    let length = Duration::from_secs(u64::from(settings.minutes) * 60);
    let (record, samples) = tokio::try_join!(
        load::run(&api, &users, settings.rate, started, length, shutdown),
        every_minute(&probe, started, settings.minutes, shutdown),
    )?;

    let facts = report::Facts::gather(&stack, settings).await;
    let heap = report::JsHeap {
        before: heap_before,
        after: heap_at_rest().await,
    };
    let text = report::render(&facts, &record, &before, &samples, heap);
    let verdict = report::verdict(&record, &samples);
    println!("{text}");
    let file = ROOT.join("docs/soak.md");
    std::fs::create_dir_all(ROOT.join("docs"))?;
    std::fs::write(&file, &text)?;
    note(format!("written to {}", shown(&file)));
    if !verdict {
        let kept = ROOT.join(".data/last-soak-logs");
        if endpoints.keep_logs(&kept).is_ok() {
            note(format!("targets missed; the logs: {}/", shown(&kept)));
        }
    }
    Ok(verdict)
}

/// Registers the users and gives each its projects and tasks, through the API.
async fn seed(api: &Api) -> Result<Vec<Arc<User>>> {
    let mut users = Vec::new();
    for n in 0..USERS {
        let username = format!("soak_{n}_{:08x}", rand::random::<u32>());
        let (_, token) = api.account(&username, PASSWORD).await?;
        let mut projects = Vec::new();
        let mut tasks = Vec::new();
        for p in 0..PROJECTS_PER_USER {
            let project = api.project(&token, &format!("Soak {n}.{p}")).await?;
            projects.push(project);
            for t in 0..TASKS_PER_PROJECT {
                // Every fifth title matches the mix's `search=soak`.
                let title = if t % 5 == 0 {
                    format!("soak seed {n}.{p}.{t}")
                } else {
                    format!("seed {n}.{p}.{t}")
                };
                let body = json!({
                    "project": project,
                    "title": title,
                    "done": t % 3 == 0,
                    "due_date": format!("2026-{:02}-{:02}", 1 + t % 12, 1 + t % 28),
                });
                let key = api::new_key();
                let write = Write {
                    path: TASKS,
                    token: Some(&token),
                    body: &body,
                    key: &key,
                };
                let deadline = Instant::now() + Duration::from_mins(1);
                match api.write_retrying(write, deadline, |_| {}).await {
                    Ok(reply) if reply.is_success() => {
                        tasks.extend(reply.body["id"].as_i64());
                    }
                    other => anyhow::bail!("seeding a task: {}", api::label(&other)),
                }
            }
        }
        users.push(Arc::new(User {
            username,
            password: PASSWORD.to_owned(),
            token: Mutex::new(token),
            projects,
            tasks: Mutex::new(tasks),
        }));
    }
    Ok(users)
}

/// A sample at the end of every minute of the load.
async fn every_minute(
    probe: &Sampler,
    started: Instant,
    minutes: u32,
    shutdown: &Shutdown,
) -> Result<Vec<Sample>> {
    let mut taken = Vec::new();
    for minute in 1..=minutes {
        let at = started + Duration::from_secs(u64::from(minute) * 60);
        shutdown
            .sleep(at.saturating_duration_since(Instant::now()))
            .await?;
        let sample = probe.sample().await;
        note(report::progress_line(minute, &sample));
        taken.push(sample);
    }
    Ok(taken)
}
