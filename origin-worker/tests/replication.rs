//! The push of change records to the edge: in order, marked only once acknowledged, and safe
//! to repeat.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use domain::paths;
use domain::replication::ChangeBatch;
use domain::signing::{self, Direction, Received};
use origin_worker::replication::push;
use serde_json::json;
use support::{ORIGIN_SECRET, TestOrigin, now};

/// A stand-in edge: checks the origin's signature, records batches, answers with `status`.
async fn fake_edge(status: StatusCode) -> (String, Arc<Mutex<Vec<ChangeBatch>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let app = Router::new().route(
        "/internal/replicate/",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let received = Received {
                    direction: Direction::OriginToEdge,
                    method: "POST",
                    path_and_query: paths::INTERNAL_REPLICATE,
                    body: &body,
                };
                let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
                if signing::check_signed_headers(
                    ORIGIN_SECRET.as_bytes(),
                    received,
                    header,
                    now(),
                    60,
                )
                .is_err()
                {
                    return StatusCode::NOT_FOUND;
                }
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test]
async fn pending_changes_reach_the_edge_in_order_and_are_marked() {
    let (edge, received) = fake_edge(StatusCode::OK).await;
    let origin = TestOrigin::with_edge(&edge).await;
    let (_, refresh, _) = origin.user("alice").await;
    origin
        .signed(
            "POST",
            "/api/token/blacklist/",
            &json!({"refresh": refresh}),
            None,
        )
        .await;

    let client = reqwest::Client::new();
    let delivered = push::push_pending(&origin.state, &client).await.unwrap();
    assert_eq!(delivered, 2);
    let batches = received.lock().unwrap().clone();
    let versions: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.changes.iter().map(|c| c.version))
        .collect();
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    assert_eq!(versions, sorted, "delivered in version order");
    assert_eq!(
        origin
            .count("SELECT count(*) FROM replication_changes WHERE pushed_at IS NULL")
            .await,
        0
    );

    // Nothing pending: a second push sends nothing.
    assert_eq!(push::push_pending(&origin.state, &client).await.unwrap(), 0);
    assert_eq!(received.lock().unwrap().len(), batches.len());
}

#[tokio::test]
async fn a_refused_push_leaves_everything_pending() {
    let (edge, received) = fake_edge(StatusCode::INTERNAL_SERVER_ERROR).await;
    let origin = TestOrigin::with_edge(&edge).await;
    origin.user("alice").await;
    let result = push::push_pending(&origin.state, &reqwest::Client::new()).await;
    assert!(result.is_err());
    assert_eq!(received.lock().unwrap().len(), 1, "the edge saw the batch");
    assert_eq!(
        origin
            .count("SELECT count(*) FROM replication_changes WHERE pushed_at IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn an_unreachable_edge_leaves_everything_pending() {
    let origin = TestOrigin::new().await; // edge URL points at a closed port
    origin.user("alice").await;
    assert!(
        push::push_pending(&origin.state, &reqwest::Client::new())
            .await
            .is_err()
    );
    assert_eq!(
        origin
            .count("SELECT count(*) FROM replication_changes WHERE pushed_at IS NULL")
            .await,
        1
    );
}
