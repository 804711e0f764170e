//! What migration 0007's triggers derive from `tasks`, the search index and the counts, stays
//! exactly what the rows say through every write the replica makes, in any order: random
//! batches of upserts (new tasks, moves between projects, done flips, renames, stale
//! versions), deletes, cascades from projects and users, replays of old records, and an
//! operator's raw SQL. The migration also indexes and counts the tasks already there.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use std::collections::BTreeSet;

use domain::projects::{Project, Task};
use domain::replication::{Change, ChangeKind, TaskReplica, UserReplica};
use domain::{ProjectId, TaskId, UserId};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use support::SqliteReplica;

const USERS: i64 = 3;
const PROJECTS: i64 = 6;
const TASKS: i64 = 30;

/// Words the titles and details are made of, folding and trigram cases included.
const WORDS: &[&str] = &[
    "Alpha",
    "beta",
    "İstanbul",
    "STRASSE",
    "ẞ",
    "문서",
    "\"q\"",
    "#1#",
    "aaaa",
    "x",
    "🚀 go",
    "",
];

/// One step of what reaches the replica.
#[derive(Debug, Clone)]
enum Step {
    /// The origin's next record (the next version).
    Fresh(Record),
    /// A record already sent, again: a retry, or the background push racing the write-through.
    Replay(Index),
    /// An operator's hand-written SQL in D1 (`wrangler d1 execute`), after the batch.
    Operator(Operator),
}

#[derive(Debug, Clone)]
enum Record {
    UserUpsert(i64),
    UserDelete(i64),
    ProjectUpsert(i64),
    ProjectDelete(i64),
    TaskUpsert {
        id: i64,
        project: i64,
        done: bool,
        title: String,
        detail: String,
    },
    TaskDelete(i64),
}

#[derive(Debug, Clone)]
enum Operator {
    ChangeOwner { id: i64, owner: i64 },
    FlipDone(i64),
    MoveAndRename { id: i64, project: i64 },
    Renumber(i64),
    Delete(i64),
}

fn words() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..3).prop_map(|words| words.join(" "))
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        1 => (1..=USERS).prop_map(Record::UserUpsert),
        1 => (1..=USERS).prop_map(Record::UserDelete),
        2 => (1..=PROJECTS).prop_map(Record::ProjectUpsert),
        2 => (1..=PROJECTS).prop_map(Record::ProjectDelete),
        10 => (1..=TASKS, 1..=PROJECTS, any::<bool>(), words(), words()).prop_map(
            |(id, project, done, title, detail)| Record::TaskUpsert {
                id,
                project,
                done,
                title,
                detail,
            }
        ),
        3 => (1..=TASKS).prop_map(Record::TaskDelete),
    ]
}

fn operator() -> impl Strategy<Value = Operator> {
    let id = 1..=TASKS;
    prop_oneof![
        (id.clone(), 1..=USERS).prop_map(|(id, owner)| Operator::ChangeOwner { id, owner }),
        id.clone().prop_map(Operator::FlipDone),
        (id.clone(), 1..=PROJECTS)
            .prop_map(|(id, project)| Operator::MoveAndRename { id, project }),
        id.clone().prop_map(Operator::Renumber),
        id.prop_map(Operator::Delete),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => record().prop_map(Step::Fresh),
        2 => any::<Index>().prop_map(Step::Replay),
        1 => operator().prop_map(Step::Operator),
    ]
}

fn batches() -> impl Strategy<Value = Vec<Vec<Step>>> {
    prop::collection::vec(prop::collection::vec(step(), 1..6), 1..30)
}

/// The origin as the replica sees it: records with rising versions, each kept for replays.
#[derive(Default)]
struct Origin {
    version: i64,
    sent: Vec<Change>,
}

impl Origin {
    /// The change records of a batch, and the operator's writes that follow it.
    fn batch(&mut self, steps: &[Step]) -> (Vec<Change>, Vec<String>) {
        let mut changes = Vec::new();
        let mut sql = Vec::new();
        for step in steps {
            match step {
                Step::Fresh(record) => {
                    self.version += 1;
                    let change = Change {
                        version: self.version,
                        owner: None,
                        kind: kind(record),
                    };
                    self.sent.push(change.clone());
                    changes.push(change);
                }
                Step::Replay(index) if !self.sent.is_empty() => {
                    changes.push(index.get(&self.sent).clone());
                }
                Step::Replay(_) => {}
                Step::Operator(write) => sql.push(operator_sql(write)),
            }
        }
        (changes, sql)
    }
}

fn kind(record: &Record) -> ChangeKind {
    match record {
        Record::UserUpsert(id) => user(*id),
        Record::UserDelete(id) => ChangeKind::UserDelete {
            id: UserId::new(*id),
        },
        Record::ProjectUpsert(id) => project(*id),
        Record::ProjectDelete(id) => ChangeKind::ProjectDelete {
            id: ProjectId::new(*id),
        },
        Record::TaskUpsert {
            id,
            project,
            done,
            title,
            detail,
        } => task(*id, *project, *done, title, detail),
        Record::TaskDelete(id) => ChangeKind::TaskDelete {
            id: TaskId::new(*id),
        },
    }
}

/// What an operator may run by hand in D1; each goes through the triggers.
fn operator_sql(write: &Operator) -> String {
    match write {
        Operator::ChangeOwner { id, owner } => {
            format!("UPDATE tasks SET owner_id = {owner} WHERE id = {id}")
        }
        Operator::FlipDone(id) => format!("UPDATE tasks SET done = 1 - done WHERE id = {id}"),
        Operator::MoveAndRename { id, project } => format!(
            "UPDATE tasks SET project_id = {project}, title_folded = 'moved' WHERE id = {id}"
        ),
        Operator::Renumber(id) => format!(
            "UPDATE tasks SET id = {moved} WHERE id = {id} \
             AND NOT EXISTS (SELECT 1 FROM tasks WHERE id = {moved})",
            moved = id + 1000
        ),
        Operator::Delete(id) => format!("DELETE FROM tasks WHERE id = {id}"),
    }
}

/// Applies the batches, checking the derived tables after each.
async fn replay(replica: &SqliteReplica, origin: &mut Origin, batches: &[Vec<Step>]) {
    for (round, steps) in batches.iter().enumerate() {
        let (changes, sql) = origin.batch(steps);
        edge::replica::apply(replica, &changes).await.unwrap();
        for statement in sql {
            replica.conn.borrow().execute_batch(&statement).unwrap();
        }
        assert_derived_tables_exact(replica, &format!("after batch {round}"));
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// A project's owner never changes, as in Postgres; a task's owner is its project's.
fn owner_of(project: i64) -> i64 {
    1 + project % USERS
}

fn user(id: i64) -> ChangeKind {
    ChangeKind::UserUpsert(UserReplica {
        id: UserId::new(id),
        username: format!("user{id}"),
        email: format!("user{id}@example.com"),
        is_staff: false,
        date_joined: "2025-01-01T00:00:00.000000Z".into(),
    })
}

fn project(id: i64) -> ChangeKind {
    ChangeKind::ProjectUpsert(Project {
        id: ProjectId::new(id),
        owner: UserId::new(owner_of(id)),
        name: format!("Project {id}"),
        description: String::new(),
        is_archived: false,
        created_at: "2025-01-01T00:00:00.000000Z".into(),
    })
}

fn task(id: i64, project: i64, done: bool, title: &str, detail: &str) -> ChangeKind {
    ChangeKind::TaskUpsert(TaskReplica {
        task: Task {
            id: TaskId::new(id),
            project: ProjectId::new(project),
            title: title.into(),
            detail: detail.into(),
            done,
            due_date: None,
            created_at: "2025-01-01T00:00:00.000000Z".into(),
        },
        owner: UserId::new(owner_of(project)),
    })
}

/// `task_counts` holds exactly the grouped count of `tasks`, and the index exactly the
/// trigrams of each task's owner tag, folded title and folded detail.
#[track_caller]
fn assert_derived_tables_exact(replica: &SqliteReplica, label: &str) {
    assert_eq!(
        replica.rows("SELECT owner_id, project_id, done, n FROM task_counts ORDER BY 1, 2, 3"),
        replica.rows(
            "SELECT owner_id, project_id, done, count(*) AS n FROM tasks \
             GROUP BY owner_id, project_id, done ORDER BY 1, 2, 3"
        ),
        "task_counts, {label}"
    );
    assert_eq!(
        indexed(replica),
        trigrams_of_tasks(replica),
        "tasks_fts, {label}"
    );
}

/// Every (trigram, task id) pair the index holds.
fn indexed(replica: &SqliteReplica) -> BTreeSet<(String, i64)> {
    replica
        .conn
        .borrow()
        .execute_batch(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_instances \
             USING fts5vocab(main, tasks_fts, instance)",
        )
        .unwrap();
    replica
        .rows("SELECT term, doc FROM temp.fts_instances")
        .iter()
        .map(|row| (text(&row["term"]), row["doc"].as_i64().unwrap()))
        .collect()
}

/// Every (trigram, task id) pair the index should hold: the trigram tokenizer's windows of 3
/// characters over each column on its own.
fn trigrams_of_tasks(replica: &SqliteReplica) -> BTreeSet<(String, i64)> {
    let mut pairs = BTreeSet::new();
    for row in replica.rows("SELECT id, owner_id, title_folded, detail_folded FROM tasks") {
        let id = row["id"].as_i64().unwrap();
        let owner = format!("#{}#", row["owner_id"].as_i64().unwrap());
        for column in [
            owner,
            text(&row["title_folded"]),
            text(&row["detail_folded"]),
        ] {
            let chars: Vec<char> = column.chars().collect();
            for window in chars.windows(3) {
                pairs.insert((window.iter().collect(), id));
            }
        }
    }
    pairs
}

fn text(value: &Value) -> String {
    value.as_str().unwrap().to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_index_and_the_counts_stay_exact_through_any_replica_writes(batches in batches()) {
        block_on(async {
            let replica = SqliteReplica::new();
            replay(&replica, &mut Origin::default(), &batches).await;
        });
    }

    /// The migration indexes and counts the tasks already in D1, and the triggers go on from
    /// there.
    #[test]
    fn the_migration_indexes_and_counts_the_tasks_already_there(
        before in batches(),
        after in batches(),
    ) {
        block_on(async {
            let replica = SqliteReplica::migrated_before("0007");
            let mut origin = Origin::default();
            for steps in &before {
                let (changes, _) = origin.batch(steps);
                edge::replica::apply(&replica, &changes).await.unwrap();
            }
            replica.migrate_from("0007");
            assert_derived_tables_exact(&replica, "after the migration");
            replay(&replica, &mut origin, &after).await;
        });
    }
}
