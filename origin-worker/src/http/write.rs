//! Every write runs in one transaction that, when the client sent an `Idempotency-Key`, also
//! records the outcome (IETF httpapi idempotency-key draft):
//!
//! - a retry with the same key and request gets the stored status, body and change records,
//!   and nothing is written again (also after the first attempt committed and its answer was
//!   lost on the way back);
//! - the same key with a different request is 422;
//! - a retry while the first attempt still runs is 409 (a transaction-scoped advisory lock per
//!   key: a crash releases it with the rolled-back transaction, so nothing stays "in flight");
//! - only committed 2xx outcomes are stored, in the write's own transaction; keys expire after
//!   `IDEMPOTENCY_TTL_SECS`.

use domain::ApiError;
use domain::replication::Change;
use domain::wire::OriginReply;
use serde_json::Value;
use sqlx::{Postgres, Transaction};

use crate::http::reply::{Failure, Reply};
use crate::http::signed::Signed;
use crate::state::AppState;

/// A write in progress.
#[derive(Debug)]
pub struct Write {
    pub tx: Transaction<'static, Postgres>,
    key: Option<Key>,
}

#[derive(Debug)]
struct Key {
    scope: String,
    value: String,
    fingerprint: String,
}

/// How a write starts: fresh, or answered from the key's stored outcome.
#[derive(Debug)]
pub enum Begun {
    Fresh(Write),
    Replay(Reply),
}

#[derive(sqlx::FromRow)]
struct Stored {
    fingerprint: String,
    status: i16,
    body: Option<Value>,
    changes: Value,
}

impl Write {
    pub async fn begin(state: &AppState, signed: &Signed) -> Result<Begun, Failure> {
        let mut tx = state.db.begin().await?;
        let Some(key) = signed.idempotency_key.clone() else {
            return Ok(Begun::Fresh(Self { tx, key: None }));
        };
        let scope = signed
            .caller
            .map_or_else(|| "anonymous".to_owned(), |id| format!("user:{id}"));
        let locked: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1 || '/' || $2, 7))",
        )
        .bind(&scope)
        .bind(&key)
        .fetch_one(&mut *tx)
        .await?;
        if !locked {
            return Err(Failure::Api(ApiError::IdempotencyInFlight));
        }
        let ttl = state.settings.idempotency_ttl_secs;
        let stored: Option<Stored> = sqlx::query_as(
            "SELECT fingerprint, status, body, changes FROM idempotency_keys \
             WHERE scope = $1 AND key = $2 AND created_at > now() - make_interval(secs => $3)",
        )
        .bind(&scope)
        .bind(&key)
        .bind(f64::from(ttl))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(stored) = stored {
            if stored.fingerprint != signed.fingerprint {
                return Err(Failure::Api(ApiError::IdempotencyMismatch));
            }
            let changes: Vec<Change> =
                serde_json::from_value(stored.changes).map_err(anyhow::Error::from)?;
            let status = u16::try_from(stored.status).unwrap_or(200);
            tracing::info!(key = %key, "replayed an idempotent request");
            return Ok(Begun::Replay(Reply(OriginReply {
                status,
                body: stored.body,
                changes,
                headers: Vec::new(),
            })));
        }
        // An expired record frees the key for a new request.
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2")
            .bind(&scope)
            .bind(&key)
            .execute(&mut *tx)
            .await?;
        Ok(Begun::Fresh(Self {
            tx,
            key: Some(Key {
                scope,
                value: key,
                fingerprint: signed.fingerprint.clone(),
            }),
        }))
    }

    /// Records the outcome under the key (2xx only) and commits.
    pub async fn commit(mut self, reply: Reply) -> Result<Reply, Failure> {
        if let Some(key) = &self.key
            && reply.is_success()
        {
            sqlx::query(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, changes) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&key.scope)
            .bind(&key.value)
            .bind(&key.fingerprint)
            .bind(i16::try_from(reply.0.status).unwrap_or(200))
            .bind(&reply.0.body)
            .bind(serde_json::to_value(&reply.0.changes).map_err(anyhow::Error::from)?)
            .execute(&mut *self.tx)
            .await?;
        }
        self.tx.commit().await?;
        Ok(reply)
    }
}

/// Starts a write, or returns early with the stored answer of a completed one.
#[macro_export]
macro_rules! begin_write {
    ($state:expr, $signed:expr) => {
        match $crate::http::write::Write::begin($state, $signed).await? {
            $crate::http::write::Begun::Fresh(write) => write,
            $crate::http::write::Begun::Replay(reply) => return Ok(reply),
        }
    };
}
