//! The task list's filters, as django-filter's `TaskFilter` reads them.

use crate::error::{ApiError, FieldErrors};
use crate::ids::ProjectId;
use crate::query::date::Date;
use crate::query::params::QueryParams;

pub const INVALID_DATE: &str = "Enter a valid date.";
pub const INVALID_CHOICE: &str =
    "Select a valid choice. That choice is not one of the available choices.";

/// Filters on the task list. `project` still has to be checked for existence by the caller
/// (an unknown id is a 400, someone else's an empty list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilters {
    pub done: Option<bool>,
    pub min_due: Option<Date>,
    pub max_due: Option<Date>,
    pub project: Option<ProjectId>,
}

impl TaskFilters {
    pub fn parse(params: &QueryParams) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::new();
        let present = |name: &str| params.get(name).map(str::trim).filter(|v| !v.is_empty());
        let mut date = |name: &str| {
            let raw = present(name)?;
            let parsed = Date::parse(raw);
            if parsed.is_none() {
                errors.add(name, INVALID_DATE);
            }
            parsed
        };
        let min_due = date("min_due");
        let max_due = date("max_due");
        let done = present("done").and_then(|raw| match raw.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        });
        let project = present("project").and_then(|raw| {
            let id = ProjectId::parse(raw);
            if id.is_none() {
                errors.add("project", INVALID_CHOICE);
            }
            id
        });
        errors.into_result(Self {
            done,
            min_due,
            max_due,
            project,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<TaskFilters, ApiError> {
        TaskFilters::parse(&QueryParams::parse(Some(query)))
    }

    #[test]
    fn done_accepts_true_false_one_zero_in_any_case_and_ignores_the_rest() {
        for (query, done) in [
            ("done=true", Some(true)),
            ("done=TRUE", Some(true)),
            ("done=1", Some(true)),
            ("done=False", Some(false)),
            ("done=0", Some(false)),
            ("done=yes", None),
            ("done=", None),
        ] {
            assert_eq!(parse(query).unwrap().done, done, "{query}");
        }
    }

    #[test]
    fn bad_dates_and_projects_are_400_with_django_filter_messages() {
        let Err(ApiError::Validation(errors)) =
            parse("min_due=2025-13-01&max_due=soon&project=abc")
        else {
            panic!("expected errors");
        };
        assert_eq!(errors.get("min_due"), Some(&[INVALID_DATE.to_owned()][..]));
        assert_eq!(errors.get("max_due"), Some(&[INVALID_DATE.to_owned()][..]));
        assert_eq!(
            errors.get("project"),
            Some(&[INVALID_CHOICE.to_owned()][..])
        );
    }

    #[test]
    fn good_filters_parse() {
        let filters = parse("min_due=2025-01-01&max_due=2025-12-31&project=7&done=false").unwrap();
        assert_eq!(
            filters.min_due.map(|d| d.to_string()).as_deref(),
            Some("2025-01-01")
        );
        assert_eq!(filters.project, Some(ProjectId::new(7)));
        assert_eq!(filters.done, Some(false));
    }
}
