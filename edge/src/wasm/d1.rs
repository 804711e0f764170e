//! D1 behind the [`Replica`] port, in one session per request (see [`crate::sessions`]).

use std::cell::OnceCell;

use serde::de::DeserializeOwned;
use worker::{D1Database, D1DatabaseSession, wasm_bindgen::JsValue};

use crate::platform::{PortError, Replica, Rows, SqlValue, Statement};

pub struct D1 {
    /// The binding itself, for the session and for the one retry [`D1::run`] makes outside it.
    database: D1Database,
    /// Where the session starts (see [`crate::sessions`]).
    anchor: String,
    /// Opened by the first query: a request that reads nothing (`/health/`) opens none.
    session: OnceCell<D1DatabaseSession>,
}

/// What the local runtime (miniflare's D1, on workerd's SQLite) sometimes answers when several
/// requests write at once: its storage could not give the session's bookmark, and it rolled the
/// batch back. Production's D1 is another implementation; should it ever say this, the retry
/// on the primary is as fresh as any session.
const LOCAL_BOOKMARK_FAULT: &str = "Failed to get session commit token";

impl D1 {
    /// `database`'s queries in a session that starts at `anchor` (see [`crate::sessions`]),
    /// opened when the first query runs.
    pub fn new(database: D1Database, anchor: &str) -> Self {
        Self {
            database,
            anchor: anchor.to_owned(),
            session: OnceCell::new(),
        }
    }

    fn session(&self) -> Result<&D1DatabaseSession, PortError> {
        if let Some(session) = self.session.get() {
            return Ok(session);
        }
        let session = self
            .database
            .with_session(Some(&self.anchor))
            .map_err(|e| PortError::caused_by("opening a D1 session", e))?;
        Ok(self.session.get_or_init(|| session))
    }

    /// Where the session's reads and writes have brought it: the response's bookmark. `None`
    /// when it ran no query (or the runtime has none to give).
    pub fn bookmark(&self) -> Option<String> {
        self.session.get()?.get_bookmark().ok().flatten()
    }

    /// `statements` as one batch (one transaction) in the session; once more on the database
    /// itself, outside the session, when the session's bookmark could not be had
    /// ([`LOCAL_BOOKMARK_FAULT`]: nothing was written).
    async fn run(&self, statements: &[Statement]) -> Result<Vec<worker::D1Result>, PortError> {
        let session = self.session()?;
        let prepared = prepare_all(statements, |sql| session.prepare(sql))?;
        match session.batch(prepared).await {
            Err(e) if e.to_string().contains(LOCAL_BOOKMARK_FAULT) => {
                let prepared = prepare_all(statements, |sql| self.database.prepare(sql))?;
                self.database.batch(prepared).await.map_err(d1_error)
            }
            answer => answer.map_err(d1_error),
        }
    }
}

fn prepare_all(
    statements: &[Statement],
    prepare: impl Fn(&str) -> worker::D1PreparedStatement,
) -> Result<Vec<worker::D1PreparedStatement>, PortError> {
    statements
        .iter()
        .map(|s| prepare(&s.sql).bind(&bind_values(&s.params)))
        .collect::<worker::Result<Vec<_>>>()
        .map_err(d1_error)
}

fn bind_values(params: &[SqlValue]) -> Vec<JsValue> {
    params
        .iter()
        .map(|p| match p {
            SqlValue::Null => JsValue::NULL,
            #[expect(clippy::cast_precision_loss, reason = "ids and versions are < 2^53")]
            SqlValue::Integer(i) => JsValue::from_f64(*i as f64),
            SqlValue::Real(f) => JsValue::from_f64(*f),
            SqlValue::Text(t) => JsValue::from_str(t),
        })
        .collect()
}

/// D1 reports its failures as a message (its `cause`); other errors keep their value.
fn d1_error(error: worker::Error) -> PortError {
    match error {
        worker::Error::D1(d1) => PortError::new(format!("D1: {}", d1.cause())),
        other => PortError::caused_by("D1 call", other),
    }
}

/// One statement's result of a D1 batch.
pub struct D1Rows(worker::D1Result);

impl Rows for D1Rows {
    fn decode<T: DeserializeOwned>(self) -> Result<Vec<T>, PortError> {
        self.0.results::<T>().map_err(d1_error)
    }
}

impl Replica for D1 {
    type Rows = D1Rows;

    async fn read_batch(&self, statements: Vec<Statement>) -> Result<Vec<D1Rows>, PortError> {
        Ok(self
            .run(&statements)
            .await?
            .into_iter()
            .map(D1Rows)
            .collect())
    }

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, PortError> {
        let mut results = self.run(std::slice::from_ref(&statement)).await?;
        let result = results
            .pop()
            .ok_or_else(|| PortError::new("D1 answered a statement with no result"))?;
        result.results::<T>().map_err(d1_error)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), PortError> {
        self.run(&statements).await?;
        Ok(())
    }
}
