//! Task search through the trigram index (migration 0007): the same answers as holding every
//! term, folded, as a substring of the folded title or detail (DRF's rule, the edge's `instr`
//! before the index), one owner's tasks only, and plans that never read every task.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use domain::projects::{TASK_ORDERING, Task};
use domain::query::{Ordering, TaskFilters, search_terms};
use domain::replication::{Change, ChangeKind, TaskReplica};
use domain::{ProjectId, TaskId, UserId};
use edge::http::Request;
use edge::platform::Statement;
use edge::projects::sql::{Window, task_list};
use edge::replica::fold;
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestRunner;
use serde_json::Value;
use support::{SqliteReplica, TestEdge, body, project};

const ALICE: i64 = 1;
const BOB: i64 = 2;

/// Titles and details that stress the matching: case, folding that changes the length (`İ`
/// folds to two characters, `ẞ` to `ß`), Korean, emoji, quotes, FTS5's own syntax, the shape
/// of the index's owner tags, repeated letters, and words split between the two fields.
const TEXTS: &[(&str, &str)] = &[
    ("Release Notes", "for the 2.0 launch"),
    ("release", "notes"),
    ("İstanbul trip", "Straße und STRASSE"),
    ("ẞ uppercase sharp s", ""),
    ("문서 정리", "API 문서"),
    ("He said \"go\"", "quote \"\" doubled, it's 'single'"),
    ("c++ and a-b", "x:y (par) 50% _under_ *star* ^caret"),
    ("AND OR NOT NEAR", "near(a b) {col}: -minus"),
    ("#1# and #2#", "owner tags in text: #12# #21#"),
    ("aaaa", "aaaaaaa"),
    ("emoji 🚀🚀 rocket", "tab\there, new\nline"),
    ("ÉCOLE", "école ecole"),
    ("Ünïcödé ǅ ﬁ", "unicode"),
    ("Task 1000 release notes", "detail 5f3c9a"),
    ("", "only a detail"),
    ("x", "y"),
];

fn task(id: i64, version: i64, project: i64, owner: i64, title: &str, detail: &str) -> Change {
    Change {
        version,
        owner: None,
        kind: ChangeKind::TaskUpsert(TaskReplica {
            task: Task {
                id: TaskId::new(id),
                project: ProjectId::new(project),
                title: title.into(),
                detail: detail.into(),
                done: id % 2 == 0,
                due_date: None,
                created_at: format!("2025-01-01T00:00:{:02}.000000Z", id % 60),
            },
            owner: UserId::new(owner),
        }),
    }
}

/// A task of someone's, as the reference matcher sees it.
struct Stored {
    id: i64,
    owner: i64,
    title: &'static str,
    detail: &'static str,
}

/// Alice has every text (tasks 1…), Bob every other one (tasks 101…).
async fn seeded() -> (TestEdge, Vec<Stored>, [String; 2]) {
    let edge = TestEdge::new();
    let (_, alice) = edge.user(ALICE, "alice").await;
    let (_, bob) = edge.user(BOB, "bob").await;
    let mut changes = vec![project(10, ALICE), project(20, BOB)];
    let mut stored = Vec::new();
    for (i, (title, detail)) in (1..).zip(TEXTS) {
        stored.push(Stored {
            id: i,
            owner: ALICE,
            title,
            detail,
        });
        if i % 2 == 1 {
            stored.push(Stored {
                id: 100 + i,
                owner: BOB,
                title,
                detail,
            });
        }
    }
    for s in &stored {
        let project = if s.owner == ALICE { 10 } else { 20 };
        changes.push(task(s.id, 1000 + s.id, project, s.owner, s.title, s.detail));
    }
    edge::replica::apply(&edge.replica, &changes).await.unwrap();
    (edge, stored, [alice, bob])
}

/// DRF's rule, spelled out: every term, folded, is in the folded title or the folded detail.
fn expected(stored: &[Stored], owner: i64, search: &str) -> Vec<i64> {
    let terms: Vec<String> = search_terms(search).iter().map(|t| fold(t)).collect();
    stored
        .iter()
        .filter(|s| s.owner == owner)
        .filter(|s| {
            let (title, detail) = (fold(s.title), fold(s.detail));
            terms
                .iter()
                .all(|t| title.contains(t.as_str()) || detail.contains(t.as_str()))
        })
        .map(|s| s.id)
        .collect()
}

fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The ids a search answers (sorted) and the count it reports.
async fn searched(edge: &TestEdge, token: &str, search: &str) -> (Vec<i64>, i64) {
    let path = format!("/api/v1/tasks/?page_size=100&search={}", encoded(search));
    let response = edge
        .send(Request::new("GET", &path).with_header("authorization", &format!("Bearer {token}")))
        .await;
    let list = body(&response);
    assert_eq!(response.status, 200, "{search:?}: {list}");
    let mut ids: Vec<i64> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    (ids, list["count"].as_i64().unwrap())
}

/// Searches chosen by hand around the texts above: case and folding (to more or fewer
/// characters), phrases, terms split between the fields, quotes, FTS5's syntax, owner tags,
/// terms of 1, 2 and 3+ characters, and at most 10 terms.
const SEARCHES: &[&str] = &[
    "",
    "release",
    "RELEASE",
    "release notes",
    "\"release notes\"",
    "\"notes release\"",
    "notes,release",
    "İstanbul",
    "istanbul",
    "İs",
    "İ",
    "i\u{307}s",
    "straße",
    "STRASSE",
    "strasse",
    "ẞ",
    "ß",
    "ss",
    "문서",
    "\"문서 정리\"",
    "API 문서",
    "'He said \"go\"'",
    "\"go\"",
    "'\"\"'",
    "it's",
    "c++",
    "a-b",
    "x:y",
    "(par)",
    "50%",
    "_under_",
    "*star*",
    "^caret",
    "AND",
    "OR NOT",
    "NEAR",
    "near(a",
    "{col}:",
    "-minus",
    "#1#",
    "#2#",
    "#1",
    "1#",
    "#12#",
    "aaa",
    "aaaa",
    "aaaaa",
    "aaaaaaa",
    "aaaaaaaa",
    "🚀",
    "🚀🚀",
    "\"🚀 r\"",
    "rocket",
    "\"tab\there\"",
    "\"new\nline\"",
    "école",
    "ÉCOLE",
    "ecole",
    "ünïcödé",
    "ǆ",
    "ﬁ",
    "fi",
    "only",
    "x",
    "y",
    "a",
    "ab",
    "a release",
    "re no te",
    "task 1000",
    "5f3c9a",
    "zzz",
    "a b c d e f g h i j",
];

#[tokio::test]
async fn search_answers_what_substring_matching_answers() {
    let (edge, stored, tokens) = seeded().await;
    for search in SEARCHES {
        for (owner, token) in [ALICE, BOB].into_iter().zip(&tokens) {
            let want = expected(&stored, owner, search);
            let (ids, count) = searched(&edge, token, search).await;
            assert_eq!(ids, want, "owner {owner}, search {search:?}");
            assert_eq!(count, i64::try_from(want.len()).unwrap(), "{search:?}");
        }
    }
}

/// A search term made from the texts: a piece of 1 to 6 characters of some title or detail,
/// sometimes upper-cased, or (when `noise`) a piece of nothing.
#[derive(Debug, Clone)]
struct Piece {
    text: Index,
    in_detail: bool,
    start: Index,
    len: usize,
    upper: bool,
    noise: bool,
}

impl Piece {
    fn term(&self) -> String {
        let (title, detail) = *self.text.get(TEXTS);
        let chars: Vec<char> = if self.in_detail { detail } else { title }
            .chars()
            .collect();
        let term: String = if self.noise || chars.is_empty() {
            "qzx".chars().take(self.len.min(3)).collect()
        } else {
            let start = self.start.index(chars.len());
            chars[start..(start + self.len).min(chars.len())]
                .iter()
                .collect()
        };
        let term = if self.upper {
            term.to_uppercase()
        } else {
            term
        };
        term.trim().replace(['"', '\''], "")
    }
}

fn piece() -> impl Strategy<Value = Piece> {
    (
        any::<Index>(),
        any::<bool>(),
        any::<Index>(),
        1..=6_usize,
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(text, in_detail, start, len, upper, noise)| Piece {
            text,
            in_detail,
            start,
            len,
            upper,
            noise,
        })
}

/// 1 to 3 pieces as a search string, each quoted when it holds a space.
fn search() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 1..=3).prop_map(|pieces| {
        pieces
            .iter()
            .map(Piece::term)
            .filter(|term| !term.is_empty())
            .map(|term| {
                if term.contains(char::is_whitespace) {
                    format!("\"{term}\"")
                } else {
                    term
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn random_pieces_of_the_texts_find_what_substring_matching_finds() {
    let (edge, stored, tokens) = block_on(seeded());
    let mut runner = TestRunner::new(ProptestConfig::with_cases(300));
    runner
        .run(&(search(), any::<bool>()), |(search, as_bob)| {
            let owner = if as_bob { BOB } else { ALICE };
            let token = &tokens[usize::from(as_bob)];
            let (ids, count) = block_on(searched(&edge, token, &search));
            let want = expected(&stored, owner, &search);
            prop_assert_eq!(count, i64::try_from(want.len()).unwrap());
            prop_assert_eq!(ids, want, "owner {}, {:?}", owner, search);
            Ok(())
        })
        .unwrap();
}

async fn write(edge: &TestEdge, change: Change) {
    edge::replica::apply(&edge.replica, &[change])
        .await
        .unwrap();
}

fn delete(version: i64, kind: fn(i64) -> ChangeKind, id: i64) -> Change {
    Change {
        version,
        owner: None,
        kind: kind(id),
    }
}

fn project_delete(id: i64) -> ChangeKind {
    ChangeKind::ProjectDelete {
        id: ProjectId::new(id),
    }
}

fn task_delete(id: i64) -> ChangeKind {
    ChangeKind::TaskDelete {
        id: TaskId::new(id),
    }
}

#[tokio::test]
async fn the_index_follows_every_replica_write() {
    let edge = TestEdge::new();
    let (_, alice) = edge.user(ALICE, "alice").await;
    write(&edge, project(10, ALICE)).await;
    write(&edge, project(11, ALICE)).await;
    let none = Vec::<i64>::new();

    write(&edge, task(1, 100, 10, ALICE, "alpha one", "first")).await;
    assert_eq!(searched(&edge, &alice, "alpha").await.0, [1], "an insert");

    write(&edge, task(1, 101, 10, ALICE, "beta two", "first")).await;
    assert_eq!(
        searched(&edge, &alice, "alpha").await.0,
        none,
        "the old title"
    );
    assert_eq!(
        searched(&edge, &alice, "beta").await.0,
        [1],
        "the new title"
    );

    write(&edge, task(1, 99, 10, ALICE, "gamma", "first")).await;
    assert_eq!(
        searched(&edge, &alice, "gamma").await.0,
        none,
        "a stale upsert"
    );
    assert_eq!(searched(&edge, &alice, "beta").await.0, [1]);

    write(&edge, task(1, 102, 11, ALICE, "beta two", "first")).await;
    assert_eq!(searched(&edge, &alice, "beta").await.0, [1], "a move");

    write(&edge, delete(200, project_delete, 11)).await;
    assert_eq!(searched(&edge, &alice, "beta").await.0, none, "a cascade");

    write(&edge, task(1, 150, 11, ALICE, "beta again", "first")).await;
    assert_eq!(searched(&edge, &alice, "beta").await.0, none, "a tombstone");

    write(&edge, task(2, 300, 10, ALICE, "delta", "")).await;
    write(&edge, delete(301, task_delete, 2)).await;
    assert_eq!(searched(&edge, &alice, "delta").await.0, none, "a delete");
}

fn statements(terms: &[&str]) -> (Statement, Statement) {
    let terms: Vec<String> = terms.iter().map(|t| (*t).to_owned()).collect();
    let ordering = Ordering::parse(None, TASK_ORDERING, Task::DEFAULT_ORDERING);
    let window = Window {
        limit: 20,
        offset: 0,
    };
    let list = task_list(
        UserId::new(ALICE),
        &TaskFilters::default(),
        &terms,
        &ordering,
        window,
    );
    (list.count, list.page)
}

/// The plan of a search with a term of 3+ characters: the index, then each task it offers by
/// its id; no walk over the owner's tasks.
#[track_caller]
fn assert_served_by_the_index(plan: &[String], label: &str) {
    let scan = plan
        .iter()
        .position(|step| step.starts_with("SCAN f VIRTUAL TABLE"))
        .unwrap_or_else(|| panic!("{label}: no index scan in {plan:?}"));
    assert_eq!(
        plan.get(scan + 1).map(String::as_str),
        Some("SEARCH t USING INTEGER PRIMARY KEY (rowid=?)"),
        "{label}: {plan:?}"
    );
    assert!(
        !plan
            .iter()
            .any(|step| step.contains("tasks_owner") || step.starts_with("SCAN t")),
        "{label}: {plan:?}"
    );
}

/// The plan of a search the phrase query decides alone: the index, and no task read.
#[track_caller]
fn assert_counted_by_the_index_alone(plan: &[String], label: &str) {
    assert!(
        matches!(plan, [only] if only.starts_with("SCAN tasks_fts VIRTUAL TABLE")),
        "{label}: {plan:?}"
    );
}

#[test]
fn searches_with_a_long_term_are_served_by_the_trigram_index() {
    let replica = SqliteReplica::new();
    for terms in [
        &["release"][..],
        &["release", "notes"],
        &["release", "no"],
        &["a", "b", "notes"],
    ] {
        let (count, page) = statements(terms);
        let label = format!("count {terms:?}");
        if terms.iter().all(|term| term.chars().count() >= 3) {
            assert_counted_by_the_index_alone(&replica.plan(&count), &label);
        } else {
            assert_served_by_the_index(&replica.plan(&count), &label);
        }
        assert_served_by_the_index(&replica.plan(&page), &format!("page {terms:?}"));
    }
}

#[test]
fn searches_with_only_short_terms_read_the_owners_tasks() {
    let replica = SqliteReplica::new();
    let (count, page) = statements(&["re", "n"]);
    for plan in [replica.plan(&count), replica.plan(&page)] {
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH t USING") && step.contains("(owner_id=?")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("VIRTUAL TABLE")),
            "{plan:?}"
        );
    }
}

/// Statistics (an operator's `PRAGMA optimize`) must not turn a search back into a walk over
/// the owner's tasks: `CROSS JOIN` fixes the order whatever SQLite estimates.
#[tokio::test]
async fn the_search_plan_holds_once_sqlite_has_statistics() {
    let replica = SqliteReplica::new();
    let mut changes = vec![project(10, ALICE), project(20, BOB)];
    for id in 1..=400 {
        let owner = if id % 20 == 0 { BOB } else { ALICE };
        let project = if owner == ALICE { 10 } else { 20 };
        let title = format!("Task {id}");
        changes.push(task(id, 1000 + id, project, owner, &title, "detail"));
    }
    edge::replica::apply(&replica, &changes).await.unwrap();
    replica.conn.borrow().execute_batch("ANALYZE").unwrap();
    let (count, page) = statements(&["task"]);
    assert_counted_by_the_index_alone(&replica.plan(&count), "count");
    assert_served_by_the_index(&replica.plan(&page), "page");
    let (count, _) = statements(&["task", "1"]);
    assert_served_by_the_index(&replica.plan(&count), "count with a short term");
}

/// The index's columns are the fields `search` reads, plus the owner tag.
#[test]
fn the_index_covers_the_searched_fields() {
    let replica = SqliteReplica::new();
    let columns: Vec<Value> = replica
        .rows("SELECT name FROM pragma_table_info('tasks_fts')")
        .into_iter()
        .map(|row| row["name"].clone())
        .collect();
    let mut expected = vec![Value::from("owner")];
    expected.extend(
        domain::projects::TASK_SEARCH
            .iter()
            .map(|f| Value::from(*f)),
    );
    assert_eq!(columns, expected);
}
