//! Native stand-ins for the platform: D1 is SQLite running the real migrations and the very
//! SQL the edge sends; the origin is a scripted fake that records what it was sent.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support"
)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use domain::auth::{Claims, TokenLifetimes, TokenSubject};
use domain::projects::Project;
use domain::replication::{Change, ChangeKind, UserReplica};
use domain::trace::{TRACEPARENT, TraceContext};
use domain::wire::{OriginReply, REPLY_HEADER};
use domain::{ProjectId, UserId};
use edge::app;
use edge::attachments::MemoryBlobs;
use edge::ctx::Ctx;
use edge::http::{Request, Response};
use edge::platform::{
    Origin, OriginRequest, OriginResponse, Platform, PortError, Replica, Rows, SqlValue, Statement,
};
use edge::settings::Settings;
use edge::throttle::counts::MemoryCounts;
use rusqlite::types::ValueRef;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

pub const NOW: i64 = 1_750_000_000;
pub const ORIGIN_SECRET: &str = "origin-secret-origin-secret-0123";
pub const SIGNING_KEY: &str = "signing-key-signing-key-signing-";

/// SQLite with the D1 migrations applied.
pub struct SqliteReplica {
    pub conn: RefCell<rusqlite::Connection>,
}

impl SqliteReplica {
    pub fn new() -> Self {
        let replica = Self::empty();
        replica.migrate(|_| true);
        replica
    }

    /// SQLite with the D1 migrations whose file names sort before `first_left_out` applied
    /// (`migrate_from` applies the others), to test what a migration does to existing rows.
    pub fn migrated_before(first_left_out: &str) -> Self {
        let replica = Self::empty();
        replica.migrate(|name| name < first_left_out);
        replica
    }

    fn empty() -> Self {
        Self {
            conn: RefCell::new(rusqlite::Connection::open_in_memory().unwrap()),
        }
    }

    /// Applies the migrations from `first` on.
    pub fn migrate_from(&self, first: &str) {
        self.migrate(|name| name >= first);
    }

    fn migrate(&self, wanted: impl Fn(&str) -> bool) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/d1");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|path| wanted(&path.file_name().unwrap().to_string_lossy()))
            .collect();
        files.sort();
        let conn = self.conn.borrow();
        for file in files {
            conn.execute_batch(&std::fs::read_to_string(&file).unwrap())
                .unwrap_or_else(|e| panic!("migration {}: {e}", file.display()));
        }
    }

    /// A raw query for assertions.
    pub fn rows(&self, sql: &str) -> Vec<Value> {
        self.rows_of(&Statement::new(sql.to_owned(), Vec::new()))
    }

    /// A statement's rows, as JSON objects.
    pub fn rows_of(&self, statement: &Statement) -> Vec<Value> {
        let conn = self.conn.borrow();
        let mut stmt = conn
            .prepare(&statement.sql)
            .unwrap_or_else(|e| panic!("{e}: {}", statement.sql));
        query_json(&mut stmt, &statement.params).unwrap()
    }

    /// What SQLite plans for a statement: the details of `EXPLAIN QUERY PLAN`, in order.
    pub fn plan(&self, statement: &Statement) -> Vec<String> {
        let explain = Statement::new(
            format!("EXPLAIN QUERY PLAN {}", statement.sql),
            statement.params.clone(),
        );
        self.rows_of(&explain)
            .into_iter()
            .map(|row| row["detail"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn bind(params: &[SqlValue]) -> Vec<rusqlite::types::Value> {
    params
        .iter()
        .map(|p| match p {
            SqlValue::Null => rusqlite::types::Value::Null,
            SqlValue::Integer(i) => rusqlite::types::Value::Integer(*i),
            SqlValue::Real(f) => rusqlite::types::Value::Real(*f),
            SqlValue::Text(t) => rusqlite::types::Value::Text(t.clone()),
        })
        .collect()
}

fn query_json(
    stmt: &mut rusqlite::Statement<'_>,
    params: &[SqlValue],
) -> rusqlite::Result<Vec<Value>> {
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let values = bind(params);
    let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut object = Map::new();
        for (i, name) in names.iter().enumerate() {
            let value = match row.get_ref(i)? {
                ValueRef::Null | ValueRef::Blob(_) => Value::Null,
                ValueRef::Integer(n) => json!(n),
                ValueRef::Real(f) => json!(f),
                ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
            };
            object.insert(name.clone(), value);
        }
        out.push(Value::Object(object));
    }
    Ok(out)
}

/// Rows already read, as JSON objects.
pub struct JsonRows(Vec<Value>);

impl Rows for JsonRows {
    fn decode<T: DeserializeOwned>(self) -> Result<Vec<T>, PortError> {
        self.0
            .into_iter()
            .map(|row| serde_json::from_value(row).map_err(|e| PortError::caused_by("sqlite", e)))
            .collect()
    }
}

impl Replica for SqliteReplica {
    type Rows = JsonRows;

    async fn read_batch(&self, statements: Vec<Statement>) -> Result<Vec<JsonRows>, PortError> {
        let conn = self.conn.borrow();
        statements
            .iter()
            .map(|statement| {
                let mut stmt = conn
                    .prepare(&statement.sql)
                    .map_err(|e| PortError::new(format!("{e}: {}", statement.sql)))?;
                query_json(&mut stmt, &statement.params)
                    .map(JsonRows)
                    .map_err(|e| PortError::caused_by("sqlite", e))
            })
            .collect()
    }

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, PortError> {
        let conn = self.conn.borrow();
        let mut stmt = conn
            .prepare(&statement.sql)
            .map_err(|e| PortError::caused_by("sqlite", e))?;
        let rows = query_json(&mut stmt, &statement.params)
            .map_err(|e| PortError::caused_by("sqlite", e))?;
        rows.into_iter()
            .map(|row| serde_json::from_value(row).map_err(|e| PortError::caused_by("sqlite", e)))
            .collect()
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), PortError> {
        let mut conn = self.conn.borrow_mut();
        let tx = conn
            .transaction()
            .map_err(|e| PortError::caused_by("sqlite", e))?;
        for statement in statements {
            let values = bind(&statement.params);
            tx.execute(&statement.sql, rusqlite::params_from_iter(values.iter()))
                .map_err(|e| PortError::new(format!("{e}: {}", statement.sql)))?;
        }
        tx.commit().map_err(|e| PortError::caused_by("sqlite", e))
    }
}

/// A replica that counts the D1 calls (queries and read batches) it is asked for.
pub struct CountingReplica<'a> {
    pub inner: &'a SqliteReplica,
    pub reads: Cell<usize>,
}

impl<'a> CountingReplica<'a> {
    pub fn new(inner: &'a SqliteReplica) -> Self {
        Self {
            inner,
            reads: Cell::new(0),
        }
    }

    /// The calls counted since the last take.
    pub fn take(&self) -> usize {
        self.reads.replace(0)
    }
}

impl Replica for CountingReplica<'_> {
    type Rows = JsonRows;

    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, PortError> {
        self.reads.set(self.reads.get() + 1);
        self.inner.query(statement).await
    }

    async fn read_batch(&self, statements: Vec<Statement>) -> Result<Vec<JsonRows>, PortError> {
        self.reads.set(self.reads.get() + 1);
        self.inner.read_batch(statements).await
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<(), PortError> {
        self.inner.batch(statements).await
    }
}

/// The record of project `id` (at version `id`), owned by `owner`, named "Project {id}".
pub fn project(id: i64, owner: i64) -> Change {
    Change {
        version: id,
        owner: None,
        kind: ChangeKind::ProjectUpsert(Project {
            id: ProjectId::new(id),
            owner: UserId::new(owner),
            name: format!("Project {id}"),
            description: String::new(),
            is_archived: false,
            created_at: "2025-01-01T00:00:00.000000Z".into(),
        }),
    }
}

/// How the fake origin answers a request its script has no answer for.
pub type Responder = Box<dyn Fn(&OriginRequest) -> OriginReply>;

/// An origin that answers from a script (then from its responder, if it has one) and remembers
/// every request.
#[derive(Default)]
pub struct FakeOrigin {
    pub answers: RefCell<VecDeque<Result<OriginResponse, PortError>>>,
    pub received: RefCell<Vec<OriginRequest>>,
    pub responder: RefCell<Option<Responder>>,
}

impl FakeOrigin {
    /// Queues a well-formed origin reply.
    pub fn reply(&self, status: u16, body: Option<Value>, changes: Vec<Change>) {
        self.queue(&OriginReply {
            status,
            body,
            changes,
            headers: Vec::new(),
        });
    }

    /// Queues a reply as the origin sends it.
    pub fn queue(&self, reply: &OriginReply) {
        self.answers.borrow_mut().push_back(Ok(OriginResponse {
            status: reply.transport_status(),
            headers: vec![(REPLY_HEADER.into(), "1".into())],
            body: serde_json::to_vec(reply).unwrap(),
        }));
    }

    pub fn fail(&self) {
        self.answers
            .borrow_mut()
            .push_back(Err(PortError::new("connection refused")));
    }
}

impl Origin for FakeOrigin {
    async fn send(&self, request: OriginRequest) -> Result<OriginResponse, PortError> {
        let scripted = self.answers.borrow_mut().pop_front();
        let answer = match (scripted, &*self.responder.borrow()) {
            (Some(answer), _) => answer,
            (None, Some(respond)) => {
                let reply = respond(&request);
                Ok(OriginResponse {
                    status: reply.transport_status(),
                    headers: vec![(REPLY_HEADER.into(), "1".into())],
                    body: serde_json::to_vec(&reply).unwrap(),
                })
            }
            (None, None) => Err(PortError::new("no scripted answer")),
        };
        self.received.borrow_mut().push(request);
        answer
    }
}

pub fn settings(extra: &[(&str, &str)]) -> Settings {
    let mut pairs = vec![
        ("ORIGIN_URL", "https://origin.invalid"),
        ("ORIGIN_SHARED_SECRET", ORIGIN_SECRET),
        ("JWT_SIGNING_KEY", SIGNING_KEY),
        // Limits no test reaches unless it sets its own (tests/throttle.rs does).
        ("THROTTLE_RATE_ANON", "100000/day"),
        ("THROTTLE_RATE_USER", "100000/day"),
        ("THROTTLE_RATE_BURST", "100000/min"),
        ("THROTTLE_RATE_CREDENTIALS", "100000/min"),
    ];
    pairs.extend_from_slice(extra);
    Settings::from_lookup(|name| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
}

/// One edge with its stand-ins, and the log lines it wrote.
pub struct TestEdge {
    pub replica: SqliteReplica,
    pub origin: FakeOrigin,
    pub counts: MemoryCounts,
    pub blobs: MemoryBlobs,
    pub settings: Settings,
    pub logs: RefCell<Vec<String>>,
}

impl TestEdge {
    pub fn new() -> Self {
        Self::with_settings(settings(&[]))
    }

    pub fn with_settings(settings: Settings) -> Self {
        edge::throttle::forget_leases();
        Self {
            replica: SqliteReplica::new(),
            origin: FakeOrigin::default(),
            counts: MemoryCounts::default(),
            blobs: MemoryBlobs::default(),
            settings,
            logs: RefCell::default(),
        }
    }

    pub async fn send(&self, request: Request) -> Response {
        self.send_at(request, NOW).await
    }

    /// Sends through another replica (a wrapper around this edge's, in benchmarks).
    pub async fn send_through<R: Replica>(&self, replica: &R, request: Request) -> Response {
        let platform = Through {
            replica,
            edge: self,
        };
        self.counts.set_now_ms(NOW * 1000);
        self.blobs.set_now(NOW);
        let response = handle(&platform, &self.settings, request, NOW).await;
        self.counts.answer_later();
        response
    }

    /// Sends at `now` (Unix seconds); what the request left for later (a lease's top-up) is
    /// answered after its response, as on Workers.
    pub async fn send_at(&self, request: Request, now: i64) -> Response {
        self.counts.set_now_ms(now * 1000);
        self.blobs.set_now(now);
        let response = handle(self, &self.settings, request, now).await;
        self.counts.answer_later();
        response
    }

    /// A user present in the replica, and an access token for them.
    pub async fn user(&self, id: i64, username: &str) -> (UserReplica, String) {
        let user = UserReplica {
            id: UserId::new(id),
            username: username.into(),
            email: format!("{username}@example.com"),
            is_staff: false,
            date_joined: "2025-01-01T00:00:00.000000Z".into(),
        };
        edge::replica::apply(
            &self.replica,
            &[Change {
                version: id,
                owner: None,
                kind: ChangeKind::UserUpsert(user.clone()),
            }],
        )
        .await
        .unwrap();
        let (_, access) = self.tokens(id, username);
        (user, access)
    }

    /// A refresh and an access token for a user id.
    pub fn tokens(&self, id: i64, username: &str) -> (String, String) {
        let subject = TokenSubject {
            user_id: UserId::new(id),
            username: username.into(),
            is_staff: false,
        };
        let refresh =
            Claims::refresh_for(&subject, format!("r-{id}"), NOW, TokenLifetimes::default());
        let access = refresh.access_from(format!("a-{id}"), NOW, TokenLifetimes::default());
        (
            self.settings.token_keys.encode(&refresh),
            self.settings.token_keys.encode(&access),
        )
    }
}

async fn handle<P: Platform>(
    platform: &P,
    settings: &Settings,
    request: Request,
    now: i64,
) -> Response {
    let request_id = app::request_id(&request, || "generated-id".to_owned());
    let trace = TraceContext::continue_or_start(request.header(TRACEPARENT), [0x5e; 24]);
    let ctx = Ctx {
        platform,
        settings,
        now,
        request_id: &request_id,
        trace,
    };
    app::handle(&ctx, request).await
}

impl Platform for TestEdge {
    type Replica = SqliteReplica;
    type Origin = FakeOrigin;
    type Counts = MemoryCounts;
    type Blobs = MemoryBlobs;

    fn replica(&self) -> &SqliteReplica {
        &self.replica
    }

    fn origin(&self) -> &FakeOrigin {
        &self.origin
    }

    fn counts(&self) -> &MemoryCounts {
        &self.counts
    }

    fn blobs(&self) -> &MemoryBlobs {
        &self.blobs
    }

    fn log(&self, line: &str) {
        self.logs.borrow_mut().push(line.to_owned());
    }
}

/// A test edge with its replica swapped for another.
struct Through<'a, R> {
    replica: &'a R,
    edge: &'a TestEdge,
}

impl<R: Replica> Platform for Through<'_, R> {
    type Replica = R;
    type Origin = FakeOrigin;
    type Counts = MemoryCounts;
    type Blobs = MemoryBlobs;

    fn replica(&self) -> &R {
        self.replica
    }

    fn origin(&self) -> &FakeOrigin {
        &self.edge.origin
    }

    fn counts(&self) -> &MemoryCounts {
        &self.edge.counts
    }

    fn blobs(&self) -> &MemoryBlobs {
        &self.edge.blobs
    }

    fn log(&self, line: &str) {
        self.edge.log(line);
    }
}

#[track_caller]
pub fn body(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&response.body)
        )
    })
}
