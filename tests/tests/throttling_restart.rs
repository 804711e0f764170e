//! The rate limiter's counts live in its Durable Object's storage, not in memory: after the
//! edge (and with it every object) restarted, an address exhausted before is still refused.
//!
//! `cargo xtask test` runs this after `throttling.rs`, whose last test exhausts the address,
//! and one more restart of the edge.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use e2e::Stack;
use reqwest::{Method, StatusCode};

/// The address `throttling.rs` exhausted.
const EXHAUSTED: &str = "198.51.100.250";

#[tokio::test]
async fn an_address_exhausted_before_a_restart_is_still_refused_after_it() {
    let stack = Stack::new();
    let answer = stack
        .send(
            stack
                .request(Method::GET, "/api/v1/products/")
                .header("cf-connecting-ip", EXHAUSTED),
        )
        .await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{answer:?}");
    let wait: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 80_000, "still the day's wait: {wait}");
    // And a fresh address is not: the limiter is up, not failing closed.
    let fresh = stack
        .send(
            stack
                .request(Method::GET, "/api/v1/products/")
                .header("cf-connecting-ip", "198.51.100.251"),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{fresh:?}");
}
