//! The committed files: the document rendered as JSON and YAML, written under `openapi/`, and
//! compared with what is committed.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::document;

/// A rendering of the document, and where it is committed (relative to the workspace root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub path: &'static str,
    pub text: String,
}

/// Why the document could not be rendered.
#[derive(Debug)]
pub struct RenderError(String);

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RenderError {}

/// The document as pretty JSON, ending with a newline.
pub fn json() -> Result<String, RenderError> {
    let mut text = document()
        .to_pretty_json()
        .map_err(|e| RenderError(format!("rendering JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// The document as YAML.
pub fn yaml() -> Result<String, RenderError> {
    document()
        .to_yaml()
        .map_err(|e| RenderError(format!("rendering YAML: {e}")))
}

/// Both files, as they should be committed.
pub fn rendered() -> Result<Vec<Rendered>, RenderError> {
    Ok(vec![
        Rendered {
            path: "openapi/openapi.json",
            text: json()?,
        },
        Rendered {
            path: "openapi/openapi.yaml",
            text: yaml()?,
        },
    ])
}

/// The workspace root as this crate was built in (`apidoc/..`).
pub fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// How a committed file differs from its rendering: the first line that differs, or `None`
/// when they are the same.
pub fn first_difference(committed: &str, generated: &str) -> Option<String> {
    if committed == generated {
        return None;
    }
    let mut committed_lines = committed.lines();
    let mut generated_lines = generated.lines();
    let mut number = 1;
    loop {
        match (committed_lines.next(), generated_lines.next()) {
            (Some(a), Some(b)) if a == b => number += 1,
            (None, None) => {
                return Some("the files differ only in their line endings".to_owned());
            }
            (a, b) => {
                let show = |line: Option<&str>| {
                    line.map_or("(end of file)".to_owned(), |l| format!("{l:?}"))
                };
                return Some(format!(
                    "line {number}:\n  committed: {}\n  generated: {}",
                    show(a),
                    show(b)
                ));
            }
        }
    }
}
