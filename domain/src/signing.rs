//! The HMAC that authenticates calls between the edge and the origin.
//!
//! The signed string binds the direction, method, path with query, a SHA-256 of the body, a
//! Unix timestamp, the user the edge verified (or `-`), the request id, the client's
//! `Idempotency-Key` and a nonce. A receiver refuses a signature that does not match or whose
//! timestamp is outside the window, so a captured request cannot be replayed later, reflected
//! the other way, or re-aimed at another path, user or body. Within the window, the nonce
//! (fresh for every call the edge makes) lets the origin refuse a second use: it records each
//! one for the window, which makes every forwarded request exactly-once.

use hmac::{Hmac, Mac};

use crate::ids::UserId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Header carrying the hex HMAC.
pub const SIGNATURE_HEADER: &str = "x-edge-signature";
/// Header carrying the Unix timestamp (seconds) the signature was made at.
pub const TIMESTAMP_HEADER: &str = "x-edge-timestamp";
/// Header carrying the id of the user the edge verified. Trusted only under a valid signature.
pub const USER_HEADER: &str = "x-edge-user";
/// Header carrying the request id, shared by both services' logs.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The client's `Idempotency-Key`, passed through and covered by the signature.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Header carrying the call's nonce: 32 hex digits, fresh for every call.
pub const NONCE_HEADER: &str = "x-edge-nonce";
/// The longest nonce accepted (what a receiver stores is bounded by this).
pub const MAX_NONCE_CHARS: usize = 64;

/// Default tolerance between the signer's and the verifier's clocks, and the replay window.
pub const DEFAULT_WINDOW_SECS: i64 = 60;

/// Which way a call goes; part of the signed string so a signature is valid one way only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    EdgeToOrigin,
    OriginToEdge,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Self::EdgeToOrigin => "edge->origin",
            Self::OriginToEdge => "origin->edge",
        }
    }
}

/// Everything a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    pub direction: Direction,
    pub method: &'a str,
    /// The path and, when present, `?query`, exactly as sent.
    pub path_and_query: &'a str,
    pub body: &'a [u8],
    pub timestamp: i64,
    pub user_id: Option<UserId>,
    pub request_id: &'a str,
    pub idempotency_key: Option<&'a str>,
    /// Fresh for every call (the edge's to the origin carry one; `-` when absent).
    pub nonce: Option<&'a str>,
}

impl SignedParts<'_> {
    fn canonical(&self) -> String {
        let body_digest = hex::encode(Sha256::digest(self.body));
        format!(
            "v2\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.direction.label(),
            self.method.to_ascii_uppercase(),
            self.path_and_query,
            body_digest,
            self.timestamp,
            self.user_id
                .map_or_else(|| "-".to_owned(), |id| id.to_string()),
            self.request_id,
            self.idempotency_key.unwrap_or("-"),
            self.nonce.unwrap_or("-"),
        )
    }
}

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    #[error("signature headers missing")]
    Missing,
    #[error("signature timestamp outside the accepted window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
    /// A valid signature whose nonce was seen before (or that lacks the nonce its direction
    /// requires): a replay.
    #[error("signature used before")]
    Replayed,
}

#[expect(clippy::unreachable, reason = "HMAC takes keys of any length")]
fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key"))
}

/// The hex signature of `parts` under `key`.
pub fn sign(key: &[u8], parts: &SignedParts<'_>) -> String {
    let mut mac = mac(key);
    mac.update(parts.canonical().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks `signature` over `parts`, and that `parts.timestamp` is within `window_secs` of `now`.
pub fn verify(
    key: &[u8],
    parts: &SignedParts<'_>,
    signature: &str,
    now: i64,
    window_secs: i64,
) -> Result<(), SignatureProblem> {
    if (now - parts.timestamp).abs() > window_secs {
        return Err(SignatureProblem::Stale);
    }
    let expected = sign(key, parts);
    if expected.as_bytes().ct_eq(signature.as_bytes()).into() {
        Ok(())
    } else {
        Err(SignatureProblem::Mismatch)
    }
}

/// The headers that carry a signed call: signature, timestamp, request id, and the user and
/// `Idempotency-Key` when there are any. [`check_signed_headers`] reads the same set.
pub fn signed_headers(key: &[u8], parts: &SignedParts<'_>) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        (SIGNATURE_HEADER, sign(key, parts)),
        (TIMESTAMP_HEADER, parts.timestamp.to_string()),
        (REQUEST_ID_HEADER, parts.request_id.to_owned()),
    ];
    if let Some(user) = parts.user_id {
        headers.push((USER_HEADER, user.to_string()));
    }
    if let Some(key) = parts.idempotency_key {
        headers.push((IDEMPOTENCY_HEADER, key.to_owned()));
    }
    if let Some(nonce) = parts.nonce {
        headers.push((NONCE_HEADER, nonce.to_owned()));
    }
    headers
}

/// A call as it arrived, before its signature is checked.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub direction: Direction,
    pub method: &'a str,
    /// The path and, when present, `?query`, exactly as received.
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

/// What a call whose signature checked out says about itself. Only then is any of it trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<'h> {
    /// The user the edge verified, for a user's request.
    pub user: Option<UserId>,
    pub request_id: &'h str,
    pub idempotency_key: Option<&'h str>,
    /// The call's nonce, for the receiver to record (a second use is a replay).
    pub nonce: Option<&'h str>,
}

/// Checks the signed headers of `received` (read through `header`, by lower-case name) under
/// `key`, within `window_secs` of `now`.
pub fn check_signed_headers<'h>(
    key: &[u8],
    received: Received<'_>,
    header: impl Fn(&str) -> Option<&'h str>,
    now: i64,
    window_secs: i64,
) -> Result<Verified<'h>, SignatureProblem> {
    let signature = header(SIGNATURE_HEADER).ok_or(SignatureProblem::Missing)?;
    let timestamp = header(TIMESTAMP_HEADER)
        .and_then(|t| t.parse().ok())
        .ok_or(SignatureProblem::Missing)?;
    let user = match header(USER_HEADER) {
        None => None,
        // Whatever the header holds is signed; one that is no id never came from the edge.
        Some(raw) => Some(UserId::parse(raw).ok_or(SignatureProblem::Mismatch)?),
    };
    let request_id = header(REQUEST_ID_HEADER).unwrap_or("");
    let idempotency_key = header(IDEMPOTENCY_HEADER);
    let nonce = header(NONCE_HEADER);
    if nonce.is_some_and(|n| n.is_empty() || n.len() > MAX_NONCE_CHARS) {
        return Err(SignatureProblem::Mismatch);
    }
    let parts = SignedParts {
        direction: received.direction,
        method: received.method,
        path_and_query: received.path_and_query,
        body: received.body,
        timestamp,
        user_id: user,
        request_id,
        idempotency_key,
        nonce,
    };
    verify(key, &parts, signature, now, window_secs)?;
    Ok(Verified {
        user,
        request_id,
        idempotency_key,
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"an-origin-secret-of-32-bytes-ok!";
    const NOW: i64 = 1_750_000_000;

    fn parts() -> SignedParts<'static> {
        SignedParts {
            direction: Direction::EdgeToOrigin,
            method: "POST",
            path_and_query: "/api/token/?x=1",
            body: br#"{"username":"a"}"#,
            timestamp: NOW,
            user_id: Some(UserId::new(7)),
            request_id: "req-1",
            idempotency_key: Some("key-1"),
            nonce: Some("0123456789abcdef0123456789abcdef"),
        }
    }

    #[test]
    fn a_fresh_untouched_request_verifies() {
        let signature = sign(KEY, &parts());
        assert_eq!(verify(KEY, &parts(), &signature, NOW + 59, 60), Ok(()));
    }

    #[test]
    fn every_covered_part_is_bound_to_the_signature() {
        let signature = sign(KEY, &parts());
        let tampered: Vec<(&str, SignedParts<'static>)> = vec![
            (
                "method",
                SignedParts {
                    method: "DELETE",
                    ..parts()
                },
            ),
            (
                "path",
                SignedParts {
                    path_and_query: "/api/token/?x=2",
                    ..parts()
                },
            ),
            (
                "body",
                SignedParts {
                    body: br#"{"username":"b"}"#,
                    ..parts()
                },
            ),
            (
                "user",
                SignedParts {
                    user_id: Some(UserId::new(8)),
                    ..parts()
                },
            ),
            (
                "no user",
                SignedParts {
                    user_id: None,
                    ..parts()
                },
            ),
            (
                "request id",
                SignedParts {
                    request_id: "req-2",
                    ..parts()
                },
            ),
            (
                "direction",
                SignedParts {
                    direction: Direction::OriginToEdge,
                    ..parts()
                },
            ),
            (
                "timestamp",
                SignedParts {
                    timestamp: NOW + 1,
                    ..parts()
                },
            ),
            (
                "nonce",
                SignedParts {
                    nonce: Some("fedcba9876543210fedcba9876543210"),
                    ..parts()
                },
            ),
            (
                "no nonce",
                SignedParts {
                    nonce: None,
                    ..parts()
                },
            ),
        ];
        for (what, changed) in tampered {
            assert_eq!(
                verify(KEY, &changed, &signature, NOW, 60),
                Err(SignatureProblem::Mismatch),
                "changing the {what} must break the signature"
            );
        }
    }

    #[test]
    fn old_or_future_timestamps_are_stale() {
        let signature = sign(KEY, &parts());
        assert_eq!(
            verify(KEY, &parts(), &signature, NOW + 61, 60),
            Err(SignatureProblem::Stale)
        );
        assert_eq!(
            verify(KEY, &parts(), &signature, NOW - 61, 60),
            Err(SignatureProblem::Stale)
        );
    }

    fn lookup<'h>(headers: &'h [(&'static str, String)]) -> impl Fn(&str) -> Option<&'h str> {
        move |name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    fn received(parts: &SignedParts<'static>) -> Received<'static> {
        Received {
            direction: parts.direction,
            method: parts.method,
            path_and_query: parts.path_and_query,
            body: parts.body,
        }
    }

    #[test]
    fn signed_headers_check_out_and_say_who_is_calling() {
        let headers = signed_headers(KEY, &parts());
        let verified = check_signed_headers(KEY, received(&parts()), lookup(&headers), NOW, 60);
        assert_eq!(
            verified,
            Ok(Verified {
                user: Some(UserId::new(7)),
                request_id: "req-1",
                idempotency_key: Some("key-1"),
                nonce: Some("0123456789abcdef0123456789abcdef"),
            })
        );
    }

    #[test]
    fn a_changed_or_missing_header_is_refused() {
        let headers = signed_headers(KEY, &parts());
        let check = |headers: &[(&'static str, String)]| {
            check_signed_headers(KEY, received(&parts()), lookup(headers), NOW, 60).map(drop)
        };
        let with = |name: &str, value: Option<&str>| {
            let mut changed: Vec<_> = headers
                .iter()
                .filter(|(n, _)| *n != name)
                .cloned()
                .collect();
            let name = headers.iter().find(|(n, _)| *n == name).map(|(n, _)| *n);
            if let (Some(name), Some(value)) = (name, value) {
                changed.push((name, value.to_owned()));
            }
            changed
        };
        let cases = [
            (
                "no signature",
                with(SIGNATURE_HEADER, None),
                SignatureProblem::Missing,
            ),
            (
                "no timestamp",
                with(TIMESTAMP_HEADER, None),
                SignatureProblem::Missing,
            ),
            (
                "another user",
                with(USER_HEADER, Some("8")),
                SignatureProblem::Mismatch,
            ),
            (
                "user not an id",
                with(USER_HEADER, Some("x")),
                SignatureProblem::Mismatch,
            ),
            (
                "no user",
                with(USER_HEADER, None),
                SignatureProblem::Mismatch,
            ),
            (
                "another key",
                with(IDEMPOTENCY_HEADER, Some("k2")),
                SignatureProblem::Mismatch,
            ),
            (
                "no key",
                with(IDEMPOTENCY_HEADER, None),
                SignatureProblem::Mismatch,
            ),
            (
                "another id",
                with(REQUEST_ID_HEADER, Some("r")),
                SignatureProblem::Mismatch,
            ),
        ];
        for (case, headers, problem) in cases {
            assert_eq!(check(&headers), Err(problem), "{case}");
        }
    }

    #[test]
    fn another_key_does_not_verify() {
        let signature = sign(b"some-other-key-some-other-key-xx", &parts());
        assert_eq!(
            verify(KEY, &parts(), &signature, NOW, 60),
            Err(SignatureProblem::Mismatch)
        );
    }
}
