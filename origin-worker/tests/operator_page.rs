//! The operator page over HTTP, against Postgres: it asks for the token, and shows the queues
//! and a job as the command line does.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use domain::UserId;
use domain::config::Secret;
use origin_worker::email::{self, Email};
use serde_json::Value;
use support::fresh_db;
use tower::ServiceExt as _;

const TOKEN: &str = "a-long-operator-token";

/// (status, `WWW-Authenticate`, body) of a GET.
async fn get(
    page: &axum::Router,
    path: &str,
    password: Option<&str>,
) -> (StatusCode, String, String) {
    let mut request = Request::get(path);
    if let Some(password) = password {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("ops:{password}"));
        request = request.header(header::AUTHORIZATION, format!("Basic {credentials}"));
    }
    let response = page
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_page_asks_for_the_token_then_shows_the_queues_and_one_job() {
    let db = fresh_db().await;
    let mut tx = db.begin().await.unwrap();
    email::enqueue(
        &mut tx,
        &Email::welcome(UserId::new(3), "ann", "ann@example.com"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let id: String = sqlx::query_scalar("SELECT id FROM apalis.jobs WHERE job_type = 'email'")
        .fetch_one(&db)
        .await
        .unwrap();
    let page = origin_worker::operator::router(db, Some(Secret::new(TOKEN.to_owned())));

    for password in [None, Some("wrong-token-wrong-token")] {
        let (status, challenge, body) = get(&page, "/", password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{password:?}");
        assert!(challenge.starts_with("Basic "), "{challenge}");
        assert!(!body.contains("email"), "nothing shown: {body}");
    }

    let (status, _, html) = get(&page, "/", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Job queues</h1>"), "{html}");
    assert!(
        html.contains(&format!("/jobs/{id}")),
        "the job is listed: {html}"
    );
    assert!(!html.contains("ann@example.com"), "no address on the page");

    let (status, _, counts) = get(&page, "/api/counts", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let counts: Value = serde_json::from_str(&counts).unwrap();
    assert_eq!(counts[0]["queue"], "email");
    assert_eq!(counts[0]["pending"], 1);

    let (status, _, dead) = get(&page, "/api/jobs?state=dead", Some(TOKEN)).await;
    assert_eq!((status, dead.as_str()), (StatusCode::OK, "[]"));
    let (status, _, problem) = get(&page, "/?state=stuck", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem.contains("pending, running, retrying, dead or done"),
        "{problem}"
    );

    let (status, _, job) = get(&page, &format!("/jobs/{id}"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(job.contains("welcome:3"), "the payload is shown: {job}");
    let (status, _, _) = get(&page, "/jobs/no-such-job", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
