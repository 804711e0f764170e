//! The edge's list and detail queries, natively: the very SQL sent to D1 runs here against
//! SQLite. Filters, search, ordering and pagination as tables of cases.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use domain::projects::{Project, TASK_ORDERING, Task};
use domain::query::{Date, Ordering, TaskFilters};
use domain::replication::{Change, ChangeKind, TaskReplica};
use domain::{ProjectId, TaskId, UserId};
use edge::http::Request;
use edge::projects::sql::{Window, task_list};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::{TestEdge, body};

const ALICE: i64 = 1;
const BOB: i64 = 2;

fn project(id: i64, owner: i64, name: &str, description: &str, created: &str) -> Change {
    Change {
        version: id * 100,
        owner: None,
        kind: ChangeKind::ProjectUpsert(Project {
            id: ProjectId::new(id),
            owner: UserId::new(owner),
            name: name.into(),
            description: description.into(),
            is_archived: false,
            created_at: format!("2025-01-01T00:00:{created}.000000Z"),
        }),
    }
}

#[allow(clippy::too_many_arguments, reason = "one row of seed data")]
fn task(
    id: i64,
    project: i64,
    owner: i64,
    title: &str,
    detail: &str,
    done: bool,
    due: Option<&str>,
    created: &str,
) -> Change {
    Change {
        version: 1000 + id,
        owner: None,
        kind: ChangeKind::TaskUpsert(TaskReplica {
            task: Task {
                id: TaskId::new(id),
                project: ProjectId::new(project),
                title: title.into(),
                detail: detail.into(),
                done,
                due_date: due.map(|d| Date::parse(d).unwrap()),
                created_at: format!("2025-01-01T00:00:{created}.000000Z"),
            },
            owner: UserId::new(owner),
        }),
    }
}

/// Alice has projects 10 and 11 with tasks 1–5; Bob has project 20 with task 6.
async fn seeded() -> (TestEdge, String, String) {
    let edge = TestEdge::new();
    let (_, alice) = edge.user(ALICE, "alice").await;
    let (_, bob) = edge.user(BOB, "bob").await;
    let changes = vec![
        project(10, ALICE, "Backend API", "rest and docs", "01"),
        project(11, ALICE, "Ops", "deploys", "02"),
        project(20, BOB, "Backend API", "bob's", "03"),
        task(
            1,
            10,
            ALICE,
            "Write API docs",
            "swagger and redoc",
            false,
            Some("2025-01-10"),
            "01",
        ),
        task(
            2,
            10,
            ALICE,
            "Fix login bug",
            "JWT refresh",
            true,
            Some("2025-02-01"),
            "02",
        ),
        task(3, 11, ALICE, "문서 정리", "API 문서", false, None, "03"),
        task(
            4,
            11,
            ALICE,
            "Deploy",
            "docker, nginx",
            false,
            Some("2025-01-10"),
            "03",
        ),
        task(
            5,
            11,
            ALICE,
            "ÉCOLE trip",
            "",
            true,
            Some("2024-12-31"),
            "05",
        ),
        task(
            6,
            20,
            BOB,
            "Write API docs",
            "bob's too",
            false,
            Some("2025-01-10"),
            "06",
        ),
    ];
    edge::replica::apply(&edge.replica, &changes).await.unwrap();
    (edge, alice, bob)
}

async fn get(edge: &TestEdge, token: &str, path: &str) -> (u16, Value) {
    let response = edge
        .send(Request::new("GET", path).with_header("authorization", &format!("Bearer {token}")))
        .await;
    (response.status, body(&response))
}

fn ids(list: &Value) -> Vec<i64> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn task_filters_search_and_ordering() {
    let (edge, alice, _) = seeded().await;
    let cases: &[(&str, &[i64])] = &[
        ("", &[5, 4, 3, 2, 1]),
        ("done=true", &[5, 2]),
        ("done=0", &[4, 3, 1]),
        ("done=maybe", &[5, 4, 3, 2, 1]),
        ("min_due=2025-01-10", &[4, 2, 1]),
        ("max_due=2025-01-10", &[5, 4, 1]),
        ("min_due=2025-01-01&max_due=2025-01-31&done=false", &[4, 1]),
        ("project=10", &[2, 1]),
        ("project=20", &[]),
        ("search=api", &[3, 1]),
        ("search=API+docs", &[1]),
        ("search=%22api+docs%22", &[1]),
        ("search=%22docs+api%22", &[]),
        ("search=docker,nginx", &[4]),
        ("search=%C3%A9cole", &[5]),
        ("search=%EB%AC%B8%EC%84%9C", &[3]),
        ("search=jwt&done=true", &[2]),
        ("search=zzz", &[]),
        ("ordering=title", &[4, 2, 1, 5, 3]),
        ("ordering=-title", &[3, 5, 1, 2, 4]),
        ("ordering=due_date", &[5, 1, 4, 2, 3]),
        ("ordering=-due_date", &[3, 2, 4, 1, 5]),
        ("ordering=created_at", &[1, 2, 3, 4, 5]),
        ("ordering=nope", &[5, 4, 3, 2, 1]),
        ("ordering=owner,-due_date", &[3, 2, 4, 1, 5]),
        ("ordering=due_date,title", &[5, 4, 1, 2, 3]),
        ("ordering=due_date,-title", &[5, 1, 4, 2, 3]),
    ];
    for (query, expected) in cases {
        let (status, list) = get(&edge, &alice, &format!("/api/v1/tasks/?{query}")).await;
        assert_eq!(status, 200, "{query}: {list}");
        assert_eq!(ids(&list), *expected, "?{query}");
        assert_eq!(list["count"], json!(expected.len()), "?{query}");
    }
}

#[tokio::test]
async fn a_task_has_exactly_the_contract_fields() {
    let (edge, alice, _) = seeded().await;
    let (status, task) = get(&edge, &alice, "/api/v1/tasks/3/").await;
    assert_eq!(status, 200);
    assert_eq!(
        task,
        json!({"id": 3, "project": 11, "title": "문서 정리", "detail": "API 문서", "done": false,
               "due_date": null, "created_at": "2025-01-01T00:00:03.000000Z"})
    );
    let (_, done) = get(&edge, &alice, "/api/v1/tasks/2/").await;
    assert_eq!(
        (done["done"].clone(), done["due_date"].clone()),
        (json!(true), json!("2025-02-01"))
    );
    let (_, empty) = get(&edge, &bob_token(&edge), "/api/v1/projects/?search=zzz").await;
    assert_eq!(empty["results"], json!([]));
}

fn bob_token(edge: &TestEdge) -> String {
    edge.tokens(BOB, "bob").1
}

#[tokio::test]
async fn bad_task_queries_are_400() {
    let (edge, alice, _) = seeded().await;
    let cases: &[(&str, Value)] = &[
        (
            "min_due=2025-13-01",
            json!({"min_due": ["Enter a valid date."]}),
        ),
        (
            "max_due=yesterday",
            json!({"max_due": ["Enter a valid date."]}),
        ),
        (
            "project=999",
            json!({"project": ["Select a valid choice. That choice is not one of the available choices."]}),
        ),
        (
            "project=abc",
            json!({"project": ["Select a valid choice. That choice is not one of the available choices."]}),
        ),
        (
            "search=a+b+c+d+e+f+g+h+i+j+k",
            json!({"search": ["Use at most 10 search terms."]}),
        ),
    ];
    for (query, errors) in cases {
        let (status, answer) = get(&edge, &alice, &format!("/api/v1/tasks/?{query}")).await;
        assert_eq!((status, &answer["errors"]), (400, errors), "?{query}");
    }
}

#[tokio::test]
async fn pages_carry_absolute_links_and_refuse_what_does_not_exist() {
    let (edge, alice, _) = seeded().await;
    let (_, first) = get(&edge, &alice, "/api/v1/tasks/?page_size=2&search=").await;
    assert_eq!(ids(&first), [5, 4]);
    assert_eq!(first["count"], json!(5));
    assert_eq!(
        first["next"],
        json!("http://edge.test/api/v1/tasks/?page=2&page_size=2&search=")
    );
    assert_eq!(first["previous"], Value::Null);

    let (_, second) = get(&edge, &alice, "/api/v1/tasks/?page=2&page_size=2").await;
    assert_eq!(ids(&second), [3, 2]);
    assert_eq!(
        second["previous"],
        json!("http://edge.test/api/v1/tasks/?page_size=2")
    );
    assert_eq!(
        second["next"],
        json!("http://edge.test/api/v1/tasks/?page=3&page_size=2")
    );

    let (_, last) = get(&edge, &alice, "/api/v1/tasks/?page=last&page_size=2").await;
    assert_eq!((ids(&last), last["next"].clone()), (vec![1], Value::Null));

    let (_, capped) = get(&edge, &alice, "/api/v1/tasks/?page_size=5000").await;
    assert_eq!(ids(&capped).len(), 5);

    for query in ["page=4&page_size=2", "page=0", "page=abc", "page=2"] {
        let (status, answer) = get(&edge, &alice, &format!("/api/v1/tasks/?{query}")).await;
        assert_eq!(
            (status, &answer["errors"]),
            (404, &json!({"detail": "Invalid page."})),
            "?{query}"
        );
    }
    let (status, empty) = get(&edge, &alice, "/api/v1/tasks/?search=zzz&page=1").await;
    assert_eq!(
        (status, empty["count"].clone()),
        (200, json!(0)),
        "an empty list still has page 1"
    );
}

#[tokio::test]
async fn owners_see_only_their_own() {
    let (edge, alice, bob) = seeded().await;
    let (_, bobs) = get(&edge, &bob, "/api/v1/tasks/").await;
    assert_eq!(ids(&bobs), [6]);
    for path in ["/api/v1/tasks/6/", "/api/v1/projects/20/"] {
        let (status, answer) = get(&edge, &alice, path).await;
        assert_eq!(status, 404, "{path}");
        let resource = if path.contains("tasks") {
            "Task"
        } else {
            "Project"
        };
        assert_eq!(
            answer["errors"],
            json!({"detail": format!("No {resource} matches the given query.")}),
            "{path}"
        );
    }
    for path in [
        "/api/v1/tasks/abc/",
        "/api/v1/tasks/0/",
        "/api/v1/tasks/99/",
    ] {
        assert_eq!(get(&edge, &alice, path).await.0, 404, "{path}");
    }
    let (_, projects) = get(&edge, &alice, "/api/v1/projects/").await;
    assert_eq!(ids(&projects), [11, 10]);
}

#[tokio::test]
async fn projects_nest_their_tasks_and_search_their_fields() {
    let (edge, alice, _) = seeded().await;
    let (status, detail) = get(&edge, &alice, "/api/v1/projects/11/").await;
    assert_eq!(status, 200);
    assert_eq!(detail["task_count"], json!(3));
    let nested: Vec<i64> = detail["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(nested, [3, 4, 5]);
    assert_eq!(detail["owner"], json!(ALICE));
    let keys: Vec<&str> = detail
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "id",
        "owner",
        "name",
        "description",
        "is_archived",
        "created_at",
        "task_count",
        "tasks",
    ] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }

    let cases: &[(&str, &[i64])] = &[
        ("", &[11, 10]),
        ("search=docs", &[10]),
        ("search=deploys", &[11]),
        ("ordering=name", &[10, 11]),
        ("ordering=-name", &[11, 10]),
        ("ordering=created_at", &[10, 11]),
    ];
    for (query, expected) in cases {
        let (_, list) = get(&edge, &alice, &format!("/api/v1/projects/?{query}")).await;
        assert_eq!(ids(&list), *expected, "?{query}");
    }
    let (_, page) = get(&edge, &alice, "/api/v1/projects/?page_size=1&page=2").await;
    assert_eq!(ids(&page), [10]);
    assert_eq!(page["results"][0]["task_count"], json!(2));
}

#[tokio::test]
async fn deleting_a_project_takes_its_tasks_and_late_updates_stay_dead() {
    let (edge, alice, _) = seeded().await;
    edge::replica::apply(
        &edge.replica,
        &[Change {
            version: 5000,
            owner: None,
            kind: ChangeKind::ProjectDelete {
                id: ProjectId::new(10),
            },
        }],
    )
    .await
    .unwrap();
    let (_, list) = get(&edge, &alice, "/api/v1/tasks/").await;
    assert_eq!(ids(&list), [5, 4, 3]);
    // An update of task 1 older than the deletion arrives late: it stays deleted.
    edge::replica::apply(
        &edge.replica,
        &[task(1, 10, ALICE, "late", "", false, None, "01")],
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&get(&edge, &alice, "/api/v1/tasks/").await.1),
        [5, 4, 3]
    );
    assert_eq!(get(&edge, &alice, "/api/v1/projects/10/").await.0, 404);
}

#[tokio::test]
async fn bad_write_bodies_never_reach_the_origin() {
    let (edge, alice, _) = seeded().await;
    let send = |method: &str, path: &str, body: Value| {
        Request::new(method, path)
            .with_json(&body)
            .with_header("authorization", &format!("Bearer {alice}"))
    };
    let cases = [
        (
            send("POST", "/api/v1/tasks/", json!({"title": "x"})),
            json!({"project": ["This field is required."]}),
        ),
        (
            send("POST", "/api/v1/projects/", json!({"name": ""})),
            json!({"name": ["This field may not be blank."]}),
        ),
        (
            send("PATCH", "/api/v1/tasks/1/", json!({"done": "maybe"})),
            json!({"done": ["Must be a valid boolean."]}),
        ),
        (
            send(
                "PUT",
                "/api/v1/projects/10/",
                json!({"description": "no name"}),
            ),
            json!({"name": ["This field is required."]}),
        ),
        (
            send(
                "PATCH",
                "/api/v1/tasks/1/",
                json!({"due_date": "01/02/2025"}),
            ),
            json!({"due_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
        ),
    ];
    for (request, errors) in cases {
        let label = format!("{} {}", request.method, request.path);
        let response = edge.send(request).await;
        assert_eq!(
            (response.status, body(&response)["errors"].clone()),
            (400, errors),
            "{label}"
        );
    }
    assert!(edge.origin.received.borrow().is_empty());
}

#[tokio::test]
async fn blank_and_impossible_pages_are_404_never_a_server_error() {
    let (edge, alice, _) = seeded().await;
    for path in ["/api/v1/tasks/", "/api/v1/projects/"] {
        for page in [
            "",
            "18446744073709551615",
            "1380000000000000000",
            "9007199254740993",
        ] {
            let response = edge
                .send(
                    Request::new("GET", &format!("{path}?page={page}"))
                        .with_header("authorization", &format!("Bearer {alice}")),
                )
                .await;
            assert_eq!(response.status, 404, "{path}?page={page}");
            assert_eq!(
                body(&response)["errors"],
                json!({"detail": "Invalid page."}),
                "{path}?page={page}"
            );
        }
    }
}

/// DRF looks the object up first: a bad body for an object the caller cannot see is not the
/// edge's 400 to give. It forwards, and the origin (which looks up first) answers 404.
#[tokio::test]
async fn a_bad_update_of_an_unseen_object_goes_to_the_origin() {
    let (edge, alice, _) = seeded().await;
    edge.origin.queue(&domain::wire::OriginReply::error(
        &domain::ApiError::NotFound(Some("Task")),
        "origin",
    ));
    // Task 6 is Bob's; 999 does not exist. Neither is Alice's to see.
    let response = edge
        .send(
            Request::new("PATCH", "/api/v1/tasks/6/")
                .with_json(&json!({"done": "maybe"}))
                .with_header("authorization", &format!("Bearer {alice}")),
        )
        .await;
    assert_eq!(response.status, 404);
    assert_eq!(edge.origin.received.borrow().len(), 1, "the origin decided");
}

fn list_count(filters: TaskFilters, terms: &[&str]) -> edge::platform::Statement {
    let terms: Vec<String> = terms.iter().map(|t| (*t).to_owned()).collect();
    let ordering = Ordering::parse(None, TASK_ORDERING, Task::DEFAULT_ORDERING);
    let window = Window {
        limit: 20,
        offset: 0,
    };
    task_list(UserId::new(ALICE), &filters, &terms, &ordering, window).count
}

/// A list filtered only by owner, done and project is counted from `task_counts` (a few rows
/// per project), not by walking an index entry per task; a due date range or a search is
/// counted from the tasks it reads anyway. A project's `task_count` reads its own rows.
#[test]
fn list_counts_read_task_counts_when_the_filters_allow() {
    let replica = support::SqliteReplica::new();
    let filters =
        |done, project: Option<i64>, min_due: Option<&str>, max_due: Option<&str>| TaskFilters {
            done,
            project: project.map(ProjectId::new),
            min_due: min_due.and_then(Date::parse),
            max_due: max_due.and_then(Date::parse),
        };
    let day = Some("2025-01-01");
    let cases: &[(&str, TaskFilters, &[&str], bool)] = &[
        ("no filter", filters(None, None, None, None), &[], true),
        ("done", filters(Some(true), None, None, None), &[], true),
        ("project", filters(None, Some(10), None, None), &[], true),
        (
            "both",
            filters(Some(false), Some(10), None, None),
            &[],
            true,
        ),
        ("min_due", filters(None, None, day, None), &[], false),
        ("max_due", filters(None, None, None, day), &[], false),
        (
            "short search",
            filters(None, None, None, None),
            &["ab"],
            false,
        ),
        ("search", filters(None, None, None, None), &["abc"], false),
    ];
    for (label, filters, terms, stored) in cases {
        let plan = replica.plan(&list_count(filters.clone(), terms));
        let from_counts = plan.len() == 1 && plan[0].starts_with("SEARCH task_counts USING");
        assert_eq!(from_counts, *stored, "{label}: {plan:?}");
    }

    let detail = edge::projects::sql::project_detail(UserId::new(ALICE), ProjectId::new(10));
    let plan = replica.plan(&detail);
    assert!(
        plan.iter()
            .any(|step| step == "SEARCH c USING INDEX task_counts_project (project_id=?)"),
        "{plan:?}"
    );
}
