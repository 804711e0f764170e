//! The origin trusts the edge's signature and nothing else.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::{TestOrigin, now, signed_request};

const REGISTER: &str = "/api/v1/auth/register/";

fn registration() -> Vec<u8> {
    json!({"username": "mallory", "password": "a-fine-password", "email": "m@example.com"})
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn unsigned_stale_or_tampered_requests_are_401_and_write_nothing() {
    let origin = TestOrigin::new().await;
    let body = registration();

    let unsigned = axum::http::Request::builder()
        .method("POST")
        .uri(REGISTER)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.clone()))
        .unwrap();
    let stale = signed_request("POST", REGISTER, &body, None, now() - 3600, None);
    let mut tampered = signed_request("POST", REGISTER, &body, None, now(), None);
    *tampered.body_mut() = axum::body::Body::from(
        json!({"username": "mallory2", "password": "a-fine-password", "email": "m@example.com"})
            .to_string(),
    );
    let mut other_path = signed_request("POST", REGISTER, &body, None, now(), None);
    *other_path.uri_mut() = "/api/token/".parse().unwrap();

    for (case, request) in [
        ("unsigned", unsigned),
        ("stale", stale),
        ("tampered body", tampered),
        ("other path", other_path),
    ] {
        let answer = origin.send(request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{case}");
        assert!(
            !answer.reply_header,
            "{case}: a refusal is not a reply the edge may relay"
        );
    }
    assert_eq!(origin.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn a_client_supplied_identity_header_is_never_trusted() {
    let origin = TestOrigin::new().await;
    let (alice, _, _) = origin.user("alice").await;
    let (bob, _, _) = origin.user("bob").await;
    // Signed for alice, then the user header swapped to bob's id.
    let body = json!({"password": "a-fine-password"}).to_string();
    let mut request = signed_request(
        "DELETE",
        "/api/v1/auth/me/",
        body.as_bytes(),
        Some(alice),
        now(),
        None,
    );
    request
        .headers_mut()
        .insert("x-edge-user", bob.to_string().parse().unwrap());
    let answer = origin.send(request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(origin.count("SELECT count(*) FROM users").await, 2);
}

#[tokio::test]
async fn health_and_readiness_need_no_signature() {
    let origin = TestOrigin::new().await;
    for path in ["/health/", "/ready/"] {
        let request = axum::http::Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = origin.send(request).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn an_unknown_path_is_a_404_reply() {
    let origin = TestOrigin::new().await;
    let answer = origin
        .signed("POST", "/api/nothing/", &json!({}), None)
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body()["errors"], json!({"detail": "Not found."}));
}

/// The same signed request, byte for byte, as a captured one would be sent again.
fn copy_of(
    request: &axum::http::Request<axum::body::Body>,
    body: &[u8],
) -> axum::http::Request<axum::body::Body> {
    let mut copy = axum::http::Request::builder()
        .method(request.method().clone())
        .uri(request.uri().clone());
    for (name, value) in request.headers() {
        copy = copy.header(name, value);
    }
    copy.body(axum::body::Body::from(body.to_vec())).unwrap()
}

#[tokio::test]
async fn a_signed_request_sent_again_within_its_window_is_refused_as_a_replay() {
    let origin = TestOrigin::new().await;
    let body = registration();
    let original = signed_request("POST", REGISTER, &body, None, now(), None);
    let replay = copy_of(&original, &body);
    let first = origin.send(original).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = origin.send(replay).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "a replay");
    assert!(!again.reply_header, "refused as unsigned, not answered");
    assert_eq!(origin.count("SELECT count(*) FROM users").await, 1);

    // A request without a nonce never came from the edge either.
    let mut bare = signed_request("POST", REGISTER, &body, None, now(), None);
    bare.headers_mut().remove(domain::signing::NONCE_HEADER);
    assert_eq!(origin.send(bare).await.status, StatusCode::UNAUTHORIZED);

    // Nonces outlive their window by a margin only: the purge drops the expired ones.
    sqlx::query("UPDATE request_nonces SET expires_at = now() - interval '1 second'")
        .execute(&origin.db)
        .await
        .unwrap();
    let gone = origin_worker::http::signed::forget_expired_nonces(&origin.db)
        .await
        .unwrap();
    assert_eq!(gone, 1);
}
