//! What the soak samples once a minute while the load runs: the memory of each service (and of
//! the worker inside `workerd`), the outbox's backlog, the replication lag, and how long a write takes to be readable at the edge.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::json;

use crate::api::{self, Api, TASKS};
use crate::postgres::Psql;
use crate::procfs;
use crate::soak::load::User;
use crate::soak::worker::{WorkerMemory, WorkerProbe};

/// Change records not yet pushed to the edge by the replication job.
const BACKLOG_SQL: &str = "SELECT count(*) FROM replication_changes WHERE pushed_at IS NULL";
/// The background replication lag of the records pushed in the last minute: from the write's
/// transaction (`created_at`) to the push's (`pushed_at`), in ms: count, p50, p99, max. (The
/// edge applies a write's records itself before answering; this is the path that repairs D1
/// when that failed, and that serves other edges.)
const LAG_SQL: &str = "SELECT count(*), \
     coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), 0)::bigint, \
     coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), 0)::bigint, \
     coalesce(max(lag), 0)::bigint \
     FROM (SELECT extract(epoch FROM pushed_at - created_at) * 1000 AS lag \
           FROM replication_changes WHERE pushed_at > now() - interval '60 seconds') pushed";

/// Each service's memory (KiB), over its processes ([`procfs::Memory::of_processes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub origin: procfs::Memory,
    /// The `workerd` of `wrangler dev` that runs the worker's wasm and local D1.
    pub workerd: procfs::Memory,
    /// The `workerd` of wrangler's own proxy, the one listening on the edge's port: local
    /// development plumbing, absent in production.
    pub proxy: procfs::Memory,
    /// The rest of that group: `npx` and wrangler's node.
    pub wrangler: procfs::Memory,
    /// The postmaster and its backends.
    pub postgres: procfs::Memory,
}

/// The background replication over a minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    pub pushed: i64,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
}

/// One minute's sample; a part that could not be read is `None` (and said in the log).
#[derive(Debug, Clone)]
pub struct Sample {
    pub memory: Memory,
    /// The worker's own share of the `workerd` above.
    pub worker: Option<WorkerMemory>,
    pub backlog: Option<i64>,
    pub lag: Option<Lag>,
    /// From a probe write's 201 until the edge served it (`GET /api/v1/tasks/{id}/` 200).
    pub visible_ms: Option<f64>,
}

/// Where to sample.
#[derive(Debug)]
pub struct Sampler {
    pub api: Api,
    pub psql: Psql,
    /// Whose project gets the probe writes.
    pub user: Arc<User>,
    /// The origin's and the edge's process groups, and the postmaster's pid.
    pub pids: (i32, i32, Option<i32>),
    /// The edge's port: wrangler's proxy is the `workerd` listening on it.
    pub edge_port: u16,
    pub worker: WorkerProbe,
}

impl Sampler {
    /// One minute's sample (never the JavaScript heap: see [`WorkerProbe::read`]).
    pub async fn sample(&self) -> Sample {
        let warn = |what: &str, e: &anyhow::Error| {
            crate::ui::note(format!("soak: could not read the {what}: {e:#}"));
        };
        let backlog = self.psql.number(BACKLOG_SQL).await;
        if let Err(e) = &backlog {
            warn("backlog", e);
        }
        let lag = self.lag().await;
        if let Err(e) = &lag {
            warn("lag", e);
        }
        let visible_ms = self.visibility().await;
        if let Err(e) = &visible_ms {
            warn("visibility of a write", e);
        }
        let worker = self.worker.read(false).await;
        if let Err(e) = &worker {
            warn("worker's own memory", e);
        }
        Sample {
            memory: self.memory(),
            worker: worker.ok(),
            backlog: backlog.ok(),
            lag: lag.ok(),
            visible_ms: visible_ms.ok(),
        }
    }

    pub fn memory(&self) -> Memory {
        let (origin, edge, postmaster) = self.pids;
        let all = procfs::processes().unwrap_or_default();
        let group = |pgrp: i32| {
            all.iter()
                .filter(move |p| p.pgrp == pgrp && !p.is_zombie())
                .map(|p| p.pid)
        };
        let is_workerd = |pid: &i32| procfs::command_name(*pid).as_deref() == Some("workerd");
        // As scripts/wrk_profile.py tells them apart: by the port the proxy serves.
        let entry = format!("entry=127.0.0.1:{} ", self.edge_port);
        let is_proxy = |pid: &i32| {
            is_workerd(pid) && procfs::command_line(*pid).is_some_and(|line| line.contains(&entry))
        };
        Memory {
            origin: procfs::Memory::of_processes(group(origin)),
            workerd: procfs::Memory::of_processes(
                group(edge).filter(|pid| is_workerd(pid) && !is_proxy(pid)),
            ),
            proxy: procfs::Memory::of_processes(group(edge).filter(is_proxy)),
            wrangler: procfs::Memory::of_processes(group(edge).filter(|pid| !is_workerd(pid))),
            postgres: postmaster.map_or_else(procfs::Memory::default, |pid| {
                procfs::Memory::of_processes(procfs::tree(&all, pid))
            }),
        }
    }

    async fn lag(&self) -> Result<Lag> {
        let row = self.psql.query(LAG_SQL).await?;
        let fields: Vec<i64> = row
            .trim()
            .split('|')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("unexpected answer {row:?}"))?;
        let [pushed, p50_ms, p99_ms, max_ms] = fields[..] else {
            anyhow::bail!("unexpected answer {row:?}");
        };
        Ok(Lag {
            pushed,
            p50_ms,
            p99_ms,
            max_ms,
        })
    }

    /// Writes a task and reads it back through the edge until it is there (at most 10 s).
    async fn visibility(&self) -> Result<f64> {
        let token = self
            .user
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let body = json!({"project": self.user.projects[0], "title": "soak probe"});
        let key = api::new_key();
        let created = self
            .api
            .send(Method::POST, TASKS, Some(&token), Some(&body), Some(&key))
            .await;
        let id = match &created {
            Ok(reply) if reply.is_success() => reply.body["id"].as_i64(),
            _ => None,
        }
        .with_context(|| format!("the probe write saw {}", api::label(&created)))?;
        let acknowledged = Instant::now();
        let path = format!("{TASKS}{id}/");
        while acknowledged.elapsed() < Duration::from_secs(10) {
            if let Ok(reply) = self.api.get(&path, Some(&token)).await
                && reply.status == 200
            {
                return Ok(acknowledged.elapsed().as_secs_f64() * 1000.0);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::bail!("task {id} not readable at the edge 10 s after its 201")
    }
}
