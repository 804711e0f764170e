//! The extractor every forwarded endpoint takes: the body, read under a limit, accepted only
//! with a valid, fresh edge signature whose nonce was not seen before. The user id comes from
//! the signed header and nowhere else.

use axum::body::{Bytes, to_bytes};
use axum::extract::{FromRequest, Request};
use domain::ApiError;
use domain::UserId;
use domain::input::JsonBody;
use domain::limits::MAX_JSON_BODY_BYTES;
use domain::signing::{self, Direction, Received, SignatureProblem};
use sha2::{Digest, Sha256};

use crate::http::reply::Failure;
use crate::state::AppState;

/// A request the edge signed.
#[derive(Debug)]
pub struct Signed {
    /// The user the edge verified, when the endpoint is a user's.
    pub caller: Option<UserId>,
    pub content_type: Option<String>,
    pub body: Bytes,
    /// The client's `Idempotency-Key` (covered by the signature).
    pub idempotency_key: Option<String>,
    /// SHA-256 over method, path and body: what a retry with the same key must match.
    pub fingerprint: String,
}

impl Signed {
    /// The body as fields, parsed as the edge did.
    pub fn json(&self) -> Result<JsonBody, Failure> {
        Ok(JsonBody::parse(self.content_type.as_deref(), &self.body)?)
    }

    /// The caller, for endpoints that need one.
    pub fn user(&self) -> Result<UserId, Failure> {
        self.caller.ok_or(Failure::Api(ApiError::NotAuthenticated))
    }
}

impl FromRequest<AppState> for Signed {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let body =
            to_bytes(body, MAX_JSON_BODY_BYTES)
                .await
                .map_err(|_| ApiError::PayloadTooLarge {
                    limit: MAX_JSON_BODY_BYTES,
                })?;
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let received = Received {
            direction: Direction::EdgeToOrigin,
            method: parts.method.as_str(),
            path_and_query,
            body: &body,
        };
        let now = chrono::Utc::now().timestamp();
        let verified = state.settings.origin_secret.verify(now, |key| {
            signing::check_signed_headers(
                key,
                received,
                header,
                now,
                state.settings.signature_window_secs,
            )
        })?;
        let nonce = verified.nonce.ok_or(SignatureProblem::Replayed)?;
        if !first_use(state, nonce).await? {
            return Err(SignatureProblem::Replayed.into());
        }
        let caller = verified.user;
        let idempotency_key = verified.idempotency_key.map(str::to_owned);
        let mut digest = Sha256::new();
        for part in [
            parts.method.as_str().as_bytes(),
            path_and_query.as_bytes(),
            &body,
        ] {
            digest.update(part.len().to_le_bytes());
            digest.update(part);
        }
        let fingerprint = hex::encode(digest.finalize());
        Ok(Self {
            caller,
            content_type: header("content-type").map(str::to_owned),
            body,
            idempotency_key,
            fingerprint,
        })
    }
}

/// Records `nonce` for the signature window (twice over, for the clocks' drift); `false` if it
/// was recorded already: the same signed request a second time, a replay.
async fn first_use(state: &AppState, nonce: &str) -> Result<bool, Failure> {
    let recorded = sqlx::query(
        "INSERT INTO request_nonces (nonce, expires_at) \
         VALUES ($1, now() + make_interval(secs => $2)) ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce)
    .bind(f64::from(
        u32::try_from(state.settings.signature_window_secs.saturating_mul(2)).unwrap_or(120),
    ))
    .execute(&state.db)
    .await?;
    Ok(recorded.rows_affected() == 1)
}

/// Drops nonces past their window (the `purge-nonces` job, every minute).
pub async fn forget_expired_nonces(db: &sqlx::PgPool) -> sqlx::Result<u64> {
    let gone = sqlx::query("DELETE FROM request_nonces WHERE expires_at < now()")
        .execute(db)
        .await?;
    Ok(gone.rows_affected())
}
