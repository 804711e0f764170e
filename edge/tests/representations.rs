//! The JSON a read builds in SQLite must be byte for byte the JSON the origin's serde types
//! write for the same object: a client that compares a write's answer with the next read (or
//! caches one and diffs the other) must see no difference in field order, escaping or numbers.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use domain::projects::{Project, ProjectView, Task};
use domain::query::Date;
use domain::replication::{Change, ChangeKind, TaskReplica};
use domain::{ProjectId, TaskId, UserId};
use edge::http::Request;
use pretty_assertions::assert_eq;
use support::TestEdge;

const OWNER: i64 = 1;

fn project() -> Project {
    Project {
        id: ProjectId::new(10),
        owner: UserId::new(OWNER),
        name: "Quotes \" and \\ back\\slashes, 한국어, emoji 🚀".into(),
        description: "line one\nline two\ttabbed \u{1} control / slash".into(),
        is_archived: true,
        created_at: "2025-01-01T00:00:00.123456Z".into(),
    }
}

fn tasks() -> Vec<Task> {
    vec![
        Task {
            id: TaskId::new(1),
            project: ProjectId::new(10),
            title: "ÉCOLE <b>trip</b> & 'quotes'".into(),
            detail: "\u{7f} del, \u{2028} line separator, \u{feff} bom".into(),
            done: true,
            due_date: Date::parse("2025-02-28"),
            created_at: "2025-01-01T00:00:01.000000Z".into(),
        },
        Task {
            id: TaskId::new(2),
            project: ProjectId::new(10),
            title: "no date".into(),
            detail: String::new(),
            done: false,
            due_date: None,
            created_at: "2025-01-01T00:00:02.000000Z".into(),
        },
    ]
}

async fn seeded() -> (TestEdge, String) {
    let edge = TestEdge::new();
    let (_, token) = edge.user(OWNER, "alice").await;
    let mut changes = vec![Change {
        version: 100,
        owner: None,
        kind: ChangeKind::ProjectUpsert(project()),
    }];
    for task in tasks() {
        changes.push(Change {
            version: 100 + task.id.get(),
            owner: None,
            kind: ChangeKind::TaskUpsert(TaskReplica {
                task,
                owner: UserId::new(OWNER),
            }),
        });
    }
    edge::replica::apply(&edge.replica, &changes).await.unwrap();
    (edge, token)
}

async fn read(edge: &TestEdge, token: &str, path: &str) -> String {
    let response = edge
        .send(Request::new("GET", path).with_header("authorization", &format!("Bearer {token}")))
        .await;
    assert_eq!(response.status, 200, "{path}");
    String::from_utf8(response.body).unwrap()
}

#[tokio::test]
async fn a_task_read_is_the_bytes_serde_writes() {
    let (edge, token) = seeded().await;
    for task in tasks() {
        let path = format!("/api/v1/tasks/{}/", task.id);
        let expected = serde_json::to_string(&task).unwrap();
        assert_eq!(
            read(&edge, &token, &path).await,
            expected,
            "task {}",
            task.id
        );
    }
}

#[tokio::test]
async fn a_project_read_is_the_bytes_serde_writes() {
    let (edge, token) = seeded().await;
    let expected = serde_json::to_string(&ProjectView::new(project(), tasks())).unwrap();
    assert_eq!(read(&edge, &token, "/api/v1/projects/10/").await, expected);
}

#[tokio::test]
async fn a_list_page_holds_the_same_bytes() {
    let (edge, token) = seeded().await;
    let page = read(&edge, &token, "/api/v1/tasks/?ordering=created_at").await;
    let results: Vec<String> = tasks()
        .iter()
        .map(|task| serde_json::to_string(task).unwrap())
        .collect();
    let expected = format!(
        r#"{{"count":2,"next":null,"previous":null,"results":[{}]}}"#,
        results.join(",")
    );
    assert_eq!(page, expected);
}
