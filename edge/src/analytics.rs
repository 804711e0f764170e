//! Per-route counts and latency for Workers Analytics Engine: one data point per request,
//! written to the `ANALYTICS` dataset when the binding exists (staging and production; local
//! development has none, and writes nothing).
//!
//! A point's index is the route (sampling keeps each route's share), its blobs the route,
//! method and status class, its doubles the time taken and the status, so that SQL over the
//! dataset answers "requests and p99 by route and status" directly:
//!
//! ```sql
//! SELECT blob1 AS route, blob3 AS status, SUM(_sample_interval) AS requests,
//!        quantileExactWeighted(0.99)(double1, _sample_interval) AS p99_ms
//! FROM projects_tasks_requests WHERE timestamp > NOW() - INTERVAL '1' HOUR
//! GROUP BY route, status
//! ```

use crate::routes;

/// The name of the dataset's binding.
pub const BINDING: &str = "ANALYTICS";

/// What one request adds to the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPoint {
    /// The route's path template, or `unmatched`.
    pub route: &'static str,
    /// The method, or `other` for one HTTP does not define.
    pub method: &'static str,
    /// `2xx`, `4xx`, …
    pub status_class: String,
    pub millis: u32,
    pub status: u16,
}

impl RequestPoint {
    /// The point for a request to `path` with `method`, answered `status` after `millis`.
    pub fn new(path: &str, method: &str, status: u16, millis: u32) -> Self {
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        let route = routes::lookup(path, method).map_or("unmatched", |route| route.path);
        Self {
            route,
            method: METHODS
                .into_iter()
                .find(|known| *known == method)
                .unwrap_or("other"),
            status_class: format!("{}xx", status / 100),
            millis,
            status,
        }
    }

    /// The point's blobs, in their column order (`blob1`…).
    pub fn blobs(&self) -> [&str; 3] {
        [self.route, self.method, &self.status_class]
    }

    /// The point's doubles, in their column order (`double1`…).
    pub fn doubles(&self) -> [f64; 2] {
        [f64::from(self.millis), f64::from(self.status)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_names_the_route_template_not_the_path() {
        let point = RequestPoint::new("/api/v1/tasks/42/", "PATCH", 404, 12);
        assert_eq!(point.blobs(), ["/api/v1/tasks/{id}/", "PATCH", "4xx"]);
        let [millis, status] = point.doubles();
        assert!(millis.total_cmp(&12.0).is_eq() && status.total_cmp(&404.0).is_eq());
        let unknown = RequestPoint::new("/wp-admin/", "FROBNICATE", 405, 1);
        assert_eq!(unknown.blobs(), ["unmatched", "other", "4xx"]);
    }
}
