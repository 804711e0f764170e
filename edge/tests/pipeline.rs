//! The edge's request pipeline, natively: routing, errors, CORS, headers, authentication,
//! forwarding and the replica, against SQLite and a scripted origin.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use domain::limits::{MAX_HEADER_BYTES, MAX_QUERY_BYTES};
use domain::replication::{Change, ChangeKind, UserReplica};
use domain::signing::{self, Direction, Received};
use edge::http::Request;
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{CountingReplica, NOW, ORIGIN_SECRET, TestEdge, body, settings};

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404_with_every_standard_header() {
    let edge = TestEdge::new();
    let response = edge.send(Request::new("GET", "/nope/")).await;
    assert_eq!(response.status, 404);
    assert_eq!(
        body(&response),
        json!({"status_code": 404, "errors": {"detail": "Not found."}})
    );
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("referrer-policy", "same-origin"),
        ("vary", "Origin"),
        ("x-request-id", "generated-id"),
        ("content-type", "application/json"),
    ] {
        assert_eq!(response.header(name), Some(value), "header {name}");
    }
    assert!(
        response.header("strict-transport-security").is_some(),
        "HSTS in production"
    );
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let edge = TestEdge::new();
    let response = edge.send(Request::new("PUT", "/api/token/")).await;
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
    assert_eq!(
        body(&response)["errors"],
        json!({"detail": "Method \"PUT\" not allowed."})
    );
}

#[tokio::test]
async fn a_plain_client_request_id_is_kept_and_a_strange_one_replaced() {
    let edge = TestEdge::new();
    let kept = edge
        .send(Request::new("GET", "/health").with_header("x-request-id", "abc-123"))
        .await;
    assert_eq!(kept.header("x-request-id"), Some("abc-123"));
    let replaced = edge
        .send(Request::new("GET", "/health").with_header("x-request-id", "a b\"<script>"))
        .await;
    assert_eq!(replaced.header("x-request-id"), Some("generated-id"));
}

#[tokio::test]
async fn health_needs_nothing_and_ready_names_what_is_down() {
    let edge = TestEdge::new();
    let health = edge.send(Request::new("GET", "/health/")).await;
    assert_eq!(
        (health.status, body(&health)),
        (200, json!({"status": "ok"}))
    );

    edge.origin.fail();
    let ready = edge.send(Request::new("GET", "/ready/")).await;
    assert_eq!(ready.status, 503);
    assert_eq!(body(&ready)["errors"]["down"], json!(["origin"]));

    edge.origin
        .reply(200, Some(json!({"status": "ready"})), vec![]);
    let ready = edge.send(Request::new("GET", "/ready/")).await;
    assert_eq!(
        (ready.status, body(&ready)),
        (200, json!({"status": "ready"}))
    );
}

#[tokio::test]
async fn a_preflight_gets_the_contract_headers() {
    let edge = TestEdge::with_settings(settings(&[(
        "CORS_ALLOWED_ORIGINS",
        "https://app.example.com",
    )]));
    let preflight = Request::new("OPTIONS", "/api/v1/auth/me/")
        .with_header("origin", "https://app.example.com")
        .with_header("access-control-request-method", "DELETE");
    let response = edge.send(preflight).await;
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(response.header("access-control-max-age"), Some("86400"));
    assert_eq!(
        response.header("access-control-allow-methods"),
        Some("DELETE, GET, OPTIONS, PATCH, POST, PUT")
    );
    assert!(
        response
            .header("access-control-allow-headers")
            .unwrap()
            .contains("idempotency-key")
    );
    assert_eq!(response.header("vary"), Some("Origin"));
}

#[tokio::test]
async fn a_foreign_origin_gets_no_allow_origin() {
    let edge = TestEdge::with_settings(settings(&[(
        "CORS_ALLOWED_ORIGINS",
        "https://app.example.com",
    )]));
    let response = edge
        .send(Request::new("GET", "/health/").with_header("origin", "https://evil.example"))
        .await;
    assert_eq!(response.header("access-control-allow-origin"), None);
    assert_eq!(response.header("vary"), Some("Origin"));
    let allowed = edge
        .send(Request::new("GET", "/health/").with_header("origin", "https://app.example.com"))
        .await;
    assert!(
        allowed
            .header("access-control-expose-headers")
            .unwrap()
            .contains("X-Request-ID")
    );
}

#[tokio::test]
async fn me_without_credentials_is_401_with_a_challenge() {
    let edge = TestEdge::new();
    let response = edge.send(Request::new("GET", "/api/v1/auth/me/")).await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Bearer realm="api""#)
    );
    assert_eq!(
        body(&response)["errors"],
        json!({"detail": "Authentication credentials were not provided."})
    );
}

#[tokio::test]
async fn me_answers_from_the_replica_without_the_origin() {
    let edge = TestEdge::new();
    let (user, access) = edge.user(7, "alice").await;
    let response = edge
        .send(
            Request::new("GET", "/api/v1/auth/me/").with_header("authorization", &bearer(&access)),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(body(&response), json!(user));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert!(
        edge.origin.received.borrow().is_empty(),
        "reads never touch the origin"
    );
}

#[tokio::test]
async fn bad_bearer_tokens_are_refused_with_simplejwt_messages() {
    let edge = TestEdge::new();
    let (_, access) = edge.user(7, "alice").await;
    let (refresh, _) = edge.tokens(7, "alice");
    let (_, ghost_access) = edge.tokens(99, "ghost");
    let cases: Vec<(&str, String, i64, serde_json::Value)> = vec![
        (
            "expired",
            bearer(&access),
            NOW + 15 * 60,
            json!("Token is expired"),
        ),
        ("garbage", bearer("x.y.z"), NOW, json!("Token is invalid")),
        (
            "refresh as access",
            bearer(&refresh),
            NOW,
            json!("Token has wrong type"),
        ),
    ];
    for (case, header, now, message) in cases {
        let request = Request::new("GET", "/api/v1/auth/me/").with_header("authorization", &header);
        let response = edge.send_at(request, now).await;
        assert_eq!(response.status, 401, "{case}");
        let errors = &body(&response)["errors"];
        assert_eq!(errors["code"], json!("token_not_valid"), "{case}");
        assert_eq!(errors["messages"][0]["message"], message, "{case}");
        assert_eq!(
            errors["messages"][0]["token_type"],
            json!("access"),
            "{case}"
        );
    }

    let two_tokens =
        Request::new("GET", "/api/v1/auth/me/").with_header("authorization", "Bearer a b");
    let response = edge.send(two_tokens).await;
    assert_eq!(
        (response.status, body(&response)["errors"]["code"].clone()),
        (401, json!("bad_authorization_header"))
    );

    let deleted = Request::new("GET", "/api/v1/auth/me/")
        .with_header("authorization", &bearer(&ghost_access));
    let response = edge.send(deleted).await;
    assert_eq!(
        body(&response)["errors"],
        json!({"detail": "User not found", "code": "user_not_found"})
    );

    let other_scheme =
        Request::new("GET", "/api/v1/auth/me/").with_header("authorization", "Basic abc");
    let response = edge.send(other_scheme).await;
    assert_eq!(
        body(&response)["errors"]["detail"],
        json!("Authentication credentials were not provided.")
    );
}

#[tokio::test]
async fn verify_checks_signature_expiry_and_the_denylist() {
    let edge = TestEdge::new();
    let (refresh, access) = edge.tokens(7, "alice");
    let verify = |token: &str| {
        Request::new("POST", "/api/token/verify/").with_json(&json!({"token": token}))
    };

    let ok = edge.send(verify(&access)).await;
    assert_eq!((ok.status, body(&ok)), (200, json!({})));

    let bad = edge.send(verify("nope")).await;
    assert_eq!(
        body(&bad)["errors"],
        json!({"detail": "Token is invalid", "code": "token_not_valid"})
    );

    let missing = edge
        .send(Request::new("POST", "/api/token/verify/").with_json(&json!({})))
        .await;
    assert_eq!(
        body(&missing)["errors"],
        json!({"token": ["This field is required."]})
    );

    edge::replica::apply(
        &edge.replica,
        &[Change {
            version: 1,
            owner: None,
            kind: ChangeKind::TokenDeny {
                jti: "r-7".into(),
                expires_at: NOW + 10,
            },
        }],
    )
    .await
    .unwrap();
    let denied = edge.send(verify(&refresh)).await;
    assert_eq!(denied.status, 400);
    assert_eq!(
        body(&denied)["errors"],
        json!({"non_field_errors": ["Token is blacklisted"]})
    );
}

#[tokio::test]
async fn a_registration_is_checked_signed_forwarded_and_written_through() {
    let edge = TestEdge::new();
    let user = UserReplica {
        id: domain::UserId::new(5),
        username: "bob".into(),
        email: "bob@example.com".into(),
        is_staff: false,
        date_joined: "2025-01-01T00:00:00.000000Z".into(),
    };
    edge.origin.reply(
        201,
        Some(json!({"id": 5, "username": "bob", "email": "bob@example.com"})),
        vec![Change {
            version: 3,
            owner: None,
            kind: ChangeKind::UserUpsert(user),
        }],
    );
    let payload =
        json!({"username": "bob", "email": "bob@example.com", "password": "a-long-password"});
    let response = edge
        .send(
            Request::new("POST", "/api/v1/auth/register/?src=app")
                .with_json(&payload)
                .with_header("x-edge-user", "1"),
        )
        .await;
    assert_eq!(response.status, 201);
    assert_eq!(body(&response)["id"], json!(5));

    let sent = edge.origin.received.borrow()[0].clone();
    let header = |name: &str| {
        sent.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(sent.path_and_query, "/api/v1/auth/register/?src=app");
    assert_eq!(
        header("x-edge-user"),
        None,
        "a client's identity header is never passed on"
    );
    let received = Received {
        direction: Direction::EdgeToOrigin,
        method: "POST",
        path_and_query: &sent.path_and_query,
        body: &sent.body,
    };
    let verified = signing::check_signed_headers(
        ORIGIN_SECRET.as_bytes(),
        received,
        |name| {
            sent.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        },
        NOW,
        60,
    );
    assert_eq!(verified.map(|v| v.user), Ok(None), "signed, for no user");

    let rows = edge.replica.rows("SELECT id, username, version FROM users");
    assert_eq!(
        rows,
        vec![json!({"id": 5, "username": "bob", "version": 3})]
    );
}

#[tokio::test]
async fn bad_registrations_never_reach_the_origin() {
    let edge = TestEdge::new();
    let cases = [
        (
            "malformed",
            Request::new("POST", "/api/v1/auth/register/")
                .with_header("content-type", "application/json"),
            b"{".to_vec(),
            400,
        ),
        (
            "wrong type",
            Request::new("POST", "/api/v1/auth/register/")
                .with_header("content-type", "text/plain"),
            b"hi".to_vec(),
            415,
        ),
        (
            "too large",
            Request::new("POST", "/api/v1/auth/register/")
                .with_header("content-type", "application/json"),
            vec![b' '; 70_000],
            413,
        ),
        (
            "weak",
            Request::new("POST", "/api/v1/auth/register/")
                .with_header("content-type", "application/json"),
            br#"{"username":"u1","email":"u@example.com","password":"1234"}"#.to_vec(),
            400,
        ),
    ];
    for (case, mut request, payload, status) in cases {
        request.body = payload;
        let response = edge.send(request).await;
        assert_eq!(response.status, status, "{case}: {:?}", body(&response));
        assert_eq!(body(&response)["status_code"], json!(status), "{case}");
    }
    assert!(edge.origin.received.borrow().is_empty());
}

#[tokio::test]
async fn a_long_query_or_header_section_is_refused_before_routing_or_authentication() {
    let edge = TestEdge::new();
    let at_limit = format!("/api/v1/tasks/?pad={}", "x".repeat(MAX_QUERY_BYTES - 4));
    let past_limit = format!("{at_limit}x");
    let cases = [
        ("query at the limit", Request::new("GET", &at_limit), 401),
        ("query past it", Request::new("GET", &past_limit), 414),
        (
            "query past it, nowhere",
            Request::new(
                "GET",
                &format!("/nowhere/?{}", "x".repeat(MAX_QUERY_BYTES + 1)),
            ),
            414,
        ),
        (
            "headers at the limit",
            Request::new("GET", "/api/v1/tasks/")
                .with_header("x-pad", &"y".repeat(MAX_HEADER_BYTES - "x-pad".len())),
            401,
        ),
        (
            "headers past it",
            Request::new("GET", "/api/v1/tasks/")
                .with_header("x-pad", &"y".repeat(MAX_HEADER_BYTES - "x-pad".len() + 1)),
            431,
        ),
    ];
    for (case, request, status) in cases {
        let response = edge.send(request).await;
        assert_eq!(response.status, status, "{case}: {:?}", body(&response));
        assert_eq!(body(&response)["status_code"], json!(status), "{case}");
    }
}

#[tokio::test]
async fn an_unreachable_origin_is_503_and_an_unsigned_reply_is_500() {
    let edge = TestEdge::new();
    edge.origin.fail();
    let login = || {
        Request::new("POST", "/api/token/").with_json(&json!({"username": "a", "password": "b"}))
    };
    let response = edge.send(login()).await;
    assert_eq!(response.status, 503);
    assert_eq!(response.header("retry-after"), Some("5"));
    assert_eq!(
        body(&response)["errors"]["request_id"],
        json!("generated-id")
    );

    edge.origin
        .answers
        .borrow_mut()
        .push_back(Ok(edge::platform::OriginResponse {
            status: 200,
            headers: vec![],
            body: b"<html>proxy error</html>".to_vec(),
        }));
    let response = edge.send(login()).await;
    assert_eq!(response.status, 500);
    assert_eq!(
        body(&response)["errors"],
        json!({"detail": "Server error", "request_id": "generated-id"})
    );
    assert!(
        edge.logs
            .borrow()
            .iter()
            .any(|line| line.contains("generated-id")),
        "faults are logged with the id"
    );
}

#[tokio::test]
async fn refresh_with_a_bad_token_is_refused_at_the_edge() {
    let edge = TestEdge::new();
    let (_, access) = edge.tokens(7, "alice");
    let response = edge
        .send(Request::new("POST", "/api/token/refresh/").with_json(&json!({"refresh": access})))
        .await;
    assert_eq!(response.status, 401);
    assert_eq!(
        body(&response)["errors"],
        json!({"detail": "Token has wrong type", "code": "token_not_valid"})
    );
    assert!(edge.origin.received.borrow().is_empty());
}

/// A concrete path for a route's pattern.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
}

#[tokio::test]
async fn the_route_table_decides_who_may_call_each_endpoint() {
    use edge::routes::{Access, ROUTES};
    let edge = TestEdge::new();
    for route in ROUTES {
        let path = concrete(route.path);
        let response = edge
            .send(Request::new(route.method.as_str(), &path).with_json(&json!({})))
            .await;
        let expected = match route.access {
            // A download's credential is its signed URL, which this one lacks: the same 404
            // as any bad link.
            Access::Public if route.path == edge::routes::MEDIA => Some(404),
            // Anyone gets past authentication: whatever it answers, it is not a refusal of the
            // caller (a bad body is 400, the absent origin 503).
            Access::Public => None,
            Access::User => Some(401),
            Access::Origin => Some(404),
            // A guest is let through (the handler decides what a guest may see); a bearer
            // token, when sent, must verify.
            Access::UserOrGuest => {
                let forged = edge
                    .send(
                        Request::new(route.method.as_str(), &path)
                            .with_header("authorization", "Bearer not-a-token")
                            .with_json(&json!({})),
                    )
                    .await;
                assert_eq!(
                    forged.status,
                    401,
                    "{} {path} with a bad token",
                    route.method.as_str()
                );
                continue;
            }
        };
        match expected {
            Some(status) => assert_eq!(
                response.status,
                status,
                "{} {path} without credentials",
                route.method.as_str()
            ),
            None => assert!(
                ![401, 404, 405].contains(&response.status),
                "{} {path} is public but answered {}",
                route.method.as_str(),
                response.status
            ),
        }
    }
}

#[tokio::test]
async fn every_path_refuses_extension_methods_with_its_allow_list() {
    use edge::routes::ROUTES;
    let edge = TestEdge::new();
    for route in ROUTES {
        let path = concrete(route.path);
        let response = edge.send(Request::new("PROPFIND", &path)).await;
        assert_eq!(response.status, 405, "PROPFIND {path}");
        let allow = response.header("allow").unwrap_or_default().to_owned();
        assert!(
            allow.contains(route.method.as_str()) && allow.ends_with("OPTIONS"),
            "{path}: Allow {allow:?} lacks {}",
            route.method.as_str()
        );
    }
}

#[tokio::test]
async fn an_origin_refusal_keeps_its_challenge_and_nothing_else() {
    let edge = TestEdge::new();
    let mut refusal =
        domain::wire::OriginReply::error(&domain::ApiError::BadCredentials, "origin-id");
    refusal
        .headers
        .push(("set-cookie".into(), "session=stolen".into()));
    edge.origin.queue(&refusal);
    let response = edge
        .send(
            Request::new("POST", "/api/token/")
                .with_json(&json!({"username": "alice", "password": "wrong-password"})),
        )
        .await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Bearer realm="api""#)
    );
    assert_eq!(
        response.header("set-cookie"),
        None,
        "only known headers pass"
    );
}

#[tokio::test]
async fn every_answer_of_the_token_and_registration_endpoints_is_no_store() {
    let edge = TestEdge::new();
    edge.origin
        .reply(200, Some(json!({"refresh": "r", "access": "a"})), vec![]);
    let issued = edge
        .send(
            Request::new("POST", "/api/token/")
                .with_json(&json!({"username": "alice", "password": "a-fine-password"})),
        )
        .await;
    assert_eq!(issued.status, 200);
    assert_eq!(issued.header("cache-control"), Some("no-store"));
    for path in [
        "/api/token/",
        "/api/token/refresh/",
        "/api/token/verify/",
        "/api/token/blacklist/",
        "/api/v1/auth/register/",
    ] {
        let refused = edge
            .send(Request::new("POST", path).with_json(&json!({})))
            .await;
        assert_eq!(refused.status, 400, "{path}");
        assert_eq!(refused.header("cache-control"), Some("no-store"), "{path}");
    }
    let health = edge.send(Request::new("GET", "/health/")).await;
    assert_eq!(
        health.header("cache-control"),
        None,
        "public answers stay cacheable"
    );
}

#[tokio::test]
async fn the_isolate_reports_its_request_count_to_the_origin_only() {
    let edge = TestEdge::new();
    let signed = || isolate_call(ORIGIN_SECRET, NOW);
    let unsigned = edge
        .send(Request::new("GET", domain::paths::INTERNAL_ISOLATE))
        .await;
    assert_eq!(unsigned.status, 404);

    let first = body(&edge.send(signed()).await);
    let second = body(&edge.send(signed()).await);
    // The counter is the process's (tests run in parallel): it only ever grows, and counts
    // at least the requests in between.
    let count = |answer: &serde_json::Value| answer["requests_handled"].as_u64().unwrap();
    assert!(count(&second) > count(&first), "{first} then {second}");
    // Natively there is no wasm linear memory to report.
    assert_eq!(second["linear_memory_bytes"], json!(null));
}

#[tokio::test]
async fn a_bad_task_body_also_names_a_project_that_is_not_the_callers() {
    let edge = TestEdge::new();
    let (_, alice) = edge.user(1, "alice").await;
    edge.user(2, "bob").await;
    let project = |id: i64, owner: i64| Change {
        version: 100 + id,
        owner: None,
        kind: ChangeKind::ProjectUpsert(domain::projects::Project {
            id: domain::ProjectId::new(id),
            owner: domain::UserId::new(owner),
            name: format!("p{id}"),
            description: String::new(),
            is_archived: false,
            created_at: "2026-01-01T00:00:00.000000Z".into(),
        }),
    };
    edge::replica::apply(&edge.replica, &[project(10, 1), project(20, 2)])
        .await
        .unwrap();
    let create = |project: i64| {
        Request::new("POST", "/api/v1/tasks/")
            .with_header("authorization", &bearer(&alice))
            .with_json(&json!({"project": project, "title": "t", "due_date": "someday"}))
    };
    let date = json!(["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]);
    // As DRF: every field's problem at once, Bob's project and a missing one alike.
    for theirs in [20, 999] {
        let response = edge.send(create(theirs)).await;
        assert_eq!(response.status, 400);
        assert_eq!(
            body(&response)["errors"],
            json!({"project": [format!("Invalid pk \"{theirs}\" - object does not exist.")],
                   "due_date": date})
        );
    }
    // Her own project is fine: only the date is wrong.
    let response = edge.send(create(10)).await;
    assert_eq!(body(&response)["errors"], json!({"due_date": date}));
}

/// `GET /internal/isolate/` as the origin signs it with `key`, at `at`.
fn isolate_call(key: &str, at: i64) -> Request {
    let parts = signing::SignedParts {
        direction: Direction::OriginToEdge,
        method: "GET",
        path_and_query: domain::paths::INTERNAL_ISOLATE,
        body: b"",
        timestamp: at,
        user_id: None,
        request_id: "isolate-1",
        idempotency_key: None,
        nonce: None,
    };
    signing::signed_headers(key.as_bytes(), &parts)
        .into_iter()
        .fold(
            Request::new("GET", domain::paths::INTERNAL_ISOLATE),
            |request, (name, value)| request.with_header(name, &value),
        )
}

#[tokio::test]
async fn after_a_rotation_the_old_keys_work_until_the_overlap_ends_and_never_after() {
    const NEW_SIGNING_KEY: &str = "a-new-signing-key-of-32-bytes-ok";
    const NEW_ORIGIN_SECRET: &str = "a-new-origin-secret-of-32-bytes!";
    let overlap_ends = (NOW + 600).to_string();
    let before = TestEdge::new();
    let rotated = TestEdge::with_settings(settings(&[
        ("JWT_SIGNING_KEY", NEW_SIGNING_KEY),
        ("JWT_SIGNING_KEY_PREVIOUS", support::SIGNING_KEY),
        ("JWT_SIGNING_KEY_PREVIOUS_UNTIL", &overlap_ends),
        ("ORIGIN_SHARED_SECRET", NEW_ORIGIN_SECRET),
        ("ORIGIN_SHARED_SECRET_PREVIOUS", ORIGIN_SECRET),
        ("ORIGIN_SHARED_SECRET_PREVIOUS_UNTIL", &overlap_ends),
    ]));
    let (_, new_token) = rotated.user(7, "alice").await;
    // Issued before the rotation, and valid for 15 minutes from NOW.
    let (_, old_token) = before.tokens(7, "alice");
    let me = |token: &str| {
        Request::new("GET", "/api/v1/auth/me/").with_header("authorization", &bearer(token))
    };
    let during = NOW + 599;
    let after = NOW + 600;

    assert_eq!(rotated.send_at(me(&old_token), during).await.status, 200);
    assert_eq!(rotated.send_at(me(&new_token), during).await.status, 200);
    let refused = rotated.send_at(me(&old_token), after).await;
    assert_eq!(refused.status, 401, "{:?}", body(&refused));
    assert_eq!(body(&refused)["errors"]["code"], json!("token_not_valid"));
    assert_eq!(rotated.send_at(me(&new_token), after).await.status, 200);
    assert_eq!(
        before.send_at(me(&new_token), during).await.status,
        401,
        "the new key signs what the rotated edge issues"
    );

    // The origin's signature on internal calls, likewise.
    let old_signed = rotated
        .send_at(isolate_call(ORIGIN_SECRET, during), during)
        .await;
    assert_eq!(old_signed.status, 200);
    let new_signed = rotated
        .send_at(isolate_call(NEW_ORIGIN_SECRET, after), after)
        .await;
    assert_eq!(new_signed.status, 200);
    let too_late = rotated
        .send_at(isolate_call(ORIGIN_SECRET, after), after)
        .await;
    assert_eq!(too_late.status, 404, "the old secret no longer signs");
}

#[tokio::test]
async fn a_forwarded_call_continues_the_clients_trace_under_the_edges_span() {
    const CLIENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let edge = TestEdge::new();
    let forwarded_traceparent = |request: Request| async {
        edge.origin
            .reply(400, Some(json!({"username": ["taken"]})), vec![]);
        edge.send(request).await;
        let sent = edge.origin.received.borrow_mut().pop().unwrap();
        let traceparent = sent.headers.iter().find(|(name, _)| name == "traceparent");
        domain::trace::TraceContext::parse(&traceparent.unwrap().1).unwrap()
    };
    let register = || {
        Request::new("POST", "/api/v1/auth/register/").with_json(
            &json!({"username": "bob", "email": "bob@example.com", "password": "a-long-password"}),
        )
    };

    let continued = forwarded_traceparent(register().with_header("traceparent", CLIENT)).await;
    assert_eq!(continued.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(
        continued.span_id(),
        "00f067aa0ba902b7",
        "the edge's own span"
    );

    let started = forwarded_traceparent(register().with_header("traceparent", "garbage")).await;
    assert_ne!(started.trace_id(), continued.trace_id(), "a new trace");
}

#[tokio::test]
async fn a_hot_read_reads_the_account_in_its_own_d1_call_and_a_deleted_account_is_401_first() {
    let edge = TestEdge::new();
    let (_, alice) = edge.user(7, "alice").await;
    let (_, ghost) = edge.tokens(99, "ghost");
    let counting = CountingReplica::new(&edge.replica);
    let get = |path: &str, token: &str| {
        Request::new("GET", path).with_header("authorization", &bearer(token))
    };
    // (path, alice's status, D1 calls): one call each, the account's lookup included; a
    // `page=last` counts ahead, in a call that carries the lookup.
    let reads = [
        ("/api/v1/tasks/?done=true&ordering=-created_at", 200, 1),
        ("/api/v1/tasks/?page=last", 200, 2),
        ("/api/v1/projects/", 200, 1),
        ("/api/v1/orders/", 200, 1),
        ("/api/v1/tasks/5/", 404, 1),
        ("/api/v1/projects/5/", 404, 1),
        // Refused by what the batch found (no such page), or before it (a bad filter, a path
        // id that is no id), when the account is read alone on the way out.
        ("/api/v1/tasks/?page=9", 404, 1),
        ("/api/v1/tasks/?project=nope", 400, 1),
        ("/api/v1/tasks/abc/", 404, 1),
    ];
    for (path, status, calls) in reads {
        let response = edge.send_through(&counting, get(path, &alice)).await;
        assert_eq!(
            (response.status, counting.take()),
            (status, calls),
            "alice: {path}"
        );
        let response = edge.send_through(&counting, get(path, &ghost)).await;
        assert_eq!(
            (response.status, body(&response)["errors"]["code"].clone()),
            (401, json!("user_not_found")),
            "ghost: {path}"
        );
        counting.take();
    }
    // Every other handler reads the account before it runs.
    let me = edge
        .send_through(&counting, get("/api/v1/auth/me/", &alice))
        .await;
    assert_eq!((me.status, counting.take()), (200, 1));
}

#[tokio::test]
async fn a_deleted_account_over_its_rate_is_401_not_429() {
    let edge = TestEdge::with_settings(settings(&[
        ("THROTTLE_RATE_USER", "1/day"),
        ("THROTTLE_LEASE", "1"),
    ]));
    let (_, alice) = edge.user(7, "alice").await;
    let (_, ghost) = edge.tokens(99, "ghost");
    for (token, statuses) in [(&alice, [200, 429]), (&ghost, [401, 401])] {
        let mut seen = Vec::new();
        for _ in statuses {
            let request =
                Request::new("GET", "/api/v1/tasks/").with_header("authorization", &bearer(token));
            seen.push(edge.send(request).await.status);
        }
        assert_eq!(seen, statuses);
    }
}
