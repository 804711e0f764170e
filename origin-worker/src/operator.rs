//! The operator page: the job queues in a browser, on a listener of its own
//! (`OPERATOR_LISTEN_ADDR`), never the API's. It shows what `origin-worker jobs` prints (counts
//! per queue and state, jobs filtered by queue and state, one job in full) and changes
//! nothing: retries and kills stay on the command line, where they are deliberate and logged
//! by the shell, and a read-only page needs no defence against cross-site forms.
//!
//! With `OPERATOR_TOKEN` set, every request needs it: as the password of HTTP Basic (any
//! user name, so a browser asks for it) or as a bearer token. Without it the listener must be
//! a loopback one ([`crate::settings::OperatorSettings`]).
//!
//! - `GET /`: counts, and the newest jobs (`?queue=…&state=…&limit=…`);
//! - `GET /jobs/{id}`: one job;
//! - `GET /api/counts`, `/api/jobs?…`, `/api/jobs/{id}`: the same as JSON;
//! - `GET /metrics`: Prometheus metrics ([`crate::metrics`]); a scraper sends the token as a
//!   bearer token (`authorization.credentials` in Prometheus's scrape configuration).

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use base64::Engine as _;
use domain::config::Secret;
use serde::Deserialize;
use sqlx::PgPool;
use subtle::ConstantTimeEq as _;

use crate::jobs::queues::{self, Filter, JobDetail, JobSummary, QueueCounts, State as JobState};
use crate::state::AppState;
use crate::{metrics as prometheus, scrape};

/// `GET /metrics`.
async fn metrics(State(page): State<Page>) -> Response {
    (
        [(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)],
        scrape::render(&page.state).await,
    )
        .into_response()
}

/// What the page's handlers share.
#[derive(Clone)]
struct Page {
    db: PgPool,
    state: AppState,
    token: Option<Secret>,
}

/// The page's router.
pub fn router(state: AppState, token: Option<Secret>) -> Router {
    let page = Page {
        db: state.db.clone(),
        state,
        token,
    };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/", get(overview))
        .route("/jobs/{id}", get(job))
        .route("/api/counts", get(counts_json))
        .route("/api/jobs", get(jobs_json))
        .route("/api/jobs/{id}", get(job_json))
        .layer(middleware::from_fn_with_state(page.clone(), guard))
        .with_state(page)
}

/// Asks for the token when one is configured, and marks every answer private and unframeable.
async fn guard(State(page): State<Page>, request: Request, next: Next) -> Response {
    if let Some(token) = &page.token
        && !presents(request.headers(), token)
    {
        let mut refused =
            (StatusCode::UNAUTHORIZED, "the operator token is required\n").into_response();
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"operator\", charset=\"UTF-8\""),
        );
        return refused;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

/// Whether the request carries the token, as Basic's password or as a bearer token; compared
/// in constant time.
fn presents(headers: &HeaderMap, token: &Secret) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let offered: Vec<u8> = if let Some(bearer) = value.strip_prefix("Bearer ") {
        bearer.trim().as_bytes().to_vec()
    } else if let Some(basic) = value.strip_prefix("Basic ") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
            return false;
        };
        match decoded.iter().position(|&b| b == b':') {
            Some(colon) => decoded[colon + 1..].to_vec(),
            None => return false,
        }
    } else {
        return false;
    };
    offered.ct_eq(token.expose()).into()
}

/// The list's query: `?queue=email&state=dead&limit=100`.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    queue: Option<String>,
    state: Option<String>,
    limit: Option<i64>,
}

impl ListQuery {
    /// The filter, or why the state is not one (a 400's text).
    fn filter(self) -> Result<Filter, String> {
        let state = match self.state.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => Some(text.parse::<JobState>()?),
        };
        Ok(Filter {
            queue: self
                .queue
                .filter(|q| !q.is_empty())
                .map(|q| q.chars().take(100).collect()),
            state,
            limit: self.limit.unwrap_or(50).clamp(1, 1000),
        })
    }
}

/// A database failure, said plainly (this page is for operators).
fn failed(error: &sqlx::Error) -> Response {
    tracing::error!(error = %error, "operator page: reading the queues failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the job tables could not be read; see the origin's log\n",
    )
        .into_response()
}

async fn counts_json(State(page): State<Page>) -> Response {
    match queues::counts(&page.db).await {
        Ok(counts) => Json(counts).into_response(),
        Err(e) => failed(&e),
    }
}

async fn jobs_json(State(page): State<Page>, Query(query): Query<ListQuery>) -> Response {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(problem) => return (StatusCode::BAD_REQUEST, problem).into_response(),
    };
    match queues::list(&page.db, &filter).await {
        Ok(jobs) => Json(jobs).into_response(),
        Err(e) => failed(&e),
    }
}

async fn job_json(State(page): State<Page>, Path(id): Path<String>) -> Response {
    match queues::show(&page.db, &id).await {
        Ok(Some(job)) => Json(job).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such job\n").into_response(),
        Err(e) => failed(&e),
    }
}

async fn overview(State(page): State<Page>, Query(query): Query<ListQuery>) -> Response {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(problem) => return (StatusCode::BAD_REQUEST, problem).into_response(),
    };
    let (counts, jobs) =
        match tokio::try_join!(queues::counts(&page.db), queues::list(&page.db, &filter)) {
            Ok(both) => both,
            Err(e) => return failed(&e),
        };
    Html(render::overview(&counts, &jobs, &filter)).into_response()
}

async fn job(State(page): State<Page>, Path(id): Path<String>) -> Response {
    match queues::show(&page.db, &id).await {
        Ok(Some(job)) => Html(render::job(&job)).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, Html(render::missing(&id))).into_response(),
        Err(e) => failed(&e),
    }
}

/// The HTML, every dynamic value escaped.
mod render {
    use std::fmt::Write as _;

    use super::{Filter, JobDetail, JobState, JobSummary, QueueCounts};

    /// Text safe inside an element or a quoted attribute.
    pub fn escape(text: &str) -> String {
        let mut safe = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '&' => safe.push_str("&amp;"),
                '<' => safe.push_str("&lt;"),
                '>' => safe.push_str("&gt;"),
                '"' => safe.push_str("&quot;"),
                '\'' => safe.push_str("&#39;"),
                c => safe.push(c),
            }
        }
        safe
    }

    /// A query-string value (queue names are plain, but nothing is assumed).
    fn query_value(text: &str) -> String {
        let mut encoded = String::new();
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                encoded.push(char::from(byte));
            } else {
                let _ = write!(encoded, "%{byte:02X}");
            }
        }
        encoded
    }

    fn page(title: &str, refresh: bool, body: &str) -> String {
        let refresh = if refresh {
            "<meta http-equiv=\"refresh\" content=\"5\">"
        } else {
            ""
        };
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
             <title>{title}</title><style>\
             body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}}\
             table{{border-collapse:collapse;margin:1em 0}}\
             th,td{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}\
             td.n{{text-align:right;font-variant-numeric:tabular-nums}}\
             .dead{{color:#b00}} .retrying{{color:#a60}} .running{{color:#06a}}\
             code,pre{{font-family:ui-monospace,monospace;white-space:pre-wrap}}\
             </style></head><body>{body}</body></html>",
            title = escape(title)
        )
    }

    fn link(queue: Option<&str>, state: Option<JobState>, text: &str) -> String {
        let mut href = String::from("/?");
        if let Some(queue) = queue {
            let _ = write!(href, "queue={}&", query_value(queue));
        }
        if let Some(state) = state {
            let _ = write!(href, "state={state}");
        }
        format!("<a href=\"{}\">{}</a>", escape(&href), escape(text))
    }

    pub fn overview(counts: &[QueueCounts], jobs: &[JobSummary], filter: &Filter) -> String {
        let mut body = String::from("<h1>Job queues</h1><table><tr><th>queue</th>");
        for state in JobState::ALL {
            let _ = write!(body, "<th>{state}</th>");
        }
        body.push_str("</tr>");
        for queue in counts {
            let _ = write!(
                body,
                "<tr><td>{}</td>",
                link(Some(&queue.queue), None, &queue.queue)
            );
            for state in JobState::ALL {
                let count = queue.of(state);
                let cell = if count == 0 {
                    "0".to_owned()
                } else {
                    link(Some(&queue.queue), Some(state), &count.to_string())
                };
                let _ = write!(body, "<td class=\"n {state}\">{cell}</td>");
            }
            body.push_str("</tr>");
        }
        if counts.is_empty() {
            body.push_str("<tr><td colspan=\"6\">no jobs yet</td></tr>");
        }
        body.push_str("</table>");

        let what = match (&filter.queue, filter.state) {
            (Some(queue), Some(state)) => format!("{state} jobs in {queue}"),
            (Some(queue), None) => format!("jobs in {queue}"),
            (None, Some(state)) => format!("{state} jobs"),
            (None, None) => "jobs".into(),
        };
        let _ = write!(
            body,
            "<h2>The newest {} {} ({} shown)</h2><p>{}</p>",
            filter.limit,
            escape(&what),
            jobs.len(),
            link(None, None, "all queues, every state")
        );
        body.push_str(
            "<table><tr><th>id</th><th>queue</th><th>state</th><th>attempts</th>\
             <th>run at</th><th>last error</th></tr>",
        );
        for job in jobs {
            let _ = write!(
                body,
                "<tr><td><a href=\"/jobs/{id}\"><code>{id}</code></a></td><td>{queue}</td>\
                 <td class=\"{state}\">{state}</td><td class=\"n\">{attempts}/{max}</td>\
                 <td>{run_at}</td><td>{error}</td></tr>",
                id = escape(&job.id),
                queue = escape(&job.queue),
                state = escape(&job.state.0),
                attempts = job.attempts,
                max = job.max_attempts,
                run_at = job.run_at.format("%Y-%m-%d %H:%M:%S UTC"),
                error = escape(job.last_error.as_deref().unwrap_or("")),
            );
        }
        body.push_str(
            "</table><p>Refreshes every 5 s. Retry a dead job or kill one with \
             <code>origin-worker jobs retry|kill ID</code>.</p>",
        );
        page("Job queues", true, &body)
    }

    pub fn job(job: &JobDetail) -> String {
        let summary = &job.summary;
        let mut body = format!(
            "<p><a href=\"/\">&larr; all jobs</a></p><h1>Job <code>{}</code></h1><table>",
            escape(&summary.id)
        );
        let time = |at: Option<chrono::DateTime<chrono::Utc>>| {
            at.map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
                .unwrap_or_default()
        };
        let pretty = |value: &serde_json::Value| {
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        };
        let rows = [
            ("queue", summary.queue.clone()),
            (
                "state",
                format!("{} (apalis: {})", summary.state, job.status),
            ),
            (
                "attempts",
                format!("{} of {}", summary.attempts, summary.max_attempts),
            ),
            ("run at", time(Some(summary.run_at))),
            ("done at", time(summary.done_at)),
            ("worker", job.lock_by.clone().unwrap_or_default()),
            ("locked at", time(job.lock_at)),
        ];
        for (name, value) in rows {
            let _ = write!(body, "<tr><th>{name}</th><td>{}</td></tr>", escape(&value));
        }
        let _ = write!(
            body,
            "<tr><th>payload</th><td><pre>{}</pre></td></tr>\
             <tr><th>last result</th><td><pre>{}</pre></td></tr></table>",
            escape(&pretty(&job.payload)),
            escape(&job.last_result.as_ref().map(pretty).unwrap_or_default()),
        );
        page(&format!("Job {}", summary.id), false, &body)
    }

    pub fn missing(id: &str) -> String {
        page(
            "No such job",
            false,
            &format!(
                "<p><a href=\"/\">&larr; all jobs</a></p><h1>No job <code>{}</code></h1>",
                escape(id)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        headers
    }

    #[test]
    fn the_token_is_taken_as_a_basic_password_or_a_bearer_token() {
        let token = Secret::new("a-long-operator-token".to_owned());
        let basic = |credentials: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            )
        };
        assert!(presents(
            &headers(&basic("anyone:a-long-operator-token")),
            &token
        ));
        assert!(presents(&headers("Bearer a-long-operator-token"), &token));
        assert!(!presents(&headers(&basic("a-long-operator-token")), &token));
        assert!(!presents(
            &headers(&basic("op:a-long-operator-toke")),
            &token
        ));
        assert!(!presents(&headers("Bearer nope"), &token));
        assert!(!presents(&headers("Basic !!!"), &token));
        assert!(!presents(&HeaderMap::new(), &token));
    }

    #[test]
    fn everything_shown_is_escaped() {
        assert_eq!(
            render::escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        let page = render::missing("<img src=x>");
        assert!(!page.contains("<img"), "{page}");
    }
}
