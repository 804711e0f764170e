//! Signed, expiring download URLs: `/media/<key>/<name>?expires=<unix secs>&signature=<sig>`.
//!
//! The signature is an HMAC-SHA256 (base64url, unpadded) of a versioned message binding the
//! storage key and the expiry, so a URL opens that one object until then and no other. The
//! name segment is for the browser's address bar and downloads; it is not signed, and the edge
//! checks it against the object's stored name instead.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::key::is_storage_key;
use super::name::{MAX_FILENAME_CHARS, path_segment};
use crate::base64url;

/// Where downloads are served.
pub const MEDIA_PREFIX: &str = "/media/";

/// The length of a signature: 32 bytes in unpadded base64.
const SIGNATURE_CHARS: usize = 43;
/// The digits of the largest `i64`.
const MAX_EXPIRES_CHARS: usize = 19;
/// The longest name segment: every character of a longest name as four `%XX`-encoded bytes.
const MAX_SEGMENT_BYTES: usize = MAX_FILENAME_CHARS * 4 * 3;

/// Why a download URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The query is not exactly `expires` and `signature`, each once and well formed.
    #[error("the download link is malformed")]
    Malformed,
    /// The signature is not ours for this object and expiry.
    #[error("the download link's signature does not match")]
    Mismatch,
    /// A genuine link, past its expiry (checked after the signature, so a forged link is
    /// never told it merely expired).
    #[error("the download link has expired")]
    Expired,
}

/// The path a download of `key` is served at, ending with `name` as its last segment.
pub fn media_path(key: &str, name: &str) -> String {
    format!("{MEDIA_PREFIX}{key}/{}", path_segment(name))
}

/// The storage key and the name segment (still percent-encoded, as sent) of a media path;
/// `None` unless it is `/media/attachments/YYYY/MM/<hex>/<segment>`. The edge compares the
/// segment with `path_segment` of the stored name.
pub fn parse_media_path(path: &str) -> Option<(String, String)> {
    let (key, segment) = path.strip_prefix(MEDIA_PREFIX)?.rsplit_once('/')?;
    let segment_ok = !segment.is_empty() && segment.len() <= MAX_SEGMENT_BYTES;
    (segment_ok && is_storage_key(key)).then(|| (key.to_owned(), segment.to_owned()))
}

/// The label the media key is derived with from another secret.
const DERIVED_KEY_LABEL: &[u8] = b"projects-tasks media URL signing v1";

/// A key for signing download URLs derived from another secret (the edge's
/// `ORIGIN_SHARED_SECRET`, when `MEDIA_SIGNING_KEY` is not set): an HMAC of a fixed label, so
/// the URLs' key reveals nothing of the secret and is no use anywhere else.
pub fn derived_key(secret: &[u8]) -> Vec<u8> {
    let mut mac = mac(secret);
    mac.update(DERIVED_KEY_LABEL);
    mac.finalize().into_bytes().to_vec()
}

/// The signature of a download of `key` until `expires`.
pub fn sign(secret: &[u8], key: &str, expires: i64) -> String {
    let mut mac = mac(secret);
    mac.update(format!("media-v1\n{key}\n{expires}").as_bytes());
    base64url::encode(&mac.finalize().into_bytes())
}

/// `expires=<expires>&signature=<sig>`: the query of a download URL (without its `?`).
pub fn signed_query(secret: &[u8], key: &str, expires: i64) -> String {
    format!("expires={expires}&signature={}", sign(secret, key, expires))
}

/// The whole download URL's path and query.
pub fn signed_path(secret: &[u8], key: &str, name: &str, expires: i64) -> String {
    format!(
        "{}?{}",
        media_path(key, name),
        signed_query(secret, key, expires)
    )
}

/// Checks a download's `query` (with or without its `?`) for `key` at `now`: exactly `expires`
/// and `signature`, in any order, each once; the signature ours; `now` before the expiry.
/// Answers the expiry it verified, for how long the response may be cached.
pub fn verify(secret: &[u8], key: &str, query: &str, now: i64) -> Result<i64, SignatureError> {
    let (expires, signature) = parse_query(query).ok_or(SignatureError::Malformed)?;
    let expected = sign(secret, key, expires);
    if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return Err(SignatureError::Mismatch);
    }
    if now < expires {
        Ok(expires)
    } else {
        Err(SignatureError::Expired)
    }
}

/// The expiry and signature of a query that holds both, each once, and nothing else.
fn parse_query(query: &str) -> Option<(i64, &str)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    // `expires=` (8), `&signature=` (11) and the values: anything longer is not ours.
    if query.len() > 19 + MAX_EXPIRES_CHARS + SIGNATURE_CHARS {
        return None;
    }
    let (mut expires, mut signature) = (None, None);
    for pair in query.split('&') {
        let (slot, value) = match pair.split_once('=')? {
            ("expires", value) => (&mut expires, value),
            ("signature", value) => (&mut signature, value),
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    let (expires, signature) = (expires?, signature?);
    let digits = !expires.is_empty() && expires.bytes().all(|b| b.is_ascii_digit());
    let encoded = signature.len() == SIGNATURE_CHARS
        && signature
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (digits && encoded).then_some(())?;
    Some((expires.parse().ok()?, signature))
}

#[expect(clippy::unreachable, reason = "HMAC takes keys of any length")]
fn mac(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key"))
}

#[cfg(test)]
mod tests;
