//! Read-your-writes across D1's read replicas, with the Sessions API.
//!
//! Every request runs its queries in one D1 session. The response carries the session's
//! bookmark in `X-D1-Bookmark`: the point in the database's history the request saw, or wrote.
//! A client that sends it back on its next request gets a session that starts at least as
//! fresh, whichever replica serves it: a task created in Seoul is in the list read next in
//! Frankfurt. Without the header a session may start on any replica (and D1 then keeps the
//! session's own reads in order).
//!
//! The value is the client's, so it is checked before it reaches D1: one that does not look like
//! a bookmark (or a constraint D1 knows) is ignored, not refused: a stale client library must
//! not turn every read into a 400.

use crate::http::Request;

/// The header a bookmark travels in, both ways (Cloudflare's own examples' name).
pub const BOOKMARK_HEADER: &str = "x-d1-bookmark";

/// Where a session with no usable bookmark starts: any replica.
pub const UNCONSTRAINED: &str = "first-unconstrained";

/// The longest value taken as a bookmark. D1's are about 60 characters.
const MAX_BOOKMARK_CHARS: usize = 256;

/// What the request's session starts from: the client's bookmark (or `first-primary`, which
/// D1 also accepts there) when it looks like one, else anywhere.
pub fn anchor(request: &Request) -> &str {
    request
        .header(BOOKMARK_HEADER)
        .map(str::trim)
        .filter(|value| is_plausible(value))
        .unwrap_or(UNCONSTRAINED)
}

/// D1's bookmarks are hexadecimal fields joined by dashes; its constraints are lower-case words
/// joined by dashes. Anything else is not worth a round trip to find out.
fn is_plausible(value: &str) -> bool {
    (1..=MAX_BOOKMARK_CHARS).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchored(value: Option<&str>) -> String {
        let mut request = Request::new("GET", "/api/v1/tasks/");
        if let Some(value) = value {
            request = request.with_header(BOOKMARK_HEADER, value);
        }
        anchor(&request).to_owned()
    }

    #[test]
    fn a_bookmark_anchors_the_session_and_anything_else_starts_anywhere() {
        let bookmark = "0000000a-00000002-00004f9b-2b1e0d4c8f0e6a7e1b2c3d4e5f60718293a4b5c6";
        assert_eq!(anchored(Some(bookmark)), bookmark);
        assert_eq!(anchored(Some(" first-primary ")), "first-primary");
        for refused in [
            None,
            Some(""),
            Some("   "),
            Some("0000000a 00000002"),
            Some("'; DROP TABLE tasks; --"),
            Some("ü-0001"),
            Some(&"a".repeat(MAX_BOOKMARK_CHARS + 1)),
        ] {
            assert_eq!(anchored(refused), UNCONSTRAINED, "{refused:?}");
        }
    }
}
