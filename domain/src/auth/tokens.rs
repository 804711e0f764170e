//! JWTs as simplejwt shapes them: HS256, `token_type`, `exp`, `iat`, `jti`, `uid` (a string),
//! plus the seed's `username` and `is_staff`.
//!
//! Expiry is checked here against a `now` the caller passes in (the edge reads the JS clock,
//! the origin the system clock), so every rule is testable without waiting.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::jws::Hs256;

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

/// The signing key. Built once at start-up.
pub struct TokenKeys {
    current: Hs256,
    /// During a rotation: the key that signed before, and when it stops verifying (unix
    /// seconds).
    previous: Option<(Hs256, i64)>,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            current: Hs256::new(secret),
            previous: None,
        }
    }

    /// Signs with the keyring's current key; verifies with it, and with the previous key while
    /// the rotation's overlap lasts.
    pub fn from_keyring(keys: &Keyring) -> Self {
        let mut tokens = Self::from_secret(keys.expose());
        tokens.previous = keys
            .previous()
            .map(|(previous, until)| (Hs256::new(previous), until));
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
        self.current
            .sign(claims)
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
        let claims = self.verified_claims(token, now)?;
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

    /// The claims of a token one of our keys signed (the previous one only until its window
    /// ends), before any rule about their values.
    fn verified_claims(&self, token: &str, now: i64) -> Result<Claims, TokenProblem> {
        let payload = match (self.current.verify(token), &self.previous) {
            (None, Some((previous, until))) if now < *until => previous.verify(token),
            (payload, _) => payload,
        };
        let payload = payload.ok_or(TokenProblem::Invalid)?;
        let claims = serde_json::from_slice(&payload).map_err(|_| TokenProblem::Invalid)?;
        if Audience::named_in(&payload) {
            return Err(TokenProblem::Invalid);
        }
        Ok(claims)
    }
}

/// A token's `aud` claim. None is configured, so a token that names an audience is not meant
/// for us (RFC 7519 §4.1.3; `PyJWT`, hence simplejwt, refuses it too). A value that is not a
/// string or a list of strings counts as absent, as it did under `jsonwebtoken`.
#[derive(Deserialize)]
struct Audience {
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

impl Audience {
    /// Whether `payload` names an audience (or says `aud` twice, which no parser should guess
    /// at).
    fn named_in(payload: &[u8]) -> bool {
        match serde_json::from_slice(payload) {
            Ok(Self { aud: None }) => false,
            Ok(Self { aud: Some(aud) }) => {
                aud.is_string()
                    || aud
                        .as_array()
                        .is_some_and(|names| names.iter().all(serde_json::Value::is_string))
            }
            Err(_) => true,
        }
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
    use proptest::prelude::*;

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
            keys.current.sign(&claims).unwrap()
        };
        let mut cases = cases;
        let altered = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut claims = serde_json::to_value(&access).unwrap();
            change(&mut claims);
            keys.current.sign(&claims).unwrap()
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

    /// What `jsonwebtoken` (which the domain used until the wasm's size mattered) made of a
    /// token, configured as we had it: HS256 only, no claim required, expiry left to us.
    fn jsonwebtoken_claims(token: &str) -> Option<Claims> {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims = std::collections::HashSet::new();
        validation.leeway = 0;
        let key = jsonwebtoken::DecodingKey::from_secret(KEY);
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .ok()
            .map(|decoded| decoded.claims)
    }

    /// A token from parts, signed by `jsonwebtoken`'s HMAC: what a forger, or a future issuer,
    /// might send.
    fn assemble(header: &str, claims: &serde_json::Value, key: &[u8], alg: &str) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let message = format!(
            "{}.{}",
            b64.encode(header),
            b64.encode(serde_json::to_vec(claims).unwrap())
        );
        let algorithm = match alg {
            "HS384" => jsonwebtoken::Algorithm::HS384,
            _ => jsonwebtoken::Algorithm::HS256,
        };
        let key = jsonwebtoken::EncodingKey::from_secret(key);
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, algorithm).unwrap();
        format!("{message}.{signature}")
    }

    #[test]
    fn tokens_are_signed_byte_for_byte_as_jsonwebtoken_signs_them() {
        let (refresh, access) = pair();
        for claims in [refresh, access] {
            let theirs = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(KEY),
            )
            .unwrap();
            assert_eq!(keys().encode(&claims), theirs);
        }
    }

    /// Headers a token might carry. Only `alg` is read: the fields `jsonwebtoken` type-checked
    /// besides (`kid: 5` would have failed there) sit under the signature, and we sign one
    /// header, so no token we accept could differ by them.
    const HEADERS: [&str; 7] = [
        r#"{"typ":"JWT","alg":"HS256"}"#,
        r#"{"alg":"HS256"}"#,
        r#"{"alg":"HS256","typ":"JWT","kid":"k1","cty":"x"}"#,
        r#"{"alg":"HS384","typ":"JWT"}"#,
        r#"{"alg":"hs256"}"#,
        r#"{"alg":"none"}"#,
        r#"{"typ":"JWT"}"#,
    ];

    /// Changes to a valid token's claims, each a case `jsonwebtoken` had an opinion on.
    fn alter(claims: &mut serde_json::Value, change: usize) {
        use serde_json::json;
        let map = claims.as_object_mut().unwrap();
        match change {
            0 => {}
            1 => _ = map.insert("aud".into(), json!("someone")),
            2 => _ = map.insert("aud".into(), json!(["a", "b"])),
            3 => _ = map.insert("aud".into(), json!([])),
            4 => _ = map.insert("aud".into(), json!(5)),
            5 => _ = map.insert("aud".into(), json!(["a", 5])),
            6 => _ = map.insert("aud".into(), serde_json::Value::Null),
            7 => _ = map.insert("uid".into(), json!(7)),
            8 => _ = map.insert("exp".into(), json!(1.5)),
            9 => _ = map.insert("exp".into(), json!(-5)),
            10 => _ = map.remove("jti"),
            11 => _ = map.insert("nbf".into(), json!("soon")),
            12 => _ = map.insert("extra".into(), json!({"nested": [1, 2]})),
            13 => _ = map.insert("sub".into(), json!(42)),
            14 => _ = map.insert("iss".into(), json!("someone")),
            _ => _ = map.insert("token_type".into(), json!("id")),
        }
    }

    /// Damage done to a token's text after signing.
    fn damage(token: &str, how: usize, at: usize) -> String {
        let mut text = token.to_owned();
        let at = at % (text.len() + 1);
        match how {
            0 => {}
            1 => text.insert(at, 'A'),
            2 => _ = text.remove(at.min(text.len() - 1)),
            3 => text.push('='),
            4 => text.insert(at, '.'),
            5 => text = text.replacen('.', "..", 1),
            6 => text = text.rsplit_once('.').unwrap().0.to_owned() + ".",
            _ => text = text.to_uppercase(),
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Every token, well formed or not: accepted by us exactly when `jsonwebtoken`
        /// accepted it, with the same claims.
        #[test]
        fn we_accept_exactly_what_jsonwebtoken_accepted(
            header in 0..HEADERS.len(),
            change in 0..16usize,
            foreign_key in any::<bool>(),
            hs384 in any::<bool>(),
            how in 0..8usize,
            at in any::<usize>(),
        ) {
            let mut claims = serde_json::to_value(pair().1).unwrap();
            alter(&mut claims, change);
            let key: &[u8] = if foreign_key { b"another-key-another-key-another-k" } else { KEY };
            let token = assemble(HEADERS[header], &claims, key, if hs384 { "HS384" } else { "HS256" });
            let token = damage(&token, how, at);
            prop_assert_eq!(
                keys().verified_claims(&token, NOW).ok(),
                jsonwebtoken_claims(&token),
                "{}", token
            );
        }
    }
}
