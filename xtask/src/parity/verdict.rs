//! The gate's judgement: every failure grouped by operation, check and the deviation that
//! covers it (the first entry of the file that does), one table of them, and the failures no
//! entry covers. Entries that covered nothing are "not seen this run": fuzzing is not
//! exhaustive, so that is no failure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::parity::deviations::Deviation;
use crate::parity::report::Failure;
use crate::table::markdown_table;

/// Failures of one check on one operation, covered by one entry (or by none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<'a> {
    pub operation: &'a str,
    pub check: &'a str,
    /// The covering entry's index in the file, `None` when no entry covers these failures.
    pub entry: Option<usize>,
    pub count: usize,
    /// The first failure of the group, to show what it was.
    pub example: &'a Failure,
}

#[derive(Debug)]
pub struct Verdict<'a> {
    pub groups: Vec<Group<'a>>,
    /// Indices of the entries that covered nothing.
    pub not_seen: Vec<usize>,
}

impl<'a> Verdict<'a> {
    pub fn judge(failures: &'a [Failure], deviations: &[Deviation]) -> Self {
        let mut groups: BTreeMap<(&str, &str, Option<usize>), Group<'a>> = BTreeMap::new();
        for failure in failures {
            let entry = deviations.iter().position(|d| d.covers(failure));
            groups
                .entry((&failure.operation, &failure.check, entry))
                .and_modify(|group| group.count += 1)
                .or_insert(Group {
                    operation: &failure.operation,
                    check: &failure.check,
                    entry,
                    count: 1,
                    example: failure,
                });
        }
        let groups: Vec<Group<'a>> = groups.into_values().collect();
        let not_seen = (0..deviations.len())
            .filter(|index| !groups.iter().any(|g| g.entry == Some(*index)))
            .collect();
        Self { groups, not_seen }
    }

    /// Whether every failure is covered by an entry.
    pub fn passed(&self) -> bool {
        self.groups.iter().all(|g| g.entry.is_some())
    }

    pub fn unlisted(&self) -> impl Iterator<Item = &Group<'a>> {
        self.groups.iter().filter(|g| g.entry.is_none())
    }

    /// The table of every group, then the entries not seen. `deviations` is the list judged
    /// against.
    pub fn render(&self, deviations: &[Deviation]) -> String {
        let rows: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|group| {
                let listed = match group.entry {
                    Some(index) => format!("listed #{} ({})", index + 1, deviations[index].kind),
                    None => "NOT LISTED".to_owned(),
                };
                vec![
                    group.operation.to_owned(),
                    group.check.to_owned(),
                    group.count.to_string(),
                    listed,
                ]
            })
            .collect();
        let mut text = if rows.is_empty() {
            "No check failed.\n".to_owned()
        } else {
            markdown_table(&["operation", "check", "count", "verdict"], &rows)
        };
        if !self.not_seen.is_empty() {
            text.push_str("\nListed, not seen this run:\n");
            for index in &self.not_seen {
                let entry = &deviations[*index];
                let _ = writeln!(
                    text,
                    "  #{} {} on {}{}",
                    index + 1,
                    entry.check,
                    entry.operations.join(", "),
                    entry
                        .matching
                        .as_ref()
                        .map(|m| format!(" (matching {m})"))
                        .unwrap_or_default()
                );
            }
        }
        text
    }
}

/// Failure counts by check, listed or not: the figure to compare across runs and builds.
pub fn counts_by_check(failures: &[Failure]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for failure in failures {
        *counts.entry(failure.check.as_str()).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parity::deviations::parse;

    fn failure(check: &str, operation: &str, body: &str) -> Failure {
        Failure {
            check: check.to_owned(),
            operation: operation.to_owned(),
            message: "m".to_owned(),
            status: Some(400),
            body: body.to_owned(),
            request: String::new(),
        }
    }

    fn deviations() -> Vec<Deviation> {
        let text = r#"
            [[deviation]]
            check = "positive_data_acceptance"
            operations = ["POST /api/v1/auth/register/"]
            matching = "password"
            kind = "deliberate"
            reason = "weak passwords are refused"

            [[deviation]]
            check = "response_schema_conformance"
            operations = ["POST /api/v1/projects/{id}/archive/"]
            kind = "as-drf"
            reason = "DRF answers {\"status\": \"archived\"} too"
        "#;
        let operations = [
            "POST /api/v1/auth/register/",
            "POST /api/v1/projects/{id}/archive/",
        ]
        .map(str::to_owned);
        parse(
            text,
            &["positive_data_acceptance", "response_schema_conformance"],
            &operations,
        )
        .unwrap()
    }

    #[test]
    fn failures_are_grouped_and_the_unlisted_ones_fail_the_gate() {
        let failures = [
            failure(
                "positive_data_acceptance",
                "POST /api/v1/auth/register/",
                "password",
            ),
            failure(
                "positive_data_acceptance",
                "POST /api/v1/auth/register/",
                "password",
            ),
            failure(
                "positive_data_acceptance",
                "POST /api/v1/auth/register/",
                "email",
            ),
        ];
        let deviations = deviations();
        let verdict = Verdict::judge(&failures, &deviations);
        let summary: Vec<_> = verdict
            .groups
            .iter()
            .map(|g| (g.operation, g.check, g.entry, g.count))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "POST /api/v1/auth/register/",
                    "positive_data_acceptance",
                    None,
                    1
                ),
                (
                    "POST /api/v1/auth/register/",
                    "positive_data_acceptance",
                    Some(0),
                    2
                ),
            ]
        );
        assert!(!verdict.passed());
        assert_eq!(verdict.unlisted().next().unwrap().example.body, "email");
        assert_eq!(verdict.not_seen, [1]);
        let table = verdict.render(&deviations);
        assert!(table.contains("| NOT LISTED "), "{table}");
        assert!(table.contains("| listed #1 (deliberate) |"), "{table}");
        assert!(
            table.contains(
                "not seen this run:\n  \
                 #2 response_schema_conformance on POST /api/v1/projects/{id}/archive/\n"
            ),
            "{table}"
        );
    }

    #[test]
    fn a_run_whose_failures_are_all_listed_passes() {
        let failures = [failure(
            "response_schema_conformance",
            "POST /api/v1/projects/{id}/archive/",
            "{}",
        )];
        let deviations = deviations();
        let verdict = Verdict::judge(&failures, &deviations);
        assert!(verdict.passed());
        assert_eq!(verdict.not_seen, [0]);
    }

    #[test]
    fn no_failure_passes_and_says_so() {
        let verdict = Verdict::judge(&[], &[]);
        assert!(verdict.passed());
        assert_eq!(verdict.render(&[]), "No check failed.\n");
    }

    #[test]
    fn failures_are_counted_by_check() {
        let failures = [
            failure("a", "GET /x/", ""),
            failure("b", "GET /x/", ""),
            failure("a", "GET /y/", ""),
        ];
        assert_eq!(
            counts_by_check(&failures).into_iter().collect::<Vec<_>>(),
            [("a", 2), ("b", 1)]
        );
    }
}
