//! Prometheus metrics, served as `GET /metrics` on the operator listener
//! ([`crate::operator`], written out by [`crate::scrape`]), behind the operator token like the
//! rest of it:
//!
//! - `origin_http_request_duration_seconds`: a histogram of the API's requests by route (the
//!   path template, so ids do not explode the series), method and status;
//! - `origin_jobs{queue,state}`: jobs by queue and state (pending, running, retrying, dead,
//!   done), read from the queue's table at the scrape;
//! - `origin_outbox_backlog` and `origin_replication_lag_seconds`: change records not yet
//!   pushed to the edge, and how old the oldest of them is (0 when none);
//! - `origin_db_pool_connections{state}` and `origin_db_pool_max_connections`: the pool's
//!   saturation;
//! - `origin_worker_running{worker}`: 1 while a background worker runs, 0 while it waits to be
//!   restarted;
//! - `origin_database_up`: whether the scrape could read Postgres (the gauges above that come
//!   from it are left out when it could not).
//!
//! The text format is Prometheus's 0.0.4, written here: a few counters need no library.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the API's requests have taken, since the process started.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestKey, Histogram>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations at or under each bucket's bound (not cumulative; summed when written).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Counts one request to `route` (a path template, or `unmatched`). A method HTTP does not
    /// define counts as `other`, so that no caller can grow the series without bound.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        let key = RequestKey {
            route: route.to_owned(),
            method: METHODS
                .into_iter()
                .find(|known| *known == method)
                .unwrap_or("other")
                .to_owned(),
            status,
        };
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let histogram = requests.entry(key).or_default();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound)
            && let Some(count) = histogram.buckets.get_mut(bucket)
        {
            *count += 1;
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// The request histogram in the text format.
    pub fn write_requests(&self, out: &mut String) {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        header(
            out,
            "origin_http_request_duration_seconds",
            "histogram",
            "Time to answer an API request, by route template, method and status.",
        );
        for (key, histogram) in &requests {
            let labels = format!(
                "route=\"{}\",method=\"{}\",status=\"{}\"",
                escape(&key.route),
                escape(&key.method),
                key.status
            );
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "origin_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "origin_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "origin_http_request_duration_seconds_sum{{{labels}}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "origin_http_request_duration_seconds_count{{{labels}}} {}",
                histogram.count
            );
        }
    }
}

/// A metric's `HELP` and `TYPE` lines.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format quotes it.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_request_in_its_bucket_and_writes_them_cumulatively() {
        let metrics = Metrics::default();
        metrics.observe("/api/v1/tasks/{id}/", "PATCH", 200, 0.003);
        metrics.observe("/api/v1/tasks/{id}/", "PATCH", 200, 0.2);
        metrics.observe("/api/v1/tasks/{id}/", "PATCH", 200, 9.0);
        metrics.observe("un\"matched", "GET", 404, 0.0001);
        metrics.observe("unmatched", "FROB", 405, 0.0001);
        metrics.observe("unmatched", "QUUX", 405, 0.0001);
        let mut out = String::new();
        metrics.write_requests(&mut out);
        let labels = r#"route="/api/v1/tasks/{id}/",method="PATCH",status="200""#;
        for line in [
            format!("origin_http_request_duration_seconds_bucket{{{labels},le=\"0.001\"}} 0"),
            format!("origin_http_request_duration_seconds_bucket{{{labels},le=\"0.005\"}} 1"),
            format!("origin_http_request_duration_seconds_bucket{{{labels},le=\"0.25\"}} 2"),
            format!("origin_http_request_duration_seconds_bucket{{{labels},le=\"5\"}} 2"),
            format!("origin_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 3"),
            format!("origin_http_request_duration_seconds_count{{{labels}}} 3"),
            r#"origin_http_request_duration_seconds_count{route="un\"matched",method="GET",status="404"} 1"#.to_owned(),
            r#"origin_http_request_duration_seconds_count{route="unmatched",method="other",status="405"} 2"#.to_owned(),
        ] {
            assert!(out.lines().any(|l| l == line), "{line}\nnot in:\n{out}");
        }
        assert!(out.contains("# TYPE origin_http_request_duration_seconds histogram"));
    }
}
