//! Rate limits through the edge's pipeline, natively, with the counts in memory: DRF's scopes,
//! its 429, the `RateLimit-*` headers, the leases that spare the reads a call per request, and
//! what happens when the counts cannot be reached.

#![allow(
    clippy::unwrap_used,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use edge::http::{Request, Response};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{NOW, TestEdge, body, settings};

/// An edge with these limits (the rest left out of reach).
fn edge(limits: &[(&str, &str)]) -> TestEdge {
    TestEdge::with_settings(settings(limits))
}

fn products(address: &str) -> Request {
    Request::new("GET", "/api/v1/products/").with_header("cf-connecting-ip", address)
}

fn verify(address: &str) -> Request {
    Request::new("POST", "/api/token/verify/")
        .with_header("cf-connecting-ip", address)
        .with_json(&json!({"token": "not-a-token"}))
}

fn headers(response: &Response) -> (Option<&str>, Option<&str>, Option<&str>) {
    (
        response.header("ratelimit-limit"),
        response.header("ratelimit-remaining"),
        response.header("ratelimit-reset"),
    )
}

#[tokio::test]
async fn an_anonymous_client_gets_its_daily_requests_then_drfs_429_until_the_oldest_expires() {
    let edge = edge(&[("THROTTLE_RATE_ANON", "3/day"), ("THROTTLE_LEASE", "1")]);
    for remaining in ["2", "1", "0"] {
        let response = edge.send(products("203.0.113.7")).await;
        assert_eq!(response.status, 200);
        assert_eq!(
            headers(&response),
            (Some("3"), Some(remaining), Some("86400"))
        );
    }
    let refused = edge.send_at(products("203.0.113.7"), NOW + 60).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("retry-after"), Some("86340"));
    assert_eq!(
        body(&refused),
        json!({"status_code": 429, "errors": {
            "detail": "Request was throttled. Expected available in 86340 seconds."
        }})
    );
    assert_eq!(headers(&refused), (Some("3"), Some("0"), Some("86340")));

    // Another address has its own day.
    assert_eq!(edge.send(products("203.0.113.8")).await.status, 200);
    for _ in 0..5 {
        assert_eq!(
            edge.send_at(products("203.0.113.7"), NOW + 120)
                .await
                .status,
            429
        );
    }
    // A day after the first three, all three have room again: the six refusals, made since,
    // would still count had they been counted.
    let next_day = NOW + 86_400 + 1;
    for _ in 0..3 {
        let allowed = edge.send_at(products("203.0.113.7"), next_day).await;
        assert_eq!(allowed.status, 200);
    }
    let refused = edge.send_at(products("203.0.113.7"), next_day).await;
    assert_eq!(refused.status, 429);
}

#[tokio::test]
async fn a_users_minute_and_day_are_both_checked_and_the_longest_wait_wins() {
    let edge = edge(&[
        ("THROTTLE_RATE_USER", "4/day"),
        ("THROTTLE_RATE_BURST", "2/min"),
        ("THROTTLE_LEASE", "1"),
    ]);
    let (_, token) = edge.user(1, "ann").await;
    let me = || {
        Request::new("GET", "/api/v1/auth/me/")
            .with_header("authorization", &format!("Bearer {token}"))
    };
    assert_eq!(edge.send(me()).await.status, 200);
    assert_eq!(edge.send(me()).await.status, 200);
    let burst = edge.send_at(me(), NOW + 10).await;
    assert_eq!(
        (burst.status, burst.header("retry-after")),
        (429, Some("50"))
    );
    // A minute later the burst has room; the day has two left.
    assert_eq!(edge.send_at(me(), NOW + 61).await.status, 200);
    assert_eq!(edge.send_at(me(), NOW + 62).await.status, 200);
    // Both full now: the day's wait (till the first request is a day old) wins.
    let both = edge.send_at(me(), NOW + 63).await;
    assert_eq!(
        (both.status, both.header("retry-after")),
        (429, Some("86337"))
    );

    // Another user counts apart.
    let (_, other) = edge.user(2, "bob").await;
    let theirs = Request::new("GET", "/api/v1/auth/me/")
        .with_header("authorization", &format!("Bearer {other}"));
    assert_eq!(edge.send_at(theirs, NOW + 63).await.status, 200);
}

#[tokio::test]
async fn the_credentials_endpoints_count_every_request_per_address_on_the_stricter_scope() {
    let edge = edge(&[
        ("THROTTLE_RATE_CREDENTIALS", "2/min"),
        ("THROTTLE_LEASE", "10"),
    ]);
    for _ in 0..2 {
        let answered = edge.send(verify("198.51.100.1")).await;
        assert_eq!(answered.status, 401, "a bad token, but not throttled");
        assert_eq!(answered.header("ratelimit-limit"), Some("2"));
    }
    let refused = edge.send(verify("198.51.100.1")).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (429, Some("60"))
    );
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    assert_eq!(
        edge.counts.takes(),
        3,
        "no lease on the credentials endpoints: one call each"
    );
    assert_eq!(edge.send(verify("198.51.100.2")).await.status, 401);
}

#[tokio::test]
async fn a_lease_spares_the_counts_a_call_per_read_and_never_lets_more_than_the_limit_through() {
    // Leases of 10: the configured lease, and a sixth of the limit.
    let edge = edge(&[("THROTTLE_RATE_ANON", "60/day"), ("THROTTLE_LEASE", "10")]);
    let mut allowed = 0;
    let mut remaining = Vec::new();
    for _ in 0..80 {
        let response = edge.send(products("192.0.2.1")).await;
        if response.status == 200 {
            allowed += 1;
            remaining.push(response.header("ratelimit-remaining").unwrap().to_owned());
        } else {
            assert_eq!(response.status, 429);
        }
    }
    assert_eq!(allowed, 60, "one isolate: exactly the limit");
    let expected: Vec<String> = (0..60).rev().map(|n| n.to_string()).collect();
    assert_eq!(
        remaining, expected,
        "the headers count down as if each were counted"
    );
    assert!(
        edge.counts.takes() <= 9 + 20,
        "{} calls for 80 requests: a lease of 10, then top-ups of 8 more (2 carried over) \
         up to the limit, then a refusal each",
        edge.counts.takes()
    );
}

#[tokio::test]
async fn unreachable_counts_fail_closed_on_credentials_and_open_on_reads_and_say_so() {
    let edge = edge(&[("THROTTLE_RATE_ANON", "5/day")]);
    edge.counts.set_unreachable(true);
    let read = edge.send(products("192.0.2.9")).await;
    assert_eq!(read.status, 200, "reads fail open");
    assert_eq!(read.header("ratelimit-limit"), None);
    let token = edge.send(verify("192.0.2.9")).await;
    assert_eq!(token.status, 503, "credentials fail closed");
    assert!(token.header("retry-after").is_some());
    let logs = edge.logs.borrow().join("\n");
    assert!(logs.contains("failing open"), "{logs}");
    assert!(logs.contains("failing closed"), "{logs}");
}

#[tokio::test]
async fn exempt_routes_and_a_disabled_limiter_count_nothing() {
    let edge = edge(&[("THROTTLE_RATE_ANON", "1/day")]);
    for _ in 0..3 {
        let health = edge.send(Request::new("GET", "/health/")).await;
        assert_eq!(health.status, 200);
        assert_eq!(health.header("ratelimit-limit"), None);
    }
    assert_eq!(edge.counts.takes(), 0);

    let off = TestEdge::with_settings(settings(&[
        ("THROTTLE_RATE_ANON", "1/day"),
        ("THROTTLE_ENABLED", "false"),
    ]));
    for _ in 0..3 {
        assert_eq!(off.send(products("192.0.2.1")).await.status, 200);
    }
    assert_eq!(off.counts.takes(), 0);
}

#[tokio::test]
async fn the_ratelimit_headers_are_exposed_to_browsers() {
    let edge = edge(&[("ENVIRONMENT", "development")]);
    let response = edge
        .send(products("192.0.2.1").with_header("origin", "https://app.example.com"))
        .await;
    let exposed = response.header("access-control-expose-headers").unwrap();
    for name in [
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
    ] {
        assert!(exposed.contains(name), "{exposed}");
    }
}
