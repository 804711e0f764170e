//! Attachments at the origin: metadata stored only in the caller's projects, idempotent
//! creates, owner-only deletes, the cascades of a project's and an account's deletion, and
//! their change records.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use domain::paths;
use domain::replication::{ChangeBatch, ChangeKind, Entity};
use domain::wire::VersionsRequest;
use origin_worker::audit;
use origin_worker::replication::push;
use serde_json::{Value, json};
use support::{Answer, TestOrigin, now, recording_edge, signed_request};

const SUM: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A storage key as the edge makes them, different for every `n`.
fn key(n: u32) -> String {
    format!("attachments/2025/06/{n:032x}")
}

fn metadata(project: i64, n: u32) -> Value {
    json!({
        "project": project,
        "storage_key": key(n),
        "filename": format!("report-{n}.pdf"),
        "size": 2048,
        "content_type": "application/pdf",
        "checksum": SUM,
    })
}

async fn project(origin: &TestOrigin, owner: i64, name: &str) -> i64 {
    let answer = origin
        .signed("POST", paths::PROJECTS, &json!({"name": name}), Some(owner))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    answer.body()["id"].as_i64().unwrap()
}

async fn create(origin: &TestOrigin, owner: i64, body: &Value) -> Answer {
    origin
        .signed("POST", paths::ATTACHMENTS, body, Some(owner))
        .await
}

async fn attachment(origin: &TestOrigin, owner: i64, project: i64, n: u32) -> i64 {
    let answer = create(origin, owner, &metadata(project, n)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    answer.body()["id"].as_i64().unwrap()
}

fn path(id: impl std::fmt::Display) -> String {
    paths::ATTACHMENT.replace("{id}", &id.to_string())
}

fn kinds(answer: &Answer) -> Vec<String> {
    answer
        .changes()
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn attachments(origin: &TestOrigin) -> i64 {
    origin.count("SELECT count(*) FROM attachments").await
}

async fn attachment_records(origin: &TestOrigin) -> i64 {
    origin
        .count("SELECT count(*) FROM replication_changes WHERE change->>'kind' LIKE 'attachment.%'")
        .await
}

#[tokio::test]
async fn creating_an_attachment_in_ones_own_project_is_201_with_its_metadata_and_a_change() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let p = project(&origin, alice, "Reports").await;
    let jobs = "SELECT count(*) FROM apalis.jobs WHERE job_type = 'replicate'";
    let jobs_before = origin.count(jobs).await;

    let created = create(&origin, alice, &metadata(p, 1)).await;

    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json);
    let body = created.body();
    let id = body["id"].as_i64().unwrap();
    let created_at = body["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.len() == 27,
        "{created_at}"
    );
    assert_eq!(
        body,
        &json!({
            "id": id,
            "project": p,
            "storage_key": key(1),
            "filename": "report-1.pdf",
            "size": 2048,
            "content_type": "application/pdf",
            "checksum": SUM,
            "created_at": created_at,
        })
    );
    assert_eq!(kinds(&created), ["attachment.upsert"]);
    let mut data = created.changes()[0]["data"].clone();
    assert_eq!(data["owner"], json!(alice), "the record carries the owner");
    data.as_object_mut().unwrap().remove("owner");
    assert_eq!(&data, body, "and exactly the metadata besides");
    assert_eq!(attachments(&origin).await, 1);
    assert_eq!(
        origin.count(jobs).await,
        jobs_before + 1,
        "its replication job, in the same transaction"
    );
}

#[tokio::test]
async fn someone_elses_project_and_a_missing_one_are_the_same_404_and_store_nothing() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let (bob, _, _) = origin.user("bob").await;
    let bobs = project(&origin, bob, "Bob's").await;

    let foreign = create(&origin, alice, &metadata(bobs, 1)).await;
    let missing = create(&origin, alice, &metadata(bobs + 1000, 2)).await;

    for (case, answer) in [("someone else's", &foreign), ("missing", &missing)] {
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{case}");
        assert_eq!(
            answer.body(),
            &json!({"status_code": 404, "errors": {"detail": "No Project matches the given query."}}),
            "{case}"
        );
        assert!(answer.changes().is_empty(), "{case}");
    }
    assert_eq!(foreign.body(), missing.body(), "nothing tells them apart");
    assert_eq!(attachments(&origin).await, 0);
    assert_eq!(attachment_records(&origin).await, 0);
}

#[tokio::test]
async fn invalid_metadata_is_400_with_field_errors_and_stores_nothing() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let p = project(&origin, alice, "Reports").await;
    let with = |field: &str, value: Value| {
        let mut body = metadata(p, 1);
        body[field] = value;
        body
    };
    let cases = [
        (
            "every field missing",
            json!({}),
            json!({
                "project": ["This field is required."],
                "storage_key": ["This field is required."],
                "filename": ["This field is required."],
                "size": ["This field is required."],
                "content_type": ["This field is required."],
                "checksum": ["This field is required."],
            }),
        ),
        (
            "a key of another shape",
            with("storage_key", json!("uploads/2025/06/abc")),
            json!({"storage_key": [domain::projects::BAD_STORAGE_KEY]}),
        ),
        (
            "a path in the file name",
            with("filename", json!("../etc/passwd")),
            json!({"filename": [domain::projects::BAD_FILENAME]}),
        ),
        (
            "a file over the limit",
            with("size", json!(domain::limits::MAX_UPLOAD_BYTES + 1)),
            json!({"size": [format!(
                "Ensure this value is less than or equal to {}.",
                domain::limits::MAX_UPLOAD_BYTES
            )]}),
        ),
        (
            "an empty file",
            with("size", json!(0)),
            json!({"size": ["Ensure this value is greater than or equal to 1."]}),
        ),
        (
            "no content type",
            with("content_type", json!("")),
            json!({"content_type": ["This field may not be blank."]}),
        ),
        (
            "an upper-case digest",
            with("checksum", json!(SUM.to_uppercase())),
            json!({"checksum": [domain::projects::BAD_CHECKSUM]}),
        ),
        (
            "a project that is no id",
            with("project", json!("abc")),
            json!({"project": ["Incorrect type. Expected pk value, received str."]}),
        ),
    ];
    for (case, body, errors) in cases {
        let answer = create(&origin, alice, &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{case}");
        assert_eq!(answer.body()["errors"], errors, "{case}");
    }
    assert_eq!(attachments(&origin).await, 0);
    assert_eq!(attachment_records(&origin).await, 0);
}

#[tokio::test]
async fn a_second_row_for_one_stored_object_is_refused() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let p = project(&origin, alice, "Reports").await;
    attachment(&origin, alice, p, 1).await;

    let again = create(&origin, alice, &metadata(p, 1)).await;

    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        again.body()["errors"],
        json!({"storage_key": ["attachment with this storage key already exists."]})
    );
    assert_eq!(attachments(&origin).await, 1);
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
async fn an_idempotent_retry_answers_the_same_without_storing_again() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let p = project(&origin, alice, "Reports").await;
    let body = metadata(p, 1);

    let first = origin
        .send(with_key(
            "POST",
            paths::ATTACHMENTS,
            &body,
            alice,
            "upload-1",
        ))
        .await;
    // The same request signed again (a fresh nonce), as the edge retries it.
    let retry = origin
        .send(with_key(
            "POST",
            paths::ATTACHMENTS,
            &body,
            alice,
            "upload-1",
        ))
        .await;

    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!((retry.status, retry.body()), (first.status, first.body()));
    assert_eq!(
        retry.changes(),
        first.changes(),
        "the edge gets the record again"
    );
    assert_eq!(attachments(&origin).await, 1);
    assert_eq!(attachment_records(&origin).await, 1);

    // The edge's retry uploads the file again, under a key of its own: the same request
    // still, and the answer names the first key (the edge then drops its new copy).
    let mut reuploaded = body.clone();
    reuploaded["storage_key"] = json!(key(9));
    let again = origin
        .send(with_key(
            "POST",
            paths::ATTACHMENTS,
            &reuploaded,
            alice,
            "upload-1",
        ))
        .await;
    assert_eq!((again.status, again.body()), (first.status, first.body()));
    assert_eq!(again.body()["storage_key"], body["storage_key"]);
    assert_eq!(attachments(&origin).await, 1);

    let other = origin
        .send(with_key(
            "POST",
            paths::ATTACHMENTS,
            &metadata(p, 2),
            alice,
            "upload-1",
        ))
        .await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another body, the same key"
    );
    assert_eq!(attachments(&origin).await, 1);
}

#[tokio::test]
async fn a_replayed_signed_create_is_refused() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let p = project(&origin, alice, "Reports").await;
    let body = metadata(p, 1).to_string();
    let request = || {
        signed_request(
            "POST",
            paths::ATTACHMENTS,
            body.as_bytes(),
            Some(alice),
            now(),
            None,
        )
    };
    let first = request();
    // The very same bytes and headers, nonce included.
    let mut replay = axum::http::Request::builder()
        .method("POST")
        .uri(paths::ATTACHMENTS);
    for (name, value) in first.headers() {
        replay = replay.header(name, value);
    }
    let replay = replay.body(axum::body::Body::from(body.clone())).unwrap();

    assert_eq!(origin.send(first).await.status, StatusCode::CREATED);
    let refused = origin.send(replay).await;

    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(!refused.reply_header, "a replay is no reply for a client");
    assert_eq!(attachments(&origin).await, 1);
}

#[tokio::test]
async fn only_the_owner_deletes_an_attachment() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let (bob, _, _) = origin.user("bob").await;
    let p = project(&origin, alice, "Reports").await;
    let id = attachment(&origin, alice, p, 1).await;

    let not_found =
        json!({"status_code": 404, "errors": {"detail": "No Attachment matches the given query."}});
    for (case, user, target) in [
        ("someone else's", bob, path(id)),
        ("missing", alice, path(id + 1000)),
        ("not an id", alice, path("abc")),
        ("zero", alice, path(0)),
    ] {
        let answer = origin
            .signed("DELETE", &target, &json!({}), Some(user))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{case}");
        assert_eq!(answer.body(), &not_found, "{case}");
    }
    assert_eq!(
        attachments(&origin).await,
        1,
        "Bob's attempt changed nothing"
    );

    let deleted = origin
        .signed("DELETE", &path(id), &json!({}), Some(alice))
        .await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(kinds(&deleted), ["attachment.delete"]);
    assert_eq!(deleted.changes()[0]["data"], json!({"id": id}));
    assert_eq!(attachments(&origin).await, 0);
    let again = origin
        .signed("DELETE", &path(id), &json!({}), Some(alice))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "gone");
}

/// What the edge was sent, in order, as `(kind, id)`.
fn pushed(received: &Mutex<Vec<ChangeBatch>>) -> Vec<(String, i64)> {
    received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|batch| batch.changes.iter())
        .filter_map(|change| {
            let kind = serde_json::to_value(&change.kind).unwrap();
            let id = kind["data"]["id"].as_i64()?;
            Some((kind["kind"].as_str().unwrap().to_owned(), id))
        })
        .collect()
}

#[tokio::test]
async fn deleting_a_project_deletes_its_attachments_and_tells_the_edge() {
    let (edge, received) = recording_edge().await;
    let origin = TestOrigin::with_edge(&edge).await;
    let (alice, _, _) = origin.user("alice").await;
    let doomed = project(&origin, alice, "Doomed").await;
    let kept = project(&origin, alice, "Kept").await;
    let a = attachment(&origin, alice, doomed, 1).await;
    let b = attachment(&origin, alice, doomed, 2).await;
    let c = attachment(&origin, alice, kept, 3).await;

    let deleted = origin
        .signed(
            "DELETE",
            &paths::PROJECT.replace("{id}", &doomed.to_string()),
            &json!({}),
            Some(alice),
        )
        .await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        kinds(&deleted),
        ["project.delete"],
        "one record: the edge cascades as Postgres does"
    );
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM attachments ORDER BY id")
        .fetch_all(&origin.db)
        .await
        .unwrap();
    assert_eq!(left, [c]);

    push::push_pending(&origin.state, &reqwest::Client::new())
        .await
        .unwrap();
    let sent = pushed(&received);
    let position = |kind: &str, id: i64| {
        sent.iter()
            .position(|(k, i)| k == kind && *i == id)
            .unwrap_or_else(|| panic!("{kind} {id} not pushed: {sent:?}"))
    };
    let deletion = position("project.delete", doomed);
    assert!(position("attachment.upsert", a) < deletion);
    assert!(position("attachment.upsert", b) < deletion);
}

#[tokio::test]
async fn deleting_the_account_deletes_its_attachments_and_only_its_own() {
    let (edge, received) = recording_edge().await;
    let origin = TestOrigin::with_edge(&edge).await;
    let (alice, _, _) = origin.user("alice").await;
    let (bob, _, _) = origin.user("bob").await;
    let alices = project(&origin, alice, "Alice's").await;
    let bobs = project(&origin, bob, "Bob's").await;
    attachment(&origin, alice, alices, 1).await;
    attachment(&origin, alice, alices, 2).await;
    let kept = attachment(&origin, bob, bobs, 3).await;

    let deleted = origin
        .signed(
            "DELETE",
            paths::ME,
            &json!({"password": "a-fine-password"}),
            Some(alice),
        )
        .await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.json);
    assert!(kinds(&deleted).contains(&"user.delete".to_owned()));
    assert!(
        !kinds(&deleted).iter().any(|k| k.starts_with("attachment.")),
        "the user's deletion carries them"
    );
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM attachments")
        .fetch_all(&origin.db)
        .await
        .unwrap();
    assert_eq!(left, [kept]);

    push::push_pending(&origin.state, &reqwest::Client::new())
        .await
        .unwrap();
    assert!(pushed(&received).contains(&("user.delete".to_owned(), alice)));
}

#[tokio::test]
async fn an_attachment_record_names_the_change_kind_the_edge_applies() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let p = project(&origin, alice, "Reports").await;
    attachment(&origin, alice, p, 1).await;
    let stored: Value = sqlx::query_scalar(
        "SELECT change FROM replication_changes WHERE change->>'kind' = 'attachment.upsert'",
    )
    .fetch_one(&origin.db)
    .await
    .unwrap();
    let kind: ChangeKind = serde_json::from_value(stored).unwrap();
    assert!(matches!(kind, ChangeKind::AttachmentUpsert(ref a) if a.owner.get() == alice));
}

/// What a fake edge's D1 holds: `(id, version)` per entity, and the denylist.
#[derive(Default)]
struct Held {
    rows: std::collections::HashMap<Entity, std::collections::BTreeMap<i64, i64>>,
    denied: std::collections::BTreeSet<String>,
}

/// A stand-in edge for the audit: applies pushed records to [`Held`] (no cascades) and answers
/// `/internal/versions/` from it.
async fn auditable_edge() -> (String, Arc<Mutex<Held>>) {
    let held = Arc::new(Mutex::new(Held::default()));
    let (applied, read) = (held.clone(), held.clone());
    let app = Router::new()
        .route(
            paths::INTERNAL_REPLICATE,
            post(move |body: Bytes| {
                let held = applied.clone();
                async move {
                    let batch: ChangeBatch = serde_json::from_slice(&body).unwrap();
                    let mut held = held.lock().unwrap();
                    for change in batch.changes {
                        let wire = serde_json::to_value(&change.kind).unwrap();
                        if let ChangeKind::TokenDeny { jti, .. } = change.kind {
                            held.denied.insert(jti);
                            continue;
                        }
                        let entity = change.kind.entity().unwrap();
                        let id = wire["data"]["id"].as_i64().unwrap();
                        let table = held.rows.entry(entity).or_default();
                        if wire["kind"].as_str().unwrap().ends_with(".delete") {
                            table.remove(&id);
                        } else {
                            table.insert(id, change.version);
                        }
                    }
                    axum::Json(json!({"applied": 0}))
                }
            }),
        )
        .route(
            paths::INTERNAL_VERSIONS,
            post(move |body: Bytes| {
                let held = read.clone();
                async move {
                    let held = held.lock().unwrap();
                    let answer = match serde_json::from_slice::<VersionsRequest>(&body).unwrap() {
                        VersionsRequest::Rows {
                            entity,
                            after,
                            limit,
                        } => {
                            let rows: Vec<(i64, i64)> = held
                                .rows
                                .get(&entity)
                                .into_iter()
                                .flat_map(|t| t.range(after + 1..))
                                .take(usize::try_from(limit).unwrap())
                                .map(|(id, v)| (*id, *v))
                                .collect();
                            json!({"rows": rows})
                        }
                        VersionsRequest::Denylist { after, limit } => {
                            let jtis: Vec<&String> = held
                                .denied
                                .iter()
                                .filter(|j| **j > after)
                                .take(usize::try_from(limit).unwrap())
                                .collect();
                            json!({"jtis": jtis})
                        }
                    };
                    axum::Json(answer)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, held)
}

#[tokio::test]
async fn check_edge_compares_attachments_and_resync_edge_repairs_them() {
    let (edge, held) = auditable_edge().await;
    let origin = TestOrigin::with_edge(&edge).await;
    let client = reqwest::Client::new();
    let (alice, _, _) = origin.user("alice").await;
    let p = project(&origin, alice, "Reports").await;
    let lost = attachment(&origin, alice, p, 1).await;
    let stale = attachment(&origin, alice, p, 2).await;
    attachment(&origin, alice, p, 3).await;

    let report = audit::check(&origin.state, &client).await.unwrap();
    assert!(report.in_sync(), "{report}");
    let (_, table) = report
        .tables
        .iter()
        .find(|(entity, _)| *entity == Entity::Attachment)
        .unwrap();
    assert_eq!((table.postgres_rows, table.edge_rows), (3, 3));
    let printed = report.to_string();
    assert!(
        printed
            .lines()
            .any(|line| line.split_whitespace().collect::<Vec<_>>()
                == ["attachments", "3", "3", "0", "0", "0"]),
        "{printed}"
    );

    // Damage the edge's copy: one row lost, one at an old version, one that Postgres never had.
    {
        let mut held = held.lock().unwrap();
        let rows = held.rows.get_mut(&Entity::Attachment).unwrap();
        rows.remove(&lost);
        rows.insert(stale, 1);
        rows.insert(999_999, 1);
    }
    let report = audit::check(&origin.state, &client).await.unwrap();
    let (_, table) = report
        .tables
        .iter()
        .find(|(entity, _)| *entity == Entity::Attachment)
        .unwrap();
    assert_eq!(
        (
            table.missing.clone(),
            table.stale.clone(),
            table.extra.clone()
        ),
        (vec![lost], vec![stale], vec![999_999]),
        "{report}"
    );
    assert!(!report.in_sync());

    let written = audit::resync(&origin.state, &client, |_| {}).await.unwrap();
    assert_eq!(written, 3, "two upserts and a delete");
    let report = audit::check(&origin.state, &client).await.unwrap();
    assert!(report.in_sync(), "{report}");
    assert!(!held.lock().unwrap().rows[&Entity::Attachment].contains_key(&999_999));
}
