//! The edge's one error type. A handler returns either an answer the contract defines
//! ([`ApiError`]) or a fault with its cause; [`crate::app::handle`] turns each into the
//! envelope and, for faults, the single log line with the request id.

use std::error::Error;
use std::fmt;

use domain::ApiError;

/// Why a request did not get its normal answer.
#[derive(Debug)]
pub enum EdgeError {
    /// An answer the contract defines (validation, 401, 404, 405…). Not logged as a fault.
    Api(ApiError),
    /// Our fault or the platform's: answered with the generic 500 (or 503 when `unavailable`),
    /// logged once with `doing` and the whole cause chain.
    Fault {
        doing: &'static str,
        unavailable: bool,
        source: Box<dyn Error + 'static>,
    },
}

impl EdgeError {
    /// A fault without an error value to carry (a malformed answer, a missing row).
    pub fn fault(doing: &'static str, problem: impl Into<String>) -> Self {
        Self::Fault {
            doing,
            unavailable: false,
            source: problem.into().into(),
        }
    }

    /// What the client is told.
    pub fn answer(&self) -> ApiError {
        match self {
            Self::Api(error) => error.clone(),
            Self::Fault {
                unavailable: true, ..
            } => ApiError::Unavailable,
            Self::Fault { .. } => ApiError::Internal,
        }
    }
}

impl From<ApiError> for EdgeError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl fmt::Display for EdgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(error) => write!(f, "{error}"),
            Self::Fault { doing, .. } => f.write_str(doing),
        }
    }
}

impl Error for EdgeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Api(_) => None,
            Self::Fault { source, .. } => Some(source.as_ref()),
        }
    }
}

/// Turns any error into a fault that says what was being done.
pub trait Context<T> {
    /// A 500: something that should not fail did.
    fn context(self, doing: &'static str) -> Result<T, EdgeError>;
    /// A 503 with `Retry-After`: a dependency is down, a retry may succeed.
    fn unavailable(self, doing: &'static str) -> Result<T, EdgeError>;
}

impl<T, E: Error + 'static> Context<T> for Result<T, E> {
    fn context(self, doing: &'static str) -> Result<T, EdgeError> {
        self.map_err(|e| EdgeError::Fault {
            doing,
            unavailable: false,
            source: Box::new(e),
        })
    }

    fn unavailable(self, doing: &'static str) -> Result<T, EdgeError> {
        self.map_err(|e| EdgeError::Fault {
            doing,
            unavailable: true,
            source: Box::new(e),
        })
    }
}

/// Handler results.
pub type EdgeResult<T> = Result<T, EdgeError>;
