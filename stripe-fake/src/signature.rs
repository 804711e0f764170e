//! Stripe's webhook signature: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, where
//! each `v1` is the HMAC-SHA256 of `"<t>.<raw body>"` keyed with one webhook signing secret.
//!
//! While a secret is being rolled Stripe signs with the old and the new one, so a header may
//! carry several `v1` values; it verifies when any one of them matches. Tests use [`sign`] and
//! [`sign_with_secrets`] to build good and deliberately bad headers, and [`verify`] to check
//! what a receiver got.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header a delivery carries the signature in.
pub const HEADER: &str = "Stripe-Signature";

/// Stripe's default tolerance between the signed timestamp and the receiver's clock.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a signature header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is not `t=…,v1=…`")]
    Malformed,
    #[error("the signature header has no `v1` signature")]
    NoSignature,
    #[error("no `v1` signature matches the payload with any of the secrets")]
    Mismatch,
    #[error("the signature's timestamp {timestamp} is more than {tolerance} s from now ({now})")]
    OutsideTolerance {
        timestamp: i64,
        now: i64,
        tolerance: i64,
    },
}

/// The `v1` signature of `payload` at `timestamp`: lowercase hex of the HMAC-SHA256.
pub fn v1(payload: &[u8], secret: &str, timestamp: i64) -> String {
    hex::encode(mac(payload, secret, timestamp).finalize().into_bytes())
}

/// A complete header signed with one secret: `t=<timestamp>,v1=<hex>`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    sign_with_secrets(payload, [secret], timestamp)
}

/// A header with one `v1` per secret, in the order given (secret rotation).
pub fn sign_with_secrets<'a>(
    payload: &[u8],
    secrets: impl IntoIterator<Item = &'a str>,
    timestamp: i64,
) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&v1(payload, secret, timestamp));
    }
    header
}

/// Checks a header as a receiver should: some `v1` matches with some secret, and the timestamp
/// is within `tolerance` seconds of `now`, in either direction. Returns the signed timestamp.
pub fn verify<'a>(
    payload: &[u8],
    header: &str,
    secrets: impl IntoIterator<Item = &'a str>,
    tolerance: i64,
    now: i64,
) -> Result<i64, SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => timestamp = value.parse::<i64>().ok(),
            // A value that is not hex cannot match; it does not spoil the others.
            "v1" => signatures.extend(hex::decode(value).ok()),
            _ => {} // v0 and any future scheme
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?; // absent or not a number
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    let matches = secrets.into_iter().any(|secret| {
        let mac = mac(payload, secret, timestamp);
        // `verify_slice` compares in constant time.
        signatures
            .iter()
            .any(|candidate| mac.clone().verify_slice(candidate).is_ok())
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    if (now - timestamp).abs() > tolerance {
        return Err(SignatureError::OutsideTolerance {
            timestamp,
            now,
            tolerance,
        });
    }
    Ok(timestamp)
}

fn mac(payload: &[u8], secret: &str, timestamp: i64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;

    #[test]
    fn a_signature_matches_an_independent_hmac_of_timestamp_dot_body() {
        // printf '%s' '1700000000.{"id":"evt_1","object":"event"}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            v1(BODY, "whsec_test", NOW),
            "4c15fb2a43f93ef61eaa3e0893866d57cad9cad4223242cfb96f362480cb4021"
        );
        assert_eq!(
            sign(BODY, "whsec_test", NOW),
            format!("t={NOW},v1=4c15fb2a43f93ef61eaa3e0893866d57cad9cad4223242cfb96f362480cb4021")
        );
    }

    #[test]
    fn headers_verify_or_say_why_not() {
        let rotated = sign_with_secrets(BODY, ["whsec_old", "whsec_new"], NOW);
        let stale = |timestamp| {
            Err(SignatureError::OutsideTolerance {
                timestamp,
                now: NOW,
                tolerance: 300,
            })
        };
        let cases = [
            (
                "signed with the secret",
                sign(BODY, "whsec_new", NOW),
                BODY,
                Ok(NOW),
            ),
            (
                "old and new secret, receiver has the new",
                rotated,
                BODY,
                Ok(NOW),
            ),
            (
                "a v0 and spaces are ignored",
                format!("{}, v0=abc", sign(BODY, "whsec_new", NOW)),
                BODY,
                Ok(NOW),
            ),
            (
                "wrong secret",
                sign(BODY, "whsec_other", NOW),
                BODY,
                Err(SignatureError::Mismatch),
            ),
            (
                "altered body",
                sign(BODY, "whsec_new", NOW),
                b"{}".as_slice(),
                Err(SignatureError::Mismatch),
            ),
            (
                "stale",
                sign(BODY, "whsec_new", NOW - 301),
                BODY,
                stale(NOW - 301),
            ),
            (
                "from the future",
                sign(BODY, "whsec_new", NOW + 301),
                BODY,
                stale(NOW + 301),
            ),
            (
                "no v1",
                format!("t={NOW}"),
                BODY,
                Err(SignatureError::NoSignature),
            ),
            (
                "not a header",
                "garbage".to_owned(),
                BODY,
                Err(SignatureError::Malformed),
            ),
        ];
        for (why, header, body, expected) in cases {
            assert_eq!(
                verify(body, &header, ["whsec_new"], DEFAULT_TOLERANCE_SECS, NOW),
                expected,
                "{why}"
            );
        }
    }
}
