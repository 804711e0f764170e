//! Rate limits through the real edge and its Durable Object: DRF's 429 and headers, every
//! scope, the credentials endpoints counted per address, a user's burst with its wait
//! honoured, and concurrency held to the stated overshoot.
//!
//! `cargo xtask test` runs these after the other tests, with the edge restarted on small
//! limits ([`LIMITS`]); each test speaks from addresses of its own (`CF-Connecting-IP`, which
//! `wrangler dev` passes through as Cloudflare would set it), so they run side by side.
//! `throttling_restart.rs` runs after one more restart of the edge.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::time::Duration;

use e2e::{Answer, Stack, unique};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The limits the edge runs with here (`xtask`'s `THROTTLING_LIMITS` sets them).
const ANON_PER_DAY: u64 = 5;
const BURST_PER_MIN: u64 = 4;
const CREDENTIALS_PER_MIN: u64 = 3;
const LEASE: u64 = 2;

/// The address `throttling_restart.rs` expects to find exhausted.
const EXHAUSTED: &str = "198.51.100.250";

/// An address no other test uses.
fn address(test: u8) -> String {
    format!("198.51.100.{test}")
}

fn from(stack: &Stack, method: Method, path: &str, address: &str) -> reqwest::RequestBuilder {
    stack
        .request(method, path)
        .header("cf-connecting-ip", address)
}

fn number(answer: &Answer, header: &str) -> u64 {
    answer
        .header(header)
        .unwrap_or_else(|| panic!("no {header}: {answer:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{header} is not a whole number: {answer:?}"))
}

/// Checks a 429 as DRF answers it; answers its wait.
fn throttled(answer: &Answer) -> u64 {
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{answer:?}");
    let wait = number(answer, "retry-after");
    assert!(wait >= 1, "{answer:?}");
    let unit = if wait == 1 { "second" } else { "seconds" };
    assert_eq!(
        answer.body,
        json!({"status_code": 429, "errors": {
            "detail": format!("Request was throttled. Expected available in {wait} {unit}.")
        }})
    );
    assert_eq!(number(answer, "ratelimit-remaining"), 0);
    wait
}

#[tokio::test]
async fn an_address_gets_its_anonymous_day_then_drfs_429_with_the_headers_exposed() {
    let stack = Stack::new();
    let here = address(1);
    let products = || async {
        stack
            .send(
                from(&stack, Method::GET, "/api/v1/products/", &here)
                    .header("origin", "https://app.example.com"),
            )
            .await
    };
    let mut remaining = Vec::new();
    for _ in 0..ANON_PER_DAY {
        let answer = products().await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(number(&answer, "ratelimit-limit"), ANON_PER_DAY);
        remaining.push(number(&answer, "ratelimit-remaining"));
        let exposed = answer.header("access-control-expose-headers").unwrap();
        assert!(exposed.contains("RateLimit-Remaining") && exposed.contains("Retry-After"));
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0], "counted down one per request");
    let wait = throttled(&products().await);
    assert!(wait > 86_000 && wait <= 86_400, "a day's wait: {wait}");
    // Refused again and again, and not counted: the wait does not move.
    for _ in 0..3 {
        assert!(throttled(&products().await) <= wait);
    }
    // Another address is another count.
    let elsewhere = stack
        .send(from(&stack, Method::GET, "/api/v1/products/", &address(2)))
        .await;
    assert_eq!(elsewhere.status, StatusCode::OK);
}

#[tokio::test]
async fn the_credentials_endpoints_count_every_request_per_address_on_their_stricter_scope() {
    let stack = Stack::new();
    let here = address(3);
    let login = || async {
        stack
            .send(
                from(&stack, Method::POST, "/api/token/", &here)
                    .json(&json!({"username": "nobody-at-all", "password": "wrong-password"})),
            )
            .await
    };
    for _ in 0..CREDENTIALS_PER_MIN {
        let refused = login().await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
        assert_eq!(refused.header("cache-control"), Some("no-store"));
    }
    let wait = throttled(&login().await);
    assert!(wait <= 60, "the minute's scope decides: {wait}");
}

/// Registers a user from `address` and logs in: two requests on the credentials scope.
async fn user_from(stack: &Stack, address: &str) -> String {
    let username = unique("throttled");
    let body = json!({"username": username, "password": "a-fine-password",
                      "email": format!("{username}@example.com")});
    let created = stack
        .send(from(stack, Method::POST, "/api/v1/auth/register/", address).json(&body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let tokens = stack
        .send(
            from(stack, Method::POST, "/api/token/", address)
                .json(&json!({"username": username, "password": "a-fine-password"})),
        )
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{tokens:?}");
    tokens.body["access"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_users_burst_is_theirs_and_after_the_wait_one_more_request_succeeds() {
    let stack = Stack::new();
    let token = user_from(&stack, &address(4)).await;
    let me = || async {
        stack
            .send(from(&stack, Method::GET, "/api/v1/auth/me/", &address(5)).bearer_auth(&token))
            .await
    };
    for _ in 0..BURST_PER_MIN {
        let answer = me().await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }
    let wait = throttled(&me().await);
    assert!(wait <= 60, "the burst's minute: {wait}");
    // Another user, from the same address, is not held back by this one's burst.
    let other = user_from(&stack, &address(6)).await;
    let theirs = stack
        .send(from(&stack, Method::GET, "/api/v1/auth/me/", &address(5)).bearer_auth(&other))
        .await;
    assert_eq!(theirs.status, StatusCode::OK, "{theirs:?}");

    tokio::time::sleep(Duration::from_secs(wait + 1)).await;
    let after = me().await;
    assert_eq!(after.status, StatusCode::OK, "after the wait: {after:?}");
}

#[tokio::test]
async fn concurrent_requests_never_let_more_than_one_lease_past_the_limit() {
    let stack = Stack::new();
    let token = user_from(&stack, &address(7)).await;
    let requests = (0..30).map(|_| {
        let stack = stack.clone();
        let token = token.clone();
        async move {
            stack
                .send(
                    from(&stack, Method::GET, "/api/v1/auth/me/", &address(8)).bearer_auth(&token),
                )
                .await
        }
    });
    let answers: Vec<Answer> = futures::future::join_all(requests).await;
    let allowed = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count() as u64;
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count() as u64;
    assert_eq!(allowed + refused, 30, "only 200s and 429s");
    assert!(
        (1..=BURST_PER_MIN + LEASE).contains(&allowed),
        "{allowed} allowed of 30 at {BURST_PER_MIN}/min (at most one lease of {LEASE} over)"
    );
}

#[tokio::test]
async fn an_address_is_exhausted_for_the_check_after_a_restart() {
    let stack = Stack::new();
    let mut last: Option<Answer> = None;
    for _ in 0..=ANON_PER_DAY {
        last = Some(
            stack
                .send(from(&stack, Method::GET, "/api/v1/products/", EXHAUSTED))
                .await,
        );
    }
    throttled(&last.unwrap());
}
