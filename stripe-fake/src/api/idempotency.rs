//! `Idempotency-Key`, as Stripe documents it.
//!
//! The first POST with a key is handled and its answer saved; a later POST with the same key
//! and the same parameters gets that answer again, with `Idempotent-Replayed: true`. The same
//! key with other parameters, or on another endpoint, is a 400 `idempotency_error`, and a key
//! whose first request is still being handled a 409. A request refused as invalid (400) is not
//! saved, so it may be corrected and sent again under its key. Parameters are compared as
//! decoded pairs, in any order. Keys are kept until [`crate::Fake::reset`] (Stripe keeps them
//! 24 hours).

use std::collections::HashMap;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::RequestId;
use crate::error::ApiError;
use crate::fake::Fake;

/// Bodies larger than this are not Stripe requests.
const BODY_LIMIT: usize = 1 << 20;

/// The keys seen, with their request and, once handled, its saved answer.
#[derive(Debug, Default)]
pub struct IdempotencyKeys {
    by_key: HashMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    request: Fingerprint,
    /// `None` while the first request is being handled.
    answer: Option<Saved>,
}

#[derive(Debug, PartialEq, Eq)]
struct Fingerprint {
    method: Method,
    path: String,
    params: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Saved {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    request_id: Option<String>,
}

enum Seen {
    New,
    Replay(Saved),
    OtherParameters,
    InProgress,
}

impl IdempotencyKeys {
    fn begin(&mut self, key: &str, request: Fingerprint) -> Seen {
        match self.by_key.get(key) {
            None => {
                self.by_key.insert(
                    key.to_owned(),
                    Entry {
                        request,
                        answer: None,
                    },
                );
                Seen::New
            }
            Some(entry) if entry.request != request => Seen::OtherParameters,
            Some(Entry { answer: None, .. }) => Seen::InProgress,
            Some(Entry {
                answer: Some(saved),
                ..
            }) => Seen::Replay(saved.clone()),
        }
    }

    /// Saves the answer, or forgets the key when there is none to save.
    fn finish(&mut self, key: &str, answer: Option<Saved>) {
        match answer {
            Some(saved) => {
                if let Some(entry) = self.by_key.get_mut(key) {
                    entry.answer = Some(saved);
                }
            }
            None => {
                self.by_key.remove(key);
            }
        }
    }
}

/// A key being handled. Dropping it finishes the key: with its answer once there is one, and
/// forgetting the key if the call was dropped half-way (the client went away).
struct Pending<'a> {
    fake: &'a Fake,
    key: &'a str,
    answer: Option<Saved>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.fake
            .idempotency_keys()
            .finish(self.key, self.answer.take());
    }
}

/// The middleware: replays, refuses, or handles the call and saves its answer.
pub async fn replay(State(fake): State<Fake>, request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let Some(key) = key.filter(|_| request.method() == Method::POST) else {
        return next.run(request).await; // GET and DELETE are idempotent already
    };
    if key.is_empty() || key.len() > 255 {
        return ApiError::invalid_param(
            "Idempotency-Key",
            "Idempotency keys must be 1 to 255 characters long.",
        )
        .into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, BODY_LIMIT).await else {
        return ApiError::malformed_body("The request body could not be read.").into_response();
    };
    let mut params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    params.sort();
    let fingerprint = Fingerprint {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        params,
    };
    let seen = fake.idempotency_keys().begin(&key, fingerprint);
    match seen {
        Seen::New => {}
        Seen::Replay(saved) => return replayed(saved, &key),
        Seen::OtherParameters => return ApiError::idempotency_mismatch(&key).into_response(),
        Seen::InProgress => return ApiError::idempotency_in_progress().into_response(),
    }

    let mut pending = Pending {
        fake: &fake,
        key: &key,
        answer: None,
    };
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(|RequestId(id)| id.clone());
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (mut parts, body) = response.into_parts();
    let body = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    pending.answer = (parts.status != StatusCode::BAD_REQUEST).then(|| Saved {
        status: parts.status,
        headers: parts.headers.clone(),
        body: body.clone(),
        request_id,
    });
    drop(pending);
    insert_key(&mut parts.headers, &key);
    Response::from_parts(parts, Body::from(body))
}

fn replayed(saved: Saved, key: &str) -> Response {
    let mut response = (saved.status, saved.body).into_response();
    let headers = response.headers_mut();
    for name in [
        header::CONTENT_TYPE,
        header::RETRY_AFTER,
        header::WWW_AUTHENTICATE,
    ] {
        if let Some(value) = saved.headers.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    if let Some(value) = saved
        .request_id
        .and_then(|id| HeaderValue::from_str(&id).ok())
    {
        headers.insert("original-request", value);
    }
    insert_key(headers, key);
    response
}

fn insert_key(headers: &mut HeaderMap, key: &str) {
    if let Ok(value) = HeaderValue::from_str(key) {
        headers.insert("idempotency-key", value);
    }
}
