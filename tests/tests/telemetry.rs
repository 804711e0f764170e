//! What operators read: one trace id finds a request's lines on both sides and its jobs' runs,
//! and no password, token or signature ever reaches a log.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::time::Duration;

use domain::signing::{self, Direction, SignedParts};
use e2e::{Stack, chrono_now, unique};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run under `./dev test`"))
}

/// A log's JSON lines (the others, such as wrangler's own, left out).
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(Value::is_object)
        .collect()
}

/// A field of a line, or of the span the line was written in.
fn field<'a>(line: &'a Value, name: &str) -> Option<&'a str> {
    line.get(name)
        .or_else(|| line.get("span").and_then(|span| span.get(name)))
        .and_then(Value::as_str)
}

#[tokio::test]
async fn one_trace_id_finds_a_requests_lines_on_the_edge_and_the_origin_and_its_jobs_runs() {
    let stack = Stack::new();
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let registered = stack.register_traced("traced", &traceparent).await;
    let welcome = format!("welcome:{}", registered.body["id"]);

    // The welcome email's job runs in the request's trace.
    let traced = |line: &Value| field(line, "trace_id") == Some(trace_id.as_str());
    let sent = stack
        .eventually(Duration::from_secs(30), || async {
            let (_, origin) = stack.log_text();
            json_lines(&origin).iter().any(|line| {
                traced(line)
                    && field(line, "email") == Some(welcome.as_str())
                    && field(line, "message") == Some("email sent")
            })
        })
        .await;
    let (edge, origin) = stack.log_text();
    let origin_lines: Vec<Value> = json_lines(&origin).into_iter().filter(traced).collect();
    assert!(
        sent,
        "the email job's run logs the request's trace id; the origin's lines with it: \
         {origin_lines:#?}"
    );
    assert!(
        origin_lines.iter().any(|line| {
            field(line, "message") == Some("request answered")
                && field(line, "path") == Some("/api/v1/auth/register/")
        }),
        "the origin's request line carries the trace id: {origin_lines:#?}"
    );
    assert!(
        origin_lines
            .iter()
            .any(|line| field(line, "queue") == Some("email")),
        "the job's span names its queue: {origin_lines:#?}"
    );
    let edge_lines: Vec<Value> = json_lines(&edge).into_iter().filter(traced).collect();
    assert!(
        edge_lines
            .iter()
            .any(|line| field(line, "path") == Some("/api/v1/auth/register/")
                && line["status"] == json!(201)),
        "the edge's request line carries the trace id: {edge_lines:#?}"
    );
    // Each request's Analytics Engine point was accepted (a refusal is logged).
    assert!(
        !edge.contains("a data point was not written"),
        "the edge's analytics writes fail"
    );
}

#[tokio::test]
async fn passwords_tokens_signatures_and_addresses_never_reach_the_logs() {
    let stack = Stack::new();
    let username = unique("secretive");
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let address = format!("{username}@private.example.org");
    let registered = stack
        .post(
            "/api/v1/auth/register/",
            &json!({"username": username, "password": password, "email": address}),
            None,
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    // A failed login logs its refusal: with the password?
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let refused = stack
        .post(
            "/api/token/",
            &json!({"username": username, "password": wrong}),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let tokens = stack
        .post(
            "/api/token/",
            &json!({"username": username, "password": password}),
            None,
        )
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    let access = tokens.body["access"].as_str().unwrap().to_owned();
    let refresh = tokens.body["refresh"].as_str().unwrap().to_owned();
    let me = stack.get("/api/v1/auth/me/", Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK);
    let renewed = stack
        .post("/api/token/refresh/", &json!({"refresh": refresh}), None)
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);
    // The old refresh token again: refused, and logged as refused.
    let replayed = stack
        .post("/api/token/refresh/", &json!({"refresh": refresh}), None)
        .await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    let bad_bearer = stack
        .get("/api/v1/auth/me/", Some(&format!("{access}x")))
        .await;
    assert_eq!(bad_bearer.status, StatusCode::UNAUTHORIZED);

    // The edge's signature on a call to the origin, good and bad.
    let signature = signed_call(&stack, &var("E2E_ORIGIN_SECRET")).await;
    let forged = signed_call(&stack, "not-the-origin-secret-at-all-0000").await;
    // A Stripe signature the origin refuses.
    let stripe_signature =
        stripe_fake::signature::sign(br#"{"id":"evt_x"}"#, "whsec_not_ours", chrono_now());
    let webhook = stack
        .send(
            stack
                .request(Method::POST, "/webhooks/stripe/")
                .header("Stripe-Signature", &stripe_signature)
                .header("Content-Type", "application/json")
                .body(br#"{"id":"evt_y"}"#.to_vec()),
        )
        .await;
    assert_eq!(webhook.status, StatusCode::BAD_REQUEST);
    let v1 = stripe_signature
        .split(',')
        .find_map(|part| part.strip_prefix("v1="))
        .unwrap()
        .to_owned();

    // Whatever the logs hold by now (the welcome email's job included).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (edge, origin) = stack.log_text();
    for (what, secret) in [
        ("the password", password.as_str()),
        ("a wrong password", wrong.as_str()),
        ("the access token", access.as_str()),
        ("the refresh token", refresh.as_str()),
        (
            "the renewed access token",
            renewed.body["access"].as_str().unwrap(),
        ),
        ("the edge's signature", signature.as_str()),
        ("a forged signature", forged.as_str()),
        ("Stripe's signature", v1.as_str()),
        ("the email address", address.as_str()),
    ] {
        for (log, text) in [("edge", &edge), ("origin", &origin)] {
            assert!(!text.contains(secret), "{what} is in the {log} log");
        }
    }
    // The JWTs' signature parts alone, too (a token cut up into fields).
    for token in [&access, &refresh] {
        let tail = token.rsplit('.').next().unwrap();
        assert!(
            !edge.contains(tail) && !origin.contains(tail),
            "a token's signature is in a log"
        );
    }
}

/// A signed call straight to the origin under `key`, as the edge makes them; the signature it
/// carried.
async fn signed_call(stack: &Stack, key: &str) -> String {
    let body = br#"{"username":"nobody","password":"x"}"#;
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let parts = SignedParts {
        direction: Direction::EdgeToOrigin,
        method: "POST",
        path_and_query: "/api/token/",
        body,
        timestamp: chrono_now(),
        user_id: None,
        request_id: "telemetry-signed",
        idempotency_key: None,
        nonce: Some(&nonce),
    };
    let headers = signing::signed_headers(key.as_bytes(), &parts);
    let signature = headers
        .iter()
        .find(|(name, _)| *name == signing::SIGNATURE_HEADER)
        .map(|(_, value)| value.clone())
        .unwrap();
    let request = headers.into_iter().fold(
        reqwest::Client::new()
            .post(format!("{}/api/token/", stack.origin))
            .header("content-type", "application/json")
            .body(body.to_vec()),
        |request, (name, value)| request.header(name, value),
    );
    let answer = request.send().await.unwrap();
    assert!(
        answer.status().is_client_error(),
        "the call is answered ({})",
        answer.status()
    );
    signature
}
