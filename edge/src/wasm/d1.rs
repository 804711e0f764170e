//! D1 behind the [`Replica`] port, in one session per request (see [`crate::sessions`]).

use serde::de::DeserializeOwned;
use worker::{D1DatabaseSession, wasm_bindgen::JsValue};

use crate::platform::{PortError, Replica, Rows, SqlValue, Statement};

pub struct D1(pub D1DatabaseSession);

impl D1 {
    /// Where the session's reads and writes have brought it: the response's bookmark. `None`
    /// when it ran no query (or the runtime has none to give).
    pub fn bookmark(&self) -> Option<String> {
        self.0.get_bookmark().ok().flatten()
    }
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

impl D1 {
    fn prepare_all(
        &self,
        statements: &[Statement],
    ) -> Result<Vec<worker::D1PreparedStatement>, PortError> {
        statements
            .iter()
            .map(|s| self.0.prepare(&*s.sql).bind(&bind_values(&s.params)))
            .collect::<worker::Result<Vec<_>>>()
            .map_err(d1_error)
    }
}

impl Replica for D1 {
    type Rows = D1Rows;

    async fn read_batch(&self, statements: Vec<Statement>) -> Result<Vec<D1Rows>, PortError> {
        let prepared = self.prepare_all(&statements)?;
        Ok(self
            .0
            .batch(prepared)
            .await
            .map_err(d1_error)?
            .into_iter()
            .map(D1Rows)
            .collect())
    }

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, PortError> {
        let prepared = self
            .0
            .prepare(&*statement.sql)
            .bind(&bind_values(&statement.params))
            .map_err(d1_error)?;
        prepared
            .all()
            .await
            .map_err(d1_error)?
            .results::<T>()
            .map_err(d1_error)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), PortError> {
        let prepared = self.prepare_all(&statements)?;
        self.0.batch(prepared).await.map_err(d1_error)?;
        Ok(())
    }
}
