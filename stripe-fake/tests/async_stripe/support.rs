//! What the tests share: a fake with an async-stripe client pointed at it, and a webhook
//! endpoint that checks signatures with async-stripe's `Webhook::construct_event`, as the
//! origin will.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use stripe::{Client, ClientBuilder};
use stripe_fake::{Config, Secret, Server};
use stripe_webhook::Webhook;

pub const API_KEY: &str = "sk_test_origin";

/// A fake that accepts [`API_KEY`], and a client for it.
pub async fn fake_with(config: Config) -> (Server, Client) {
    let server = Server::start(Config {
        api_keys: vec![Secret::from(API_KEY)],
        ..config
    })
    .await
    .expect("the fake starts");
    let client = client(&server, API_KEY);
    (server, client)
}

pub async fn fake() -> (Server, Client) {
    fake_with(Config::default()).await
}

/// The client as the origin builds it: its key, and the fake's URL as the API base.
pub fn client(server: &Server, key: &str) -> Client {
    ClientBuilder::new(key)
        .url(server.url())
        .build()
        .expect("a valid client configuration")
}

/// One request the endpoint got.
#[derive(Debug, Clone)]
pub struct Received {
    pub signature: Option<String>,
    pub payload: String,
    pub accepted: bool,
}

/// A webhook endpoint holding one signing secret: 200 when `construct_event` accepts the
/// delivery, 400 when it does not.
#[derive(Debug)]
pub struct Endpoint {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Endpoint {
    pub async fn start(secret: &'static str) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/webhooks/stripe/", post(receive))
            .with_state((secret, received.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!(
            "http://{}/webhooks/stripe/",
            listener.local_addr().expect("an address")
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("not poisoned").clone()
    }

    /// The configuration of a fake that sends to this endpoint, signing with `secrets`.
    pub fn config(&self, secrets: &[&str]) -> Config {
        Config {
            webhook_url: Some(self.url.parse().expect("a URL")),
            webhook_secrets: secrets.iter().map(|secret| Secret::from(*secret)).collect(),
            ..Config::default()
        }
    }
}

type EndpointState = (&'static str, Arc<Mutex<Vec<Received>>>);

async fn receive(
    State((secret, received)): State<EndpointState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let payload = String::from_utf8(body.to_vec()).expect("a UTF-8 payload");
    let signature = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let accepted = signature
        .as_deref()
        .is_some_and(|header| Webhook::construct_event(&payload, header, secret).is_ok());
    received.lock().expect("not poisoned").push(Received {
        signature,
        payload,
        accepted,
    });
    if accepted {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}
