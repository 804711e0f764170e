//! Decoded query parameters.

use crate::input::percent_decode;

/// The pairs of a query string, decoded, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams(Vec<(String, String)>);

/// Longest query string read; the rest is ignored (every parameter we honour is short).
pub const MAX_QUERY_BYTES: usize = 4096;

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        let raw = raw.unwrap_or("");
        let raw = match raw.char_indices().nth(MAX_QUERY_BYTES) {
            Some((cut, _)) => &raw[..cut],
            None => raw,
        };
        Self(
            raw.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(key), percent_decode(value))
                })
                .collect(),
        )
    }

    /// The last value of `name`, as Django's `QueryDict.get` gives it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_value_wins_and_escapes_are_decoded() {
        let params = QueryParams::parse(Some("a=1&b=x+y&a=2&c=%ED%95%9C&flag"));
        assert_eq!(params.get("a"), Some("2"));
        assert_eq!(params.get("b"), Some("x y"));
        assert_eq!(params.get("c"), Some("한"));
        assert_eq!(params.get("flag"), Some(""));
        assert_eq!(params.get("none"), None);
    }
}
