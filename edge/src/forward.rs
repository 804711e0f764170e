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

/// Signs a request for the origin on behalf of `user_id` (the verified caller, if any).
pub fn signed_request<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    method: &str,
    path_and_query: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    user_id: Option<&str>,
) -> OriginRequest {
    let parts = SignedParts {
        direction: Direction::EdgeToOrigin,
        method,
        path_and_query,
        body: &body,
        timestamp: ctx.now,
        user_id,
        request_id: ctx.request_id,
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
    if let Some(user_id) = user_id {
        headers.push((signing::USER_HEADER.to_owned(), user_id.to_owned()));
    }
    if let Some(content_type) = content_type {
        headers.push(("content-type".to_owned(), content_type.to_owned()));
    }
    OriginRequest {
        method: method.to_owned(),
        path_and_query: path_and_query.to_owned(),
        headers,
        body,
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
        &request.method,
        &path_and_query,
        request.header("content-type"),
        request.body.clone(),
        user.as_deref(),
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
