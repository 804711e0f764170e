//! `GET /media/attachments/YYYY/MM/<id>/<name>?expires=…&signature=…`: a download by signed
//! URL, without a bearer token, so that a browser, an `<img>` or a mobile download manager
//! can fetch it. The signature binds the URL to one object until it expires; whatever is
//! wrong with it (expired, altered, another object's, no such object) answers the same 404.
//!
//! The bytes stream from R2 into the response untouched. Ranges (one per request, as most
//! servers do) answer 206, and `If-None-Match` 304, both against the attachment's metadata
//! in D1, so neither needs R2 to say no.

use domain::ApiError;
use domain::files::{kind, name, range, signed};

/// A path segment's bytes: `%XX` decoded, everything else (`+` included) as it is; `None`
/// for a malformed escape.
fn path_decoded(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    Some(out)
}

use super::sql::{self, StoredRow};
use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeResult};
use crate::http::{Request, Response};
use crate::platform::{BlobBody, Blobs as _, Platform, Replica as _};

/// What a browser may do with a downloaded file: nothing, even were it to render it.
const DOWNLOAD_CSP: &str = "default-src 'none'; sandbox";

pub async fn download<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> EdgeResult<Response> {
    let missing = || ApiError::NotFound(None);
    let (key, segment) = signed::parse_media_path(&request.path).ok_or_else(missing)?;
    let query = request.query.as_deref().unwrap_or_default();
    let expires = ctx
        .settings
        .media
        .signing_key
        .verify(ctx.now, |signing_key| {
            signed::verify(signing_key, &key, query, ctx.now)
        })
        .map_err(|_| missing())?;
    let rows: Vec<StoredRow> = ctx
        .replica()
        .query(sql::stored(&key))
        .await
        .context("looking up an attachment by its key")?;
    let Some(file) = rows.into_iter().next() else {
        return Err(missing().into());
    };
    // The name as the client encoded it (browsers and clients escape differently).
    if path_decoded(&segment).as_deref() != Some(file.filename.as_bytes()) {
        return Err(missing().into());
    }
    let etag = format!("\"{}\"", file.checksum);
    let mut response = Response::empty(200);
    response.set_header("etag", etag.clone());
    response.set_header("accept-ranges", "bytes");
    response.set_header(
        "content-disposition",
        name::content_disposition(&file.filename),
    );
    response.set_header("content-security-policy", DOWNLOAD_CSP);
    // Cached by the browser that asked, for as long as its URL works.
    response.set_header(
        "cache-control",
        format!("private, max-age={}", (expires - ctx.now).max(0)),
    );
    if request
        .header("if-none-match")
        .is_some_and(|tags| range::none_match(tags, &etag))
    {
        response.status = 304;
        return Ok(response);
    }
    let content_type = kind::ALLOWED
        .iter()
        .find(|kind| kind.content_type == file.content_type)
        .map_or("application/octet-stream", |kind| kind.content_type);
    response.set_header("content-type", content_type);
    let size = u64::try_from(file.size).unwrap_or_default();
    // `If-Range` with another validator: the file changed, so the whole of it.
    let ranged = request
        .header("if-range")
        .is_none_or(|validator| validator == etag);
    let slice = match request
        .header("range")
        .filter(|_| ranged)
        .and_then(range::parse_range)
    {
        None => None,
        Some(wanted) => {
            Some(range::resolve(wanted, size).map_err(|_| ApiError::RangeNotSatisfiable { size })?)
        }
    };
    if let Some((start, len)) = slice {
        response.status = 206;
        response.set_header("content-range", range::content_range(start, len, size));
    }
    if request.method == "HEAD" {
        // What a GET would send, without sending it.
        let length = slice.map_or(size, |(_, len)| len);
        response.set_header("content-length", length.to_string());
        return Ok(response);
    }
    match ctx
        .platform
        .blobs()
        .get(&key, slice)
        .await
        .context("reading an attachment from R2")?
    {
        Some(BlobBody::Bytes(bytes)) => response.body = bytes,
        Some(BlobBody::Platform(body)) => response.stream = Some(body),
        None => {
            ctx.warn(
                "an attachment's metadata names a blob R2 does not have",
                &crate::platform::PortError::new(key),
            );
            return Err(missing().into());
        }
    }
    Ok(response)
}
