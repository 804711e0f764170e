//! The kinds of file accepted, and whether an upload is what it says it is.
//!
//! An upload names its kind three ways: its extension, its declared `Content-Type` and its
//! first bytes. All three must agree on one kind of [`ALLOWED`], so a stored object is what
//! its content type says. Nothing a browser would run is allowed (no SVG, no HTML).

/// One kind of file accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKind {
    /// What it is stored and served as.
    pub content_type: &'static str,
    /// Its extensions, in lower case, without the dot.
    pub extensions: &'static [&'static str],
    /// A browser shows it itself (an image, a PDF, text), so a client may offer a preview.
    pub renders_in_browser: bool,
}

/// Every kind accepted.
pub const ALLOWED: &[FileKind] = &[
    kind("image/png", &["png"], true),
    kind("image/jpeg", &["jpg", "jpeg"], true),
    kind("image/gif", &["gif"], true),
    kind("image/webp", &["webp"], true),
    kind("application/pdf", &["pdf"], true),
    kind("text/plain", &["txt", "log", "md"], true),
    kind("text/csv", &["csv"], false),
    kind("application/zip", &["zip"], false),
];

const fn kind(
    content_type: &'static str,
    extensions: &'static [&'static str],
    renders_in_browser: bool,
) -> FileKind {
    FileKind {
        content_type,
        extensions,
        renders_in_browser,
    }
}

/// How many leading bytes [`classify`] looks at.
pub const SNIFF_BYTES: usize = 512;

/// Other names clients give the same kinds (Windows browsers send a ZIP as
/// `application/x-zip-compressed` and a CSV as `application/vnd.ms-excel`).
const ALIASES: &[(&str, &str)] = &[
    ("image/jpg", "image/jpeg"),
    ("image/pjpeg", "image/jpeg"),
    ("application/x-zip-compressed", "application/zip"),
    ("application/x-zip", "application/zip"),
    ("application/vnd.ms-excel", "text/csv"),
    ("application/csv", "text/csv"),
    ("text/x-csv", "text/csv"),
    ("text/markdown", "text/plain"),
    ("text/x-markdown", "text/plain"),
    ("text/x-log", "text/plain"),
];

const UNSUPPORTED: &str = "Unsupported file type: only PNG, JPEG, GIF, WebP, PDF, plain text, CSV \
                           and ZIP files are accepted.";
const MISMATCH: &str = "The file's content does not match its type.";
const EMPTY: &str = "The submitted file is empty.";

/// Why an upload is refused, with DRF-style messages for the `file` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum KindError {
    /// Its extension names no kind we accept (or it has none).
    Unsupported,
    /// Its declared type or its content is not what its extension says.
    Mismatch,
    /// It has no bytes (DRF's `FileField` refuses an empty file).
    Empty,
}

impl KindError {
    pub fn message(self) -> &'static str {
        match self {
            Self::Unsupported => UNSUPPORTED,
            Self::Mismatch => MISMATCH,
            Self::Empty => EMPTY,
        }
    }
}

/// The kind of an upload from its declared content type, its (safe) file name and `head`, its
/// first [`SNIFF_BYTES`] (all of it when shorter).
pub fn classify(
    declared: Option<&str>,
    filename: &str,
    head: &[u8],
) -> Result<&'static FileKind, KindError> {
    if head.is_empty() {
        return Err(KindError::Empty);
    }
    let extension = filename
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .ok_or(KindError::Unsupported)?;
    let kind = ALLOWED
        .iter()
        .find(|kind| kind.extensions.contains(&extension.as_str()))
        .ok_or(KindError::Unsupported)?;
    if !declared.is_none_or(|declared| declares(declared, kind)) {
        return Err(KindError::Mismatch);
    }
    let head = head.get(..SNIFF_BYTES).unwrap_or(head);
    if content_matches(kind, head) {
        Ok(kind)
    } else {
        Err(KindError::Mismatch)
    }
}

/// A declared content type (parameters and case aside) that names `kind`, or says nothing.
fn declares(declared: &str, kind: &FileKind) -> bool {
    let essence = declared
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let essence = ALIASES
        .iter()
        .find(|(alias, _)| *alias == essence)
        .map_or(essence.as_str(), |(_, canonical)| canonical);
    essence.is_empty() || essence == "application/octet-stream" || essence == kind.content_type
}

/// Whether `head` starts as a file of `kind` does.
fn content_matches(kind: &FileKind, head: &[u8]) -> bool {
    match kind.content_type {
        "image/png" => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => head.starts_with(b"\xFF\xD8\xFF"),
        "image/gif" => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        "image/webp" => head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP"),
        "application/pdf" => head.starts_with(b"%PDF-"),
        "application/zip" => head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06"),
        "text/plain" | "text/csv" => is_text(head),
        // A kind without a signature here accepts nothing.
        _ => false,
    }
}

/// UTF-8 (a byte order mark allowed; a character cut at the end of `head` too) without
/// control characters other than tab, line breaks and form feed.
fn is_text(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(error) if error.error_len().is_none() => {
            let valid = head.get(..error.valid_up_to()).unwrap_or_default();
            std::str::from_utf8(valid).unwrap_or_default()
        }
        Err(_) => return false,
    };
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

#[cfg(test)]
mod tests;
