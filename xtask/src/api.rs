//! The public API of a local stack's edge, as the chaos suite and the soak call it: accounts,
//! projects, tasks, and the retried idempotent write.
//!
//! A failure is data here, not an error: what a client saw (a status, a refused connection, a
//! timeout) is what both commands count and report. The paths are spelled out rather than taken
//! from `domain::paths`, which would put the domain crate's dependencies into xtask's build for
//! a handful of strings; the end-to-end tests hold the API to those constants.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

pub const REGISTER: &str = "/api/v1/auth/register/";
pub const TOKEN: &str = "/api/token/";
pub const PROJECTS: &str = "/api/v1/projects/";
pub const TASKS: &str = "/api/v1/tasks/";

/// The largest page the list endpoints serve (`domain::query::pagination::MAX_PAGE_SIZE`).
const MAX_PAGE_SIZE: u32 = 100;

/// A client of one stack's edge (or origin: only `/health/` and `/ready/` are public there).
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// An answer with a status.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How a request failed before any status arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing listened (connection refused), or the connection could not be made in time.
    Connect,
    /// No complete answer within the client's timeout.
    Timeout,
    /// The connection broke mid-request (reset, closed early), or the body was not JSON.
    Broken,
}

/// What a client saw.
pub type Seen = std::result::Result<Reply, Failure>;

/// A short label for a tally of what clients saw: `201`, `503`, `connect`, `timeout`, `broken`.
pub fn label(seen: &Seen) -> String {
    match seen {
        Ok(reply) => reply.status.to_string(),
        Err(failure) => failure.to_string(),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Broken => "broken",
        })
    }
}

/// Whether a write that saw this should be sent again with the same `Idempotency-Key`: on
/// anything that may be transient (no answer, 5xx, 409 "still in flight", 429), never on an
/// answer that would be the same again.
pub fn worth_retrying(seen: &Seen) -> bool {
    match seen {
        Err(_) => true,
        Ok(reply) => reply.status >= 500 || matches!(reply.status, 409 | 429),
    }
}

/// A request of an idempotent write: where, as whom, what, under which key.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    pub path: &'a str,
    pub token: Option<&'a str>,
    pub body: &'a Value,
    pub key: &'a str,
}

impl Api {
    /// A client of `http://127.0.0.1:{port}`. `timeout` bounds every request; connecting gets
    /// 2 s, plenty on one machine.
    pub fn new(port: u16, timeout: Duration) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            // Pooled connections to a restarted server are dead; keep them briefly only.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    /// One request; the body is read whole (JSON, or `null` when empty).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Seen {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(|e| classify(&e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| classify(&e))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            // An HTML error page from a proxy still has a status worth counting.
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(Reply { status, body })
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Seen {
        self.send(Method::GET, path, token, None, None).await
    }

    /// Sends `write` until it gets an answer not worth retrying or `deadline` passes, the same
    /// key every time, sleeping a little longer after each failure (100 ms doubling to 1 s).
    /// `seen` is told of every attempt. Returns the last thing seen.
    pub async fn write_retrying(
        &self,
        write: Write<'_>,
        deadline: Instant,
        mut seen: impl FnMut(&Seen),
    ) -> Seen {
        let mut pause = Duration::from_millis(100);
        loop {
            let answer = self
                .send(
                    Method::POST,
                    write.path,
                    write.token,
                    Some(write.body),
                    Some(write.key),
                )
                .await;
            seen(&answer);
            if !worth_retrying(&answer) || Instant::now() + pause >= deadline {
                return answer;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Registers `username` and logs in; the setup of a run, retried like any write so that a
    /// stack still settling after a fault does not fail it. Returns the user's id and access
    /// token.
    pub async fn account(&self, username: &str, password: &str) -> Result<(i64, String)> {
        let deadline = Instant::now() + Duration::from_mins(1);
        let body = json!({
            "username": username,
            "password": password,
            "email": format!("{username}@example.com"),
        });
        let key = new_key();
        let write = Write {
            path: REGISTER,
            token: None,
            body: &body,
            key: &key,
        };
        let created = expect_success(
            "registering",
            self.write_retrying(write, deadline, |_| {}).await,
        )?;
        let id = created["id"]
            .as_i64()
            .context("the registration answered no id")?;
        Ok((id, self.login(username, password, deadline).await?))
    }

    /// Logs in (retried until `deadline` on anything transient); returns the access token.
    pub async fn login(&self, username: &str, password: &str, deadline: Instant) -> Result<String> {
        let body = json!({"username": username, "password": password});
        let key = new_key();
        let write = Write {
            path: TOKEN,
            token: None,
            body: &body,
            key: &key,
        };
        let tokens = expect_success(
            "logging in",
            self.write_retrying(write, deadline, |_| {}).await,
        )?;
        tokens["access"]
            .as_str()
            .map(str::to_owned)
            .context("the login answered no access token")
    }

    /// Creates a project; returns its id.
    pub async fn project(&self, token: &str, name: &str) -> Result<i64> {
        let deadline = Instant::now() + Duration::from_mins(1);
        let body = json!({"name": name});
        let key = new_key();
        let write = Write {
            path: PROJECTS,
            token: Some(token),
            body: &body,
            key: &key,
        };
        let created = expect_success(
            "creating a project",
            self.write_retrying(write, deadline, |_| {}).await,
        )?;
        created["id"]
            .as_i64()
            .context("the project's creation answered no id")
    }

    /// The titles of every task of `project`, as the edge lists them (every page).
    pub async fn task_titles(&self, token: &str, project: i64) -> Result<Vec<String>> {
        let mut titles = Vec::new();
        // Bounded: a page count far above anything a run creates.
        for page in 1..=1_000 {
            let path = format!("{TASKS}?project={project}&page_size={MAX_PAGE_SIZE}&page={page}");
            let reply = match self.get(&path, Some(token)).await {
                Ok(reply) if reply.status == 200 => reply,
                other => bail!("listing tasks at the edge: {}", label(&other)),
            };
            let results = reply.body["results"]
                .as_array()
                .context("a task list without results")?;
            titles.extend(
                results
                    .iter()
                    .filter_map(|task| task["title"].as_str().map(str::to_owned)),
            );
            if reply.body["next"].is_null() {
                return Ok(titles);
            }
        }
        bail!("listing tasks at the edge: more than 1,000 pages")
    }
}

/// A fresh `Idempotency-Key`: 128 random bits, hex.
pub fn new_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The body of a 2xx answer, or an error saying what was seen instead.
fn expect_success(what: &str, seen: Seen) -> Result<Value> {
    match seen {
        Ok(reply) if reply.is_success() => Ok(reply.body),
        Ok(reply) => bail!("{what}: {} {}", reply.status, reply.body),
        Err(failure) => bail!("{what}: no answer ({failure})"),
    }
}

fn classify(error: &reqwest::Error) -> Failure {
    if error.is_timeout() {
        Failure::Timeout
    } else if error.is_connect() {
        Failure::Connect
    } else {
        Failure::Broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16) -> Reply {
        Reply {
            status,
            body: Value::Null,
        }
    }

    #[test]
    fn retries_what_may_be_transient_only() {
        for seen in [
            Ok(reply(500)),
            Ok(reply(502)),
            Ok(reply(503)),
            Ok(reply(409)),
            Ok(reply(429)),
            Err(Failure::Connect),
            Err(Failure::Timeout),
            Err(Failure::Broken),
        ] {
            assert!(worth_retrying(&seen), "{}", label(&seen));
        }
        for status in [200, 201, 400, 401, 422] {
            let seen = Ok(reply(status));
            assert!(!worth_retrying(&seen), "{}", label(&seen));
        }
    }

    #[test]
    fn labels_say_what_was_seen() {
        assert_eq!(label(&Ok(reply(201))), "201");
        assert_eq!(label(&Err(Failure::Connect)), "connect");
    }

    #[test]
    fn keys_are_fresh() {
        let (a, b) = (new_key(), new_key());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
