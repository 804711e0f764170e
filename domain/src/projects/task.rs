//! A task.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::{ProjectId, TaskId};
use crate::input::{JsonBody, Text};
use crate::projects::{TEXT_MAX, TITLE_MAX};
use crate::query::{Date, SortField, SortKey};

/// A task as stored, replicated and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    #[cfg_attr(feature = "openapi", schema(value_type = i64, read_only))]
    pub id: TaskId,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub project: ProjectId,
    pub title: String,
    pub detail: String,
    pub done: bool,
    /// `YYYY-MM-DD` or null.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, format = Date, required = true)
    )]
    pub due_date: Option<Date>,
    /// RFC 3339, UTC, microseconds.
    #[cfg_attr(feature = "openapi", schema(format = DateTime, read_only))]
    pub created_at: String,
}

/// Fields `search` looks in.
pub const TASK_SEARCH: &[&str] = &["title", "detail"];
/// Fields `ordering` accepts.
pub const TASK_ORDERING: &[SortField] =
    &[SortField::CreatedAt, SortField::DueDate, SortField::Title];

impl Task {
    /// The fields of a task's JSON, in order. Serde's derive above writes them; the edge
    /// builds the same JSON in SQL from this list; a test holds the two together.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "project",
        "title",
        "detail",
        "done",
        "due_date",
        "created_at",
    ];

    /// `-created_at`, as the view's queryset orders.
    pub const DEFAULT_ORDERING: &'static [SortKey] = &[SortKey {
        field: SortField::CreatedAt,
        descending: true,
    }];
}

/// What a create, `PUT` or `PATCH` may set. `due_date` is `Some(None)` when explicitly null.
/// Whether `project` is the caller's is the origin's to decide (404 if not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskChanges {
    pub project: Option<ProjectId>,
    pub title: Option<String>,
    pub detail: Option<String>,
    pub done: Option<bool>,
    pub due_date: Option<Option<Date>>,
}

impl TaskChanges {
    /// `partial` is `PATCH`: nothing is required.
    /// The project a body names, when its `project` reads as an id, whatever the other fields
    /// say: DRF looks it up while it checks them, and reports both kinds of problem at once.
    pub fn named_project(body: &JsonBody) -> Option<ProjectId> {
        let mut fields = body.fields();
        let id = fields.primary_key("project", false)?;
        ProjectId::parse(&id.to_string())
    }

    pub fn from_body(body: &JsonBody, partial: bool) -> Result<Self, ApiError> {
        let mut fields = body.fields();
        let project = fields.primary_key("project", !partial).map(ProjectId::new);
        let title = fields.text(
            "title",
            Text {
                required: !partial,
                ..Text::required(TITLE_MAX)
            },
        );
        let detail = fields.text(
            "detail",
            Text {
                required: false,
                allow_blank: true,
                max_chars: TEXT_MAX,
                trim: true,
            },
        );
        let done = fields.boolean("done");
        let due_date = fields.nullable_date("due_date");
        fields.finish(Self {
            project,
            title,
            detail,
            done,
            due_date,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: &serde_json::Value, partial: bool) -> Result<TaskChanges, ApiError> {
        TaskChanges::from_body(
            &JsonBody::parse(Some("application/json"), value.to_string().as_bytes()).unwrap(),
            partial,
        )
    }

    #[track_caller]
    fn error_of(value: &serde_json::Value, field: &str) -> String {
        match parse(value, true) {
            Err(ApiError::Validation(errors)) => errors
                .get(field)
                .unwrap_or_else(|| panic!("no error on {field}"))[0]
                .clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn the_field_list_is_the_serialized_order() {
        let task = Task {
            id: TaskId::new(1),
            project: ProjectId::new(2),
            title: "t".into(),
            detail: String::new(),
            done: false,
            due_date: None,
            created_at: "2025-01-01T00:00:00.000000Z".into(),
        };
        let json = serde_json::to_value(task).unwrap();
        let names: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names, Task::FIELDS);
    }

    #[test]
    fn a_create_needs_project_and_title() {
        let Err(ApiError::Validation(errors)) = parse(&json!({}), false) else {
            panic!()
        };
        assert_eq!(
            errors.get("project"),
            Some(&["This field is required.".to_owned()][..])
        );
        assert_eq!(
            errors.get("title"),
            Some(&["This field is required.".to_owned()][..])
        );
    }

    #[test]
    fn fields_are_read_with_drf_rules() {
        let changes = parse(
            &json!({"project": "7", "title": "T1", "done": "yes", "due_date": "2025-3-9", "id": 1}),
            false,
        )
        .unwrap();
        assert_eq!(changes.project, Some(ProjectId::new(7)));
        assert_eq!(changes.done, Some(true));
        assert_eq!(
            changes.due_date.unwrap().map(|d| d.to_string()).as_deref(),
            Some("2025-03-09")
        );
        assert_eq!(
            parse(&json!({"due_date": null}), true).unwrap().due_date,
            Some(None)
        );
    }

    #[test]
    fn a_form_reads_an_empty_date_as_null_as_drf_does_and_json_does_not() {
        let multipart = concat!(
            "--b\r\nContent-Disposition: form-data; name=\"project\"\r\n\r\n7\r\n",
            "--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nT\r\n",
            "--b\r\nContent-Disposition: form-data; name=\"due_date\"\r\n\r\n\r\n",
            "--b--\r\n"
        );
        let forms = [
            ("multipart/form-data; boundary=b", multipart.as_bytes()),
            (
                "application/x-www-form-urlencoded",
                b"project=7&title=T&due_date=".as_slice(),
            ),
        ];
        for (content_type, body) in forms {
            let changes =
                TaskChanges::from_body(&JsonBody::parse(Some(content_type), body).unwrap(), false)
                    .unwrap();
            assert_eq!(changes.project, Some(ProjectId::new(7)), "{content_type}");
            assert_eq!(changes.due_date, Some(None), "{content_type}");
        }
        assert!(
            parse(&json!({"project": 7, "title": "T", "due_date": ""}), false).is_err(),
            "in JSON an empty date is a wrong format"
        );
    }

    #[test]
    fn bad_fields_get_drf_messages() {
        assert_eq!(
            error_of(&json!({"done": "maybe"}), "done"),
            "Must be a valid boolean."
        );
        assert_eq!(
            error_of(&json!({"done": null}), "done"),
            "This field may not be null."
        );
        assert_eq!(
            error_of(&json!({"due_date": "tomorrow"}), "due_date"),
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
        );
        assert_eq!(
            error_of(&json!({"project": "abc"}), "project"),
            "Incorrect type. Expected pk value, received str."
        );
        assert_eq!(
            error_of(&json!({"project": true}), "project"),
            "Incorrect type. Expected pk value, received bool."
        );
        assert_eq!(
            error_of(&json!({"project": null}), "project"),
            "This field may not be null."
        );
        assert_eq!(
            error_of(&json!({"title": "x".repeat(181)}), "title"),
            "Ensure this field has no more than 180 characters."
        );
    }

    /// Django looks up an integer of any size and finds nothing, so DRF's answer is "does not
    /// exist" with the value as sent (found by the parity gate: we said "incorrect type").
    #[test]
    fn a_project_id_beyond_any_row_does_not_exist() {
        let cases = [
            (
                r#"{"project": "-2547390876052193542144"}"#,
                "-2547390876052193542144",
                "a string",
            ),
            (
                r#"{"project": " 9223372036854775808"}"#,
                " 9223372036854775808",
                "spaces kept",
            ),
            (
                r#"{"project": 9223372036854775808}"#,
                "9223372036854775808",
                "a JSON u64",
            ),
            (
                r#"{"project": -1e30}"#,
                "-1e+30",
                "a JSON integer read as a float",
            ),
        ];
        for (body, shown, what) in cases {
            let body = JsonBody::parse(Some("application/json"), body.as_bytes()).unwrap();
            let errors = match TaskChanges::from_body(&body, true) {
                Err(ApiError::Validation(errors)) => errors,
                other => panic!("{what}: expected a validation error, got {other:?}"),
            };
            assert_eq!(
                errors.get("project").map(|e| e[0].as_str()),
                Some(format!("Invalid pk \"{shown}\" - object does not exist.").as_str()),
                "{what}"
            );
        }
        let form = JsonBody::parse(
            Some("application/x-www-form-urlencoded"),
            b"project=-2547390876052193542144&title=t",
        )
        .unwrap();
        assert!(
            matches!(TaskChanges::from_body(&form, false), Err(ApiError::Validation(e))
                if e.get("project").is_some_and(|m| m[0].starts_with("Invalid pk \"-2547"))),
            "a form value"
        );
        assert_eq!(
            error_of(&json!({"project": "1.5"}), "project"),
            "Incorrect type. Expected pk value, received str.",
            "a fraction in a string is no id"
        );
        for sent in [json!(3.0), json!(3.9)] {
            let changes = parse(&json!({"project": sent}), true).unwrap();
            assert_eq!(
                changes.project,
                Some(ProjectId::new(3)),
                "Django's lookup takes int() of {sent}"
            );
        }
    }
}
