//! `PageNumberPagination` with `page_size` from the query (capped), DRF's `Invalid page.`, and
//! the absolute `next`/`previous` links built as DRF builds them (query keys sorted, the page
//! replaced, `page` dropped on the way back to the first page).

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::query::params::QueryParams;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
/// The largest row offset a page may start at: 2^53 − 1, the largest integer a JavaScript
/// number (how D1 receives bound values) holds exactly.
pub const MAX_OFFSET: u64 = (1 << 53) - 1;

/// A positive integer as Python's `int()` reads it (surrounding spaces, a `+`), at most `cap`:
/// a number of any length is still a number, so one past `u64` is capped like any other.
fn positive_capped(raw: &str, cap: u32) -> Option<u32> {
    let digits = raw.trim();
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.parse::<u64>() {
        Ok(0) => None,
        Ok(n) => Some(u32::try_from(n.min(u64::from(cap))).unwrap_or(cap)),
        // All digits and not zero: too large for any integer type here, so over the cap.
        Err(_) if digits.bytes().any(|b| b != b'0') => Some(cap),
        Err(_) => None,
    }
}

/// What the client asked for; checked against the count by [`PageRequest::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: Requested,
    pub page_size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Requested {
    Number(u64),
    Last,
    Invalid,
}

/// A page that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    pub size: u32,
    pub num_pages: u64,
}

impl Page {
    pub fn offset(&self) -> u64 {
        (self.number - 1) * u64::from(self.size)
    }

    /// `next` and `previous`, absolute, for a request at `base_url` + `path` with `params`.
    pub fn links(
        &self,
        base_url: &str,
        path: &str,
        params: &QueryParams,
    ) -> (Option<String>, Option<String>) {
        let link = |page: Option<u64>| {
            let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (key, value) in params.pairs() {
                grouped
                    .entry(key.as_str())
                    .or_default()
                    .push(value.as_str());
            }
            grouped.remove("page");
            let page_text = page.map(|p| p.to_string());
            if let Some(page) = &page_text {
                grouped.insert("page", vec![page.as_str()]);
            }
            let query: Vec<String> = grouped
                .iter()
                .flat_map(|(key, values)| {
                    values
                        .iter()
                        .map(move |v| format!("{}={}", quote_plus(key), quote_plus(v)))
                })
                .collect();
            if query.is_empty() {
                format!("{base_url}{path}")
            } else {
                format!("{base_url}{path}?{}", query.join("&"))
            }
        };
        let next = (self.number < self.num_pages).then(|| link(Some(self.number + 1)));
        let previous = match self.number {
            1 => None,
            2 => Some(link(None)),
            n => Some(link(Some(n - 1))),
        };
        (next, previous)
    }
}

/// Python's `urllib.parse.quote_plus`: unreserved bytes stay, space becomes `+`.
fn quote_plus(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => {
                out.push('%');
                for nibble in [other >> 4, other & 15] {
                    let digit = char::from_digit(u32::from(nibble), 16).unwrap_or('0');
                    out.push(digit.to_ascii_uppercase());
                }
            }
        }
    }
    out
}

impl PageRequest {
    pub fn parse(params: &QueryParams) -> Self {
        // Django's paginator: absent is page 1; blank is not an integer, so `Invalid page.`.
        let page = match params.get("page").map(str::trim) {
            None => Requested::Number(1),
            Some("") => Requested::Invalid,
            Some("last") => Requested::Last,
            Some(raw) => match raw.strip_prefix('+').unwrap_or(raw).parse::<u64>() {
                Ok(n) if n >= 1 => Requested::Number(n),
                _ => Requested::Invalid,
            },
        };
        // DRF: a strict positive integer, cut off at the maximum; anything else, the default.
        let page_size = params
            .get("page_size")
            .and_then(|raw| positive_capped(raw, MAX_PAGE_SIZE))
            .unwrap_or(DEFAULT_PAGE_SIZE);
        // A page whose first row lies past any count a table can hold cannot exist. The bound
        // is 2^53: D1 binds numbers as JavaScript doubles, exact up to there.
        let page = match page {
            Requested::Number(n)
                if (n - 1)
                    .checked_mul(u64::from(page_size))
                    .is_none_or(|offset| offset > MAX_OFFSET) =>
            {
                Requested::Invalid
            }
            other => other,
        };
        Self { page, page_size }
    }

    /// The page number asked for, when it is a number (not `last`, not garbage).
    pub fn requested_number(&self) -> Option<u64> {
        match self.page {
            Requested::Number(n) => Some(n),
            Requested::Last | Requested::Invalid => None,
        }
    }

    /// The page for `count` rows, or 404 `Invalid page.` (an empty list still has page 1).
    pub fn resolve(&self, count: u64) -> Result<Page, ApiError> {
        let size = u64::from(self.page_size);
        let num_pages = count.div_ceil(size).max(1);
        let number = match self.page {
            Requested::Number(n) if n <= num_pages => n,
            Requested::Last => num_pages,
            Requested::Number(_) | Requested::Invalid => return Err(ApiError::InvalidPage),
        };
        Ok(Page {
            number,
            size: self.page_size,
            num_pages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> PageRequest {
        PageRequest::parse(&QueryParams::parse(Some(query)))
    }

    #[test]
    fn blank_and_impossibly_large_pages_are_invalid() {
        for query in [
            "page=",
            "page=%20",
            "page=18446744073709551615",
            "page=1380000000000000000",
            "page=9007199254740993&page_size=1",
        ] {
            assert_eq!(request(query).requested_number(), None, "{query}");
            assert_eq!(
                request(query).resolve(10),
                Err(ApiError::InvalidPage),
                "{query}"
            );
        }
        assert_eq!(request("").requested_number(), Some(1));
        assert_eq!(
            request("page=9007199254740992&page_size=1").requested_number(),
            Some(9_007_199_254_740_992),
            "the last page that may exist"
        );
        assert_eq!(request("page=%202%20").requested_number(), Some(2));
    }

    #[test]
    fn page_size_is_capped_and_falls_back_when_invalid() {
        for (query, size) in [
            ("", 20),
            ("page_size=5", 5),
            ("page_size=1000", 100),
            ("page_size=0", 20),
            ("page_size=-3", 20),
            ("page_size=abc", 20),
            ("page_size=2.5", 20),
            // Python's int(): spaces and a plus sign are fine, and so is any length.
            ("page_size=%2B7", 7),
            ("page_size=+8", 8),
            ("page_size=%2009%20", 9),
            ("page_size=99999999999999999999", 100),
            ("page_size=00000000000000000000000", 20),
            ("page_size=1e3", 20),
        ] {
            assert_eq!(request(query).page_size, size, "{query}");
        }
    }

    #[test]
    fn pages_resolve_or_are_invalid() {
        assert_eq!(
            request("").resolve(0).map(|p| p.number),
            Ok(1),
            "an empty list has a page 1"
        );
        assert_eq!(
            request("page=3")
                .resolve(41)
                .map(|p| (p.number, p.offset())),
            Ok((3, 40))
        );
        assert_eq!(request("page=last").resolve(41).map(|p| p.number), Ok(3));
        for query in ["page=4", "page=0", "page=-1", "page=x", "page=1.0"] {
            assert_eq!(
                request(query).resolve(41),
                Err(ApiError::InvalidPage),
                "{query}"
            );
        }
    }

    #[test]
    fn links_keep_the_query_sorted_and_drop_page_one() {
        let params = QueryParams::parse(Some("search=a+b&page=2&done=true&page_size=10"));
        let page = PageRequest::parse(&params).resolve(35).unwrap();
        let (next, previous) = page.links("https://api.example.com", "/api/v1/tasks/", &params);
        assert_eq!(
            next.as_deref(),
            Some("https://api.example.com/api/v1/tasks/?done=true&page=3&page_size=10&search=a+b")
        );
        assert_eq!(
            previous.as_deref(),
            Some("https://api.example.com/api/v1/tasks/?done=true&page_size=10&search=a+b")
        );
        let last = PageRequest::parse(&QueryParams::parse(Some("page=4&page_size=10")))
            .resolve(35)
            .unwrap();
        let (next, previous) = last.links(
            "http://h",
            "/p/",
            &QueryParams::parse(Some("page=4&page_size=10")),
        );
        assert_eq!(
            (next, previous.as_deref()),
            (None, Some("http://h/p/?page=3&page_size=10"))
        );
    }
}
