//! Projects and tasks at the origin: ownership, validation, change records, idempotency.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{TestOrigin, now, signed_request};

async fn project(origin: &TestOrigin, owner: i64, name: &str) -> i64 {
    let answer = origin
        .signed(
            "POST",
            "/api/v1/projects/",
            &json!({"name": name}),
            Some(owner),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    answer.body()["id"].as_i64().unwrap()
}

async fn task(origin: &TestOrigin, owner: i64, project: i64, title: &str) -> i64 {
    let answer = origin
        .signed(
            "POST",
            "/api/v1/tasks/",
            &json!({"project": project, "title": title}),
            Some(owner),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    answer.body()["id"].as_i64().unwrap()
}

fn kinds(answer: &support::Answer) -> Vec<String> {
    answer
        .changes()
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn creating_a_project_ignores_owner_id_and_created_at_in_the_body() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let (bob, _, _) = origin.user("bob").await;
    let body = json!({"name": "Demo", "description": "d", "owner": bob, "id": 999, "created_at": "2000-01-01", "is_archived": true});
    let answer = origin
        .signed("POST", "/api/v1/projects/", &body, Some(alice))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let created = answer.body();
    assert_eq!(created["owner"], json!(alice));
    assert_ne!(created["id"], json!(999));
    assert_eq!(
        (
            created["is_archived"].clone(),
            created["task_count"].clone(),
            created["tasks"].clone()
        ),
        (json!(false), json!(0), json!([]))
    );
    assert!(
        created["created_at"].as_str().unwrap().starts_with("20"),
        "{created}"
    );
    assert_eq!(kinds(&answer), ["project.upsert"]);
}

#[tokio::test]
async fn tasks_go_only_into_the_callers_projects() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let (bob, _, _) = origin.user("bob").await;
    let bobs = project(&origin, bob, "Bob's").await;
    let before = origin.count("SELECT count(*) FROM tasks").await;
    for target in [json!(bobs), json!(987_654)] {
        let answer = origin
            .signed(
                "POST",
                "/api/v1/tasks/",
                &json!({"project": target, "title": "sneaky"}),
                Some(alice),
            )
            .await;
        // The same body for someone else's project and for none: nothing leaks.
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{target}");
        assert_eq!(
            answer.body()["errors"],
            json!({"project": [format!("Invalid pk \"{target}\" - object does not exist.")]})
        );
    }
    assert_eq!(
        origin.count("SELECT count(*) FROM tasks").await,
        before,
        "nothing written"
    );
    assert_eq!(
        origin
            .count("SELECT count(*) FROM replication_changes WHERE change->>'kind' = 'task.upsert'")
            .await,
        0
    );
}

#[tokio::test]
async fn another_users_objects_answer_404_for_every_method() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let (bob, _, _) = origin.user("bob").await;
    let p = project(&origin, bob, "Bob's").await;
    let t = task(&origin, bob, p, "Bob's task").await;
    let cases = [
        (
            "PUT",
            format!("/api/v1/projects/{p}/"),
            json!({"name": "mine now"}),
            "Project",
        ),
        (
            "PATCH",
            format!("/api/v1/projects/{p}/"),
            json!({"name": "mine now"}),
            "Project",
        ),
        (
            "DELETE",
            format!("/api/v1/projects/{p}/"),
            json!({}),
            "Project",
        ),
        (
            "POST",
            format!("/api/v1/projects/{p}/archive/"),
            json!({}),
            "Project",
        ),
        (
            "PUT",
            format!("/api/v1/tasks/{t}/"),
            json!({"project": p, "title": "x"}),
            "Task",
        ),
        (
            "PATCH",
            format!("/api/v1/tasks/{t}/"),
            json!({"done": true}),
            "Task",
        ),
        ("DELETE", format!("/api/v1/tasks/{t}/"), json!({}), "Task"),
    ];
    for (method, path, body, resource) in cases {
        let answer = origin.signed(method, &path, &body, Some(alice)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            answer.body()["errors"]["detail"],
            json!(format!("No {resource} matches the given query."))
        );
    }
    let untouched: (String, bool) =
        sqlx::query_as("SELECT name, is_archived FROM projects WHERE id = $1")
            .bind(p)
            .fetch_one(&origin.db)
            .await
            .unwrap();
    assert_eq!(untouched, ("Bob's".to_owned(), false));
    assert_eq!(origin.count("SELECT count(*) FROM tasks").await, 1);
}

#[tokio::test]
async fn updates_patch_put_archive_and_move() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let (bob, _, _) = origin.user("bob").await;
    let p1 = project(&origin, alice, "One").await;
    let p2 = project(&origin, alice, "Two").await;
    let bobs = project(&origin, bob, "Bob's").await;
    let t = task(&origin, alice, p1, "T1").await;

    let patched = origin
        .signed(
            "PATCH",
            &format!("/api/v1/projects/{p1}/"),
            &json!({"description": "changed"}),
            Some(alice),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(
        (
            patched.body()["name"].clone(),
            patched.body()["description"].clone()
        ),
        (json!("One"), json!("changed"))
    );
    assert_eq!(patched.body()["task_count"], json!(1));

    let put_without_name = origin
        .signed(
            "PUT",
            &format!("/api/v1/projects/{p1}/"),
            &json!({"description": "x"}),
            Some(alice),
        )
        .await;
    assert_eq!(
        put_without_name.body()["errors"],
        json!({"name": ["This field is required."]})
    );

    let archived = origin
        .signed(
            "POST",
            &format!("/api/v1/projects/{p1}/archive/"),
            &json!({}),
            Some(alice),
        )
        .await;
    assert_eq!(
        (archived.status, archived.body().clone()),
        (StatusCode::OK, json!({"status": "archived"}))
    );
    assert_eq!(archived.changes()[0]["data"]["is_archived"], json!(true));

    let task_path = format!("/api/v1/tasks/{t}/");
    let done = origin
        .signed(
            "PATCH",
            &task_path,
            &json!({"done": true, "due_date": "2025-03-01"}),
            Some(alice),
        )
        .await;
    assert_eq!(
        (done.body()["done"].clone(), done.body()["due_date"].clone()),
        (json!(true), json!("2025-03-01"))
    );
    let cleared = origin
        .signed("PATCH", &task_path, &json!({"due_date": null}), Some(alice))
        .await;
    assert_eq!(cleared.body()["due_date"], Value::Null);

    let moved = origin
        .signed("PATCH", &task_path, &json!({"project": p2}), Some(alice))
        .await;
    assert_eq!(
        (moved.status, moved.body()["project"].clone()),
        (StatusCode::OK, json!(p2))
    );
    let stolen = origin
        .signed("PATCH", &task_path, &json!({"project": bobs}), Some(alice))
        .await;
    assert_eq!(
        (stolen.status, stolen.body()["errors"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!({"project": [format!("Invalid pk \"{bobs}\" - object does not exist.")]})
        ),
        "moving into someone else's project"
    );
    let project_now: i64 = sqlx::query_scalar("SELECT project_id FROM tasks WHERE id = $1")
        .bind(t)
        .fetch_one(&origin.db)
        .await
        .unwrap();
    assert_eq!(project_now, p2, "a refused move changes nothing");
}

#[tokio::test]
async fn deleting_a_project_deletes_its_tasks() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let p = project(&origin, alice, "Doomed").await;
    task(&origin, alice, p, "a").await;
    task(&origin, alice, p, "b").await;
    let deleted = origin
        .signed(
            "DELETE",
            &format!("/api/v1/projects/{p}/"),
            &json!({}),
            Some(alice),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(kinds(&deleted), ["project.delete"]);
    assert_eq!(origin.count("SELECT count(*) FROM tasks").await, 0);
}

fn with_key(
    method: &str,
    path: &str,
    body: &Value,
    user: i64,
    key: &str,
) -> axum::http::Request<axum::body::Body> {
    signed_request(
        method,
        path,
        body.to_string().as_bytes(),
        Some(user),
        now(),
        Some(key),
    )
}

#[tokio::test]
async fn an_idempotent_retry_answers_the_same_without_writing_again() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let body = json!({"name": "Once"});
    let first = origin
        .send(with_key("POST", "/api/v1/projects/", &body, alice, "key-1"))
        .await;
    let retry = origin
        .send(with_key("POST", "/api/v1/projects/", &body, alice, "key-1"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!((retry.status, retry.body()), (first.status, first.body()));
    assert_eq!(
        retry.changes(),
        first.changes(),
        "the edge gets the change records again"
    );
    assert_eq!(origin.count("SELECT count(*) FROM projects").await, 1);

    let different = origin
        .send(with_key(
            "POST",
            "/api/v1/projects/",
            &json!({"name": "Twice"}),
            alice,
            "key-1",
        ))
        .await;
    assert_eq!(different.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(origin.count("SELECT count(*) FROM projects").await, 1);

    // Keys are per user: Bob's key-1 is his own.
    let (bob, _, _) = origin.user("bob").await;
    let bobs = origin
        .send(with_key(
            "POST",
            "/api/v1/projects/",
            &json!({"name": "Twice"}),
            bob,
            "key-1",
        ))
        .await;
    assert_eq!(bobs.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_retry_while_the_first_is_in_flight_is_409() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    // Hold the key's lock as an in-flight first attempt would.
    let mut holder = origin.db.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 7))")
        .bind(format!("user:{alice}"))
        .bind("busy-key")
        .execute(&mut *holder)
        .await
        .unwrap();
    let answer = origin
        .send(with_key(
            "POST",
            "/api/v1/projects/",
            &json!({"name": "x"}),
            alice,
            "busy-key",
        ))
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    holder.rollback().await.unwrap();
    let later = origin
        .send(with_key(
            "POST",
            "/api/v1/projects/",
            &json!({"name": "x"}),
            alice,
            "busy-key",
        ))
        .await;
    assert_eq!(later.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_failed_request_does_not_use_up_its_key() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let missing = origin
        .send(with_key(
            "DELETE",
            "/api/v1/projects/12345/",
            &json!({}),
            alice,
            "k",
        ))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        origin.count("SELECT count(*) FROM idempotency_keys").await,
        0
    );
}

#[tokio::test]
async fn an_update_looks_the_object_up_before_it_reads_the_body() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let (bob, _, _) = origin.user("bob").await;
    let bobs = project(&origin, bob, "Bob's").await;
    let bobs_task = task(&origin, bob, bobs, "Bob's task").await;
    for (path, resource) in [
        (format!("/api/v1/projects/{bobs}/"), "Project"),
        ("/api/v1/projects/999999999/".to_owned(), "Project"),
        (format!("/api/v1/tasks/{bobs_task}/"), "Task"),
        ("/api/v1/tasks/999999999/".to_owned(), "Task"),
    ] {
        let answer = origin
            .signed(
                "PUT",
                &path,
                &json!({"done": "maybe", "name": ""}),
                Some(alice),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            answer.body()["errors"],
            json!({"detail": format!("No {resource} matches the given query.")})
        );
    }
}
