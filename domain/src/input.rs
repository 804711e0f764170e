//! Request bodies become typed values here, once, with DRF's messages for every way they can be
//! wrong. Handlers call [`JsonBody::parse`] and then read fields through [`Fields`], which
//! collects every field's problems so a client sees all of them in one 400.

use std::num::IntErrorKind;

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};
use crate::limits::MAX_JSON_BODY_BYTES;
use crate::multipart;
use crate::query::Date;
use crate::query::params::form_pairs;

/// DRF's messages, in one place so both sides spell them the same.
pub mod messages {
    pub const REQUIRED: &str = "This field is required.";
    pub const NULL: &str = "This field may not be null.";
    pub const BLANK: &str = "This field may not be blank.";
    pub const NOT_A_STRING: &str = "Not a valid string.";
    /// Django's `ProhibitNullCharactersValidator`: Postgres text cannot hold NUL.
    pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";
    pub const NOT_A_BOOLEAN: &str = "Must be a valid boolean.";
    pub const INVALID_EMAIL: &str = "Enter a valid email address.";
    pub const DATE_FORMAT: &str =
        "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.";

    pub fn incorrect_pk_type(python_type: &str) -> String {
        format!("Incorrect type. Expected pk value, received {python_type}.")
    }

    /// DRF's `PrimaryKeyRelatedField` for an id that names no object the caller may use.
    pub fn pk_does_not_exist(pk: impl std::fmt::Display) -> String {
        format!("Invalid pk \"{pk}\" - object does not exist.")
    }

    pub fn max_length(limit: usize) -> String {
        format!("Ensure this field has no more than {limit} characters.")
    }
}

/// A request body that parsed as a JSON object, or a flat form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonBody {
    fields: Map<String, Value>,
    /// A form (url-encoded or multipart): DRF reads it with its HTML input rules, where an
    /// empty value of a nullable field is null.
    form: bool,
}

impl JsonBody {
    /// Parses a body by its `Content-Type`, as DRF's default parsers would: JSON, a url-encoded
    /// form or a multipart form (every value a string). An empty body is an empty object, so
    /// the fields report "required" rather than the body "malformed".
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, ApiError> {
        if body.len() > MAX_JSON_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_JSON_BODY_BYTES,
            });
        }
        if body.is_empty() {
            return Ok(Self::default());
        }
        let media_type = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media_type.as_str() {
            "application/json" => Self::from_json(body),
            "application/x-www-form-urlencoded" => {
                Ok(Self::from_form(form_pairs(&String::from_utf8_lossy(body))))
            }
            "multipart/form-data" => multipart::text_fields(content_type.unwrap_or(""), body)
                .map(Self::from_form)
                .map_err(ApiError::MalformedMultipart),
            _ => Err(ApiError::UnsupportedMediaType(
                content_type.unwrap_or("").to_owned(),
            )),
        }
    }

    fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        match value {
            Value::Object(fields) => Ok(Self {
                fields,
                form: false,
            }),
            other => Err(ApiError::Validation(FieldErrors::single(
                "non_field_errors",
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    python_type_name(&other)
                ),
            ))),
        }
    }

    /// A form's fields; like Django's `QueryDict.get`, the last value of a repeated name wins.
    fn from_form(pairs: Vec<(String, String)>) -> Self {
        Self {
            fields: pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
            form: true,
        }
    }

    /// Starts reading fields; problems accumulate in the returned reader.
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            body: self,
            errors: FieldErrors::new(),
        }
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }
}

/// 2^63: the first whole number, either way, that an `i64` cannot hold.
const BEYOND_I64: f64 = 9_223_372_036_854_775_808.0;

/// A JSON integer outside `i64`: above it (`u64`), or so large that it was read as a float
/// with no fraction.
fn is_integer_beyond_i64(n: &serde_json::Number) -> bool {
    n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.fract() == 0.0 && f.abs() >= BEYOND_I64)
}

/// Python's `int()` of a float: its whole part, `None` when that is beyond an `i64` (Python's
/// ints have no end; no id or count of ours is that large).
#[expect(
    clippy::cast_possible_truncation,
    reason = "the range is checked first, and truncation is what int() does"
)]
pub(crate) fn python_int(f: f64) -> Option<i64> {
    let whole = f.trunc();
    (whole.is_finite() && whole.abs() < BEYOND_I64).then_some(whole as i64)
}

pub(crate) fn python_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// How a string field is read: DRF's `CharField` options.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub required: bool,
    pub allow_blank: bool,
    pub max_chars: usize,
    /// DRF trims surrounding whitespace by default.
    pub trim: bool,
}

impl Text {
    /// A required, non-blank, trimmed string of at most `max_chars`.
    pub const fn required(max_chars: usize) -> Self {
        Self {
            required: true,
            allow_blank: false,
            max_chars,
            trim: true,
        }
    }
}

/// Reads fields from a body, collecting every problem.
#[derive(Debug)]
pub struct Fields<'a> {
    body: &'a JsonBody,
    errors: FieldErrors,
}

impl Fields<'_> {
    /// A string field. `None` when absent (and not required) or invalid; the problem is
    /// recorded.
    pub fn text(&mut self, field: &str, rules: Text) -> Option<String> {
        let raw = match self.body.get(field) {
            None => {
                if rules.required {
                    self.errors.add(field, messages::REQUIRED);
                }
                return None;
            }
            Some(Value::Null) => {
                self.errors.add(field, messages::NULL);
                return None;
            }
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => {
                self.errors.add(field, messages::NOT_A_STRING);
                return None;
            }
        };
        let value = if rules.trim {
            raw.trim().to_owned()
        } else {
            raw
        };
        if value.is_empty() && !rules.allow_blank {
            self.errors.add(field, messages::BLANK);
            return None;
        }
        // DRF runs every validator of a `CharField` and reports each failure, in this order.
        let mut valid = true;
        if value.chars().count() > rules.max_chars {
            self.errors
                .add(field, messages::max_length(rules.max_chars));
            valid = false;
        }
        if value.contains('\0') {
            self.errors.add(field, messages::NULL_CHARACTERS);
            valid = false;
        }
        valid.then_some(value)
    }

    /// DRF's `BooleanField`: its exact true/false spellings, nothing else. Never required.
    pub fn boolean(&mut self, field: &str) -> Option<bool> {
        const TRUE: &[&str] = &[
            "t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1",
        ];
        const FALSE: &[&str] = &[
            "f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
            "0",
        ];
        let value = match self.body.get(field)? {
            Value::Null => {
                self.errors.add(field, messages::NULL);
                return None;
            }
            Value::Bool(b) => Some(*b),
            Value::Number(n) if n.as_f64() == Some(1.0) => Some(true),
            Value::Number(n) if n.as_f64() == Some(0.0) => Some(false),
            Value::String(s) if TRUE.contains(&s.as_str()) => Some(true),
            Value::String(s) if FALSE.contains(&s.as_str()) => Some(false),
            _ => None,
        };
        if value.is_none() {
            self.errors.add(field, messages::NOT_A_BOOLEAN);
        }
        value
    }

    /// DRF's `DateField(allow_null=True)`: `Some(None)` for an explicit null. Never required.
    pub fn nullable_date(&mut self, field: &str) -> Option<Option<Date>> {
        match self.body.get(field)? {
            Value::Null => Some(None),
            // DRF's HTML input rule: an empty form value of a nullable field is null.
            Value::String(s) if self.body.form && s.is_empty() => Some(None),
            Value::String(s) => {
                let date = Date::parse(s.trim());
                if date.is_none() {
                    self.errors.add(field, messages::DATE_FORMAT);
                }
                date.map(Some)
            }
            _ => {
                self.errors.add(field, messages::DATE_FORMAT);
                None
            }
        }
    }

    /// DRF's `PrimaryKeyRelatedField`: an integer, a float (truncated, as Django's lookup
    /// does), or a string of digits. Whether the object
    /// exists (and is the caller's) is for the caller to check, except for an integer beyond
    /// any id: Django looks it up all the same and finds nothing, so DRF answers "does not
    /// exist" with the value as sent, not "incorrect type".
    pub fn primary_key(&mut self, field: &str, required: bool) -> Option<i64> {
        let Some(value) = self.body.get(field) else {
            if required {
                self.errors.add(field, messages::REQUIRED);
            }
            return None;
        };
        let id = match value {
            Value::Null => {
                self.errors.add(field, messages::NULL);
                return None;
            }
            Value::Number(n) => match n.as_i64() {
                Some(id) => Some(id),
                None if is_integer_beyond_i64(n) => {
                    self.errors.add(field, messages::pk_does_not_exist(n));
                    return None;
                }
                // Django's lookup takes `int()` of a float, so DRF finds object 1 for 1.0 and
                // for 1.5 alike (an unknown one is reported by its id, where DRF quotes the
                // float as sent).
                None => n.as_f64().and_then(python_int),
            },
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(id) => Some(id),
                Err(e)
                    if matches!(
                        e.kind(),
                        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow
                    ) =>
                {
                    self.errors.add(field, messages::pk_does_not_exist(s));
                    return None;
                }
                Err(_) => None,
            },
            _ => None,
        };
        if id.is_none() {
            self.errors
                .add(field, messages::incorrect_pk_type(python_type_name(value)));
        }
        id
    }

    /// Records a problem found by the caller's own check.
    pub fn reject(&mut self, field: &str, message: impl Into<String>) {
        self.errors.add(field, message);
    }

    pub fn has_error(&self, field: &str) -> bool {
        self.errors.get(field).is_some()
    }

    /// What was recorded, for a caller that reads more (a nested list) before finishing.
    pub fn into_errors(self) -> FieldErrors {
        self.errors
    }

    /// `Ok(value)` when every field read cleanly.
    pub fn finish<T>(self, value: T) -> Result<T, ApiError> {
        self.errors.into_result(value)
    }

    /// Like [`Fields::finish`], for when the value can only be built once every field is
    /// known to be present.
    pub fn finish_with<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if self.errors.is_empty() {
            build().ok_or(ApiError::Internal)
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    #[track_caller]
    fn field_errors(result: Result<JsonBody, ApiError>) -> FieldErrors {
        match result {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_body_is_an_empty_object() {
        assert_eq!(JsonBody::parse(None, b"").unwrap(), JsonBody::default());
    }

    #[test]
    fn malformed_json_is_a_parse_error() {
        let error = JsonBody::parse(JSON, b"{\"a\":").unwrap_err();
        assert!(matches!(error, ApiError::MalformedJson(_)), "{error:?}");
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn a_list_is_not_a_dictionary() {
        let errors = field_errors(JsonBody::parse(JSON, b"[1]"));
        assert_eq!(
            errors.get("non_field_errors"),
            Some(&["Invalid data. Expected a dictionary, but got list.".to_owned()][..])
        );
    }

    #[test]
    fn other_content_types_are_unsupported() {
        let error = JsonBody::parse(Some("text/plain"), b"hi").unwrap_err();
        assert_eq!(error.status(), 415);
    }

    #[test]
    fn oversized_bodies_are_refused_before_parsing() {
        let body = vec![b' '; MAX_JSON_BODY_BYTES + 1];
        assert_eq!(JsonBody::parse(JSON, &body).unwrap_err().status(), 413);
    }

    #[test]
    fn forms_are_read_as_strings() {
        let body = JsonBody::parse(
            Some("application/x-www-form-urlencoded"),
            b"username=a+b&password=p%40ss",
        )
        .unwrap();
        let mut fields = body.fields();
        assert_eq!(
            fields.text("username", Text::required(10)).as_deref(),
            Some("a b")
        );
        assert_eq!(
            fields.text("password", Text::required(10)).as_deref(),
            Some("p@ss")
        );
    }

    #[test]
    fn text_fields_report_drf_messages() {
        let cases: &[(&str, &str)] = &[
            (r"{}", messages::REQUIRED),
            (r#"{"f": null}"#, messages::NULL),
            (r#"{"f": "  "}"#, messages::BLANK),
            (r#"{"f": true}"#, messages::NOT_A_STRING),
            (r#"{"f": [1]}"#, messages::NOT_A_STRING),
            (
                r#"{"f": "abcdef"}"#,
                "Ensure this field has no more than 5 characters.",
            ),
        ];
        for (body, expected) in cases {
            let body = JsonBody::parse(JSON, body.as_bytes()).unwrap();
            let mut fields = body.fields();
            assert_eq!(fields.text("f", Text::required(5)), None, "{body:?}");
            let errors = fields.finish(()).unwrap_err();
            assert_eq!(
                errors,
                ApiError::Validation(FieldErrors::single("f", *expected)),
                "body {body:?}"
            );
        }
    }

    #[test]
    fn numbers_are_accepted_as_text_and_whitespace_is_trimmed() {
        let body = JsonBody::parse(JSON, br#"{"a": 42, "b": "  x "}"#).unwrap();
        let mut fields = body.fields();
        assert_eq!(fields.text("a", Text::required(5)).as_deref(), Some("42"));
        assert_eq!(fields.text("b", Text::required(5)).as_deref(), Some("x"));
    }

    #[test]
    fn text_with_a_nul_character_is_refused_as_drf_refuses_it() {
        let body = JsonBody::parse(JSON, br#"{"a": "a\u0000b", "b": "\u0000xxxxxx"}"#).unwrap();
        let mut fields = body.fields();
        assert_eq!(fields.text("a", Text::required(10)), None);
        assert_eq!(fields.text("b", Text::required(5)), None);
        let Err(ApiError::Validation(errors)) = fields.finish(()) else {
            panic!("a NUL is a validation error")
        };
        assert_eq!(
            errors.get("a"),
            Some(&["Null characters are not allowed.".to_owned()][..])
        );
        assert_eq!(
            errors.get("b"),
            Some(
                &[
                    "Ensure this field has no more than 5 characters.".to_owned(),
                    "Null characters are not allowed.".to_owned()
                ][..]
            )
        );
    }
}
