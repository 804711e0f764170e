//! A project.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::{ProjectId, UserId};
use crate::input::{JsonBody, Text};
use crate::projects::task::Task;
use crate::projects::{NAME_MAX, TEXT_MAX};
use crate::query::{SortField, SortKey};

/// A project as stored and replicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Project {
    #[cfg_attr(feature = "openapi", schema(value_type = i64, read_only))]
    pub id: ProjectId,
    #[cfg_attr(feature = "openapi", schema(value_type = i64, read_only))]
    pub owner: UserId,
    pub name: String,
    pub description: String,
    pub is_archived: bool,
    /// RFC 3339, UTC, microseconds.
    #[cfg_attr(feature = "openapi", schema(format = DateTime, read_only))]
    pub created_at: String,
}

/// A project as the API shows it: with its tasks nested and counted, as the seed's serializer.
/// Its JSON is [`Project::FIELDS`] followed by [`ProjectView::NESTED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectView {
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(inline))]
    pub project: Project,
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub task_count: usize,
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub tasks: Vec<Task>,
}

impl ProjectView {
    /// The fields after the project's own: the count, then the tasks.
    pub const NESTED: &'static [&'static str] = &["task_count", "tasks"];

    pub fn new(project: Project, tasks: Vec<Task>) -> Self {
        Self {
            project,
            task_count: tasks.len(),
            tasks,
        }
    }
}

/// Fields `search` looks in.
pub const PROJECT_SEARCH: &[&str] = &["name", "description"];
/// Fields `ordering` accepts.
pub const PROJECT_ORDERING: &[SortField] = &[SortField::CreatedAt, SortField::Name];

impl Project {
    /// The fields of a project's own JSON, in order (serde writes them; the edge's SQL is
    /// built from this list; a test holds the two together).
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "owner",
        "name",
        "description",
        "is_archived",
        "created_at",
    ];

    /// `-created_at`, as the view's queryset orders.
    pub const DEFAULT_ORDERING: &'static [SortKey] = &[SortKey {
        field: SortField::CreatedAt,
        descending: true,
    }];
}

/// What a create, `PUT` or `PATCH` may change: `name` and `description` (the seed's
/// `ProjectCreateSerializer`). `owner`, `id`, `created_at` and anything else are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
}

impl ProjectChanges {
    /// `partial` is `PATCH`: nothing is required.
    pub fn from_body(body: &JsonBody, partial: bool) -> Result<Self, ApiError> {
        let mut fields = body.fields();
        let name = fields.text(
            "name",
            Text {
                required: !partial,
                ..Text::required(NAME_MAX)
            },
        );
        let description = fields.text(
            "description",
            Text {
                required: false,
                allow_blank: true,
                max_chars: TEXT_MAX,
                trim: true,
            },
        );
        fields.finish(Self { name, description })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldErrors;
    use serde_json::json;

    fn body(value: &serde_json::Value) -> JsonBody {
        JsonBody::parse(Some("application/json"), value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_create_needs_a_name_and_ignores_read_only_fields() {
        let changes = ProjectChanges::from_body(
            &body(&json!({"name": " Demo ", "owner": 99, "id": 5, "created_at": "x", "is_archived": true})),
            false,
        )
        .unwrap();
        assert_eq!(
            changes,
            ProjectChanges {
                name: Some("Demo".into()),
                description: None
            }
        );
        let missing = ProjectChanges::from_body(&body(&json!({"description": "d"})), false);
        assert_eq!(
            missing,
            Err(ApiError::Validation(FieldErrors::single(
                "name",
                "This field is required."
            )))
        );
    }

    #[test]
    fn a_patch_needs_nothing_but_checks_what_it_gets() {
        assert_eq!(
            ProjectChanges::from_body(&body(&json!({})), true),
            Ok(ProjectChanges::default())
        );
        let long = ProjectChanges::from_body(&body(&json!({"name": "x".repeat(121)})), true);
        assert_eq!(
            long,
            Err(ApiError::Validation(FieldErrors::single(
                "name",
                "Ensure this field has no more than 120 characters."
            )))
        );
        let blank = ProjectChanges::from_body(&body(&json!({"name": ""})), true);
        assert_eq!(
            blank,
            Err(ApiError::Validation(FieldErrors::single(
                "name",
                "This field may not be blank."
            )))
        );
    }

    #[test]
    fn the_view_counts_and_nests_tasks() {
        let project = Project {
            id: ProjectId::new(1),
            owner: UserId::new(2),
            name: "n".into(),
            description: String::new(),
            is_archived: false,
            created_at: "2025-01-01T00:00:00.000000Z".into(),
        };
        let view = serde_json::to_value(ProjectView::new(project, Vec::new())).unwrap();
        let names: Vec<&str> = view
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let expected: Vec<&str> = [Project::FIELDS, ProjectView::NESTED].concat();
        assert_eq!(names, expected, "the field lists are the serialized order");
        assert_eq!(view["task_count"], json!(0));
        assert_eq!(view["tasks"], json!([]));
        assert_eq!(view["owner"], json!(2));
    }
}
