//! An attachment: a file of a project's. The edge streams its bytes into R2 under a key it
//! chooses, then forwards the metadata ([`NewAttachment`]) to the origin like any other write;
//! the origin stores it ([`Attachment`]) and replicates it back to D1.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::files::key::is_storage_key;
use crate::ids::{AttachmentId, ProjectId};
use crate::input::{Fields, JsonBody, Text, messages};
use crate::limits::MAX_UPLOAD_BYTES;
use crate::query::{SortField, SortKey};

/// Longest `filename` (Django's `FileField` default `max_length`).
pub const FILENAME_MAX: usize = 100;
/// Longest `content_type`.
pub const CONTENT_TYPE_MAX: usize = 100;

/// An attachment's metadata as stored and replicated, and as the origin answers a create. The
/// edge shows it with `storage_key` turned into a signed `file` URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    #[cfg_attr(feature = "openapi", schema(value_type = i64, read_only))]
    pub id: AttachmentId,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub project: ProjectId,
    /// Where the bytes are in R2: `attachments/YYYY/MM/<32 lowercase hex>`.
    pub storage_key: String,
    pub filename: String,
    /// Bytes, 1 to [`MAX_UPLOAD_BYTES`].
    pub size: i64,
    pub content_type: String,
    /// SHA-256 of the bytes, 64 lowercase hex digits.
    pub checksum: String,
    /// RFC 3339, UTC, microseconds.
    #[cfg_attr(feature = "openapi", schema(format = DateTime, read_only))]
    pub created_at: String,
}

impl Attachment {
    /// The fields of an attachment's JSON, in order (serde writes them; a test holds the two
    /// together, so SQL built from this list matches).
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "project",
        "storage_key",
        "filename",
        "size",
        "content_type",
        "checksum",
        "created_at",
    ];

    /// `-created_at` (ties on `id`, as every list).
    pub const DEFAULT_ORDERING: &'static [SortKey] = &[SortKey {
        field: SortField::CreatedAt,
        descending: true,
    }];
}

/// The body the edge forwards once the file is in R2. Whether `project` is the caller's is the
/// origin's to decide (404 if not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub project: ProjectId,
    pub storage_key: String,
    pub filename: String,
    pub size: i64,
    pub content_type: String,
    pub checksum: String,
}

impl NewAttachment {
    /// Reads every field, reporting every problem at once.
    pub fn from_body(body: &JsonBody) -> Result<Self, ApiError> {
        let mut fields = body.fields();
        let project = fields.primary_key("project", true).map(ProjectId::new);
        let storage_key = exact(&mut fields, "storage_key").and_then(|key| {
            checked(
                &mut fields,
                "storage_key",
                key,
                is_storage_key,
                BAD_STORAGE_KEY,
            )
        });
        let filename = fields
            .text("filename", Text::required(usize::MAX))
            .and_then(|name| filename(&mut fields, name));
        let size = size(&mut fields, body.get("size"));
        let content_type = fields
            .text("content_type", Text::required(CONTENT_TYPE_MAX))
            .and_then(|value| {
                checked(
                    &mut fields,
                    "content_type",
                    value,
                    |v| v.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
                    BAD_CONTENT_TYPE,
                )
            });
        let checksum = exact(&mut fields, "checksum")
            .and_then(|sum| checked(&mut fields, "checksum", sum, is_sha256_hex, BAD_CHECKSUM));
        fields.finish_with(|| {
            Some(Self {
                project: project?,
                storage_key: storage_key?,
                filename: filename?,
                size: size?,
                content_type: content_type?,
                checksum: checksum?,
            })
        })
    }
}

pub const BAD_STORAGE_KEY: &str =
    "Enter a valid storage key: attachments/YYYY/MM/ and 32 lowercase hexadecimal digits.";
pub const BAD_FILENAME: &str = "A file name may not contain control characters, \"/\" or \"\\\".";
pub const BAD_CONTENT_TYPE: &str = "Enter a valid content type.";
pub const BAD_CHECKSUM: &str = "Enter a valid SHA-256 checksum: 64 lowercase hexadecimal digits.";

/// A required string taken as sent (no trimming): keys and digests are exact.
fn exact(fields: &mut Fields<'_>, field: &str) -> Option<String> {
    fields.text(
        field,
        Text {
            trim: false,
            ..Text::required(usize::MAX)
        },
    )
}

fn checked(
    fields: &mut Fields<'_>,
    field: &str,
    value: String,
    valid: impl Fn(&str) -> bool,
    message: &str,
) -> Option<String> {
    if valid(&value) {
        Some(value)
    } else {
        fields.reject(field, message);
        None
    }
}

/// A name to show and download under: no path separators, nothing unprintable.
fn filename(fields: &mut Fields<'_>, name: String) -> Option<String> {
    let mut valid = true;
    let length = name.chars().count();
    if length > FILENAME_MAX {
        // DRF's `FileField` message.
        fields.reject(
            "filename",
            format!(
                "Ensure this filename has at most {FILENAME_MAX} characters (it has {length})."
            ),
        );
        valid = false;
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        fields.reject("filename", BAD_FILENAME);
        valid = false;
    }
    valid.then_some(name)
}

/// DRF's `IntegerField(min_value=1, max_value=MAX_UPLOAD_BYTES)`, for a JSON integer or a
/// string of digits.
fn size(fields: &mut Fields<'_>, raw: Option<&Value>) -> Option<i64> {
    const FIELD: &str = "size";
    let whole = match raw {
        None => {
            fields.reject(FIELD, messages::REQUIRED);
            return None;
        }
        Some(Value::Null) => {
            fields.reject(FIELD, messages::NULL);
            return None;
        }
        Some(Value::Number(n)) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Some(Value::String(s)) => s.trim().parse::<i128>().ok(),
        Some(_) => None,
    };
    let Some(whole) = whole else {
        fields.reject(FIELD, "A valid integer is required.");
        return None;
    };
    if whole < 1 {
        fields.reject(FIELD, "Ensure this value is greater than or equal to 1.");
        return None;
    }
    let max = i128::try_from(MAX_UPLOAD_BYTES).unwrap_or(i128::MAX);
    if whole > max {
        fields.reject(
            FIELD,
            format!("Ensure this value is less than or equal to {MAX_UPLOAD_BYTES}."),
        );
        return None;
    }
    i64::try_from(whole).ok()
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && is_lower_hex(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    const KEY: &str = "attachments/2025/06/0123456789abcdef0123456789abcdef";
    const SUM: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn valid() -> Value {
        json!({
            "project": 7,
            "storage_key": KEY,
            "filename": "report.pdf",
            "size": 1234,
            "content_type": "application/pdf",
            "checksum": SUM,
        })
    }

    fn parse(value: &Value) -> Result<NewAttachment, ApiError> {
        NewAttachment::from_body(
            &JsonBody::parse(Some("application/json"), value.to_string().as_bytes()).unwrap(),
        )
    }

    /// `valid()` with `field` set to `value`.
    fn with(field: &str, value: Value) -> Value {
        let mut body = valid();
        body[field] = value;
        body
    }

    #[track_caller]
    fn errors_of(value: &Value) -> crate::FieldErrors {
        match parse(value) {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_body_is_read_as_sent() {
        assert_eq!(
            parse(&valid()).unwrap(),
            NewAttachment {
                project: ProjectId::new(7),
                storage_key: KEY.into(),
                filename: "report.pdf".into(),
                size: 1234,
                content_type: "application/pdf".into(),
                checksum: SUM.into(),
            }
        );
        let boundaries = parse(&with("size", json!(MAX_UPLOAD_BYTES.to_string()))).unwrap();
        assert_eq!(
            boundaries.size,
            i64::try_from(MAX_UPLOAD_BYTES).unwrap(),
            "the largest size, as a string"
        );
        assert_eq!(parse(&with("size", json!(1))).unwrap().size, 1);
        let hundred = "é".repeat(96) + ".txt";
        assert_eq!(
            parse(&with("filename", json!(hundred))).unwrap().filename,
            hundred,
            "100 characters, not bytes"
        );
    }

    #[test]
    fn every_field_is_required_and_reported_at_once() {
        let errors = errors_of(&json!({}));
        for field in [
            "project",
            "storage_key",
            "filename",
            "size",
            "content_type",
            "checksum",
        ] {
            assert_eq!(
                errors.get(field),
                Some(&["This field is required.".to_owned()][..]),
                "{field}"
            );
        }
    }

    /// Each case: the field, its bad value, and the one error it gets.
    #[track_caller]
    fn assert_refused(cases: &[(&str, Value, &str)]) {
        for (field, value, message) in cases {
            let errors = errors_of(&with(field, value.clone()));
            assert_eq!(
                errors.get(field),
                Some(&[(*message).to_owned()][..]),
                "{field} = {value}"
            );
            for other in Attachment::FIELDS {
                if other != field {
                    assert_eq!(
                        errors.get(other),
                        None,
                        "{field} = {value}: only its own error"
                    );
                }
            }
        }
    }

    #[test]
    fn a_project_is_a_primary_key() {
        assert_refused(&[
            (
                "project",
                json!("abc"),
                "Incorrect type. Expected pk value, received str.",
            ),
            ("project", json!(null), "This field may not be null."),
        ]);
    }

    #[test]
    fn a_storage_key_has_exactly_the_edges_shape() {
        assert_refused(&[
            ("storage_key", json!(""), "This field may not be blank."),
            (
                "storage_key",
                json!("attachments/2025/06/0123456789ABCDEF0123456789abcdef"),
                BAD_STORAGE_KEY,
            ),
            (
                "storage_key",
                json!("attachments/2025/06/0123456789abcdef0123456789abcde"),
                BAD_STORAGE_KEY,
            ),
            (
                "storage_key",
                json!("attachments/2025/06/0123456789abcdef0123456789abcdef0"),
                BAD_STORAGE_KEY,
            ),
            (
                "storage_key",
                json!("attachments/2025/13/0123456789abcdef0123456789abcdef"),
                BAD_STORAGE_KEY,
            ),
            (
                "storage_key",
                json!("attachments/2025/6/0123456789abcdef0123456789abcdef"),
                BAD_STORAGE_KEY,
            ),
            (
                "storage_key",
                json!("attachments/25/06/0123456789abcdef0123456789abcdef"),
                BAD_STORAGE_KEY,
            ),
            (
                "storage_key",
                json!("attachments/2025/06/x/0123456789abcdef0123456789abcdef"),
                BAD_STORAGE_KEY,
            ),
            (
                "storage_key",
                json!("other/2025/06/0123456789abcdef0123456789abcdef"),
                BAD_STORAGE_KEY,
            ),
            ("storage_key", json!(format!(" {KEY}")), BAD_STORAGE_KEY),
            ("storage_key", json!(format!("{KEY}/")), BAD_STORAGE_KEY),
        ]);
    }

    #[test]
    fn a_filename_is_short_printable_and_has_no_separators() {
        assert_refused(&[
            ("filename", json!(""), "This field may not be blank."),
            ("filename", json!("   "), "This field may not be blank."),
            ("filename", json!("a/b.txt"), BAD_FILENAME),
            ("filename", json!("..\\b.txt"), BAD_FILENAME),
            ("filename", json!("a\nb.txt"), BAD_FILENAME),
            ("filename", json!("a\u{7f}b.txt"), BAD_FILENAME),
            ("filename", json!("a\u{85}b.txt"), BAD_FILENAME),
            (
                "filename",
                json!("a\u{0}b"),
                "Null characters are not allowed.",
            ),
            (
                "filename",
                json!("x".repeat(101)),
                "Ensure this filename has at most 100 characters (it has 101).",
            ),
        ]);
    }

    #[test]
    fn a_size_is_a_whole_number_of_bytes_up_to_the_upload_limit() {
        assert_refused(&[
            (
                "size",
                json!(0),
                "Ensure this value is greater than or equal to 1.",
            ),
            (
                "size",
                json!(-5),
                "Ensure this value is greater than or equal to 1.",
            ),
            (
                "size",
                json!(MAX_UPLOAD_BYTES + 1),
                "Ensure this value is less than or equal to 104857600.",
            ),
            (
                "size",
                json!(u64::MAX),
                "Ensure this value is less than or equal to 104857600.",
            ),
            ("size", json!(1.5), "A valid integer is required."),
            ("size", json!("ten"), "A valid integer is required."),
            ("size", json!(true), "A valid integer is required."),
            ("size", json!(null), "This field may not be null."),
        ]);
    }

    #[test]
    fn a_content_type_and_a_checksum_are_checked() {
        assert_refused(&[
            ("content_type", json!(""), "This field may not be blank."),
            (
                "content_type",
                json!("x".repeat(101)),
                "Ensure this field has no more than 100 characters.",
            ),
            (
                "content_type",
                json!("text/plain\r\nx-evil: 1"),
                BAD_CONTENT_TYPE,
            ),
            ("content_type", json!("tëxt/plain"), BAD_CONTENT_TYPE),
            ("checksum", json!(SUM.to_uppercase()), BAD_CHECKSUM),
            ("checksum", json!(&SUM[1..]), BAD_CHECKSUM),
            ("checksum", json!(format!("{SUM}0")), BAD_CHECKSUM),
            ("checksum", json!(format!("{}g", &SUM[1..])), BAD_CHECKSUM),
            ("checksum", json!(["a"]), "Not a valid string."),
        ]);
    }

    #[test]
    fn two_problems_with_a_filename_are_both_reported() {
        let errors = errors_of(&with("filename", json!("/".repeat(101))));
        assert_eq!(
            errors.get("filename").map(<[String]>::len),
            Some(2),
            "{errors:?}"
        );
    }

    #[test]
    fn the_field_list_is_the_serialized_order() {
        let attachment = Attachment {
            id: AttachmentId::new(1),
            project: ProjectId::new(2),
            storage_key: KEY.into(),
            filename: "a.txt".into(),
            size: 3,
            content_type: "text/plain".into(),
            checksum: SUM.into(),
            created_at: "2025-01-01T00:00:00.000000Z".into(),
        };
        let json = serde_json::to_value(attachment).unwrap();
        let names: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names, Attachment::FIELDS);
    }

    #[test]
    fn storage_keys_have_one_shape() {
        assert!(is_storage_key(KEY));
        assert!(is_storage_key(
            "attachments/1999/12/ffffffffffffffffffffffffffffffff"
        ));
        for bad in [
            "",
            "attachments/",
            "attachments/2025/00/0123456789abcdef0123456789abcdef",
            "attachments/20x5/01/0123456789abcdef0123456789abcdef",
            "attachments/2025/01/0123456789abcdef0123456789abcdeg",
            "Attachments/2025/01/0123456789abcdef0123456789abcdef",
            "attachments//2025/01/0123456789abcdef0123456789abcdef",
        ] {
            assert!(!is_storage_key(bad), "{bad:?}");
        }
    }
}
