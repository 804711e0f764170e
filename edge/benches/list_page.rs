//! CPU time of the edge's task list, natively, over the very SQL sent to D1 (SQLite here).
//!
//! Reports, per 20-row page, the median wall time of the whole handler and the part of it
//! spent outside SQLite (what the Worker itself spends; on Workers the SQL runs in D1), for
//! 10k and 100k tasks. Run with `cargo bench -p edge --bench list_page`.

#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::needless_pass_by_value,
    reason = "a benchmark"
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::cell::Cell;
use std::time::{Duration, Instant};

use domain::projects::{Project, Task};
use domain::query::Date;
use domain::replication::{Change, ChangeKind, TaskReplica};
use domain::{ProjectId, TaskId, UserId};
use edge::http::Request;
use edge::platform::{PortError, Replica, Statement};
use serde::de::DeserializeOwned;
use support::{SqliteReplica, TestEdge};

/// Times the SQL so it can be subtracted.
struct TimedReplica<'a> {
    inner: &'a SqliteReplica,
    spent: Cell<Duration>,
}

impl Replica for TimedReplica<'_> {
    type Rows = support::JsonRows;

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, PortError> {
        let started = Instant::now();
        let result = self.inner.query(statement).await;
        self.spent.set(self.spent.get() + started.elapsed());
        result
    }

    async fn read_batch(&self, statements: Vec<Statement>) -> Result<Vec<Self::Rows>, PortError> {
        let started = Instant::now();
        let result = self.inner.read_batch(statements).await;
        self.spent.set(self.spent.get() + started.elapsed());
        result
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), PortError> {
        self.inner.batch(statements).await
    }
}

fn seed(edge: &TestEdge, owner: i64, tasks: i64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut changes = Vec::new();
        for p in 1..=10 {
            changes.push(Change {
                version: p,
                owner: None,
                kind: ChangeKind::ProjectUpsert(Project {
                    id: ProjectId::new(p),
                    owner: UserId::new(owner),
                    name: format!("Project {p}"),
                    description: String::new(),
                    is_archived: false,
                    created_at: "2025-01-01T00:00:00.000000Z".into(),
                }),
            });
        }
        for id in 1..=tasks {
            changes.push(Change {
                version: 100 + id,
                owner: None,
                kind: ChangeKind::TaskUpsert(TaskReplica {
                    owner: UserId::new(owner),
                    task: Task {
                        id: TaskId::new(id),
                        project: ProjectId::new(1 + id % 10),
                        title: format!("Task {id}"),
                        detail: format!("detail {id}"),
                        done: id % 3 == 0,
                        due_date: (id % 7 != 0)
                            .then(|| {
                                let (month, day) = (1 + id % 12, 1 + id % 28);
                                Date::from_ymd(
                                    2025,
                                    month.try_into().unwrap(),
                                    day.try_into().unwrap(),
                                )
                            })
                            .flatten(),
                        created_at: format!(
                            "2025-01-01T00:{:02}:{:02}.{:06}Z",
                            (id / 60) % 60,
                            id % 60,
                            id
                        ),
                    },
                }),
            });
            if changes.len() == 5000 {
                edge::replica::apply(&edge.replica, &changes).await.unwrap();
                changes.clear();
            }
        }
        edge::replica::apply(&edge.replica, &changes).await.unwrap();
    });
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    println!(
        "{:>8}  {:<44} {:>12} {:>14}",
        "tasks", "request", "handler µs", "excl. SQL µs"
    );
    for size in [10_000, 100_000] {
        let edge = TestEdge::new();
        let (_, token) = runtime.block_on(edge.user(1, "bench"));
        seed(&edge, 1, size);
        for path in [
            "/api/v1/tasks/?done=false&ordering=-due_date",
            "/api/v1/tasks/?page=3",
            "/api/v1/tasks/17/",
        ] {
            let mut totals = Vec::new();
            let mut outside_sql = Vec::new();
            for _ in 0..200 {
                let timed = TimedReplica {
                    inner: &edge.replica,
                    spent: Cell::new(Duration::ZERO),
                };
                let request = Request::new("GET", path)
                    .with_header("authorization", &format!("Bearer {token}"));
                let started = Instant::now();
                let response = runtime.block_on(edge.send_through(&timed, request));
                let total = started.elapsed();
                assert_eq!(response.status, 200, "{path}");
                totals.push(total.as_secs_f64() * 1e6);
                outside_sql.push(total.saturating_sub(timed.spent.get()).as_secs_f64() * 1e6);
            }
            totals.sort_by(f64::total_cmp);
            outside_sql.sort_by(f64::total_cmp);
            println!(
                "{size:>8}  {path:<44} {:>12.1} {:>14.1}",
                totals[100], outside_sql[100]
            );
        }
    }
}
