//! Answers the domain has no type for (the services write them as small JSON literals), the
//! paginated lists, and the error envelope.

use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::{RefOr, Schema};

use super::{ATTACHMENT, ORDER, PRODUCT, PROJECT, TASK, component};

pub const REGISTER: &str = "Register";
pub const EMPTY: &str = "Empty";
pub const ARCHIVED: &str = "ArchiveStatus";
pub const HEALTH: &str = "Health";
pub const READINESS: &str = "Readiness";
pub const PAYMENT_INTENT: &str = "PaymentIntent";
pub const WEBHOOK_RECEIPT: &str = "WebhookReceipt";
pub const CREATED_ORDER: &str = "CreatedOrder";
pub const ERROR: &str = "ErrorEnvelope";
pub const PAGINATED_PROJECTS: &str = "PaginatedProjectList";
pub const PAGINATED_TASKS: &str = "PaginatedTaskList";
pub const PAGINATED_PRODUCTS: &str = "PaginatedProductList";
pub const PAGINATED_ORDERS: &str = "PaginatedOrderList";
pub const PAGINATED_ATTACHMENTS: &str = "PaginatedAttachmentList";

/// Every reply shape, by component name.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        (REGISTER, register()),
        (EMPTY, empty()),
        (ARCHIVED, status("archived", "The project is archived.")),
        (HEALTH, status("ok", "The service is alive.")),
        (
            READINESS,
            status("ready", "The service and its dependencies answer."),
        ),
        (PAYMENT_INTENT, payment_intent()),
        (WEBHOOK_RECEIPT, webhook_receipt()),
        (CREATED_ORDER, created_order()),
        (ERROR, error_envelope()),
        (PAGINATED_PROJECTS, paginated(PROJECT)),
        (PAGINATED_TASKS, paginated(TASK)),
        (PAGINATED_PRODUCTS, paginated(PRODUCT)),
        (PAGINATED_ORDERS, paginated(ORDER)),
        (PAGINATED_ATTACHMENTS, paginated(ATTACHMENT)),
    ]
}

fn object(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn boolean() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Boolean)
}

fn register() -> Schema {
    object("The account just created.")
        .property(
            "id",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .read_only(true),
        )
        .required("id")
        .property("username", string())
        .required("username")
        .property(
            "email",
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Email))),
        )
        .required("email")
        .build()
        .into()
}

fn empty() -> Schema {
    object("An empty object: the request succeeded and there is nothing to say.")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
        .into()
}

/// `{"status": value}`.
fn status(value: &str, description: &str) -> Schema {
    object(description)
        .property("status", string().enum_values(Some([value])))
        .required("status")
        .build()
        .into()
}

fn payment_intent() -> Schema {
    object("What Stripe.js needs to confirm the payment.")
        .property(
            "client_secret",
            string().description(Some("The PaymentIntent's client secret.")),
        )
        .required("client_secret")
        .build()
        .into()
}

fn webhook_receipt() -> Schema {
    object("The event is stored.")
        .property("received", boolean())
        .required("received")
        .property(
            "duplicate",
            boolean().description(Some("Whether the event had been received before.")),
        )
        .required("duplicate")
        .build()
        .into()
}

fn created_order() -> Schema {
    let token = string().description(Some(
        "Guests only: the order's token, shown this once. Send it as `X-Order-Token` to read \
         or pay for the order.",
    ));
    AllOfBuilder::new()
        .item(component(ORDER))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("order_token", token),
        )
        .description(Some("An order just placed."))
        .build()
        .into()
}

/// DRF's page of results (`PageNumberPagination`).
fn paginated(item: &str) -> Schema {
    let link = |example: &str| {
        ObjectBuilder::new()
            .schema_type(
                [Type::String, Type::Null]
                    .into_iter()
                    .collect::<SchemaType>(),
            )
            .format(Some(SchemaFormat::Custom("uri".to_owned())))
            .examples([example])
    };
    object(&format!("A page of {item} results."))
        .property(
            "count",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .description(Some("How many results there are in all pages."))
                .examples([123]),
        )
        .required("count")
        .property(
            "next",
            link("http://api.example.org/accounts/?page=4").description(Some(
                "The next page, absolute, with the query kept; null on the last.",
            )),
        )
        .required("next")
        .property(
            "previous",
            link("http://api.example.org/accounts/?page=2")
                .description(Some("The previous page; null on the first.")),
        )
        .required("previous")
        .property("results", ArrayBuilder::new().items(component(item)))
        .required("results")
        .build()
        .into()
}

/// The envelope every error body wears (the seed's exception handler).
fn error_envelope() -> Schema {
    let errors = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .description(Some(
            "DRF's body. Validation errors map each field to its messages \
             (`non_field_errors` for the body as a whole; a list of objects reports per \
             element, `{}` for a valid one); other errors have `detail`, and some a `code`, \
             `messages` or `request_id`.",
        ));
    let status = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(400))
        .maximum(Some(599))
        .description(Some("The response's status code."));
    object("An error.")
        .property("status_code", status)
        .required("status_code")
        .property("errors", errors)
        .required("errors")
        .build()
        .into()
}

/// A reference for operations that answer with the envelope.
pub fn error() -> RefOr<Schema> {
    component(ERROR)
}
