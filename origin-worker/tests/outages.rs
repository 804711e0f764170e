//! What the origin does while Postgres, or one of its own workers, is failing: it answers at
//! once with 503 and `Retry-After`, and says it is not ready.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use apalis::prelude::WorkerError;
use axum::http::StatusCode;
use origin_worker::api;
use origin_worker::state::AppState;
use origin_worker::supervisor::{self, WorkerState};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use support::{TestOrigin, settings};
use tokio::sync::watch;

#[tokio::test]
async fn a_request_that_gets_no_connection_is_a_503_with_retry_after() {
    let origin = TestOrigin::new().await;
    // One connection, taken: every request waits out the acquire timeout, as in an outage.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(200))
        .connect_with((*origin.db.connect_options()).clone())
        .await
        .unwrap();
    let _held = pool.acquire().await.unwrap();
    let starved = TestOrigin {
        router: api::router(AppState::new(pool.clone(), settings("http://127.0.0.1:9"))),
        ..origin
    };
    // The user need not exist: no connection means nothing is looked up.
    let answer = starved
        .signed(
            "POST",
            "/api/v1/projects/",
            &json!({"name": "during an outage"}),
            Some(1),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.json
    );
    assert_eq!(
        answer.body()["errors"]["detail"],
        json!("Service temporarily unavailable.")
    );
    assert_eq!(
        answer.json["headers"],
        json!([["retry-after", "5"]]),
        "the edge relays Retry-After"
    );
}

#[tokio::test]
async fn a_restarting_worker_makes_the_origin_not_ready() {
    let origin = TestOrigin::new().await;
    let ready = origin.get_unsigned("/ready/").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.json);

    let (stop_tx, stop_rx) = watch::channel(false);
    let workers = origin.state.workers.clone();
    let failing = tokio::spawn(supervisor::supervise(
        "replicate",
        workers.clone(),
        stop_rx,
        || async { Err(WorkerError::PanicError("Postgres went away".into())) },
    ));
    for _ in 0..100 {
        if matches!(
            workers.snapshot().get("replicate"),
            Some(WorkerState::Restarting { .. })
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let not_ready = origin.get_unsigned("/ready/").await;
    assert_eq!(not_ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(not_ready.body()["status"], json!("not ready"));
    assert_eq!(not_ready.body()["postgres"], json!("up"));
    assert_eq!(
        not_ready.body()["workers"]["replicate"]["state"],
        json!("restarting")
    );
    stop_tx.send(true).unwrap();
    failing.await.unwrap();
}

/// A connection the server ends under a request (a Postgres restart: "terminating connection
/// due to administrator command") is a 503 to retry, not a 500.
#[tokio::test]
async fn a_connection_the_server_ends_is_unavailable_not_a_fault() {
    let origin = TestOrigin::new().await;
    let mut victim = origin.db.acquire().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *victim)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&origin.db)
        .await
        .unwrap();
    let error = sqlx::query("SELECT 1")
        .execute(&mut *victim)
        .await
        .unwrap_err();
    assert!(
        origin_worker::http::reply::is_unavailable(&error),
        "{error:?}"
    );
}
