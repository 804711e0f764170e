//! Each test gets its own Postgres database (created on the cluster `./dev test` starts, named
//! at random, fully migrated), the origin's router, and helpers to sign requests as the edge.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support"
)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use axum::routing::post;
use domain::UserId;
use domain::auth::{Claims, TokenType};
use domain::paths;
use domain::replication::ChangeBatch;
use domain::signing::{self, Direction, SignedParts};
use domain::wire::REPLY_HEADER;
use origin_worker::settings::Settings;
use origin_worker::state::AppState;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tower::ServiceExt;

pub const ORIGIN_SECRET: &str = "test-origin-secret-test-origin-s";
pub const SIGNING_KEY: &str = "test-signing-key-test-signing-ke";

/// A fresh, migrated database.
pub async fn fresh_db() -> PgPool {
    let admin_url = std::env::var("ORIGIN_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("ORIGIN_TEST_DATABASE_URL is not set: run the tests with `./dev test`, which starts Postgres")
    });
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&admin_url)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => unreachable!("a database URL has a path"),
    };
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .unwrap();
    origin_worker::db::migrate(&pool).await.unwrap();
    pool
}

pub fn settings(edge_url: &str) -> Settings {
    settings_with(edge_url, &[])
}

/// The test settings with `extra` variables on top (they win). Development's: the edge, the
/// SMTP server and Stripe are local fakes, which a deployed environment refuses.
pub fn settings_with(edge_url: &str, extra: &[(&str, String)]) -> Settings {
    let mut pairs = vec![
        ("ENVIRONMENT", "development".to_owned()),
        (
            "DATABASE_URL",
            "postgres://unused@127.0.0.1:1/unused".to_owned(),
        ),
        ("EDGE_URL", edge_url.to_owned()),
        ("ORIGIN_SHARED_SECRET", ORIGIN_SECRET.to_owned()),
        ("JWT_SIGNING_KEY", SIGNING_KEY.to_owned()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    Settings::from_lookup(|name| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

/// The origin under test.
pub struct TestOrigin {
    pub db: PgPool,
    pub state: AppState,
    pub router: Router,
}

impl TestOrigin {
    pub async fn new() -> Self {
        Self::with_edge("http://127.0.0.1:9").await
    }

    pub async fn with_edge(edge_url: &str) -> Self {
        let db = fresh_db().await;
        let state = AppState::new(db.clone(), settings(edge_url));
        let router = origin_worker::api::router(state.clone());
        Self { db, state, router }
    }

    /// Sends a request the edge signed now, for `user` (if any).
    pub async fn signed(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        user: Option<i64>,
    ) -> Answer {
        self.send(signed_request(
            method,
            path,
            body.to_string().as_bytes(),
            user,
            now(),
            None,
        ))
        .await
    }

    /// An unsigned `GET` (health and readiness).
    pub async fn get_unsigned(&self, path: &str) -> Answer {
        self.send(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let reply_header = response.headers().contains_key(REPLY_HEADER);
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        // A reply carries the public status in its body (HTTP forbids a body on a 204).
        let status = match json["status"].as_u64() {
            Some(public) if reply_header => {
                StatusCode::from_u16(u16::try_from(public).unwrap()).unwrap()
            }
            _ => status,
        };
        Answer {
            status,
            reply_header,
            json,
        }
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db).await.unwrap()
    }

    /// Registers a user and logs in; returns (user id, refresh, access).
    pub async fn user(&self, username: &str) -> (i64, String, String) {
        let password = "a-fine-password";
        let created = self
            .signed(
                "POST",
                "/api/v1/auth/register/",
                &serde_json::json!({"username": username, "password": password, "email": format!("{username}@example.com")}),
                None,
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json);
        let tokens = self
            .signed(
                "POST",
                "/api/token/",
                &serde_json::json!({"username": username, "password": password}),
                None,
            )
            .await;
        assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.json);
        (
            created.body()["id"].as_i64().unwrap(),
            tokens.body()["refresh"].as_str().unwrap().to_owned(),
            tokens.body()["access"].as_str().unwrap().to_owned(),
        )
    }

    pub fn claims(&self, token: &str) -> Claims {
        self.state
            .tokens
            .decode(token, None::<TokenType>, now())
            .unwrap()
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A request signed as the edge signs it.
pub fn signed_request(
    method: &str,
    path: &str,
    body: &[u8],
    user: Option<i64>,
    timestamp: i64,
    idempotency_key: Option<&str>,
) -> Request<Body> {
    // Fresh for every request, as the edge makes them.
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let parts = SignedParts {
        direction: Direction::EdgeToOrigin,
        method,
        path_and_query: path,
        body,
        timestamp,
        user_id: user.map(UserId::new),
        request_id: "test-request",
        idempotency_key,
        nonce: Some(&nonce),
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    for (name, value) in signing::signed_headers(ORIGIN_SECRET.as_bytes(), &parts) {
        builder = builder.header(name, value);
    }
    builder.body(Body::from(body.to_vec())).unwrap()
}

/// What the origin answered.
#[derive(Debug)]
pub struct Answer {
    /// The public status: what the edge will answer the client.
    pub status: StatusCode,
    pub reply_header: bool,
    pub json: Value,
}

impl Answer {
    /// The public body inside the origin's reply.
    pub fn body(&self) -> &Value {
        &self.json["body"]
    }

    pub fn changes(&self) -> &Vec<Value> {
        self.json["changes"].as_array().unwrap()
    }
}

/// A stand-in edge that records every batch pushed to it (the signature is the replication
/// tests' concern).
pub async fn recording_edge() -> (String, Arc<Mutex<Vec<ChangeBatch>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let app = Router::new().route(
        paths::INTERNAL_REPLICATE,
        post(move |body: Bytes| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}
