//! Compact JWS signed with HS256: the only form our tokens take, so the only one we parse.
//!
//! A general JWT library links every algorithm it knows (RSA, ECDSA, `EdDSA`: most of the edge's
//! wasm, when it used one) although HS256 is all that is ever signed or accepted here. What it
//! did for us is small: base64url parts, an HMAC, a header whose `alg` must be `HS256`. Tokens
//! are byte-for-byte what `jsonwebtoken` signs, and what it accepted is what is accepted here
//! (`tokens::tests` holds both to it, with `jsonwebtoken` as the oracle).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::base64url;

/// The header every token carries, as `jsonwebtoken` writes it for HS256.
const HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

/// An HMAC-SHA256 key, keyed once (cloning the keyed state is cheaper than keying again).
#[derive(Clone)]
pub struct Hs256 {
    mac: Hmac<Sha256>,
}

impl Hs256 {
    #[expect(clippy::unreachable, reason = "HMAC takes keys of any length")]
    pub fn new(secret: &[u8]) -> Self {
        let mac = Hmac::<Sha256>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
        Self { mac }
    }

    /// `claims` as a signed compact token: `header.payload.signature`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, serde_json::Error> {
        let payload = serde_json::to_vec(claims)?;
        let mut token = base64url::encode(HEADER.as_bytes());
        token.push('.');
        token.push_str(&base64url::encode(&payload));
        let signature = self.mac.clone().chain_update(token.as_bytes()).finalize();
        token.push('.');
        token.push_str(&base64url::encode(&signature.into_bytes()));
        Ok(token)
    }

    /// The payload of `token` (its JSON bytes) if this key signed it with HS256; `None` for
    /// anything else, whatever the reason.
    pub fn verify(&self, token: &str) -> Option<Vec<u8>> {
        let (message, signature) = token.rsplit_once('.')?;
        let (header, payload) = message.split_once('.')?;
        let header = base64url::decode(header)?;
        let header: Header = serde_json::from_slice(&header).ok()?;
        if header.alg != "HS256" {
            return None;
        }
        let signature = base64url::decode(signature)?;
        // `verify_slice` compares in constant time.
        self.mac
            .clone()
            .chain_update(message.as_bytes())
            .verify_slice(&signature)
            .ok()?;
        base64url::decode(payload)
    }
}

/// What a token's header must say; anything else in it is signed, so ours, and ignored.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
}
