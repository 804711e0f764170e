//! The committed list of failures the parity gate accepts (`parity/deviations.toml`), each with
//! its reason. An entry covers the failures of one check on the operations it names (one cause
//! can show on several), or only those whose message or response body contains `matching`:
//!
//! ```toml
//! [[deviation]]
//! check = "positive_data_acceptance"
//! operations = ["POST /api/v1/auth/register/"]
//! matching = "password"
//! kind = "deliberate"
//! reason = "CONTRACT.md: a weak password is refused (Django's validators); DRF's document says nothing of it."
//! ```
//!
//! `kind` says why a failure is no bug: `deliberate` where CONTRACT.md departs from DRF on
//! purpose, `as-drf` where DRF answers the same and its own document is looser than DRF itself,
//! `unstated` where the answer rests on a rule that no schema can state (whose object an id
//! names, what is stored already).
//! The file is read strictly: an unknown key, check or operation is an error, so that a typo
//! cannot leave an entry that never matches anything.

use std::fmt;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::parity::report::Failure;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    deviation: Vec<Deviation>,
}

/// One accepted kind of failure.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    pub check: String,
    /// `METHOD /path` each, as the DRF document spells the path.
    pub operations: Vec<String>,
    /// Text the failure's message or response body must contain (one piece, or a list of which
    /// any will do); none: every failure of `check` on `operation`.
    pub matching: Option<Matching>,
    pub kind: Kind,
    pub reason: String,
}

/// `matching = "text"` or `matching = ["one", "other"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Matching {
    One(String),
    Any(Vec<String>),
}

impl Matching {
    fn pieces(&self) -> &[String] {
        match self {
            Self::One(text) => std::slice::from_ref(text),
            Self::Any(texts) => texts,
        }
    }

    fn found_in(&self, text: &str) -> bool {
        self.pieces()
            .iter()
            .any(|piece| text.contains(piece.as_str()))
    }
}

impl fmt::Display for Matching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pieces().join(" | "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// CONTRACT.md departs from DRF here on purpose.
    Deliberate,
    /// DRF answers the same; its document promises more than DRF does.
    AsDrf,
    /// The answer rests on a rule no schema can state: whose object an id names, what is
    /// stored already, the strength of a password, a signature over the body.
    Unstated,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deliberate => "deliberate",
            Self::AsDrf => "as DRF",
            Self::Unstated => "unstated",
        })
    }
}

impl Deviation {
    pub fn covers(&self, failure: &Failure) -> bool {
        self.check == failure.check
            && self.operations.contains(&failure.operation)
            && self
                .matching
                .as_ref()
                .is_none_or(|matching| matching.found_in(&failure.text()))
    }
}

/// Reads the file's text; every entry must name one of `checks` and one of `operations`, and
/// give a reason.
pub fn parse(text: &str, checks: &[&str], operations: &[String]) -> Result<Vec<Deviation>> {
    let file: File = toml::from_str(text)?;
    for (number, entry) in file.deviation.iter().enumerate() {
        let which = || format!("entry {} ({})", number + 1, entry.check);
        if !checks.contains(&entry.check.as_str()) {
            bail!(
                "{}: the gate runs no such check (it runs {})",
                which(),
                checks.join(", ")
            );
        }
        if entry.operations.is_empty() {
            bail!("{}: no operations", which());
        }
        if let Some(unknown) = entry.operations.iter().find(|o| !operations.contains(o)) {
            bail!("{}: the document has no operation {unknown}", which());
        }
        if entry.reason.trim().is_empty() {
            bail!("{}: no reason given", which());
        }
        if entry
            .matching
            .as_ref()
            .is_some_and(|m| m.pieces().is_empty() || m.pieces().iter().any(String::is_empty))
        {
            bail!(
                "{}: an empty `matching` matches everything; leave it out",
                which()
            );
        }
    }
    Ok(file.deviation)
}

/// Reads the deviations file at `path` (see [`parse`]).
pub fn load(
    path: &std::path::Path,
    checks: &[&str],
    operations: &[String],
) -> Result<Vec<Deviation>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", crate::ui::shown(path)))?;
    parse(&text, checks, operations).with_context(|| format!("in {}", crate::ui::shown(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKS: &[&str] = &["not_a_server_error", "positive_data_acceptance"];

    fn operations() -> Vec<String> {
        vec![
            "POST /api/v1/auth/register/".to_owned(),
            "GET /api/v1/tasks/".to_owned(),
        ]
    }

    fn failure(check: &str, operation: &str, body: &str) -> Failure {
        Failure {
            check: check.to_owned(),
            operation: operation.to_owned(),
            message: "Valid data should have been accepted".to_owned(),
            status: Some(400),
            body: body.to_owned(),
            request: String::new(),
        }
    }

    const ONE: &str = r#"
        [[deviation]]
        check = "positive_data_acceptance"
        operations = ["POST /api/v1/auth/register/"]
        matching = "password"
        kind = "deliberate"
        reason = "a weak password is refused"
    "#;

    #[test]
    fn an_entry_covers_its_check_operation_and_text_only() {
        let entries = parse(ONE, CHECKS, &operations()).unwrap();
        let entry = &entries[0];
        assert_eq!(entry.kind, Kind::Deliberate);
        let cases = [
            (
                failure(
                    "positive_data_acceptance",
                    "POST /api/v1/auth/register/",
                    r#"{"password":["too short"]}"#,
                ),
                true,
                "the listed failure",
            ),
            (
                failure(
                    "positive_data_acceptance",
                    "POST /api/v1/auth/register/",
                    r#"{"email":["required"]}"#,
                ),
                false,
                "another failure of the same check and operation",
            ),
            (
                failure(
                    "not_a_server_error",
                    "POST /api/v1/auth/register/",
                    "password",
                ),
                false,
                "another check",
            ),
            (
                failure("positive_data_acceptance", "GET /api/v1/tasks/", "password"),
                false,
                "another operation",
            ),
        ];
        for (failure, covered, what) in cases {
            assert_eq!(entry.covers(&failure), covered, "{what}");
        }
    }

    #[test]
    fn an_entry_without_matching_covers_every_failure_of_its_check_and_operation() {
        let text = ONE.replace("matching = \"password\"\n", "");
        let entries = parse(&text, CHECKS, &operations()).unwrap();
        assert!(entries[0].covers(&failure(
            "positive_data_acceptance",
            "POST /api/v1/auth/register/",
            "anything"
        )));
    }

    #[test]
    fn a_list_of_matching_texts_covers_a_failure_with_any_of_them() {
        let text = ONE.replace(
            "matching = \"password\"",
            "matching = [\"username\", \"email\"]",
        );
        let entry = &parse(&text, CHECKS, &operations()).unwrap()[0];
        let register = |body| {
            failure(
                "positive_data_acceptance",
                "POST /api/v1/auth/register/",
                body,
            )
        };
        assert!(entry.covers(&register(r#"{"email":["Enter a valid email address."]}"#)));
        assert!(entry.covers(&register(r#"{"username":["Taken."]}"#)));
        assert!(!entry.covers(&register(r#"{"password":["Too short."]}"#)));
    }

    #[test]
    fn mistakes_in_the_file_are_errors() {
        let cases = [
            (
                ONE.replace("positive_data_acceptance", "positive_data"),
                "no such check",
            ),
            (
                ONE.replace("POST /api/v1/auth", "PUT /api/v1/auth"),
                "no operation PUT /api/v1/auth/register/",
            ),
            (
                ONE.replace("[\"POST /api/v1/auth/register/\"]", "[]"),
                "no operations",
            ),
            (ONE.replace("a weak password is refused", " "), "no reason"),
            (ONE.replace("\"password\"", "\"\""), "empty `matching`"),
            (ONE.replace("\"password\"", "[]"), "empty `matching`"),
            (
                ONE.replace("\"password\"", "[\"a\", \"\"]"),
                "empty `matching`",
            ),
            (
                ONE.replace("kind = \"deliberate\"", "kind = \"because\""),
                "unknown variant",
            ),
            (ONE.replace("matching", "pattern"), "unknown field"),
        ];
        for (text, expected) in cases {
            let e = parse(&text, CHECKS, &operations()).unwrap_err();
            assert!(format!("{e:#}").contains(expected), "{expected}: {e:#}");
        }
    }

    #[test]
    fn the_committed_files_read() {
        for gate in [&crate::parity::DRF, &crate::parity::CONTRACT] {
            gate.listed()
                .unwrap_or_else(|e| panic!("{}: {e:#}", gate.title));
        }
    }
}
