//! The rate limiter's counts: [`RateLimiter`], one SQLite-backed Durable Object per identity
//! (binding `RATE_LIMITER`), running [`counts::serve`] over its own tables; and
//! [`ObjectCounts`], the [`Counts`] port calling it.
//!
//! Everything the object does is synchronous SQL (`sql.exec` runs at once and its writes are
//! covered by the output gate), so one take never interleaves with another. Its storage, not
//! its memory, holds the counts: a restarted object carries on. Its memory holds a copy, read
//! from storage once per life of the object and written through, so that a take reads no rows
//! (reading a day's grants on every take cost a read as much as the rest of its work). After a
//! failed write the copy is dropped and read again.
//!
//! The object never calls `SqlCursor::one` (a binding without `catch`, whose exception would
//! reset the whole wasm instance): rows are read with `to_array`.

use std::cell::RefCell;

use domain::throttle::{Grant, ScopeSet, Take, Taken};
use serde::Deserialize;
use worker::{
    Context, Date, DurableObject, Env, Headers, Method, Request, RequestInit, Response, Result,
    State, durable_object,
};
use worker::{SqlStorage, SqlStorageValue};

use crate::platform::{Answered, Counts, PortError};
use crate::throttle::counts::{self, LeaseRecord, Store};

/// The binding's name in `wrangler.toml`.
pub const BINDING: &str = "RATE_LIMITER";

#[durable_object(fetch)]
pub struct RateLimiter {
    sql: SqlStorage,
    /// The grants and the lease as in storage; `None` until read (or after a failure).
    copy: RefCell<Option<Counted>>,
}

/// What the object's storage holds, in memory.
#[derive(Debug, Default)]
struct Counted {
    grants: Vec<Grant>,
    lease: Option<LeaseRecord>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        for statement in [
            "CREATE TABLE IF NOT EXISTS grants (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             at_ms INTEGER NOT NULL, units INTEGER NOT NULL, scopes INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS grants_at ON grants (at_ms)",
            "CREATE TABLE IF NOT EXISTS lease (one INTEGER PRIMARY KEY CHECK (one = 1), \
             grant_id INTEGER NOT NULL, until_ms INTEGER NOT NULL)",
        ] {
            if let Err(e) = sql.exec(statement, None) {
                worker::console_error!("rate limiter: creating its tables failed: {e}");
            }
        }
        Self {
            sql,
            copy: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut request: Request) -> Result<Response> {
        let take: Take = match request.json().await {
            Ok(take) => take,
            Err(e) => return Response::error(format!("not a take: {e}"), 400),
        };
        let now_ms = i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX);
        let mut slot = self.copy.borrow_mut();
        let copy = match slot.take() {
            Some(copy) => copy,
            None => match read_copy(&self.sql, now_ms - counts::MAX_PERIOD_MS) {
                Ok(copy) => copy,
                Err(e) => return Response::error(domain::error::chain(&e), 500),
            },
        };
        let mut store = SqlStore {
            sql: &self.sql,
            copy,
        };
        match counts::serve(&mut store, &take, now_ms) {
            Ok(taken) => {
                *slot = Some(store.copy);
                Response::from_json(&taken)
            }
            // The copy may be ahead of storage now: read it again next time.
            Err(e) => Response::error(domain::error::chain(&e), 500),
        }
    }
}

/// Reads the grants counted after `since_ms` and the lease from storage.
fn read_copy(sql: &SqlStorage, since_ms: i64) -> std::result::Result<Counted, PortError> {
    let grants: Vec<GrantRow> = sql
        .exec(
            "SELECT id, at_ms, units, scopes FROM grants WHERE at_ms > ?",
            Some(vec![since_ms.into()]),
        )
        .and_then(|cursor| cursor.to_array())
        .map_err(failed("reading the grants"))?;
    let lease: Vec<LeaseRow> = sql
        .exec("SELECT grant_id, until_ms FROM lease", None)
        .and_then(|cursor| cursor.to_array())
        .map_err(failed("reading the lease"))?;
    Ok(Counted {
        grants: grants
            .into_iter()
            .map(|row| Grant {
                id: row.id,
                at_ms: row.at_ms,
                units: u32::try_from(row.units).unwrap_or(0),
                scopes: ScopeSet::from_bits(u8::try_from(row.scopes).unwrap_or(0)),
            })
            .collect(),
        lease: lease.first().map(|row| LeaseRecord {
            grant: row.grant_id,
            until_ms: row.until_ms,
        }),
    })
}

/// [`Store`] over the object's SQLite: reads from the copy, writes to storage then the copy.
struct SqlStore<'a> {
    sql: &'a SqlStorage,
    copy: Counted,
}

#[derive(Deserialize)]
struct GrantRow {
    id: i64,
    at_ms: i64,
    units: i64,
    scopes: i64,
}

#[derive(Deserialize)]
struct LeaseRow {
    grant_id: i64,
    until_ms: i64,
}

#[derive(Deserialize)]
struct IdRow {
    id: i64,
}

fn failed(doing: &'static str) -> impl Fn(worker::Error) -> PortError {
    move |e| PortError::caused_by(doing, e)
}

impl SqlStore<'_> {
    fn exec(&self, sql: &str, values: Vec<SqlStorageValue>) -> Result<worker::SqlCursor> {
        self.sql.exec(sql, Some(values))
    }
}

impl Store for SqlStore<'_> {
    fn grants(&mut self, since_ms: i64) -> std::result::Result<Vec<Grant>, PortError> {
        Ok(self
            .copy
            .grants
            .iter()
            .filter(|grant| grant.at_ms > since_ms)
            .copied()
            .collect())
    }

    fn insert(
        &mut self,
        at_ms: i64,
        units: u32,
        scopes: ScopeSet,
    ) -> std::result::Result<i64, PortError> {
        let rows: Vec<IdRow> = self
            .exec(
                "INSERT INTO grants (at_ms, units, scopes) VALUES (?, ?, ?) RETURNING id",
                vec![
                    at_ms.into(),
                    i64::from(units).into(),
                    i64::from(scopes.bits()).into(),
                ],
            )
            .and_then(|cursor| cursor.to_array())
            .map_err(failed("recording a grant"))?;
        let id = rows
            .first()
            .map(|row| row.id)
            .ok_or_else(|| PortError::new("recording a grant returned no id"))?;
        self.copy.grants.push(Grant {
            id,
            at_ms,
            units,
            scopes,
        });
        Ok(id)
    }

    fn reduce(&mut self, id: i64, unspent: u32) -> std::result::Result<(), PortError> {
        self.exec(
            "UPDATE grants SET units = max(units - ?, 0) WHERE id = ?",
            vec![i64::from(unspent).into(), id.into()],
        )
        .map_err(failed("returning a lease's unspent units"))?;
        for grant in &mut self.copy.grants {
            if grant.id == id {
                grant.units = grant.units.saturating_sub(unspent);
            }
        }
        // A grant left at zero units counts for nothing; storage keeps it until `forget`.
        self.copy.grants.retain(|grant| grant.units > 0);
        Ok(())
    }

    fn lease(&mut self) -> std::result::Result<Option<LeaseRecord>, PortError> {
        Ok(self.copy.lease)
    }

    fn set_lease(&mut self, lease: Option<&LeaseRecord>) -> std::result::Result<(), PortError> {
        match lease {
            Some(lease) => self.exec(
                "INSERT INTO lease (one, grant_id, until_ms) VALUES (1, ?, ?) \
                 ON CONFLICT (one) DO UPDATE SET grant_id = excluded.grant_id, \
                 until_ms = excluded.until_ms",
                vec![lease.grant.into(), lease.until_ms.into()],
            ),
            None => self.exec("DELETE FROM lease", Vec::new()),
        }
        .map_err(failed("recording the lease"))?;
        self.copy.lease = lease.copied();
        Ok(())
    }

    fn forget(&mut self, before_ms: i64) -> std::result::Result<(), PortError> {
        // Most takes find nothing old enough: no statement for them.
        if self.copy.grants.iter().all(|grant| grant.at_ms > before_ms) {
            return Ok(());
        }
        self.exec(
            "DELETE FROM grants WHERE at_ms <= ?",
            vec![before_ms.into()],
        )
        .map_err(failed("forgetting old grants"))?;
        self.copy.grants.retain(|grant| grant.at_ms > before_ms);
        Ok(())
    }
}

/// The [`Counts`] port: a `fetch` to the identity's object; later ones under the request's
/// `waitUntil`.
pub struct ObjectCounts<'a> {
    pub env: &'a Env,
    /// The request's, for `waitUntil`; none outside a request (the scheduled sweep, which
    /// counts nothing).
    pub context: Option<&'a Context>,
}

impl Counts for ObjectCounts<'_> {
    async fn take(&self, key: &str, take: &Take) -> std::result::Result<Taken, PortError> {
        take_at(self.env, key, take).await
    }

    fn take_later(&self, key: &str, take: Take, then: Answered) {
        let Some(context) = self.context else {
            return;
        };
        let env = self.env.clone();
        let key = key.to_owned();
        context.wait_until(async move {
            let answer = take_at(&env, &key, &take).await;
            if let Err(e) = &answer {
                worker::console_error!(
                    "{}",
                    serde_json::json!({
                        "level": "warn",
                        "message": "a lease's top-up failed: the lease runs on until spent",
                        "error": domain::error::chain(e),
                    })
                );
            }
            then(
                answer,
                i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX),
            );
        });
    }

    async fn pause(&self, ms: u64) {
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}

/// One take: a `fetch` to the object named `key`.
async fn take_at(env: &Env, key: &str, take: &Take) -> std::result::Result<Taken, PortError> {
    let stub = env
        .durable_object(BINDING)
        .and_then(|namespace| namespace.get_by_name(key))
        .map_err(failed("reaching the rate limiter's object"))?;
    let body =
        serde_json::to_string(take).map_err(|e| PortError::caused_by("encoding a take", e))?;
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .map_err(failed("setting a header"))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let request = Request::new_with_init("https://rate-limiter/take", &init)
        .map_err(failed("building the take"))?;
    let mut answer = stub
        .fetch_with_request(request)
        .await
        .map_err(failed("calling the rate limiter's object"))?;
    if answer.status_code() != 200 {
        let text = answer.text().await.unwrap_or_default();
        return Err(PortError::new(format!(
            "the rate limiter's object answered {}: {text}",
            answer.status_code()
        )));
    }
    answer
        .json()
        .await
        .map_err(failed("reading the rate limiter's answer"))
}
