//! Users and blacklisted tokens reach D1: by the write-through on the response, and by the
//! apalis job when the edge never saw the write.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

use std::time::Duration;

use e2e::{Stack, unique};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_write_the_edge_never_saw_reaches_d1_through_the_job() {
    let stack = Stack::new();
    let username = unique("direct");
    // Registered at the origin directly: no write-through happened at the edge.
    let created = stack
        .origin_signed(
            "POST",
            "/api/v1/auth/register/",
            &json!({"username": username, "password": "a-fine-password", "email": "d@example.com"}),
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let tokens = stack
        .post(
            "/api/token/",
            &json!({"username": username, "password": "a-fine-password"}),
            None,
        )
        .await;
    let access = tokens.body["access"].as_str().unwrap().to_owned();
    let replicated =
        stack
            .eventually(Duration::from_secs(15), || {
                let access = access.clone();
                let stack = stack.clone();
                async move {
                    stack.get("/api/v1/auth/me/", Some(&access)).await.status == StatusCode::OK
                }
            })
            .await;
    assert!(
        replicated,
        "the replication job must deliver the user to D1"
    );
    assert_eq!(stack.count("SELECT count(*) FROM replication_changes WHERE pushed_at IS NULL AND created_at < now() - interval '30 seconds'").await, 0);
}

#[tokio::test]
async fn a_blacklisting_the_edge_never_saw_reaches_the_denylist() {
    let stack = Stack::new();
    let user = stack.user().await;
    let out = stack
        .origin_signed(
            "POST",
            "/api/token/blacklist/",
            &json!({"refresh": user.refresh}),
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::OK);
    let denied = stack
        .eventually(Duration::from_secs(15), || {
            let stack = stack.clone();
            let refresh = user.refresh.clone();
            async move {
                stack
                    .post("/api/token/verify/", &json!({"token": refresh}), None)
                    .await
                    .status
                    == StatusCode::BAD_REQUEST
            }
        })
        .await;
    assert!(
        denied,
        "verify must see the blacklisted token once replicated"
    );
}

#[tokio::test]
async fn an_older_change_never_overwrites_a_newer_one_in_d1() {
    let stack = Stack::new();
    let user = stack.user().await;
    let stale = json!({"changes": [{
        "version": 1,
        "kind": "user.upsert",
        "data": {"id": user.id, "username": user.username, "email": "stale@example.com", "is_staff": true, "date_joined": "2000-01-01T00:00:00.000000Z"}
    }]});
    let pushed = stack.push_to_edge(&stale).await;
    assert_eq!(pushed.status, StatusCode::OK, "{:?}", pushed.body);
    let again = stack.push_to_edge(&stale).await;
    assert_eq!(again.status, StatusCode::OK, "applying twice is fine");
    let me = stack.get("/api/v1/auth/me/", Some(&user.access)).await;
    assert_eq!(
        me.body["email"],
        json!(format!("{}@example.com", user.username))
    );
    assert_eq!(me.body["is_staff"], json!(false));
}

/// D1's Sessions API, as far as a local D1 (one database, no replicas) shows it: every answer
/// that touched D1 carries a bookmark, a write's covers the write, a read that presents one is
/// served and answers with one at least as new, and a value that is not a bookmark is ignored.
/// What a lagging replica does with it is production's to show (docs/scaling.md).
#[tokio::test]
async fn a_write_returns_a_bookmark_and_a_read_that_presents_it_sees_the_write() {
    const BOOKMARK: &str = "x-d1-bookmark";
    let stack = Stack::new();
    let user = stack.user().await;
    let created = stack
        .post(
            "/api/v1/projects/",
            &json!({"name": "Bookmarked"}),
            Some(&user.access),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let written = created
        .header(BOOKMARK)
        .expect("a write answers with its session's bookmark")
        .to_owned();

    let read = stack
        .send(
            stack
                .request(reqwest::Method::GET, "/api/v1/projects/")
                .bearer_auth(&user.access)
                .header("origin", "http://localhost:3000")
                .header(BOOKMARK, &written),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["results"][0]["name"], "Bookmarked");
    let seen = read
        .header(BOOKMARK)
        .expect("a read answers with a bookmark");
    assert!(
        seen >= written.as_str(),
        "bookmarks only move forward: {seen} after {written}"
    );

    for ignored in ["not a bookmark!", "", "first-primary"] {
        let read = stack
            .send(
                stack
                    .request(reqwest::Method::GET, "/api/v1/projects/")
                    .bearer_auth(&user.access)
                    .header(BOOKMARK, ignored),
            )
            .await;
        assert_eq!(read.status, StatusCode::OK, "{ignored:?}");
        assert!(read.header(BOOKMARK).is_some(), "{ignored:?}");
    }

    let preflight = stack
        .send(
            stack
                .request(reqwest::Method::OPTIONS, "/api/v1/projects/")
                .header("origin", "http://localhost:3000")
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", BOOKMARK),
        )
        .await;
    let allowed = preflight.header("access-control-allow-headers").unwrap();
    assert!(
        allowed.contains(BOOKMARK),
        "browsers may send it: {allowed}"
    );
    assert!(
        read.header("access-control-expose-headers")
            .is_some_and(|exposed| exposed.to_ascii_lowercase().contains(BOOKMARK)),
        "browsers may read it"
    );
}
