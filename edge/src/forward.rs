//! Writes and logins go to the origin: a signed request out, the origin's reply back, its
//! change records applied to D1 before the client hears the answer (read-your-writes).

use domain::ApiError;
use domain::replication::Change;
use domain::signing::{self, Direction, SignedParts};
use serde::Deserialize;
use serde_json::Value;

use crate::app::Ctx;
use crate::http::{Request, Response};
use crate::ports::{Origin, OriginRequest, Replica};
use crate::replica;

/// Header the origin sets on every reply it means for the edge; anything else (a proxy's error
/// page, a misrouted request) is a fault.
pub const REPLY_HEADER: &str = "x-origin-reply";

/// What the origin answers: the public body, and the change records the write produced.
#[derive(Debug, Deserialize)]
pub struct OriginReply {
    /// The public status (the transport status differs where HTTP forbids a body, e.g. 204).
    pub status: u16,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// A call to the origin before it is signed.
#[derive(Debug, Clone, Default)]
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub content_type: Option<&'a str>,
    pub body: Vec<u8>,
    /// The verified caller, if any.
    pub user_id: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
}

/// Signs a call for the origin.
pub fn signed_request<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    call: Outgoing<'_>,
) -> OriginRequest {
    let parts = SignedParts {
        direction: Direction::EdgeToOrigin,
        method: call.method,
        path_and_query: call.path_and_query,
        body: &call.body,
        timestamp: ctx.now,
        user_id: call.user_id,
        request_id: ctx.request_id,
        idempotency_key: call.idempotency_key,
    };
    let signature = signing::sign(ctx.settings.origin_secret.expose(), &parts);
    let mut headers = vec![
        (signing::SIGNATURE_HEADER.to_owned(), signature),
        (signing::TIMESTAMP_HEADER.to_owned(), ctx.now.to_string()),
        (
            signing::REQUEST_ID_HEADER.to_owned(),
            ctx.request_id.to_owned(),
        ),
    ];
    let optional = [
        (signing::USER_HEADER, call.user_id),
        (signing::IDEMPOTENCY_HEADER, call.idempotency_key),
        ("content-type", call.content_type),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
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
            if (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
        {
            Ok(Some(key))
        }
        Some(_) => Err(ApiError::BadIdempotencyKey),
    }
}

/// Forwards the client's request as it is, signed for `user_id`.
pub async fn forward<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
    user_id: Option<i64>,
) -> Result<Response, ApiError> {
    let user = user_id.map(|id| id.to_string());
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
            user_id: user.as_deref(),
            idempotency_key: idempotency_key(request)?,
        },
    );
    let answer = ctx.origin.send(outgoing).await.map_err(|e| {
        ctx.log_error("origin unreachable", &e);
        ApiError::Unavailable
    })?;
    if answer.header(REPLY_HEADER).is_none() {
        ctx.log_error(
            "origin answered without its reply header",
            &format!("status {}", answer.status),
        );
        return Err(ApiError::Internal);
    }
    let reply: OriginReply = serde_json::from_slice(&answer.body)
        .map_err(|e| ctx.fault("decoding the origin's reply", &e))?;
    if let Err(e) = replica::apply(ctx.replica, &reply.changes).await {
        // The write is committed and acknowledged by the origin; the replication job will
        // deliver these records. Losing read-your-writes for a moment beats failing a write
        // that happened.
        ctx.log_error("applying write-through changes", &e);
    }
    Ok(match reply.body {
        Some(body) => Response::json(reply.status, &body),
        None => Response::empty(reply.status),
    })
}
