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
    if let Err(e) = replica::prune_expired_denials(ctx.replica, ctx.now).await {
        // The push is applied; pruning can wait for the next one.
        ctx.log_error("pruning the denylist", &e);
    }
    Ok(Response::json(
        200,
        &json!({"applied": batch.changes.len()}),
    ))
}

/// The body of `POST /internal/versions/`: a page of (id, version) pairs of one table.
#[derive(Debug, serde::Deserialize)]
struct VersionsRequest {
    entity: String,
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
    /// For the denylist, keyed by token id.
    #[serde(default)]
    after_jti: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct JtiRow {
    jti: String,
}

/// A page of denylisted token ids, in order.
async fn denylist_page<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    after: String,
    limit: i64,
) -> Result<Response, ApiError> {
    let rows: Vec<JtiRow> = ctx
        .replica
        .query(crate::ports::Statement::new(
            "SELECT jti FROM token_denylist WHERE jti > ?1 ORDER BY jti LIMIT ?2",
            vec![after.into(), limit.into()],
        ))
        .await
        .map_err(|e| ctx.fault("reading the denylist", &e))?;
    let jtis: Vec<String> = rows.into_iter().map(|r| r.jti).collect();
    Ok(Response::json(200, &json!({"jtis": jtis})))
}

fn default_limit() -> i64 {
    1000
}

#[derive(Debug, serde::Deserialize)]
struct VersionRow {
    #[serde(deserialize_with = "crate::replica::integer")]
    id: i64,
    #[serde(deserialize_with = "crate::replica::integer")]
    version: i64,
}

/// `POST /internal/versions/`: what the replica holds, for the origin's `check-edge` and
/// `resync-edge`.
pub async fn versions<R: Replica, O: Origin>(
    ctx: &Ctx<'_, R, O>,
    request: &Request,
) -> Result<Response, ApiError> {
    verify_origin_signature(ctx, request)?;
    let asked: VersionsRequest = serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let limit = asked.limit.clamp(1, 5000);
    if asked.entity == "denylist" {
        return denylist_page(ctx, asked.after_jti.unwrap_or_default(), limit).await;
    }
    let sql = match asked.entity.as_str() {
        "users" => "SELECT id, version FROM users WHERE id > ?1 ORDER BY id LIMIT ?2",
        "projects" => "SELECT id, version FROM projects WHERE id > ?1 ORDER BY id LIMIT ?2",
        "tasks" => "SELECT id, version FROM tasks WHERE id > ?1 ORDER BY id LIMIT ?2",
        _ => {
            return Err(ApiError::Validation(domain::FieldErrors::single(
                "entity",
                "Unknown entity.",
            )));
        }
    };
    let rows: Vec<VersionRow> = ctx
        .replica
        .query(crate::ports::Statement::new(
            sql,
            vec![asked.after.into(), limit.into()],
        ))
        .await
        .map_err(|e| ctx.fault("reading versions", &e))?;
    let pairs: Vec<[i64; 2]> = rows.iter().map(|r| [r.id, r.version]).collect();
    Ok(Response::json(200, &json!({"rows": pairs})))
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
