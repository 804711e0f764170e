//! JWTs as simplejwt shapes them: HS256, `token_type`, `exp`, `iat`, `jti`, `uid` (a string),
//! plus the seed's `username` and `is_staff`.
//!
//! Expiry is checked here against a `now` the caller passes in (the edge reads the JS clock,
//! the origin the system clock), so every rule is testable without waiting.

use std::collections::HashSet;
use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, TokenProblem};
use crate::ids::UserId;
use crate::input::{JsonBody, Text};
use crate::keyring::Keyring;
use crate::limits::MAX_TOKEN_CHARS;

/// `access` or `refresh`; one is never accepted where the other is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims both tokens carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub token_type: TokenType,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The user's id; a string on the wire, as the contract has it. A token whose `uid` is not
    /// an id does not decode.
    #[serde(with = "uid_text")]
    pub uid: UserId,
    pub username: String,
    pub is_staff: bool,
    /// Not valid before (we never set it; a token that carries one is held to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

impl Claims {
    /// The user the token was issued to.
    pub fn user_id(&self) -> UserId {
        self.uid
    }
}

/// How far ahead of the verifier's clock a token's `iat` or `nbf` may be: the issuer (the
/// origin) and the verifier (the edge) run on different machines.
pub const CLOCK_SKEW_SECS: i64 = 30;

/// How long each token lives, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    pub access_secs: i64,
    pub refresh_secs: i64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_secs: 15 * 60,
            refresh_secs: 7 * 24 * 60 * 60,
        }
    }
}

/// The response of `token/` and `token/refresh/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenPair {
    pub refresh: String,
    pub access: String,
}

/// The signing key in both its forms. Built once at start-up.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// During a rotation: the key that signed before, and when it stops verifying (unix
    /// seconds).
    previous: Option<(DecodingKey, i64)>,
    validation: Validation,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is ours to check, against the caller's clock; see `decode`.
        validation.validate_exp = false;
        validation.required_spec_claims = HashSet::new();
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            previous: None,
            validation,
        }
    }

    /// Signs with the keyring's current key; verifies with it, and with the previous key while
    /// the rotation's overlap lasts.
    pub fn from_keyring(keys: &Keyring) -> Self {
        let mut tokens = Self::from_secret(keys.expose());
        tokens.previous = keys
            .previous()
            .map(|(previous, until)| (DecodingKey::from_secret(previous), until));
        tokens
    }

    /// Signs claims into a compact JWT.
    #[expect(
        clippy::unreachable,
        reason = "HS256 over plain claims cannot fail; only the origin issues tokens"
    )]
    pub fn encode(&self, claims: &Claims) -> String {
        // HS256 over a serialisable struct cannot fail; a failure here is a bug worth a loud
        // crash in tests rather than a token-less login.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .unwrap_or_else(|e| unreachable!("HS256 encoding failed: {e}"))
    }

    /// Reads a token from a body field and verifies it: the simplejwt serializers' shared
    /// first step (`token/verify/`, `refresh/`, `blacklist/`), with their error bodies.
    pub fn decode_field(
        &self,
        body: &JsonBody,
        field: &str,
        expected: Option<TokenType>,
        now: i64,
    ) -> Result<Claims, ApiError> {
        let mut fields = body.fields();
        let token = fields.text(field, Text::required(MAX_TOKEN_CHARS));
        let token = fields.finish_with(|| token)?;
        self.decode(&token, expected, now)
            .map_err(ApiError::TokenNotValid)
    }

    /// Verifies signature, algorithm, shape, expiry and (when given) type.
    pub fn decode(
        &self,
        token: &str,
        expected: Option<TokenType>,
        now: i64,
    ) -> Result<Claims, TokenProblem> {
        let decoded = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation);
        let decoded = match (decoded, &self.previous) {
            (Err(_), Some((previous, until))) if now < *until => {
                jsonwebtoken::decode::<Claims>(token, previous, &self.validation)
            }
            (decoded, _) => decoded,
        };
        let claims = decoded.map_err(|_| TokenProblem::Invalid)?.claims;
        if claims.exp <= now {
            return Err(TokenProblem::Expired);
        }
        // Not yet valid, or issued in the future: PyJWT's `ImmatureSignatureError`, which
        // simplejwt reports as invalid. The origin issues and the edge verifies, on different
        // machines, so their clocks may differ by a little.
        let latest = now + CLOCK_SKEW_SECS;
        if claims.nbf.is_some_and(|nbf| nbf > latest) || claims.iat > latest {
            return Err(TokenProblem::Invalid);
        }
        if claims.jti.is_empty() {
            return Err(TokenProblem::Invalid);
        }
        if expected.is_some_and(|wanted| wanted != claims.token_type) {
            return Err(TokenProblem::WrongType);
        }
        Ok(claims)
    }
}

/// `uid` as simplejwt writes it: the id as a string.
mod uid_text {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::ids::UserId;

    #[allow(
        clippy::trivially_copy_pass_by_ref,
        reason = "the signature serde's `with` calls; `allow`, as the lint fires on 64-bit targets only"
    )]
    pub fn serialize<S: Serializer>(id: &UserId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<UserId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        UserId::parse(&text).ok_or_else(|| D::Error::custom("uid is not a user id"))
    }
}

/// Who a token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    pub user_id: UserId,
    pub username: String,
    pub is_staff: bool,
}

impl Claims {
    /// A fresh refresh token's claims for `subject`.
    pub fn refresh_for(
        subject: &TokenSubject,
        jti: String,
        now: i64,
        life: TokenLifetimes,
    ) -> Self {
        Self {
            token_type: TokenType::Refresh,
            exp: now + life.refresh_secs,
            iat: now,
            jti,
            uid: subject.user_id,
            username: subject.username.clone(),
            is_staff: subject.is_staff,
            nbf: None,
        }
    }

    /// An access token derived from these (refresh) claims, as simplejwt's
    /// `refresh.access_token` does: same subject, new type, id and lifetime.
    pub fn access_from(&self, jti: String, now: i64, life: TokenLifetimes) -> Self {
        Self {
            token_type: TokenType::Access,
            exp: now + life.access_secs,
            iat: now,
            jti,
            ..self.clone()
        }
    }

    /// The rotated successor of these (refresh) claims.
    pub fn rotated(&self, jti: String, now: i64, life: TokenLifetimes) -> Self {
        Self {
            token_type: TokenType::Refresh,
            exp: now + life.refresh_secs,
            iat: now,
            jti,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const NOW: i64 = 1_750_000_000;
    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(KEY)
    }

    fn subject() -> TokenSubject {
        TokenSubject {
            user_id: UserId::new(7),
            username: "alice".into(),
            is_staff: false,
        }
    }

    fn pair() -> (Claims, Claims) {
        let refresh = Claims::refresh_for(&subject(), "r1".into(), NOW, TokenLifetimes::default());
        let access = refresh.access_from("a1".into(), NOW, TokenLifetimes::default());
        (refresh, access)
    }

    #[test]
    fn a_token_round_trips_with_the_contract_claims() {
        let (refresh, access) = pair();
        let keys = keys();
        let decoded = keys
            .decode(&keys.encode(&access), Some(TokenType::Access), NOW)
            .unwrap();
        assert_eq!(decoded, access);
        assert_eq!(decoded.user_id(), UserId::new(7));
        assert_eq!(
            serde_json::to_value(&access).unwrap()["uid"],
            "7",
            "uid is a string"
        );
        assert_eq!(decoded.exp - decoded.iat, 15 * 60);
        assert_eq!(refresh.exp - refresh.iat, 7 * 24 * 3600);
        let raw: serde_json::Value = serde_json::to_value(&access).unwrap();
        let mut names: Vec<_> = raw.as_object().unwrap().keys().cloned().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "exp",
                "iat",
                "is_staff",
                "jti",
                "token_type",
                "uid",
                "username"
            ]
        );
    }

    #[test]
    fn tokens_are_refused_for_the_right_reason() {
        let keys = keys();
        let (refresh, access) = pair();
        let other_key = TokenKeys::from_secret(b"another-key-another-key-another-k");
        let unsigned = {
            // alg: none, with the payload of a valid token.
            let token = keys.encode(&access);
            let payload = token.split('.').nth(1).unwrap().to_owned();
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
        };
        let cases: Vec<(&str, String, Option<TokenType>, i64, TokenProblem)> = vec![
            (
                "garbage",
                "not.a.token".into(),
                None,
                NOW,
                TokenProblem::Invalid,
            ),
            ("alg none", unsigned, None, NOW, TokenProblem::Invalid),
            (
                "another key",
                other_key.encode(&access),
                None,
                NOW,
                TokenProblem::Invalid,
            ),
            (
                "expired",
                keys.encode(&access),
                None,
                access.exp,
                TokenProblem::Expired,
            ),
            (
                "refresh as access",
                keys.encode(&refresh),
                Some(TokenType::Access),
                NOW,
                TokenProblem::WrongType,
            ),
            (
                "access as refresh",
                keys.encode(&access),
                Some(TokenType::Refresh),
                NOW,
                TokenProblem::WrongType,
            ),
        ];
        let foreign_uid = |uid: serde_json::Value| {
            let mut claims = serde_json::to_value(&access).unwrap();
            claims["uid"] = uid;
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
        };
        let mut cases = cases;
        let altered = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut claims = serde_json::to_value(&access).unwrap();
            change(&mut claims);
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
        };
        cases.push((
            "not before a later time",
            altered(&|c| c["nbf"] = serde_json::json!(NOW + 60)),
            None,
            NOW,
            TokenProblem::Invalid,
        ));
        cases.push((
            "issued in the future",
            altered(&|c| c["iat"] = serde_json::json!(NOW + 60)),
            None,
            NOW,
            TokenProblem::Invalid,
        ));
        for (name, uid) in [
            ("uid not a number", serde_json::json!("abc")),
            ("uid not positive", serde_json::json!("-1")),
            ("uid as a number", serde_json::json!(7)),
        ] {
            cases.push((name, foreign_uid(uid), None, NOW, TokenProblem::Invalid));
        }
        let within_skew = altered(&|c| {
            c["iat"] = serde_json::json!(NOW + CLOCK_SKEW_SECS);
            c["nbf"] = serde_json::json!(NOW + CLOCK_SKEW_SECS);
        });
        assert!(
            keys.decode(&within_skew, None, NOW).is_ok(),
            "a clock a little behind the issuer's still accepts a fresh token"
        );
        for (name, token, expected, now, problem) in cases {
            assert_eq!(
                keys.decode(&token, expected, now),
                Err(problem),
                "case {name}"
            );
        }
    }

    #[test]
    fn after_a_rotation_the_old_keys_tokens_verify_until_the_window_ends() {
        let old = keys();
        let (_, access) = pair();
        let token = old.encode(&access);
        let until = NOW + 60;
        let ring = Keyring::new(crate::secret::Secret::new(
            *b"a-brand-new-signing-key-32-bytes",
        ))
        .with_previous(crate::secret::Secret::new(KEY.to_vec()), until);
        let rotated = TokenKeys::from_keyring(&ring);
        assert_eq!(
            rotated.decode(&token, Some(TokenType::Access), until - 1),
            Ok(access.clone()),
            "inside the window"
        );
        assert_eq!(
            rotated.decode(&token, Some(TokenType::Access), until),
            Err(TokenProblem::Invalid),
            "from the window's end on"
        );
        let fresh = rotated.encode(&access);
        assert_eq!(
            old.decode(&fresh, None, until - 1),
            Err(TokenProblem::Invalid),
            "new key signs"
        );
        assert_eq!(rotated.decode(&fresh, None, until), Ok(access));
    }

    #[test]
    fn a_tampered_payload_is_invalid() {
        let keys = keys();
        let (_, access) = pair();
        let token = keys.encode(&access);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = Claims {
            is_staff: true,
            ..access
        };
        let forged_token = keys.encode(&forged);
        parts[1] = forged_token.split('.').nth(1).unwrap().to_owned();
        assert_eq!(
            keys.decode(&parts.join("."), None, NOW),
            Err(TokenProblem::Invalid)
        );
    }

    #[test]
    fn rotation_keeps_the_subject_and_renews_the_rest() {
        let (refresh, _) = pair();
        let later = NOW + 100;
        let rotated = refresh.rotated("r2".into(), later, TokenLifetimes::default());
        assert_eq!(
            (rotated.user_id(), rotated.username.as_str()),
            (UserId::new(7), "alice")
        );
        assert_eq!((rotated.jti.as_str(), rotated.iat), ("r2", later));
        assert_eq!(rotated.token_type, TokenType::Refresh);
    }
}
