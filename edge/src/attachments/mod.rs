//! Attachments: files uploaded to a project, kept in R2 (behind the
//! [`Blobs`](crate::platform::Blobs) port) under keys the edge chooses, their metadata written
//! through the origin like every other write and read back from D1, and downloaded through
//! signed, expiring URLs that need no bearer token.
//!
//! - [`upload`]: `POST /api/v1/attachments/`, streamed into R2;
//! - [`reads`]: the owner's list and detail, from D1;
//! - [`download`]: `GET /media/…`, by signed URL, with ranges and `If-None-Match`;
//! - [`sql`]: the statements; [`memory`]: the test platform's blobs.

pub mod download;
mod memory;
pub mod reads;
pub mod sql;
pub mod upload;

use domain::files::signed;
use domain::ids::AttachmentId;
use domain::{ApiError, UserId};
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::EdgeResult;
use crate::forward::forward;
use crate::http::{Request, Response};
use crate::platform::Platform;
use crate::routes::Handler;

pub use memory::MemoryBlobs;

/// How finely a download URL's expiry is rounded up: the same URL for this long, so that a
/// browser's cache keeps working across requests, and each URL works at least
/// `MEDIA_URL_TTL_SECS`.
const EXPIRY_STEP_SECS: i64 = 300;

/// Answers the attachment endpoints for `owner` (`id` on the detail path).
pub async fn run<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    handler: Handler,
    id: Option<&str>,
    owner: UserId,
) -> EdgeResult<Response> {
    // The detail path's id: anything but a positive integer is simply not found.
    let id = || {
        id.and_then(AttachmentId::parse)
            .ok_or(ApiError::NotFound(Some("Attachment")))
    };
    match handler {
        Handler::ListAttachments => reads::list(ctx, request, owner).await,
        Handler::CreateAttachment => upload::upload(ctx, request, owner).await,
        Handler::ShowAttachment => reads::show(ctx, request, owner, id()?).await,
        Handler::DeleteAttachment => {
            id()?;
            forward(ctx, request, Some(owner)).await
        }
        _ => Err(ApiError::NotFound(None).into()),
    }
}

/// When URLs signed now expire.
fn expiry<P: Platform>(ctx: &Ctx<'_, P>) -> i64 {
    let at_least = ctx.now + ctx.settings.media.url_ttl_secs;
    (at_least + EXPIRY_STEP_SECS - 1) / EXPIRY_STEP_SECS * EXPIRY_STEP_SECS
}

/// An attachment as the origin and SQLite build it (with `storage_key`) turned into what the
/// client sees: `file`, the absolute signed URL, in `storage_key`'s place.
pub fn represent<P: Platform>(ctx: &Ctx<'_, P>, base_url: &str, attachment: &mut Value) {
    let Some(object) = attachment.as_object_mut() else {
        return;
    };
    let Some(Value::String(key)) = object.get("storage_key").cloned() else {
        return;
    };
    let filename = object
        .get("filename")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let url = format!(
        "{base_url}{}",
        signed::signed_path(
            ctx.settings.media.signing_key.expose(),
            &key,
            &filename,
            expiry(ctx)
        )
    );
    // Rebuilt in the contract's order: `file` where DRF has it, after `project`.
    let mut shown = serde_json::Map::new();
    for (field, value) in std::mem::take(object) {
        if field == "storage_key" {
            continue;
        }
        let after_project = field == "project";
        shown.insert(field, value);
        if after_project {
            shown.insert("file".to_owned(), Value::String(url.clone()));
        }
    }
    *object = shown;
}
