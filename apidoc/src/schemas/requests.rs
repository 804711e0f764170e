//! The request bodies, as components of their own (drf-spectacular's `COMPONENT_SPLIT_REQUEST`):
//! what a client sends is not what it reads back (no `id`, no `created_at`, limits, passwords).
//!
//! The domain reads bodies field by field ([`domain::input::Fields`]) rather than into types,
//! so each body is described here beside its parser, with the parser's limits: the domain's
//! constants, read at build time. (They are built rather than derived: utoipa's attributes take
//! only literal numbers, and each `PATCH` body is its `PUT` body with nothing required.) The
//! tests hold every body to its parser: its example parses, and leaving out a required field
//! does not.

use domain::files::kind;
use domain::files::name::MAX_FILENAME_CHARS;
use domain::limits::{DEFAULT_UPLOAD_BYTES, MAX_PASSWORD_CHARS, MAX_TOKEN_CHARS};
use domain::orders::{EMAIL_MAX, MAX_ORDER_ITEMS, MAX_QUANTITY};
use domain::projects::{NAME_MAX, TEXT_MAX, TITLE_MAX};
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};

use super::component;

pub const REGISTER: &str = "RegisterRequest";
pub const TOKEN_OBTAIN: &str = "TokenObtainPairRequest";
pub const TOKEN_REFRESH: &str = "TokenRefreshRequest";
pub const TOKEN_VERIFY: &str = "TokenVerifyRequest";
pub const TOKEN_BLACKLIST: &str = "TokenBlacklistRequest";
pub const ACCOUNT_DELETION: &str = "AccountDeletionRequest";
pub const PROJECT: &str = "ProjectRequest";
pub const PATCHED_PROJECT: &str = "PatchedProjectRequest";
pub const TASK: &str = "TaskRequest";
pub const PATCHED_TASK: &str = "PatchedTaskRequest";
pub const ORDER: &str = "OrderRequest";
pub const ORDER_LINE: &str = "OrderItemRequest";
pub const PAYMENT_INTENT: &str = "PaymentIntentRequest";
/// An upload: `multipart/form-data` only, so no parser of JSON bodies reads it.
pub const ATTACHMENT: &str = "AttachmentRequest";
/// The upload's file part.
pub const ATTACHMENT_FILE: &str = "file";

pub use domain::auth::{PASSWORD_MIN, USERNAME_MAX};

/// Every request body, by component name.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        (REGISTER, register()),
        (TOKEN_OBTAIN, token_obtain()),
        (
            TOKEN_REFRESH,
            token_field("refresh", false, "A refresh token."),
        ),
        (
            TOKEN_VERIFY,
            token_field("token", true, "An access or refresh token."),
        ),
        (
            TOKEN_BLACKLIST,
            token_field("refresh", true, "The refresh token to blacklist."),
        ),
        (ACCOUNT_DELETION, account_deletion()),
        (PROJECT, project(false)),
        (PATCHED_PROJECT, project(true)),
        (TASK, task(false)),
        (PATCHED_TASK, task(true)),
        (ORDER, order()),
        (ORDER_LINE, order_line()),
        (PAYMENT_INTENT, payment_intent()),
        (ATTACHMENT, attachment()),
    ]
}

/// An object built field by field. A `partial` body (`PATCH`) requires nothing.
struct Body {
    object: ObjectBuilder,
    partial: bool,
}

impl Body {
    fn new(description: &str) -> Self {
        Self {
            object: ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(description)),
            partial: false,
        }
    }

    fn partial(self, partial: bool) -> Self {
        Self { partial, ..self }
    }

    /// A field the body must have (unless it is partial).
    fn required(self, name: &str, schema: impl Into<RefOr<Schema>>) -> Self {
        let object = self.object.property(name, schema);
        Self {
            object: if self.partial {
                object
            } else {
                object.required(name)
            },
            ..self
        }
    }

    fn optional(self, name: &str, schema: impl Into<RefOr<Schema>>) -> Self {
        Self {
            object: self.object.property(name, schema),
            ..self
        }
    }

    fn build(self) -> Schema {
        Schema::Object(self.object.build())
    }
}

/// A string of at most `max` characters (DRF trims it first); `min` 1 is "may not be blank".
fn text(min: usize, max: usize, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .description(Some(description))
}

/// A password or token: sent, never shown back.
fn secret(min: usize, max: usize, description: &str) -> ObjectBuilder {
    text(min, max, description).write_only(true)
}

fn password(min: usize, description: &str) -> ObjectBuilder {
    secret(min, MAX_PASSWORD_CHARS, description)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
}

fn email(description: &str) -> ObjectBuilder {
    text(1, EMAIL_MAX, description).format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
}

/// An id (an integer, or a string of digits in a form): every id is positive.
fn id(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .description(Some(description))
}

fn username(description: &str) -> ObjectBuilder {
    text(1, USERNAME_MAX, description)
}

fn register() -> Schema {
    Body::new("A new account.")
        .required(
            "username",
            username("Letters, digits and `@.+-_` only.").pattern(Some("^[\\w.@+-]+$")),
        )
        .required("email", email("Where the welcome email goes."))
        .required(
            "password",
            password(
                PASSWORD_MIN,
                "Django's default rules: long enough, not entirely numeric, not too similar \
                 to the username or the email.",
            ),
        )
        .build()
}

fn token_obtain() -> Schema {
    Body::new("Credentials to exchange for a token pair.")
        .required("username", username("Your username.").write_only(true))
        .required("password", password(1, "Your password."))
        .build()
}

fn token_field(name: &str, write_only: bool, description: &str) -> Schema {
    let token = text(1, MAX_TOKEN_CHARS, description);
    Body::new("A token.")
        .required(
            name,
            if write_only {
                token.write_only(true)
            } else {
                token
            },
        )
        .build()
}

fn account_deletion() -> Schema {
    Body::new("Confirms an account's deletion.")
        .required("password", password(1, "The account's password."))
        .build()
}

fn project(partial: bool) -> Schema {
    let description = if partial {
        "Fields of a project to change; the others stay as they are."
    } else {
        "A project's fields. `owner`, `id` and the other read-only fields are ignored."
    };
    Body::new(description)
        .partial(partial)
        .required("name", text(1, NAME_MAX, "The project's name."))
        .optional("description", text(0, TEXT_MAX, "Free text; may be blank."))
        .build()
}

fn task(partial: bool) -> Schema {
    let description = if partial {
        "Fields of a task to change; the others stay as they are."
    } else {
        "A task's fields. `id` and `created_at` are ignored."
    };
    let due_date = ObjectBuilder::new()
        .schema_type(
            [Type::String, Type::Null]
                .into_iter()
                .collect::<utoipa::openapi::schema::SchemaType>(),
        )
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .description(Some(
            "`YYYY-MM-DD` (one-digit month and day are read too), or null; in a form, an empty \
             value is null.",
        ));
    Body::new(description)
        .partial(partial)
        .required("project", id("One of your projects."))
        .required("title", text(1, TITLE_MAX, "The task's title."))
        .optional("detail", text(0, TEXT_MAX, "Free text; may be blank."))
        .optional(
            "done",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .description(Some("`false` when left out of a new task.")),
        )
        .optional("due_date", due_date)
        .build()
}

fn order() -> Schema {
    let lines = ArrayBuilder::new()
        .items(component(ORDER_LINE))
        .min_items(Some(1))
        .max_items(Some(MAX_ORDER_ITEMS))
        .description(Some(
            "The lines, one per product (a product on two lines is refused).",
        ));
    Body::new("An order to place.")
        .required("email", email("Where the receipt goes."))
        .required("items", lines)
        .build()
}

fn order_line() -> Schema {
    let quantity = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_QUANTITY))
        .description(Some("Units of the product."));
    Body::new("One line of an order to place.")
        .required("product_id", id("A product on sale."))
        .required("quantity", quantity)
        .build()
}

fn payment_intent() -> Schema {
    Body::new("The order to pay for.")
        .required(
            "order_id",
            id("Your order (or the guest's, with its token)."),
        )
        .build()
}

/// The kinds of file an upload may be: `` `image/png` (`.png`) `` and so on.
pub fn accepted_kinds() -> String {
    let kinds: Vec<String> = kind::ALLOWED
        .iter()
        .map(|kind| {
            let extensions: Vec<String> = kind
                .extensions
                .iter()
                .map(|extension| format!("`.{extension}`"))
                .collect();
            format!("`{}` ({})", kind.content_type, extensions.join(", "))
        })
        .collect();
    kinds.join(", ")
}

fn attachment() -> Schema {
    let file = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
        .description(Some(format!(
            "The file: one part with a file name, not empty, at most {mib} MiB by default \
             (`UPLOAD_MAX_BYTES`). Its kind is one of {kinds}: its name's extension says \
             which, and its declared type (if any, `application/octet-stream` aside) and its \
             first bytes must agree. Its name is kept as its last path component, made safe, \
             at most {MAX_FILENAME_CHARS} characters.",
            mib = DEFAULT_UPLOAD_BYTES / (1024 * 1024),
            kinds = accepted_kinds(),
        )));
    Body::new("A file to attach to one of your projects.")
        .required("project", id("One of your projects."))
        .required(ATTACHMENT_FILE, file)
        .build()
}
