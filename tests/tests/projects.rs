//! Projects and tasks end to end: reads from D1 at the edge, writes through the origin and
//! Postgres, replication, idempotent retries.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests fail loudly and read top to bottom"
)]

use std::fmt::Write as _;
use std::time::Duration;

use e2e::{Stack, User, unique};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create_project(stack: &Stack, user: &User, name: &str) -> i64 {
    let answer = stack
        .post(
            "/api/v1/projects/",
            &json!({"name": name}),
            Some(&user.access),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.body["id"].as_i64().unwrap()
}

async fn create_task(stack: &Stack, user: &User, project: i64, title: &str) -> Value {
    let answer = stack
        .post(
            "/api/v1/tasks/",
            &json!({"project": project, "title": title}),
            Some(&user.access),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.body
}

fn ids(list: &Value) -> Vec<i64> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

/// The seed's `test_project_crud`, through the edge.
#[tokio::test]
async fn the_seeds_project_crud_flow() {
    let stack = Stack::new();
    let user = stack.user().await;
    let created = stack
        .post(
            "/api/v1/projects/",
            &json!({"name": "Demo", "description": "d"}),
            Some(&user.access),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let pid = created.body["id"].as_i64().unwrap();

    let list = stack.get("/api/v1/projects/", Some(&user.access)).await;
    assert_eq!(
        (list.status, list.body["results"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );

    let patched = stack
        .call(
            Method::PATCH,
            &format!("/api/v1/projects/{pid}/"),
            &json!({"description": "changed"}),
            &user.access,
        )
        .await;
    assert_eq!(
        (patched.status, patched.body["description"].clone()),
        (StatusCode::OK, json!("changed"))
    );

    let task = stack
        .post(
            "/api/v1/tasks/",
            &json!({"project": pid, "title": "T1"}),
            Some(&user.access),
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED);

    let found = stack
        .get(
            "/api/v1/tasks/?search=T1&ordering=-created_at",
            Some(&user.access),
        )
        .await;
    assert_eq!(
        (found.status, found.body["count"].clone()),
        (StatusCode::OK, json!(1))
    );

    let detail = stack
        .get(&format!("/api/v1/projects/{pid}/"), Some(&user.access))
        .await;
    assert_eq!(detail.body["task_count"], json!(1));
    assert_eq!(detail.body["tasks"][0]["title"], json!("T1"));
}

#[tokio::test]
async fn a_client_that_writes_then_reads_always_sees_its_write() {
    let stack = Stack::new();
    let user = stack.user().await;
    let project = create_project(&stack, &user, "RYW").await;
    for i in 0..15 {
        let task = create_task(&stack, &user, project, &format!("task {i}")).await;
        let list = stack
            .get(
                &format!("/api/v1/tasks/?project={project}&page_size=100"),
                Some(&user.access),
            )
            .await;
        assert!(
            ids(&list.body).contains(&task["id"].as_i64().unwrap()),
            "task {i} visible at once"
        );
        assert_eq!(list.body["count"], json!(i + 1));
    }
}

#[tokio::test]
async fn owners_are_isolated_for_every_method() {
    let stack = Stack::new();
    let alice = stack.user().await;
    let bob = stack.user().await;
    let p = create_project(&stack, &bob, "Bob's").await;
    let t = create_task(&stack, &bob, p, "Bob's task").await["id"]
        .as_i64()
        .unwrap();
    let cases = [
        (
            Method::GET,
            format!("/api/v1/projects/{p}/"),
            json!({}),
            "Project",
        ),
        (
            Method::PUT,
            format!("/api/v1/projects/{p}/"),
            json!({"name": "mine"}),
            "Project",
        ),
        (
            Method::PATCH,
            format!("/api/v1/projects/{p}/"),
            json!({"name": "mine"}),
            "Project",
        ),
        (
            Method::DELETE,
            format!("/api/v1/projects/{p}/"),
            json!({}),
            "Project",
        ),
        (
            Method::POST,
            format!("/api/v1/projects/{p}/archive/"),
            json!({}),
            "Project",
        ),
        (
            Method::GET,
            format!("/api/v1/tasks/{t}/"),
            json!({}),
            "Task",
        ),
        (
            Method::PUT,
            format!("/api/v1/tasks/{t}/"),
            json!({"project": p, "title": "x"}),
            "Task",
        ),
        (
            Method::PATCH,
            format!("/api/v1/tasks/{t}/"),
            json!({"done": true}),
            "Task",
        ),
        (
            Method::DELETE,
            format!("/api/v1/tasks/{t}/"),
            json!({}),
            "Task",
        ),
    ];
    for (method, path, body, resource) in cases {
        let answer = stack
            .call(method.clone(), &path, &body, &alice.access)
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            answer.errors()["detail"],
            json!(format!("No {resource} matches the given query.")),
            "{method} {path}"
        );
    }
    // A task in someone else's project: DRF's 400 for a missing pk, the same as for an id that
    // names nothing, so nothing reveals that Bob's project exists.
    for project in [p, 987_654_321] {
        let answer = stack
            .post(
                "/api/v1/tasks/",
                &json!({"project": project, "title": "in bob's"}),
                Some(&alice.access),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "project {project}");
        assert_eq!(
            answer.errors(),
            &json!({"project": [format!("Invalid pk \"{project}\" - object does not exist.")]})
        );
    }
    let lists = stack.get("/api/v1/tasks/", Some(&alice.access)).await;
    assert_eq!(lists.body["count"], json!(0));
    let filtered = stack
        .get(&format!("/api/v1/tasks/?project={p}"), Some(&alice.access))
        .await;
    assert_eq!(
        (filtered.status, filtered.body["count"].clone()),
        (StatusCode::OK, json!(0)),
        "someone else's project: empty"
    );
    let bobs = stack
        .get(&format!("/api/v1/projects/{p}/"), Some(&bob.access))
        .await;
    assert_eq!(
        (
            bobs.body["name"].clone(),
            bobs.body["is_archived"].clone(),
            bobs.body["task_count"].clone()
        ),
        (json!("Bob's"), json!(false), json!(1))
    );
}

#[tokio::test]
async fn filters_search_ordering_and_pages_through_workerd() {
    let stack = Stack::new();
    let user = stack.user().await;
    let p = create_project(&stack, &user, "Queries").await;
    let tasks = [
        json!({"project": p, "title": "Write API docs", "detail": "swagger", "due_date": "2025-01-10"}),
        json!({"project": p, "title": "Fix bug", "done": true, "due_date": "2025-02-01"}),
        json!({"project": p, "title": "문서 정리", "detail": "API 문서"}),
        json!({"project": p, "title": "Deploy", "detail": "docker, nginx", "due_date": "2025-01-10"}),
    ];
    let mut id = Vec::new();
    for body in &tasks {
        id.push(
            stack
                .post("/api/v1/tasks/", body, Some(&user.access))
                .await
                .body["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("", vec![id[3], id[2], id[1], id[0]]),
        ("done=True", vec![id[1]]),
        ("min_due=2025-01-10&max_due=2025-01-31", vec![id[3], id[0]]),
        ("search=api", vec![id[2], id[0]]),
        ("search=%22api+docs%22", vec![id[0]]),
        ("search=docker,nginx", vec![id[3]]),
        ("ordering=due_date", vec![id[0], id[3], id[1], id[2]]),
        ("ordering=-due_date,title", vec![id[2], id[1], id[3], id[0]]),
        ("ordering=bogus", vec![id[3], id[2], id[1], id[0]]),
    ];
    for (query, expected) in cases {
        let list = stack
            .get(
                &format!("/api/v1/tasks/?project={p}&{query}"),
                Some(&user.access),
            )
            .await;
        assert_eq!(list.status, StatusCode::OK, "?{query}: {:?}", list.body);
        assert_eq!(ids(&list.body), expected, "?{query}");
    }
    let page = stack
        .get(
            &format!("/api/v1/tasks/?project={p}&page_size=3&page=2"),
            Some(&user.access),
        )
        .await;
    assert_eq!(ids(&page.body), vec![id[0]]);
    let previous = page.body["previous"].as_str().unwrap();
    assert_eq!(
        previous,
        format!("{}/api/v1/tasks/?page_size=3&project={p}", stack.edge)
    );
    assert_eq!(page.body["next"], Value::Null);

    for (query, status) in [
        ("page=9", 404),
        ("min_due=2025-02-30", 400),
        ("project=999999999", 400),
        ("project=x", 400),
        ("page_size=500", 200),
    ] {
        let answer = stack
            .get(&format!("/api/v1/tasks/?{query}"), Some(&user.access))
            .await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "?{query}: {:?}",
            answer.body
        );
    }
}

#[tokio::test]
async fn validation_errors_write_nothing() {
    let stack = Stack::new();
    let user = stack.user().await;
    let p = create_project(&stack, &user, "Valid").await;
    let cases = [
        (
            "/api/v1/projects/",
            json!({"name": "x".repeat(121)}),
            "name",
            "Ensure this field has no more than 120 characters.",
        ),
        (
            "/api/v1/projects/",
            json!({"name": null}),
            "name",
            "This field may not be null.",
        ),
        (
            "/api/v1/tasks/",
            json!({"project": p, "title": ""}),
            "title",
            "This field may not be blank.",
        ),
        (
            "/api/v1/tasks/",
            json!({"project": p, "title": "t", "due_date": "2025-02-30"}),
            "due_date",
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        ),
        (
            "/api/v1/tasks/",
            json!({"project": p, "title": "t", "done": "perhaps"}),
            "done",
            "Must be a valid boolean.",
        ),
        (
            "/api/v1/tasks/",
            json!({"project": "abc", "title": "t"}),
            "project",
            "Incorrect type. Expected pk value, received str.",
        ),
    ];
    for (path, body, field, message) in cases {
        let answer = stack.post(path, &body, Some(&user.access)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.errors()[field], json!([message]), "{body}");
    }
    let list = stack
        .get(&format!("/api/v1/tasks/?project={p}"), Some(&user.access))
        .await;
    assert_eq!(list.body["count"], json!(0));
    assert_eq!(
        stack
            .get("/api/v1/projects/", Some(&user.access))
            .await
            .body["count"],
        json!(1)
    );
}

#[tokio::test]
async fn deleting_a_project_removes_its_tasks_everywhere() {
    let stack = Stack::new();
    let user = stack.user().await;
    let p = create_project(&stack, &user, "Doomed").await;
    let t = create_task(&stack, &user, p, "goes too").await["id"]
        .as_i64()
        .unwrap();
    let deleted = stack
        .call(
            Method::DELETE,
            &format!("/api/v1/projects/{p}/"),
            &json!({}),
            &user.access,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        stack
            .get(&format!("/api/v1/tasks/{t}/"), Some(&user.access))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stack.get("/api/v1/tasks/", Some(&user.access)).await.body["count"],
        json!(0)
    );
}

#[tokio::test]
async fn a_write_the_edge_missed_is_replicated_by_the_job() {
    let stack = Stack::new();
    let user = stack.user().await;
    let direct = stack
        .origin_signed(
            "POST",
            "/api/v1/projects/",
            &json!({"name": unique("direct")}),
            Some(user.id),
        )
        .await;
    assert_eq!(direct.status, StatusCode::CREATED, "{:?}", direct.body);
    let id = direct.body["body"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/projects/{id}/");
    let arrived = stack
        .eventually(Duration::from_secs(15), || {
            let stack = stack.clone();
            let path = path.clone();
            let token = user.access.clone();
            async move { stack.get(&path, Some(&token)).await.status == StatusCode::OK }
        })
        .await;
    assert!(
        arrived,
        "the replication job delivers what the write-through missed"
    );
}

#[tokio::test]
async fn idempotent_retries_write_once() {
    let stack = Stack::new();
    let user = stack.user().await;
    let post = |key: &str, name: &str| {
        stack
            .request(Method::POST, "/api/v1/projects/")
            .header("idempotency-key", key)
            .bearer_auth(&user.access)
            .json(&json!({"name": name}))
    };
    let first = stack.send(post("k1", "Once")).await;
    let retry = stack.send(post("k1", "Once")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!((retry.status, &retry.body), (first.status, &first.body));
    let other = stack.send(post("k1", "Other")).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = stack.send(post(&"k".repeat(300), "x")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        stack
            .get("/api/v1/projects/", Some(&user.access))
            .await
            .body["count"],
        json!(1)
    );
}

#[tokio::test]
async fn a_retry_after_the_origin_committed_but_the_edge_lost_the_answer() {
    let stack = Stack::new();
    let user = stack.user().await;
    let body = json!({"name": "Committed"});
    // The first attempt reached the origin and committed; its answer never made it back.
    let first_attempt = stack
        .origin_signed_with_key(
            "POST",
            "/api/v1/projects/",
            &body,
            Some(user.id),
            Some("retry-key"),
        )
        .await;
    assert_eq!(first_attempt.status, StatusCode::CREATED);
    // The client retries through the edge with the same key: same answer, no second project,
    // and the edge applies the replayed changes, so the project is readable at once.
    let retried = stack
        .send(
            stack
                .request(Method::POST, "/api/v1/projects/")
                .header("idempotency-key", "retry-key")
                .bearer_auth(&user.access)
                .json(&body),
        )
        .await;
    assert_eq!(retried.status, StatusCode::CREATED);
    assert_eq!(retried.body, first_attempt.body["body"]);
    let list = stack.get("/api/v1/projects/", Some(&user.access)).await;
    assert_eq!(list.body["count"], json!(1));
}

#[tokio::test]
async fn deleting_an_account_removes_its_projects_and_tasks() {
    let stack = Stack::new();
    let user = stack.user().await;
    let p = create_project(&stack, &user, "Mine").await;
    create_task(&stack, &user, p, "mine too").await;
    let gone = stack
        .delete(
            "/api/v1/auth/me/",
            &json!({"password": user.password}),
            &user.access,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let remaining = stack
        .count_where("SELECT count(*) FROM projects WHERE id = $1", p)
        .await;
    assert_eq!(remaining, 0);
}

/// What a write answers (serde at the origin) and what the next read answers (JSON built by D1's
/// SQLite at the edge) are the same bytes: field order, escaping and numbers cannot drift.
#[tokio::test]
async fn a_write_and_the_next_read_answer_the_same_bytes() {
    let stack = Stack::new();
    let user = stack.user().await;
    let token = Some(user.access.as_str());
    let created = stack
        .post(
            "/api/v1/projects/",
            &json!({"name": "Quotes \" \\ 한국어 🚀", "description": "two\nlines\ttab \u{1}"}),
            token,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    let read = stack.get(&format!("/api/v1/projects/{id}/"), token).await;
    assert_eq!(read.text, created.text, "project create, then read");

    let task = stack
        .post(
            "/api/v1/tasks/",
            &json!({"project": id, "title": "ÉCOLE <b>trip</b>", "detail": "\u{7f} \u{2028}", "due_date": "2025-2-3"}),
            token,
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.text);
    let task_id = task.body["id"].as_i64().unwrap();
    let path = format!("/api/v1/tasks/{task_id}/");
    assert_eq!(
        stack.get(&path, token).await.text,
        task.text,
        "task create, then read"
    );

    let patched = stack
        .call(
            Method::PATCH,
            &path,
            &json!({"done": true, "due_date": null}),
            &user.access,
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(
        stack.get(&path, token).await.text,
        patched.text,
        "task patch, then read"
    );

    let renamed = stack
        .call(
            Method::PUT,
            &format!("/api/v1/projects/{id}/"),
            &json!({"name": "renamed"}),
            &user.access,
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let read = stack.get(&format!("/api/v1/projects/{id}/"), token).await;
    assert_eq!(
        read.text, renamed.text,
        "project update (tasks nested), then read"
    );
}

/// D1 binds numbers as doubles: a page whose offset no table can reach is 404, not a 500.
#[tokio::test]
async fn impossible_page_numbers_are_404_through_workerd() {
    let stack = Stack::new();
    let user = stack.user().await;
    for page in [
        "",
        "18446744073709551615",
        "1380000000000000000",
        "9007199254740993",
    ] {
        let answer = stack
            .get(&format!("/api/v1/tasks/?page={page}"), Some(&user.access))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "page={page}: {}",
            answer.text
        );
        assert_eq!(answer.errors(), &json!({"detail": "Invalid page."}));
    }
}

/// DRF looks the object up before it reads the body: a malformed update of a task or project
/// that is not there is 404, not 400.
#[tokio::test]
async fn a_malformed_update_of_a_missing_object_is_404() {
    let stack = Stack::new();
    let user = stack.user().await;
    for (path, resource) in [
        ("/api/v1/tasks/999999999/", "Task"),
        ("/api/v1/projects/999999999/", "Project"),
    ] {
        let answer = stack
            .call(
                Method::PUT,
                path,
                &json!({"done": "maybe", "name": ""}),
                &user.access,
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text
        );
        assert_eq!(
            answer.errors(),
            &json!({"detail": format!("No {resource} matches the given query.")})
        );
    }
}

/// A multipart body, as a browser's form or a mobile client's multipart request sends it.
fn multipart(fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "e2e-boundary-7MA4YWxkTrZu0gW";
    let mut body = String::new();
    for (name, value) in fields {
        let _ = write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        );
    }
    let _ = write!(body, "--{boundary}--\r\n");
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

/// DRF's default parsers take JSON, url-encoded and multipart forms on every write endpoint.
#[tokio::test]
async fn every_write_endpoint_takes_a_multipart_form() {
    let stack = Stack::new();
    let username = unique("form");
    let send = |path: &str, fields: &[(&str, &str)], token: Option<&str>| {
        let (content_type, body) = multipart(fields);
        let mut request = stack
            .request(Method::POST, path)
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        stack.send(request)
    };
    let email = format!("{username}@example.com");
    let registered = send(
        "/api/v1/auth/register/",
        &[
            ("username", &username),
            ("email", &email),
            ("password", "a-fine-password"),
        ],
        None,
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let tokens = send(
        "/api/token/",
        &[("username", &username), ("password", "a-fine-password")],
        None,
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    let access = tokens.body["access"].as_str().unwrap().to_owned();
    let project = send(
        "/api/v1/projects/",
        &[("name", "From a form")],
        Some(&access),
    )
    .await;
    assert_eq!(project.status, StatusCode::CREATED, "{}", project.text);
    let id = project.body["id"].as_i64().unwrap().to_string();
    let task = send(
        "/api/v1/tasks/",
        &[("project", &id), ("title", "Form task"), ("due_date", "")],
        Some(&access),
    )
    .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.text);
    assert_eq!(
        task.body["due_date"],
        Value::Null,
        "an empty form date is null"
    );

    let broken = stack
        .send(
            stack
                .request(Method::POST, "/api/v1/projects/")
                .header("content-type", "multipart/form-data; boundary=nope")
                .body("no parts here")
                .bearer_auth(&access),
        )
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert!(
        broken.errors()["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Multipart form parse error - "),
        "{}",
        broken.text
    );
}
