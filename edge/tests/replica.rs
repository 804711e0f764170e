//! Applying change records to the replica: idempotent, version-guarded, tombstoned.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use domain::replication::{Change, ChangeBatch, ChangeKind, UserReplica};
use domain::signing::{self, Direction, SignedParts};
use domain::{UserId, paths};
use edge::http::Request;
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{NOW, ORIGIN_SECRET, SqliteReplica, TestEdge, body};

fn upsert(version: i64, id: i64, email: &str) -> Change {
    Change {
        version,
        owner: None,
        kind: ChangeKind::UserUpsert(UserReplica {
            id: UserId::new(id),
            username: format!("user{id}"),
            email: email.into(),
            is_staff: false,
            date_joined: "2025-01-01T00:00:00.000000Z".into(),
        }),
    }
}

fn delete(version: i64, id: i64) -> Change {
    Change {
        version,
        owner: None,
        kind: ChangeKind::UserDelete {
            id: UserId::new(id),
        },
    }
}

async fn apply(replica: &SqliteReplica, changes: &[Change]) {
    edge::replica::apply(replica, changes).await.unwrap();
}

fn users(replica: &SqliteReplica) -> Vec<serde_json::Value> {
    replica.rows("SELECT id, email, version FROM users ORDER BY id")
}

#[tokio::test]
async fn applying_the_same_records_twice_changes_nothing() {
    let replica = SqliteReplica::new();
    let changes = [upsert(1, 1, "a@x.io"), upsert(2, 1, "b@x.io")];
    apply(&replica, &changes).await;
    apply(&replica, &changes).await;
    assert_eq!(
        users(&replica),
        vec![json!({"id": 1, "email": "b@x.io", "version": 2})]
    );
}

#[tokio::test]
async fn an_older_record_never_overwrites_a_newer_one() {
    let replica = SqliteReplica::new();
    apply(&replica, &[upsert(5, 1, "new@x.io")]).await;
    apply(&replica, &[upsert(4, 1, "old@x.io")]).await;
    assert_eq!(
        users(&replica),
        vec![json!({"id": 1, "email": "new@x.io", "version": 5})]
    );
}

#[tokio::test]
async fn a_late_upsert_cannot_resurrect_a_deleted_row() {
    let replica = SqliteReplica::new();
    apply(&replica, &[upsert(1, 1, "a@x.io"), delete(3, 1)]).await;
    apply(&replica, &[upsert(2, 1, "late@x.io")]).await;
    assert_eq!(users(&replica), Vec::<serde_json::Value>::new());
    // In the other order too: the delete arrives before the upsert it follows.
    let replica = SqliteReplica::new();
    apply(&replica, &[delete(3, 1)]).await;
    apply(&replica, &[upsert(1, 1, "a@x.io")]).await;
    assert_eq!(users(&replica), Vec::<serde_json::Value>::new());
}

#[tokio::test]
async fn an_older_delete_does_not_remove_a_newer_row() {
    let replica = SqliteReplica::new();
    apply(&replica, &[upsert(5, 1, "a@x.io")]).await;
    apply(&replica, &[delete(4, 1)]).await;
    assert_eq!(users(&replica).len(), 1);
}

#[tokio::test]
async fn denylist_entries_are_idempotent() {
    let replica = SqliteReplica::new();
    let deny = Change {
        version: 9,
        owner: None,
        kind: ChangeKind::TokenDeny {
            jti: "j1".into(),
            expires_at: 100,
        },
    };
    apply(&replica, &[deny.clone(), deny]).await;
    assert_eq!(
        replica.rows("SELECT jti FROM token_denylist"),
        vec![json!({"jti": "j1"})]
    );
}

fn push(batch: &ChangeBatch, timestamp: i64, key: &str) -> Request {
    let body = serde_json::to_vec(batch).unwrap();
    let parts = SignedParts {
        direction: Direction::OriginToEdge,
        method: "POST",
        path_and_query: paths::INTERNAL_REPLICATE,
        body: &body,
        timestamp,
        user_id: None,
        request_id: "job-1",
        idempotency_key: None,
        nonce: None,
    };
    let mut request = Request::new("POST", paths::INTERNAL_REPLICATE)
        .with_header("content-type", "application/json");
    for (name, value) in signing::signed_headers(key.as_bytes(), &parts) {
        request = request.with_header(name, &value);
    }
    request.body = body;
    request
}

#[tokio::test]
async fn a_push_drops_denylist_entries_that_have_expired() {
    let edge = TestEdge::new();
    let deny = |version, jti: &str, expires_at| Change {
        version,
        owner: None,
        kind: ChangeKind::TokenDeny {
            jti: jti.into(),
            expires_at,
        },
    };
    let batch = ChangeBatch {
        changes: vec![deny(1, "old", NOW - 1), deny(2, "live", NOW + 3600)],
    };
    let response = edge.send(push(&batch, NOW, ORIGIN_SECRET)).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        edge.replica.rows("SELECT jti FROM token_denylist"),
        vec![json!({"jti": "live"})]
    );
}

#[tokio::test]
async fn the_origin_push_is_applied_only_when_signed_and_fresh() {
    let edge = TestEdge::new();
    let batch = ChangeBatch {
        changes: vec![upsert(1, 1, "a@x.io")],
    };

    for (case, request) in [
        (
            "unsigned",
            Request::new("POST", "/internal/replicate/").with_json(&json!(batch)),
        ),
        ("stale", push(&batch, NOW - 3600, ORIGIN_SECRET)),
        (
            "wrong key",
            push(&batch, NOW, "not-the-origin-secret-not-the-or"),
        ),
    ] {
        let response = edge.send(request).await;
        assert_eq!(response.status, 404, "{case}");
        assert_eq!(users(&edge.replica).len(), 0, "{case} must write nothing");
    }

    let response = edge.send(push(&batch, NOW, ORIGIN_SECRET)).await;
    assert_eq!(
        (response.status, body(&response)),
        (200, json!({"applied": 1}))
    );
    assert_eq!(users(&edge.replica).len(), 1);
}
