//! Writes and logins go to the origin: a signed request out, the origin's reply back, its
//! change records applied to D1 before the client hears the answer (read-your-writes).

use domain::limits::MAX_IDEMPOTENCY_KEY_CHARS;
use domain::signing::{self, Direction, SignedParts};
use domain::trace::TRACEPARENT;
use domain::wire::{OriginReply, REPLY_HEADER};
use domain::{ApiError, UserId};

use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeError, EdgeResult};
use crate::http::{Request, Response};
use crate::platform::{Origin as _, OriginRequest, Platform};

/// A call to the origin before it is signed.
#[derive(Debug, Clone, Default)]
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub content_type: Option<&'a str>,
    pub body: Vec<u8>,
    /// The verified caller, if any.
    pub user_id: Option<UserId>,
    pub idempotency_key: Option<&'a str>,
    /// Client headers the origin checks itself ([`FORWARDED_HEADERS`]).
    pub forwarded: Vec<(&'static str, &'a str)>,
}

/// Client headers passed to the origin as they came. Each is a credential the origin verifies
/// on its own terms, so the edge's signature need not cover them: Stripe's signature over the
/// webhook's raw body, and a guest's order token (checked against its digest).
pub const FORWARDED_HEADERS: [(&str, usize); 2] = [
    ("stripe-signature", 2048),
    (
        domain::orders::ORDER_TOKEN_HEADER,
        domain::orders::MAX_ORDER_TOKEN_CHARS,
    ),
];

/// A fresh nonce for one signed call: 128 random bits, hex. Should the platform have no
/// randomness to give, a process-wide counter with the clock keeps nonces distinct within an
/// isolate, which is all a nonce needs from the edge's side.
fn fresh_nonce(now: i64) -> String {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_ok() {
        return hex::encode(bytes);
    }
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{now:x}{call:016x}")
}

/// Signs a call for the origin, with a fresh nonce.
pub fn signed_request<P: Platform>(ctx: &Ctx<'_, P>, call: Outgoing<'_>) -> OriginRequest {
    let nonce = fresh_nonce(ctx.now);
    let parts = SignedParts {
        direction: Direction::EdgeToOrigin,
        method: call.method,
        path_and_query: call.path_and_query,
        body: &call.body,
        timestamp: ctx.now,
        user_id: call.user_id,
        request_id: ctx.request_id,
        idempotency_key: call.idempotency_key,
        nonce: Some(&nonce),
    };
    let mut headers: Vec<(String, String)> =
        signing::signed_headers(ctx.settings.origin_secret.expose(), &parts)
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
    if let Some(content_type) = call.content_type {
        headers.push(("content-type".to_owned(), content_type.to_owned()));
    }
    for (name, value) in call.forwarded {
        headers.push((name.to_owned(), value.to_owned()));
    }
    // Telemetry, not authority: outside the signature, and the origin trusts nothing in it.
    headers.push((TRACEPARENT.to_owned(), ctx.trace.header()));
    OriginRequest {
        method: call.method.to_owned(),
        path_and_query: call.path_and_query.to_owned(),
        headers,
        body: call.body,
    }
}

/// The client's `Idempotency-Key`, if it sent a usable one.
fn idempotency_key(request: &Request) -> Result<Option<&str>, ApiError> {
    match request.header(signing::IDEMPOTENCY_HEADER) {
        None => Ok(None),
        Some(key)
            if (1..=MAX_IDEMPOTENCY_KEY_CHARS).contains(&key.len())
                && key.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
        {
            Ok(Some(key))
        }
        Some(_) => Err(ApiError::BadIdempotencyKey),
    }
}

/// The [`FORWARDED_HEADERS`] the client sent; one over its length limit is a 400.
fn forwarded(request: &Request) -> Result<Vec<(&'static str, &str)>, ApiError> {
    let mut found = Vec::new();
    for (name, limit) in FORWARDED_HEADERS {
        if let Some(value) = request.header(name) {
            if value.len() > limit {
                return Err(ApiError::Validation(domain::FieldErrors::single(
                    name,
                    format!("Ensure this header has no more than {limit} characters."),
                )));
            }
            found.push((name, value));
        }
    }
    Ok(found)
}

/// Forwards the client's request as it is, signed for `user_id`.
pub async fn forward<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    user_id: Option<UserId>,
) -> EdgeResult<Response> {
    // The origin routes canonical paths only: the trailing slash the client may have left off
    // is put back.
    let mut path_and_query = request.path.clone();
    if !path_and_query.ends_with('/') {
        path_and_query.push('/');
    }
    if let Some(query) = &request.query {
        path_and_query = format!("{path_and_query}?{query}");
    }
    let outgoing = signed_request(
        ctx,
        Outgoing {
            method: &request.method,
            path_and_query: &path_and_query,
            content_type: request.header("content-type"),
            body: request.body.clone(),
            user_id,
            idempotency_key: idempotency_key(request)?,
            forwarded: forwarded(request)?,
        },
    );
    let answer = ctx
        .origin()
        .send(outgoing)
        .await
        .unavailable("calling the origin")?;
    if answer.header(REPLY_HEADER).is_none() {
        return Err(EdgeError::fault(
            "reading the origin's answer",
            format!("no reply header (status {})", answer.status),
        ));
    }
    let reply: OriginReply =
        serde_json::from_slice(&answer.body).context("decoding the origin's reply")?;
    if let Err(e) = crate::cleanup::apply(ctx, &reply.changes).await {
        // The write is committed and acknowledged by the origin; the replication job will
        // deliver these records. Losing read-your-writes for a moment beats failing a write
        // that happened.
        ctx.warn("applying write-through changes", &e);
    }
    let mut response = match &reply.body {
        Some(body) => Response::json(reply.status, body),
        None => Response::empty(reply.status),
    };
    for (name, value) in reply.relayed_headers() {
        response.set_header(name, value);
    }
    Ok(response)
}
