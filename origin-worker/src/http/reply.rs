//! What the origin answers the edge: the public status and body plus the change records the
//! request produced, marked with the reply header the edge insists on.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::ApiError;
use domain::replication::Change;
use domain::wire::{OriginReply, REPLY_HEADER};
use serde_json::{Value, json};

/// A successful (or deliberately refused) answer for the edge: the shared
/// [`OriginReply`] envelope, marked with [`REPLY_HEADER`].
#[derive(Debug)]
pub struct Reply(pub OriginReply);

impl Reply {
    pub fn new(status: StatusCode, body: Value) -> Self {
        Self(OriginReply::new(status.as_u16(), body))
    }

    pub fn no_content() -> Self {
        Self(OriginReply::no_content())
    }

    pub fn with_changes(self, changes: Vec<Change>) -> Self {
        Self(self.0.with_changes(changes))
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.0.status)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let transport = StatusCode::from_u16(self.0.transport_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (transport, axum::Json(self.0)).into_response();
        response
            .headers_mut()
            .insert(REPLY_HEADER, HeaderValue::from_static("1"));
        response
    }
}

/// Why a request failed at the origin.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// An answer the contract defines (validation, bad token, not found…).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The request was not signed by the edge (or not recently). Answered without the reply
    /// header, so the edge treats it as the fault it is.
    #[error("unsigned or stale internal request: {0}")]
    Unsigned(#[from] domain::signing::SignatureProblem),
    /// Postgres failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Anything else that is our fault.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The failure, parked in the response so the request layer (which knows the request id) can
/// log it once and render the envelope.
#[derive(Debug, Clone)]
pub struct ParkedFailure {
    pub error: ApiError,
    pub detail: Option<String>,
    /// Refused before it was known to come from the edge: answered without the reply header.
    pub unsigned: bool,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (error, detail) = match self {
            Self::Api(error) => (error, None),
            Self::Unsigned(problem) => {
                let mut response = (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"detail": "internal requests must be signed"})),
                )
                    .into_response();
                response.extensions_mut().insert(ParkedFailure {
                    error: ApiError::NotAuthenticated,
                    detail: Some(problem.to_string()),
                    unsigned: true,
                });
                return response;
            }
            Self::Database(e) if is_unavailable(&e) => {
                (ApiError::Unavailable, Some(domain::error::chain(&e)))
            }
            Self::Database(e) => (ApiError::Internal, Some(domain::error::chain(&e))),
            Self::Internal(e) => (ApiError::Internal, Some(format!("{e:#}"))),
        };
        let mut response = StatusCode::from_u16(error.status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response();
        response.extensions_mut().insert(ParkedFailure {
            error,
            detail,
            unsigned: false,
        });
        response
    }
}

/// Failures a retry can outlive: no connection to be had, or the server went away under the
/// request (SQLSTATE class 08, connection exception; class 57, operator intervention, as when
/// Postgres is restarted or shut down mid-transaction). The write rolled back; 503 tells the
/// client to retry, with its `Idempotency-Key`.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57")),
        _ => false,
    }
}

/// Renders a parked failure as an origin reply carrying the public error envelope.
pub fn render(failure: &ParkedFailure, request_id: &str) -> Response {
    Reply(OriginReply::error(&failure.error, request_id)).into_response()
}
