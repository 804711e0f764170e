//! What every response of the edge wears, and the errors it answers by itself.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

use e2e::{Stack, unique};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn unknown_paths_are_json_404s_with_the_standard_headers() {
    let stack = Stack::new();
    let answer = stack.get("/no/such/path/", None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.body,
        json!({"status_code": 404, "errors": {"detail": "Not found."}})
    );
    assert_eq!(answer.header("content-type"), Some("application/json"));
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("vary", "Origin"),
    ] {
        assert_eq!(answer.header(name), Some(value), "{name}");
    }
    assert!(
        answer
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty())
    );
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let stack = Stack::new();
    let answer = stack
        .send(stack.request(Method::PUT, "/api/v1/auth/me/"))
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.header("allow"), Some("GET, HEAD, DELETE, OPTIONS"));
    assert_eq!(
        answer.errors(),
        &json!({"detail": "Method \"PUT\" not allowed."})
    );
}

/// Extension methods are never served as reads (the runtime's own method type would have
/// turned them into `GET`).
#[tokio::test]
async fn extension_methods_are_405_not_reads() {
    let stack = Stack::new();
    let user = stack.user().await;
    for name in ["PROPFIND", "QUERY", "PURGE"] {
        let method = Method::from_bytes(name.as_bytes()).unwrap();
        let answer = stack
            .send(
                stack
                    .request(method, "/api/v1/auth/me/")
                    .bearer_auth(&user.access),
            )
            .await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{name}");
        assert_eq!(
            answer.header("allow"),
            Some("GET, HEAD, DELETE, OPTIONS"),
            "{name}"
        );
        assert_eq!(
            answer.errors(),
            &json!({"detail": format!("Method \"{name}\" not allowed.")}),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_cors_preflight_is_answered_as_the_contract_says() {
    let stack = Stack::new();
    let answer = stack
        .send(
            stack
                .request(Method::OPTIONS, "/api/token/")
                .header("origin", "http://localhost:3000")
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "content-type, authorization",
                ),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, serde_json::Value::Null, "empty body");
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("*"),
        "development allows every origin"
    );
    assert_eq!(
        answer.header("access-control-allow-methods"),
        Some("DELETE, GET, OPTIONS, PATCH, POST, PUT")
    );
    assert_eq!(answer.header("access-control-max-age"), Some("86400"));
    let allowed = answer.header("access-control-allow-headers").unwrap();
    for header in [
        "authorization",
        "content-type",
        "idempotency-key",
        "x-requested-with",
    ] {
        assert!(allowed.contains(header), "{header} in {allowed}");
    }
    let simple = stack
        .send(
            stack
                .request(Method::GET, "/health/")
                .header("origin", "http://localhost:3000"),
        )
        .await;
    assert!(
        simple
            .header("access-control-expose-headers")
            .is_some_and(|h| h.contains("X-Request-ID"))
    );
}

#[tokio::test]
async fn the_trailing_slash_is_optional() {
    let stack = Stack::new();
    let user = stack.user().await;
    let answer = stack.get("/api/v1/auth/me", Some(&user.access)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let login = stack
        .post(
            "/api/token",
            &json!({"username": user.username, "password": user.password}),
            None,
        )
        .await;
    assert_eq!(
        login.status,
        StatusCode::OK,
        "forwarded writes too: {:?}",
        login.body
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let stack = Stack::new();
    let health = stack.get("/health/", None).await;
    assert_eq!(
        (health.status, health.body),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let ready = stack.get("/ready/", None).await;
    assert_eq!(
        (ready.status, ready.body),
        (StatusCode::OK, json!({"status": "ready"}))
    );
}

#[tokio::test]
async fn a_request_id_is_echoed_and_appears_in_both_services_logs() {
    let stack = Stack::new();
    let id = unique("trace");
    let answer = stack
        .send(
            stack
                .request(Method::POST, "/api/token/")
                .header("x-request-id", &id)
                .json(&json!({"username": unique("nobody"), "password": "whatever-it-is"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.header("x-request-id"), Some(id.as_str()));
    let found = stack
        .eventually(std::time::Duration::from_secs(5), || {
            let (edge, origin) = stack.log_text();
            let id = id.clone();
            async move { edge.contains(&id) && origin.contains(&id) }
        })
        .await;
    assert!(
        found,
        "request id {id} must appear in edge.log and origin.log"
    );
}

#[tokio::test]
async fn the_origin_refuses_requests_that_did_not_come_through_the_edge() {
    let stack = Stack::new();
    let client = reqwest::Client::new();
    let direct = client
        .post(format!("{}/api/v1/auth/register/", stack.origin))
        .header("x-edge-user", "1")
        .json(&json!({"username": unique("sneaky"), "password": "a-fine-password", "email": "s@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_internal_push_endpoint_hides_from_unsigned_callers() {
    let stack = Stack::new();
    let answer = stack
        .post("/internal/replicate/", &json!({"changes": []}), None)
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_captured_signed_request_sent_again_is_refused() {
    use domain::signing::{self, Direction, SignedParts};
    let stack = Stack::new();
    let secret = std::env::var("E2E_ORIGIN_SECRET").unwrap();
    let username = unique("captured");
    let body = json!({"username": username, "password": "a-fine-password",
                      "email": format!("{username}@example.com")})
    .to_string();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let parts = SignedParts {
        direction: Direction::EdgeToOrigin,
        method: "POST",
        path_and_query: "/api/v1/auth/register/",
        body: body.as_bytes(),
        timestamp: i64::try_from(timestamp).unwrap(),
        user_id: None,
        request_id: "e2e-captured",
        idempotency_key: None,
        nonce: Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
    };
    let mut captured = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/register/", stack.origin))
        .header("content-type", "application/json")
        .body(body.clone());
    for (name, value) in signing::signed_headers(secret.as_bytes(), &parts) {
        captured = captured.header(name, value);
    }
    let replay = captured.try_clone().unwrap();
    let first = captured.send().await.unwrap();
    assert_eq!(
        first.status(),
        StatusCode::CREATED,
        "the origin registers it"
    );
    let again = replay.send().await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::UNAUTHORIZED,
        "the same bytes again"
    );
    assert_eq!(stack.users_named(&username).await, 1, "registered once");
}

/// Under the relaxed limits a user's reads are leased ten at a time, and each lease is topped
/// up under `waitUntil` before it runs out, its last units spent while the top-up is on its
/// way: across every switch the headers must still count down by exactly one per read, as if
/// each read had been counted alone at the object.
#[tokio::test]
async fn a_users_reads_count_down_one_by_one_across_leases_and_top_ups() {
    let stack = Stack::new();
    let user = stack.user().await;
    let mut remaining = Vec::new();
    for _ in 0..45 {
        let answer = stack.get("/api/v1/projects/", Some(&user.access)).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        let left: i64 = answer
            .header("ratelimit-remaining")
            .unwrap()
            .parse()
            .unwrap();
        remaining.push(left);
    }
    let steps: Vec<i64> = remaining.windows(2).map(|w| w[0] - w[1]).collect();
    assert!(
        steps.iter().all(|&step| step == 1),
        "not one per read: {remaining:?}"
    );
}
