//! Endpoints only the origin may call, authenticated by the shared-secret signature.

use domain::ApiError;
use domain::replication::{ChangeBatch, MAX_BATCH};
use domain::signing::{self, Direction, SignedParts};
use serde_json::json;

use crate::app::Ctx;
use crate::http::{Request, Response};
use crate::ports::{Origin, Replica};
use crate::replica;

/// Largest push body accepted (bytes).
pub const MAX_PUSH_BYTES: usize = 2 * 1024 * 1024;

/// `POST /internal/replicate/`: applies a batch of change records.
pub async fn replicate<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
) -> Result<Response, ApiError> {
    verify_origin_signature(ctx, request)?;
    if request.body.len() > MAX_PUSH_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_PUSH_BYTES,
        });
    }
    let batch: ChangeBatch = serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if batch.changes.len() > MAX_BATCH {
        return Err(ApiError::PayloadTooLarge { limit: MAX_BATCH });
    }
    replica::apply(ctx.replica, &batch.changes)
        .await
        .map_err(|e| ctx.fault("applying pushed changes", &e))?;
    Ok(Response::json(
        200,
        &json!({"applied": batch.changes.len()}),
    ))
}

/// Refuses anything not signed by the origin within the window. Answers like an unknown path,
/// so the endpoint does not advertise itself.
fn verify_origin_signature<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
) -> Result<(), ApiError> {
    let signature = request.header(signing::SIGNATURE_HEADER);
    let timestamp = request
        .header(signing::TIMESTAMP_HEADER)
        .and_then(|t| t.parse().ok());
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return Err(ApiError::NotFound(None));
    };
    let parts = SignedParts {
        direction: Direction::OriginToEdge,
        method: &request.method,
        path_and_query: &request.path_and_query(),
        body: &request.body,
        timestamp,
        user_id: None,
        request_id: request.header(signing::REQUEST_ID_HEADER).unwrap_or(""),
        idempotency_key: None,
    };
    signing::verify(
        ctx.settings.origin_secret.expose(),
        &parts,
        signature,
        ctx.now,
        ctx.settings.signature_window_secs,
    )
    .map_err(|problem| {
        ctx.log_error("refused an internal call", &problem);
        ApiError::NotFound(None)
    })
}
