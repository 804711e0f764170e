//! Attachments: the upload (`multipart/form-data`, streamed by the edge into R2), the owner's
//! list and detail, the deletion, and the download by signed URL (`edge/src/attachments/`).

use domain::files::kind::{self, KindError};
use domain::files::name::{MAX_FILENAME_CHARS, NameError};
use domain::input::messages;
use domain::limits::DEFAULT_UPLOAD_BYTES;
use domain::multipart::{MultipartLimits, MultipartStream};
use domain::query::filters::INVALID_CHOICE;
use domain::{ApiError, FieldErrors};
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr, Schema};

use super::{AnswerHeader, Body, Media, Origin, Query, Shape, Spec, Success, Tag};
use crate::examples::{self, refusal};
use crate::parameters::{IF_NONE_MATCH, IF_RANGE, RANGE};
use crate::schemas::{self, requests};

/// The messages the upload's handler (`edge/src/attachments/upload.rs`) spells itself, for the
/// `file` field; the tests hold each to that file.
pub const NO_FILE: &str = "No file was submitted.";
pub const NOT_A_FILE: &str =
    "The submitted data was not a file. Check the encoding type on the form.";
pub const ONE_FILE: &str = "Only one file may be uploaded at a time.";

fn file_error(message: impl Into<String>) -> ApiError {
    ApiError::Validation(FieldErrors::single("file", message))
}

pub(super) fn list_attachments() -> Spec {
    let ok = Success::ok(
        "A page of the attachments of your projects, each with a fresh download URL.",
        schemas::PAGINATED_ATTACHMENTS,
        examples::page_of(&examples::attachment()),
    );
    let unknown_project = ApiError::Validation(FieldErrors::single("project", INVALID_CHOICE));
    Spec::new("v1_attachments_list", Tag::V1, "List your attachments", ok)
        .describe("`project` names one of your projects (someone else's gives an empty list).")
        .paginated(Query::Attachments)
        .invalid(
            "`project` is not the id of an existing project.",
            &unknown_project,
        )
}

/// The file types an upload's file part may declare: the accepted kinds', and
/// `application/octet-stream` (which leaves the kind to the name and the content).
fn declarable_types() -> Vec<&'static str> {
    kind::ALLOWED
        .iter()
        .map(|kind| kind.content_type)
        .chain(["application/octet-stream"])
        .collect()
}

/// 400 for what the form holds: its fields, its file, its shape.
fn form_refusals(spec: Spec) -> Spec {
    let missing = {
        let mut errors = FieldErrors::single("project", messages::REQUIRED);
        errors.add("file", NO_FILE);
        ApiError::Validation(errors)
    };
    let malformed = refusal(
        MultipartStream::new("multipart/form-data", MultipartLimits::default())
            .map_err(ApiError::from),
    );
    let too_long = NameError::TooLong {
        chars: MAX_FILENAME_CHARS + 20,
    };
    spec.invalid("`project` or `file` is missing.", &missing)
        .refuses_with(
            "project_type",
            "`project` is not a positive integer.",
            &ApiError::Validation(FieldErrors::single(
                "project",
                messages::incorrect_pk_type("str"),
            )),
        )
        .refuses_with(
            "unsupported_type",
            "The file's extension is none of the accepted kinds'.",
            &file_error(KindError::Unsupported.message()),
        )
        .refuses_with(
            "content_mismatch",
            "The file's declared type or its first bytes are not what its extension says.",
            &file_error(KindError::Mismatch.message()),
        )
        .refuses_with(
            "empty",
            "The file has no bytes.",
            &file_error(KindError::Empty.message()),
        )
        .refuses_with(
            "filename",
            format!(
                "The file's name is over {MAX_FILENAME_CHARS} characters, or nothing is left \
                 of it once made safe."
            ),
            &file_error(too_long.message()),
        )
        .refuses_with(
            "not_a_file",
            "`file` is a plain field (a part without a file name).",
            &file_error(NOT_A_FILE),
        )
        .refuses_with(
            "two_files",
            "The form has more than one `file` part.",
            &file_error(ONE_FILE),
        )
        .refuses_with(
            "malformed",
            "The body is not a well-formed multipart form (its boundary, its delimiters, a \
             part's headers, or too many parts).",
            &malformed,
        )
}

pub(super) fn create_attachment() -> Spec {
    let created = Success::json(
        201,
        "The attachment, its file stored.",
        schemas::ATTACHMENT,
        examples::attachment(),
    );
    let spec = Spec::new("v1_attachments_create", Tag::V1, "Upload a file", created)
        .follows(&[
            ("GetAttachment", "v1_attachments_retrieve"),
            ("DeleteAttachment", "v1_attachments_destroy"),
        ])
        .describe(format!(
            "`multipart/form-data` only, with `project` and one `file`. Accepted: {}. The file \
             is streamed into storage as it arrives and checked on the way: a file over the \
             limit is refused the moment it passes it, and a refused upload leaves nothing \
             stored. `project` must be one of yours: someone else's and one that does not \
             exist are both 404.",
            requests::accepted_kinds()
        ))
        .body(Body::upload(
            requests::ATTACHMENT,
            requests::ATTACHMENT_FILE,
            declarable_types(),
        ));
    form_refusals(spec)
        .refuses_with(
            "foreign_project",
            "`project` is not one of yours (someone else's and a missing one alike).",
            &ApiError::NotFound(Some("Project")),
        )
        .refuses_with(
            "too_large",
            format!(
                "The file is over the upload limit ({} MiB by default, `UPLOAD_MAX_BYTES`; the \
                 body's `errors.detail` names it in bytes): refused by its `Content-Length`, \
                 or when the stream passes the limit.",
                DEFAULT_UPLOAD_BYTES / (1024 * 1024)
            ),
            &ApiError::PayloadTooLarge {
                limit: DEFAULT_UPLOAD_BYTES,
            },
        )
        .refuses_with(
            "unsupported",
            "The body is not `multipart/form-data` (JSON and url-encoded forms cannot carry a \
             file).",
            &ApiError::UnsupportedMediaType("application/json".to_owned()),
        )
        .origin(Origin::Idempotent)
}

pub(super) fn show_attachment() -> Spec {
    let ok = Success::ok(
        "The attachment, with a fresh download URL.",
        schemas::ATTACHMENT,
        examples::attachment(),
    );
    Spec::new("v1_attachments_retrieve", Tag::V1, "An attachment", ok).not_found("Attachment")
}

pub(super) fn delete_attachment() -> Spec {
    Spec::new(
        "v1_attachments_destroy",
        Tag::V1,
        "Delete an attachment",
        Success::no_content("The attachment is gone; its download URLs no longer work."),
    )
    .not_found("Attachment")
    .origin(Origin::Idempotent)
}

fn binary() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
        .into()
}

fn text() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).into()
}

fn entity_tag() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^\"[0-9a-f]{64}\"$"))
        .into()
}

fn accept_ranges() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["bytes"]))
        .into()
}

fn content_range() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^bytes [0-9]+-[0-9]+/[0-9]+$"))
        .into()
}

fn unsatisfied_range() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^bytes \\*/[0-9]+$"))
        .into()
}

/// What every answer about the file carries, its bytes or not (200, 206, 304).
fn file_headers() -> Vec<AnswerHeader> {
    vec![
        AnswerHeader::required(
            "ETag",
            "The file's entity tag: its SHA-256 (`checksum`), quoted.",
            Shape::Inline(entity_tag),
        ),
        AnswerHeader::required(
            "Accept-Ranges",
            "A single byte range may be asked for (`Range`).",
            Shape::Inline(accept_ranges),
        ),
        AnswerHeader::required(
            "Content-Disposition",
            "Always `attachment`, so that a browser saves the file rather than shows it: \
             `attachment; filename=\"…\"; filename*=UTF-8''…` (an ASCII fallback, then the exact \
             name).",
            Shape::Inline(text),
        ),
        AnswerHeader::required(
            "Cache-Control",
            "`private, max-age=N`: the browser that asked may keep the file until the link \
             expires.",
            Shape::Inline(text),
        ),
        AnswerHeader::required(
            "Content-Security-Policy",
            "`default-src 'none'; sandbox`: nothing in the file may run, even were a browser to \
             render it.",
            Shape::Inline(text),
        ),
    ]
}

/// The file's bytes, in whichever of the accepted kinds' types it was stored as.
fn file_media() -> Vec<Media> {
    kind::ALLOWED
        .iter()
        .map(|kind| kind.content_type)
        .chain(["application/octet-stream"])
        .map(|content_type| Media {
            content_type,
            schema: Shape::Inline(binary),
            example: None,
        })
        .collect()
}

fn file_answer(status: u16, description: &'static str, media: Vec<Media>) -> Success {
    Success {
        status,
        description,
        media,
        follows: Vec::new(),
        headers: file_headers(),
    }
}

pub(super) fn download() -> Spec {
    let whole = file_answer(
        200,
        "The file. `Content-Type` is the attachment's `content_type`.",
        file_media(),
    );
    let mut part = file_answer(
        206,
        "The range asked for, of the file's bytes.",
        file_media(),
    );
    part.headers.push(AnswerHeader::required(
        "Content-Range",
        "Which bytes these are, of how many: `bytes 0-99/48213`.",
        Shape::Inline(content_range),
    ));
    let unchanged = file_answer(
        304,
        "`If-None-Match` names the file's `ETag`: the copy the client holds is current.",
        Vec::new(),
    );
    let example_url = examples::download_url();
    Spec::new("media_retrieve", Tag::Media, "Download a file", whole)
        .describe(format!(
            "The URL is an attachment's `file` (for example `{example_url}`), to be used as it is: \
             it needs no bearer token, so a browser, an `<img>` or a download manager can fetch \
             it, and it works until `expires`. Anything wrong with it (expired, altered, \
             another file's name, an attachment since deleted, another query parameter) is the \
             same 404. `HEAD` answers the same without the bytes."
        ))
        .query(Query::Download)
        .header(RANGE)
        .header(IF_RANGE)
        .header(IF_NONE_MATCH)
        .answers(part)
        .answers(unchanged)
        .refuses_with(
            "not_found",
            "The link does not open a file: expired, altered or incomplete, or its attachment \
             is gone.",
            &ApiError::NotFound(None),
        )
        .refuses_with(
            "range_not_satisfiable",
            "`Range` starts at or past the end of the file.",
            &ApiError::RangeNotSatisfiable { size: 48_213 },
        )
        .refusal_header(
            416,
            AnswerHeader::required(
                "Content-Range",
                "The file's size: `bytes */48213`.",
                Shape::Inline(unsatisfied_range),
            ),
        )
}
