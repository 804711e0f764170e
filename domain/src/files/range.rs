//! Range requests and `If-None-Match` for downloads (RFC 9110 §14 and §13.1.2), so a video
//! seeks, a large download resumes and a cached file is not sent again.
//!
//! Only a single byte range is served. Anything else in `Range` (another unit, several ranges,
//! a malformed one) is ignored and the whole file sent, as RFC 9110 allows.

/// One range of `bytes=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-last`, both inclusive.
    FromTo(u64, u64),
    /// `first-`: to the end.
    From(u64),
    /// `-length`: the last `length` bytes.
    Last(u64),
}

/// A range the file has no byte of: answered 416 with [`unsatisfied_range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("range not satisfiable")]
pub struct Unsatisfiable;

/// The single byte range of a `Range` header; `None` to ignore it and send the whole file.
pub fn parse_range(header: &str) -> Option<ByteRange> {
    let (unit, spec) = header.trim().split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    match (number(first), number(last)) {
        (Some(first), Some(last)) if first <= last => Some(ByteRange::FromTo(first, last)),
        (Some(first), None) if last.is_empty() => Some(ByteRange::From(first)),
        (None, Some(length)) if first.is_empty() => Some(ByteRange::Last(length)),
        _ => None,
    }
}

/// Decimal digits, saturating at `u64::MAX` (a position that large is past any file, which
/// is what it means).
fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0_u64, |n, digit| {
        n.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
    }))
}

/// The `(start, length)` of `range` in a file of `size` bytes: the end is clamped to the
/// file's; a start at or past its end, or an empty suffix, is [`Unsatisfiable`] (as is a
/// backward range, which `parse_range` never makes).
pub fn resolve(range: ByteRange, size: u64) -> Result<(u64, u64), Unsatisfiable> {
    match range {
        ByteRange::FromTo(start, last) if start < size && start <= last => {
            Ok((start, last.min(size - 1) - start + 1))
        }
        ByteRange::From(start) if start < size => Ok((start, size - start)),
        ByteRange::Last(length) if length > 0 && size > 0 => {
            let length = length.min(size);
            Ok((size - length, length))
        }
        _ => Err(Unsatisfiable),
    }
}

/// The `Content-Range` of a 206: `bytes 0-99/1000`.
pub fn content_range(start: u64, len: u64, size: u64) -> String {
    let last = start.saturating_add(len).saturating_sub(1);
    format!("bytes {start}-{last}/{size}")
}

/// The `Content-Range` of a 416: `bytes */1000`.
pub fn unsatisfied_range(size: u64) -> String {
    format!("bytes */{size}")
}

/// Whether `If-None-Match` matches `etag` (a quoted entity tag) by weak comparison, as the
/// header is compared: `*`, or any tag of the list with its `W/` set aside. A malformed
/// header matches nothing, so the file is sent.
pub fn none_match(if_none_match: &str, etag: &str) -> bool {
    let opaque = |tag: &str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
    if if_none_match.trim() == "*" {
        return true;
    }
    let ours = opaque(etag.trim());
    entity_tags(if_none_match).is_some_and(|tags| tags.contains(&ours))
}

/// The opaque tags (quotes included) of a list of entity tags; `None` if it is malformed.
/// Read quote to quote, as a tag may hold a comma.
fn entity_tags(list: &str) -> Option<Vec<String>> {
    let mut tags = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            return Some(tags);
        }
        let quoted = rest.strip_prefix("W/").unwrap_or(rest).strip_prefix('"')?;
        let (tag, after) = quoted.split_once('"')?;
        tags.push(format!("\"{tag}\""));
        // Only a comma (or the end) may follow a tag.
        rest = after.trim_start_matches([' ', '\t']);
        if !rest.is_empty() && !rest.starts_with(',') {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_single_byte_range_is_read_in_each_of_its_forms() {
        let cases = [
            ("bytes=0-99", ByteRange::FromTo(0, 99)),
            ("Bytes=5-5", ByteRange::FromTo(5, 5)),
            (" bytes= 100- ", ByteRange::From(100)),
            ("bytes=-500", ByteRange::Last(500)),
            (
                "bytes=0-99999999999999999999999",
                ByteRange::FromTo(0, u64::MAX),
            ),
        ];
        for (header, range) in cases {
            assert_eq!(parse_range(header), Some(range), "{header}");
        }
    }

    #[test]
    fn anything_else_is_ignored_so_the_whole_file_is_sent() {
        for header in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=0-99,",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1 - 2",
            "bytes=0x1-2",
            "bytes=--1",
        ] {
            assert_eq!(parse_range(header), None, "{header:?}");
        }
    }

    #[test]
    fn ranges_resolve_against_the_file_size() {
        let cases = [
            (
                ByteRange::FromTo(0, 99),
                1000,
                Ok((0, 100)),
                "a first slice",
            ),
            (
                ByteRange::FromTo(900, 5000),
                1000,
                Ok((900, 100)),
                "an end past the file",
            ),
            (
                ByteRange::FromTo(999, 999),
                1000,
                Ok((999, 1)),
                "the last byte",
            ),
            (ByteRange::From(10), 1000, Ok((10, 990)), "to the end"),
            (ByteRange::Last(100), 1000, Ok((900, 100)), "a suffix"),
            (
                ByteRange::Last(5000),
                1000,
                Ok((0, 1000)),
                "a suffix longer than the file",
            ),
            (
                ByteRange::FromTo(1000, 1001),
                1000,
                Err(Unsatisfiable),
                "a start at the end",
            ),
            (
                ByteRange::From(u64::MAX),
                1000,
                Err(Unsatisfiable),
                "a start far past it",
            ),
            (
                ByteRange::Last(0),
                1000,
                Err(Unsatisfiable),
                "an empty suffix",
            ),
            (
                ByteRange::Last(10),
                0,
                Err(Unsatisfiable),
                "any suffix of an empty file",
            ),
            (
                ByteRange::From(0),
                0,
                Err(Unsatisfiable),
                "any start in an empty file",
            ),
        ];
        for (range, size, resolved, why) in cases {
            assert_eq!(resolve(range, size), resolved, "{why}");
        }
    }

    #[test]
    fn content_ranges_are_spelled_as_rfc_9110_has_them() {
        assert_eq!(content_range(0, 100, 1000), "bytes 0-99/1000");
        assert_eq!(content_range(999, 1, 1000), "bytes 999-999/1000");
        assert_eq!(unsatisfied_range(1000), "bytes */1000");
    }

    #[test]
    fn if_none_match_compares_tags_weakly() {
        let etag = "\"abc\"";
        let cases = [
            ("\"abc\"", true, "the same tag"),
            ("*", true, "any tag"),
            ("W/\"abc\"", true, "a weak tag of the same value"),
            ("\"x\", W/\"abc\" ,\"y\"", true, "in a list"),
            ("\"a,b\", \"abc\"", true, "after a tag holding a comma"),
            ("\"abcd\"", false, "another tag"),
            ("abc", false, "an unquoted tag"),
            ("\"abc", false, "an unterminated tag"),
            ("\"x\" \"abc\"", false, "a list without commas"),
            ("", false, "nothing"),
        ];
        for (header, matches, why) in cases {
            assert_eq!(none_match(header, etag), matches, "{why}: {header}");
        }
        assert!(
            none_match("\"abc\"", "W/\"abc\""),
            "our own tag may be weak"
        );
    }

    proptest! {
        #[test]
        fn a_resolved_range_lies_within_the_file(range in any_range(), size in any::<u64>()) {
            if let Ok((start, len)) = resolve(range, size) {
                prop_assert!(len >= 1 && start < size && len <= size - start);
            }
        }

        #[test]
        fn a_written_range_reads_back(first in any::<u64>(), length in 0..u64::MAX) {
            let last = first.saturating_add(length);
            prop_assert_eq!(parse_range(&format!("bytes={first}-{last}")), Some(ByteRange::FromTo(first, last)));
            prop_assert_eq!(parse_range(&format!("bytes={first}-")), Some(ByteRange::From(first)));
            prop_assert_eq!(parse_range(&format!("bytes=-{length}")), Some(ByteRange::Last(length)));
        }

        #[test]
        fn any_header_is_read_without_a_panic(header in "[\\s\\S]{0,80}", tag in "[\\s\\S]{0,20}") {
            let _ = parse_range(&header);
            let _ = none_match(&header, &tag);
        }
    }

    fn any_range() -> impl Strategy<Value = ByteRange> {
        prop_oneof![
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| ByteRange::FromTo(a.min(b), a.max(b))),
            any::<u64>().prop_map(ByteRange::From),
            any::<u64>().prop_map(ByteRange::Last),
        ]
    }
}
