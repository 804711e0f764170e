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
use origin_worker::state::AppState;
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
    let state = AppState::new(db.clone(), support::settings("http://127.0.0.1:9"));
    let page = origin_worker::operator::router(state, Some(Secret::new(TOKEN.to_owned())));

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

#[tokio::test]
async fn metrics_show_requests_by_route_jobs_by_state_the_outbox_and_the_pool() {
    let origin = support::TestOrigin::new().await;
    let page =
        origin_worker::operator::router(origin.state.clone(), Some(Secret::new(TOKEN.to_owned())));
    let registered = origin
        .signed(
            "POST",
            "/api/v1/auth/register/",
            &serde_json::json!({"username": "mia", "password": "a-fine-password", "email": "mia@example.com"}),
            None,
        )
        .await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let project = origin
        .signed(
            "PATCH",
            "/api/v1/projects/12345/",
            &serde_json::json!({"name": "x"}),
            Some(1),
        )
        .await;
    assert_eq!(project.status, StatusCode::NOT_FOUND);
    assert_eq!(
        origin.get_unsigned("/no/such/path").await.status,
        StatusCode::NOT_FOUND
    );

    let (refused, _, _) = get(&page, "/metrics", None).await;
    assert_eq!(
        refused,
        StatusCode::UNAUTHORIZED,
        "the token guards the metrics too"
    );
    let (status, _, text) = get(&page, "/metrics", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let has = |line: &str| text.lines().any(|l| l == line);
    let requests = "origin_http_request_duration_seconds";
    for line in [
        format!(
            r#"{requests}_count{{route="/api/v1/auth/register/",method="POST",status="201"}} 1"#
        ),
        format!(
            r#"{requests}_count{{route="/api/v1/projects/{{id}}/",method="PATCH",status="404"}} 1"#
        ),
        format!(r#"{requests}_count{{route="unmatched",method="GET",status="404"}} 1"#),
        format!(
            r#"{requests}_bucket{{route="/api/v1/auth/register/",method="POST",status="201",le="+Inf"}} 1"#
        ),
        // The welcome email and the replication push, queued and not run (no worker here).
        r#"origin_jobs{queue="email",state="pending"} 1"#.to_owned(),
        r#"origin_jobs{queue="replicate",state="pending"} 1"#.to_owned(),
        "origin_outbox_backlog 1".to_owned(),
        "origin_database_up 1".to_owned(),
        "origin_db_pool_max_connections 10".to_owned(),
    ] {
        assert!(has(&line), "{line}\nnot in:\n{text}");
    }
    let lag: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("origin_replication_lag_seconds "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (0.0..60.0).contains(&lag),
        "the unpushed change's age: {lag}"
    );
    assert!(text.contains("# TYPE origin_http_request_duration_seconds histogram"));
}
