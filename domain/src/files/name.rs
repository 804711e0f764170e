//! A client's file name, made safe to show, to put in a URL and to send back in
//! `Content-Disposition`. It is only ever a label: objects are stored under keys the edge
//! chooses (`files::key`).

use std::fmt::Write;

/// Longest file name kept (DRF's `FileField` default `max_length`).
pub const MAX_FILENAME_CHARS: usize = 100;

/// Replaced by `_`: quotes and `;` would end a header parameter early, and the rest are
/// refused by one file system or another.
const AWKWARD: &[char] = &['"', ';', '<', '>', ':', '*', '?', '|'];

/// Why a file name cannot be kept, with DRF's messages for the `file` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing is left once the name is cleaned (`..`, `/`, only dots or spaces).
    #[error("No filename could be determined.")]
    Empty,
    #[error("Ensure this filename has at most {MAX_FILENAME_CHARS} characters (it has {chars}).")]
    TooLong { chars: usize },
}

impl NameError {
    pub fn message(self) -> String {
        self.to_string()
    }
}

/// The `client`'s file name made safe: its last path component (`/` or `\`), without control
/// or bidirectional-control characters (which could disguise `exe.txt` as `txt.exe`), with
/// `" ; < > : * ? |` replaced by `_`, and without surrounding spaces or leading dots (so never
/// a hidden file, `.` or `..`).
pub fn safe_name(client: &str) -> Result<String, NameError> {
    let last = client.rsplit(['/', '\\']).next().unwrap_or(client);
    let cleaned: String = last
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .map(|c| if AWKWARD.contains(&c) { '_' } else { c })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    let chars = trimmed.chars().count();
    if chars == 0 {
        Err(NameError::Empty)
    } else if chars > MAX_FILENAME_CHARS {
        Err(NameError::TooLong { chars })
    } else {
        Ok(trimmed.to_owned())
    }
}

/// Unicode's `Bidi_Control` characters: the marks, embeddings, overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `name` as one URL path segment: RFC 3986's unreserved characters as they are, every other
/// byte of its UTF-8 as `%XX`.
pub fn path_segment(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// The `Content-Disposition` of a download of `name` (a [`safe_name`]), by RFC 6266: always an
/// attachment, so a browser saves it rather than shows it; an ASCII `filename` for old clients
/// and the exact name in `filename*` (RFC 8187; its unreserved characters are a subset of
/// what that allows bare).
pub fn content_disposition(name: &str) -> String {
    // A safe name has no quote, backslash or control character; replaced anyway, so no name
    // can end the parameter or the header.
    let fallback: String = name
        .chars()
        .map(|c| {
            if c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        path_segment(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_path_becomes_its_last_component() {
        let cases = [
            ("report.pdf", "report.pdf", "a plain name"),
            (
                "C:\\Users\\ann\\report.pdf",
                "report.pdf",
                "a Windows path (old browsers)",
            ),
            ("../../etc/passwd", "passwd", "a traversal"),
            ("a/b\\c.txt", "c.txt", "both separators"),
        ];
        for (client, safe, why) in cases {
            assert_eq!(safe_name(client).as_deref(), Ok(safe), "{why}");
        }
    }

    #[test]
    fn hostile_characters_are_dropped_or_replaced_and_letters_kept() {
        let cases = [
            (
                "evil\u{202E}fdp.exe",
                "evilfdp.exe",
                "a right-to-left override",
            ),
            (
                "a\u{2066}b\u{2069}\u{200F}.txt",
                "ab.txt",
                "isolates and marks",
            ),
            (
                "a\r\nSet-Cookie: x.txt",
                "aSet-Cookie_ x.txt",
                "a header injection",
            ),
            ("a\0b\x7f\u{85}.txt", "ab.txt", "NUL, DEL and C1 controls"),
            (
                "x\";filename=y.txt",
                "x__filename=y.txt",
                "a parameter injection",
            ),
            (
                "a<b>c:d*e?f|g.txt",
                "a_b_c_d_e_f_g.txt",
                "what file systems refuse",
            ),
            (
                "  ..hidden.txt ",
                "hidden.txt",
                "surrounding spaces and leading dots",
            ),
            (". . .x", "x", "dots and spaces alternating"),
            (
                "Überweisung 年度 報告.pdf",
                "Überweisung 年度 報告.pdf",
                "Unicode letters",
            ),
        ];
        for (client, safe, why) in cases {
            assert_eq!(safe_name(client).as_deref(), Ok(safe), "{why}");
        }
    }

    #[test]
    fn a_name_with_nothing_left_cannot_be_determined() {
        for client in [
            "",
            "  ",
            ".",
            "..",
            "dir/",
            "C:\\dir\\",
            "\u{202E}\r\n",
            "...",
        ] {
            assert_eq!(safe_name(client), Err(NameError::Empty), "{client:?}");
        }
        assert_eq!(
            NameError::Empty.message(),
            "No filename could be determined."
        );
    }

    #[test]
    fn the_length_limit_counts_characters_after_cleaning_with_drfs_message() {
        let at_limit = "é".repeat(MAX_FILENAME_CHARS);
        assert_eq!(
            safe_name(&format!("dir/{at_limit}\u{202E}")),
            Ok(at_limit.clone())
        );
        let error = safe_name(&format!("{at_limit}x")).unwrap_err();
        assert_eq!(error, NameError::TooLong { chars: 101 });
        assert_eq!(
            error.message(),
            "Ensure this filename has at most 100 characters (it has 101)."
        );
    }

    #[test]
    fn a_path_segment_keeps_unreserved_characters_and_encodes_the_rest_as_utf8() {
        assert_eq!(path_segment("a-Z_0.9~"), "a-Z_0.9~");
        assert_eq!(path_segment("a b%/é.txt"), "a%20b%25%2F%C3%A9.txt");
    }

    #[test]
    fn content_disposition_has_an_ascii_fallback_and_the_exact_name() {
        assert_eq!(
            content_disposition("Résumé 2025.pdf"),
            "attachment; filename=\"R_sum_ 2025.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202025.pdf"
        );
    }

    #[test]
    fn a_hostile_name_cannot_break_out_of_content_disposition() {
        let safe =
            safe_name("C:\\x\\\"; filename=evil.html\r\nX-Injected: 1\u{202E}lmth.txt").unwrap();
        let header = content_disposition(&safe);
        assert_eq!(header.matches('"').count(), 2, "{header}");
        assert!(!header.contains(['\r', '\n', '\\']), "{header}");
        assert_eq!(header.matches(';').count(), 2, "{header}");
    }

    proptest! {
        #[test]
        fn a_safe_name_is_clean_bounded_and_stable(client in "\\PC{0,120}|[\\s\\S]{0,120}") {
            if let Ok(name) = safe_name(&client) {
                prop_assert!(!name.is_empty() && name.chars().count() <= MAX_FILENAME_CHARS);
                prop_assert!(!name.contains(['/', '\\']) && !name.contains(AWKWARD));
                prop_assert!(!name.chars().any(|c| c.is_control() || is_bidi_control(c)));
                prop_assert!(!name.starts_with('.') && name.trim() == name);
                prop_assert_eq!(safe_name(&name), Ok(name.clone()));
                let header = content_disposition(&name);
                prop_assert_eq!(header.matches('"').count(), 2);
                prop_assert!(path_segment(&name).bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }
}
