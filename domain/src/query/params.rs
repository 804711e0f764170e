//! Decoded query parameters.

/// The pairs of a query string, decoded, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams(Vec<(String, String)>);

pub use crate::limits::MAX_QUERY_BYTES;

impl QueryParams {
    /// Decodes at most [`MAX_QUERY_BYTES`] of `raw`: the edge refuses longer query strings
    /// before they get here, and this keeps the parser bounded whoever calls it.
    pub fn parse(raw: Option<&str>) -> Self {
        let raw = raw.unwrap_or("");
        let raw = match raw.char_indices().nth(MAX_QUERY_BYTES) {
            Some((cut, _)) => &raw[..cut],
            None => raw,
        };
        Self(form_pairs(raw))
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

/// Decodes `a=1&b=two+words` (a query string, or a form body) without pulling a URL crate
/// into the wasm.
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

/// `+` is a space and `%XX` a byte; a malformed escape is kept as written.
pub fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%41%42"), "AB");
    }
}
