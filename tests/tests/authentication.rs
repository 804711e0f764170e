//! Accounts and JWTs, end to end through the edge in workerd, the origin and Postgres.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    reason = "tests fail loudly and read top to bottom"
)]

use e2e::{Stack, TokenLifetimes, chrono_now, forge, unique};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn register_login_me_refresh_verify_and_logout() {
    let stack = Stack::new();
    let user = stack.user().await;

    let me = stack.get("/api/v1/auth/me/", Some(&user.access)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["username"], json!(user.username));
    assert_eq!(me.body["id"], json!(user.id));
    assert_eq!(me.body["is_staff"], json!(false));
    assert!(
        me.body["date_joined"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z')),
        "{:?}",
        me.body
    );
    assert_eq!(me.header("cache-control"), Some("no-store"));

    let verified = stack
        .post("/api/token/verify/", &json!({"token": user.access}), None)
        .await;
    assert_eq!(
        (verified.status, verified.body.clone()),
        (StatusCode::OK, json!({}))
    );

    let rotated = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": user.refresh}),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let new_refresh = rotated.body["refresh"].as_str().unwrap().to_owned();
    assert!(rotated.body["access"].is_string());

    let reused = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": user.refresh}),
            None,
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reused.errors(),
        &json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
    );

    // simplejwt's quirk: verifying a blacklisted token is a 400.
    let verify_old = stack
        .post("/api/token/verify/", &json!({"token": user.refresh}), None)
        .await;
    assert_eq!(verify_old.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        verify_old.errors(),
        &json!({"non_field_errors": ["Token is blacklisted"]})
    );

    let logout = stack
        .post(
            "/api/token/blacklist/",
            &json!({"refresh": new_refresh}),
            None,
        )
        .await;
    assert_eq!(
        (logout.status, logout.body.clone()),
        (StatusCode::OK, json!({}))
    );
    let after_logout = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": new_refresh}),
            None,
        )
        .await;
    assert_eq!(
        after_logout.errors()["detail"],
        json!("Token is blacklisted")
    );
}

#[tokio::test]
async fn deleting_the_account_revokes_every_token() {
    let stack = Stack::new();
    let user = stack.user().await;
    let wrong = stack
        .delete(
            "/api/v1/auth/me/",
            &json!({"password": "not-the-password"}),
            &user.access,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        stack
            .get("/api/v1/auth/me/", Some(&user.access))
            .await
            .status,
        StatusCode::OK
    );

    let deleted = stack
        .delete(
            "/api/v1/auth/me/",
            &json!({"password": user.password}),
            &user.access,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:?}", deleted.body);

    let me = stack.get("/api/v1/auth/me/", Some(&user.access)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me.errors(),
        &json!({"detail": "User not found", "code": "user_not_found"})
    );
    let refresh = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": user.refresh}),
            None,
        )
        .await;
    assert_eq!(refresh.errors()["detail"], json!("Token is blacklisted"));
    let login = stack
        .post(
            "/api/token/",
            &json!({"username": user.username, "password": user.password}),
            None,
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_tokens_are_refused_with_the_contract_bodies() {
    let stack = Stack::new();
    let user = stack.user().await;
    let (_, expired_access) = forge(&user, chrono_now() - 3600, TokenLifetimes::default());
    let other_key = {
        let keys = domain::auth::TokenKeys::from_secret(b"some-other-key-some-other-key-00");
        let mut claims = stack_claims(&user);
        claims.jti = unique("j");
        keys.encode(&claims)
    };
    let alg_none = {
        let payload = user.access.split('.').nth(1).unwrap();
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
    };
    let tampered = {
        let mut parts: Vec<&str> = user.access.split('.').collect();
        let forged_payload = e2e::base64url(&json!({"token_type": "access", "exp": chrono_now() + 600, "iat": chrono_now(), "jti": "x", "uid": user.id.to_string(), "username": user.username, "is_staff": true}).to_string());
        parts[1] = &forged_payload;
        parts.join(".")
    };
    let cases = [
        ("expired", expired_access, "Token is expired"),
        ("another key", other_key, "Token is invalid"),
        ("alg none", alg_none, "Token is invalid"),
        ("tampered payload", tampered, "Token is invalid"),
        (
            "refresh as bearer",
            user.refresh.clone(),
            "Token has wrong type",
        ),
    ];
    for (case, token, message) in cases {
        let answer = stack.get("/api/v1/auth/me/", Some(&token)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(
            answer.header("www-authenticate"),
            Some(r#"Bearer realm="api""#),
            "{case}"
        );
        assert_eq!(
            answer.errors()["detail"],
            json!("Given token not valid for any token type"),
            "{case}"
        );
        assert_eq!(
            answer.errors()["messages"][0]["message"],
            json!(message),
            "{case}"
        );
    }
    let as_refresh = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": user.access}),
            None,
        )
        .await;
    assert_eq!(
        as_refresh.errors(),
        &json!({"detail": "Token has wrong type", "code": "token_not_valid"})
    );
    let none = stack.get("/api/v1/auth/me/", None).await;
    assert_eq!(
        none.errors(),
        &json!({"detail": "Authentication credentials were not provided."})
    );
}

fn stack_claims(user: &e2e::User) -> domain::auth::Claims {
    let payload = user.access.split('.').nth(1).unwrap();
    serde_json::from_slice(&e2e::base64url_decode(payload)).unwrap()
}

#[tokio::test]
async fn bad_input_gets_the_contract_error_and_writes_nothing() {
    let stack = Stack::new();
    let taken = stack.user().await;
    let register = "/api/v1/auth/register/";
    let name = unique("bad");

    let malformed = stack
        .send(
            stack
                .request(reqwest::Method::POST, register)
                .header("content-type", "application/json")
                .body("{\"username\":"),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        malformed.errors()["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "),
        "{:?}",
        malformed.body
    );

    let wrong_type = stack
        .send(
            stack
                .request(reqwest::Method::POST, register)
                .header("content-type", "text/plain")
                .body("hello"),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = stack
        .send(
            stack
                .request(reqwest::Method::POST, register)
                .header("content-type", "application/json")
                .body(vec![b' '; 200_000]),
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        huge.errors()["detail"]
            .as_str()
            .map(|d| d.contains("limit")),
        Some(true)
    );

    let cases = [
        (
            json!({"password": "a-fine-password", "email": "x@example.com"}),
            "username",
            "This field is required.",
        ),
        (
            json!({"username": name, "password": "a-fine-password", "email": 7}),
            "email",
            "Enter a valid email address.",
        ),
        (
            json!({"username": taken.username, "password": "a-fine-password", "email": "x@example.com"}),
            "username",
            "A user with that username already exists.",
        ),
        (
            json!({"username": name, "password": "short", "email": "x@example.com"}),
            "password",
            "This password is too short. It must contain at least 8 characters.",
        ),
        (
            json!({"username": name, "password": "1234567890", "email": "x@example.com"}),
            "password",
            "This password is entirely numeric.",
        ),
        (
            json!({"username": name, "password": ["a"], "email": "x@example.com"}),
            "password",
            "Not a valid string.",
        ),
        (
            json!({"username": "a".repeat(151), "password": "a-fine-password", "email": "x@example.com"}),
            "username",
            "Ensure this field has no more than 150 characters.",
        ),
    ];
    for (body, field, message) in cases {
        let answer = stack.post(register, &body, None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.body["status_code"], json!(400), "{body}");
        assert!(
            answer.errors()[field]
                .as_array()
                .is_some_and(|m| m.contains(&json!(message))),
            "{body}: {:?}",
            answer.body
        );
    }

    let login = stack
        .post("/api/token/", &json!({"username": taken.username}), None)
        .await;
    assert_eq!(
        login.errors(),
        &json!({"password": ["This field is required."]})
    );
    let bad_login = stack
        .post(
            "/api/token/",
            &json!({"username": taken.username, "password": "wrong-password"}),
            None,
        )
        .await;
    assert_eq!(bad_login.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bad_login.errors(),
        &json!({"detail": "No active account found with the given credentials"})
    );
    assert_eq!(
        bad_login.header("www-authenticate"),
        Some(r#"Bearer realm="api""#),
        "a 401 the origin decides carries the challenge too"
    );

    assert_eq!(
        stack.users_named(&name).await,
        0,
        "no bad request wrote a user"
    );
}

#[tokio::test]
async fn two_concurrent_refreshes_of_one_token_exactly_one_wins() {
    let stack = Stack::new();
    let user = stack.user().await;
    let body = json!({"refresh": user.refresh});
    let attempts = (0..6).map(|_| stack.post("/api/token/refresh/", &body, None));
    let answers = futures::future::join_all(attempts).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
}

/// Postgres text cannot hold NUL: every text field refuses it with DRF's message (a 400, never
/// the database's 500), credentials included.
#[tokio::test]
async fn nul_characters_are_refused_in_every_text_field() {
    let stack = Stack::new();
    let user = stack.user().await;
    let refused = "Null characters are not allowed.";
    let cases = [
        (
            "/api/v1/projects/",
            json!({"name": "a\u{0}b"}),
            Some(user.access.as_str()),
            "name",
        ),
        (
            "/api/token/",
            json!({"username": "a\u{0}b", "password": "whatever-it-is"}),
            None,
            "username",
        ),
        (
            "/api/v1/auth/register/",
            json!({"username": unique("nul"), "email": "nul@example.com", "password": "a-fine\u{0}password"}),
            None,
            "password",
        ),
    ];
    for (path, body, token, field) in cases {
        let answer = stack.post(path, &body, token).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.text
        );
        assert_eq!(answer.errors()[field], json!([refused]), "{path}");
    }
}
