//! Endpoints only the origin may call. The pipeline checks the origin's signature
//! ([`verify_origin`], for every `Access::Origin` row) before these handlers run.

use domain::ApiError;
use domain::replication::{ChangeBatch, MAX_BATCH};
use domain::signing::{self, Direction, Received};
use domain::wire::{Applied, DenylistPage, MAX_VERSIONS_PAGE, RowVersions, VersionsRequest};
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeResult};
use crate::http::{Request, Response};
use crate::isolate;
use crate::platform::{Blobs as _, Platform, Replica as _, Statement};
use crate::replica::{self, integer};

/// Refuses anything not signed by the origin within the window. Answers like an unknown path,
/// so the internal endpoints do not advertise themselves; the reason goes to the log.
pub fn verify_origin<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> EdgeResult<()> {
    let received = Received {
        direction: Direction::OriginToEdge,
        method: &request.method,
        path_and_query: &request.path_and_query(),
        body: &request.body,
    };
    ctx.settings
        .origin_secret
        .verify(ctx.now, |key| {
            signing::check_signed_headers(
                key,
                received,
                |name| request.header(name),
                ctx.now,
                ctx.settings.signature_window_secs,
            )
        })
        .map(drop)
        .map_err(|problem| {
            ctx.warn("refused an internal call", &problem);
            ApiError::NotFound(None).into()
        })
}

fn json<T: serde::Serialize>(value: &T) -> EdgeResult<Response> {
    let body = serde_json::to_vec(value).context("encoding an internal answer")?;
    Ok(Response::json_bytes(200, body))
}

/// `GET /internal/isolate/`: this isolate's request count and wasm memory (the soak samples it).
pub fn isolate() -> EdgeResult<Response> {
    json(&isolate::stats())
}

/// `GET /internal/blobs/?cursor=`: one page of the attachments' blobs (key, when stored).
pub async fn blobs<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> EdgeResult<Response> {
    let params = domain::query::QueryParams::parse(request.query.as_deref());
    let page = ctx
        .platform
        .blobs()
        .list(domain::files::key::KEY_PREFIX, params.get("cursor"))
        .await
        .context("listing blobs")?;
    let blobs: Vec<serde_json::Value> = page
        .blobs
        .iter()
        .map(|(key, stored_at)| serde_json::json!({"key": key, "stored_at": stored_at}))
        .collect();
    json(&serde_json::json!({"blobs": blobs, "cursor": page.cursor}))
}

/// `POST /internal/sweep/`: the orphan sweep, now.
pub async fn sweep<P: Platform>(ctx: &Ctx<'_, P>) -> EdgeResult<Response> {
    let swept = crate::cleanup::sweep(ctx)
        .await
        .context("sweeping orphaned blobs")?;
    json(&serde_json::json!({
        "examined": swept.examined,
        "removed": swept.removed,
        "removed_keys": swept.keys,
    }))
}

/// `POST /internal/replicate/`: applies a batch of change records.
pub async fn replicate<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> EdgeResult<Response> {
    let batch: ChangeBatch = serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if batch.changes.len() > MAX_BATCH {
        return Err(ApiError::PayloadTooLarge { limit: MAX_BATCH }.into());
    }
    crate::cleanup::apply(ctx, &batch.changes)
        .await
        .context("applying pushed changes")?;
    if let Err(e) = replica::prune_expired_denials(ctx.replica(), ctx.now).await {
        // The push is applied; pruning can wait for the next one.
        ctx.warn("pruning the denylist", &e);
    }
    json(&Applied {
        applied: batch.changes.len(),
    })
}

#[derive(Debug, Deserialize)]
struct VersionRow {
    #[serde(deserialize_with = "integer")]
    id: i64,
    #[serde(deserialize_with = "integer")]
    version: i64,
}

#[derive(Debug, Deserialize)]
struct JtiRow {
    jti: String,
}

/// `POST /internal/versions/`: a page of what the replica holds, for the origin's `check-edge`
/// and `resync-edge`.
pub async fn versions<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> EdgeResult<Response> {
    let asked: VersionsRequest = serde_json::from_slice(&request.body)
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    match asked {
        VersionsRequest::Rows {
            entity,
            after,
            limit,
        } => {
            let sql = format!(
                "SELECT id, version FROM {} WHERE id > ?1 ORDER BY id LIMIT ?2",
                entity.table()
            );
            let rows: Vec<VersionRow> = ctx
                .replica()
                .query(Statement::new(sql, vec![after.into(), page(limit).into()]))
                .await
                .context("reading versions")?;
            json(&RowVersions {
                rows: rows.iter().map(|r| (r.id, r.version)).collect(),
            })
        }
        VersionsRequest::Denylist { after, limit } => {
            let rows: Vec<JtiRow> = ctx
                .replica()
                .query(Statement::new(
                    "SELECT jti FROM token_denylist WHERE jti > ?1 ORDER BY jti LIMIT ?2",
                    vec![after.into(), page(limit).into()],
                ))
                .await
                .context("reading the denylist")?;
            json(&DenylistPage {
                jtis: rows.into_iter().map(|r| r.jti).collect(),
            })
        }
    }
}

fn page(limit: u32) -> i64 {
    i64::from(limit.clamp(1, MAX_VERSIONS_PAGE))
}
