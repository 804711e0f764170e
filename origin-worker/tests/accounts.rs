//! Registration, login, refresh rotation, blacklist and account deletion against Postgres.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use axum::http::StatusCode;
use domain::auth::TokenType;
use serde_json::json;
use support::TestOrigin;

const REGISTER: &str = "/api/v1/auth/register/";

#[tokio::test]
async fn registering_stores_an_argon2id_hash_a_change_record_and_a_job_in_one_go() {
    let origin = TestOrigin::new().await;
    let answer = origin
        .signed("POST", REGISTER, &json!({"username": "alice", "password": "correct horse", "email": "alice@EXAMPLE.com"}), None)
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let id = answer.body()["id"].as_i64().unwrap();
    assert_eq!(
        answer.body(),
        &json!({"id": id, "username": "alice", "email": "alice@example.com"})
    );

    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&origin.db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    let changes = answer.changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["kind"], json!("user.upsert"));
    assert!(
        !changes[0].to_string().contains("argon2"),
        "no hash in a change record"
    );
    assert_eq!(
        origin
            .count("SELECT count(*) FROM replication_changes WHERE pushed_at IS NULL")
            .await,
        1
    );
    assert_eq!(
        origin
            .count("SELECT count(*) FROM apalis.jobs WHERE job_type = 'replicate'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_taken_username_or_a_bad_field_is_400_and_writes_nothing() {
    let origin = TestOrigin::new().await;
    origin.user("alice").await;
    let before = origin
        .count("SELECT count(*) FROM replication_changes")
        .await;
    let cases = [
        (
            json!({"username": "alice", "password": "another-password", "email": "a2@example.com"}),
            "username",
            "A user with that username already exists.",
        ),
        (
            json!({"username": "bob", "password": "12345678", "email": "b@example.com"}),
            "password",
            "This password is entirely numeric.",
        ),
        (
            json!({"username": "bob", "password": "a-fine-password", "email": "not-an-email"}),
            "email",
            "Enter a valid email address.",
        ),
        (
            json!({"password": "a-fine-password", "email": "b@example.com"}),
            "username",
            "This field is required.",
        ),
    ];
    for (body, field, message) in cases {
        let answer = origin.signed("POST", REGISTER, &body, None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.body()["errors"][field], json!([message]), "{body}");
    }
    assert_eq!(origin.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        origin
            .count("SELECT count(*) FROM replication_changes")
            .await,
        before
    );
}

#[tokio::test]
async fn login_issues_a_pair_with_the_contract_claims() {
    let origin = TestOrigin::new().await;
    let (id, refresh, access) = origin.user("alice").await;
    let refresh = origin.claims(&refresh);
    let access = origin.claims(&access);
    assert_eq!(
        (refresh.token_type, access.token_type),
        (TokenType::Refresh, TokenType::Access)
    );
    assert_eq!(access.user_id().get(), id);
    assert_eq!(
        (access.username.as_str(), access.is_staff),
        ("alice", false)
    );
    assert_eq!(access.exp - access.iat, 15 * 60);
    assert_eq!(refresh.exp - refresh.iat, 7 * 24 * 3600);
    assert_ne!(access.jti, refresh.jti);
    assert_eq!(
        origin
            .count("SELECT count(*) FROM outstanding_tokens")
            .await,
        1
    );
}

#[tokio::test]
async fn a_wrong_password_or_unknown_user_is_the_same_401() {
    let origin = TestOrigin::new().await;
    origin.user("alice").await;
    for body in [
        json!({"username": "alice", "password": "wrong-password"}),
        json!({"username": "nobody", "password": "whatever-it-is"}),
    ] {
        let answer = origin.signed("POST", "/api/token/", &body, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(
            answer.body()["errors"],
            json!({"detail": "No active account found with the given credentials"})
        );
    }
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_is_blacklisted() {
    let origin = TestOrigin::new().await;
    let (_, refresh, _) = origin.user("alice").await;
    let first = origin
        .signed(
            "POST",
            "/api/token/refresh/",
            &json!({"refresh": refresh}),
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.json);
    let rotated = first.body()["refresh"].as_str().unwrap();
    assert_ne!(rotated, refresh);
    assert_eq!(first.changes()[0]["kind"], json!("token.deny"));
    assert_eq!(
        first.changes()[0]["data"]["jti"],
        json!(origin.claims(&refresh).jti)
    );

    let again = origin
        .signed(
            "POST",
            "/api/token/refresh/",
            &json!({"refresh": refresh}),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        again.body()["errors"],
        json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
    );

    let next = origin
        .signed(
            "POST",
            "/api/token/refresh/",
            &json!({"refresh": rotated}),
            None,
        )
        .await;
    assert_eq!(next.status, StatusCode::OK);
}

#[tokio::test]
async fn of_two_concurrent_refreshes_exactly_one_wins() {
    let origin = TestOrigin::new().await;
    let (_, refresh, _) = origin.user("alice").await;
    let body = json!({"refresh": refresh});
    let attempts = (0..8).map(|_| origin.signed("POST", "/api/token/refresh/", &body, None));
    let answers = futures::future::join_all(attempts).await;
    let wins = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    let blacklisted = answers
        .iter()
        .filter(|a| {
            a.status == StatusCode::UNAUTHORIZED
                && a.body()["errors"]["detail"] == json!("Token is blacklisted")
        })
        .count();
    assert_eq!((wins, blacklisted), (1, 7), "{answers:?}");
    assert_eq!(
        origin
            .count("SELECT count(*) FROM outstanding_tokens")
            .await,
        2,
        "one login, one rotation"
    );
}

#[tokio::test]
async fn refresh_and_blacklist_refuse_access_tokens_and_garbage() {
    let origin = TestOrigin::new().await;
    let (_, _, access) = origin.user("alice").await;
    for path in ["/api/token/refresh/", "/api/token/blacklist/"] {
        let wrong_type = origin
            .signed("POST", path, &json!({"refresh": access}), None)
            .await;
        assert_eq!(
            wrong_type.body()["errors"],
            json!({"detail": "Token has wrong type", "code": "token_not_valid"}),
            "{path}"
        );
        let garbage = origin
            .signed("POST", path, &json!({"refresh": "x.y.z"}), None)
            .await;
        assert_eq!(
            garbage.body()["errors"],
            json!({"detail": "Token is invalid", "code": "token_not_valid"}),
            "{path}"
        );
        let missing = origin.signed("POST", path, &json!({}), None).await;
        assert_eq!(
            missing.body()["errors"],
            json!({"refresh": ["This field is required."]}),
            "{path}"
        );
    }
    assert_eq!(
        origin
            .count("SELECT count(*) FROM blacklisted_tokens")
            .await,
        0
    );
}

#[tokio::test]
async fn logout_blacklists_once() {
    let origin = TestOrigin::new().await;
    let (_, refresh, _) = origin.user("alice").await;
    let first = origin
        .signed(
            "POST",
            "/api/token/blacklist/",
            &json!({"refresh": refresh}),
            None,
        )
        .await;
    assert_eq!((first.status, first.body()), (StatusCode::OK, &json!({})));
    let second = origin
        .signed(
            "POST",
            "/api/token/blacklist/",
            &json!({"refresh": refresh}),
            None,
        )
        .await;
    assert_eq!(
        second.body()["errors"]["detail"],
        json!("Token is blacklisted")
    );
}

#[tokio::test]
async fn deleting_the_account_needs_the_password_and_revokes_every_token() {
    let origin = TestOrigin::new().await;
    let (id, first_refresh, _) = origin.user("alice").await;
    let second = origin
        .signed(
            "POST",
            "/api/token/",
            &json!({"username": "alice", "password": "a-fine-password"}),
            None,
        )
        .await;
    let second_refresh = second.body()["refresh"].as_str().unwrap().to_owned();

    let wrong = origin
        .signed(
            "DELETE",
            "/api/v1/auth/me/",
            &json!({"password": "not-it"}),
            Some(id),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        wrong.body()["errors"],
        json!({"password": ["Password is incorrect."]})
    );
    assert_eq!(origin.count("SELECT count(*) FROM users").await, 1);

    let anonymous = origin
        .signed(
            "DELETE",
            "/api/v1/auth/me/",
            &json!({"password": "a-fine-password"}),
            None,
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let deleted = origin
        .signed(
            "DELETE",
            "/api/v1/auth/me/",
            &json!({"password": "a-fine-password"}),
            Some(id),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let kinds: Vec<_> = deleted
        .changes()
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["token.deny", "token.deny", "user.delete"]);
    assert_eq!(origin.count("SELECT count(*) FROM users").await, 0);

    for refresh in [first_refresh, second_refresh] {
        let answer = origin
            .signed(
                "POST",
                "/api/token/refresh/",
                &json!({"refresh": refresh}),
                None,
            )
            .await;
        assert_eq!(
            answer.body()["errors"]["detail"],
            json!("Token is blacklisted")
        );
    }
}
