//! The schemas: the domain's representations (named as DRF names them), the request bodies
//! ([`requests`]), the lists and small replies ([`replies`]).

pub mod replies;
pub mod requests;

use domain::auth::TokenPair;
use domain::files::kind;
use domain::orders::{Currency, OrderItem, OrderStatus, OrderView, Product};
use domain::projects::{Attachment, ProjectView, Task};
use domain::replication::UserReplica;
use utoipa::PartialSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Ref, RefOr, Schema};

pub const TASK: &str = "Task";
pub const PROJECT: &str = "Project";
pub const ATTACHMENT: &str = "Attachment";
pub const ORDER: &str = "Order";
pub const ORDER_ITEM: &str = "OrderItem";
pub const ORDER_STATUS: &str = "OrderStatus";
pub const CURRENCY: &str = "Currency";
pub const PRODUCT: &str = "Product";
pub const TOKEN_PAIR: &str = "TokenPair";
pub const USER: &str = "User";
pub use replies::{
    ARCHIVED, CREATED_ORDER, EMPTY, ERROR, HEALTH, PAGINATED_ATTACHMENTS, PAGINATED_ORDERS,
    PAGINATED_PRODUCTS, PAGINATED_PROJECTS, PAGINATED_TASKS, PAYMENT_INTENT, READINESS, REGISTER,
    WEBHOOK_RECEIPT,
};

/// A reference to the component `name`.
pub fn component(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

/// Every schema component, by name.
pub fn all() -> Vec<(&'static str, RefOr<Schema>)> {
    let domain = domain_schemas()
        .into_iter()
        .map(|(name, schema, description)| (name, described(schema, description)));
    let built = requests::all().into_iter().chain(replies::all());
    domain
        .chain(built.map(|(name, schema)| (name, RefOr::T(schema))))
        .collect()
}

/// The domain's representations: what the services serialize, described by the domain's own
/// derives. Names are DRF's (`Project` is the view with nested tasks), and so are the
/// descriptions a client reads, in place of the types' Rust docs.
fn domain_schemas() -> Vec<(&'static str, RefOr<Schema>, &'static str)> {
    vec![
        (TASK, Task::schema(), "A task of one of your projects."),
        (
            PROJECT,
            flattened(ProjectView::schema()),
            "A project, with its tasks nested and counted.",
        ),
        (
            ATTACHMENT,
            attachment(),
            "A file of one of your projects. `file` downloads it.",
        ),
        (
            ORDER,
            flattened(OrderView::schema()),
            "An order, its lines priced as they were when it was placed. `paid` follows from \
             `status`.",
        ),
        (
            ORDER_ITEM,
            OrderItem::schema(),
            "One line of an order: the product's name and price as they were when the order \
             was placed.",
        ),
        (
            ORDER_STATUS,
            OrderStatus::schema(),
            "Where an order stands. It only moves forward: `pending` to `paid`, or to \
             `payment_failed` and later `paid`; `paid` is final.",
        ),
        (
            CURRENCY,
            Currency::schema(),
            "A lower-case ISO 4217 code, as Stripe spells currencies.",
        ),
        (
            PRODUCT,
            Product::schema(),
            "A product on sale. Prices are integers in the currency's smallest unit.",
        ),
        (
            TOKEN_PAIR,
            TokenPair::schema(),
            "A refresh token and an access token (JWT, HS256).",
        ),
        (USER, UserReplica::schema(), "Your account."),
    ]
}

/// The stored field the edge replaces by [`SHOWN_FILE`] (`edge::attachments::represent`):
/// where the bytes are, never shown.
pub const STORED_KEY: &str = "storage_key";
/// The signed download URL, shown after `project` where DRF has `file`.
pub const SHOWN_FILE: &str = "file";

/// An attachment as the edge shows it: the domain's [`Attachment`] (its derive gives the types)
/// with `storage_key` replaced by `file`, after `project`, and the descriptions a client reads.
fn attachment() -> RefOr<Schema> {
    let stored = Attachment::schema();
    let RefOr::T(Schema::Object(stored)) = stored else {
        return stored;
    };
    let file: RefOr<Schema> = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uri".to_owned())))
        .description(Some(
            "The file's download URL: absolute, signed, and working for an hour by default \
             (`MEDIA_URL_TTL_SECS`; the same URL for a few minutes, so that caches keep \
             working). It needs no bearer token, and its path ends with the file's name. A \
             fresh one comes with every read of the attachment.",
        ))
        .into();
    let types: Vec<String> = kind::ALLOWED
        .iter()
        .map(|kind| format!("`{}`", kind.content_type))
        .collect();
    let description = |name: &str| match name {
        "filename" => Some(
            "The name it was uploaded under, made safe: its last path component, without \
             control characters, `\" ; < > : * ? |` replaced by `_`."
                .to_owned(),
        ),
        "size" => Some("Its size in bytes.".to_owned()),
        "content_type" => Some(format!(
            "What it is, and is served as: one of {}.",
            types.join(", ")
        )),
        "checksum" => Some("SHA-256 of its bytes, 64 lowercase hexadecimal digits.".to_owned()),
        _ => None,
    };
    let mut shown: Object = ObjectBuilder::new().schema_type(Type::Object).build();
    for (name, mut property) in stored.properties {
        if name == STORED_KEY {
            continue;
        }
        if let (RefOr::T(Schema::Object(object)), Some(text)) = (&mut property, description(&name))
        {
            object.description = Some(text);
            if name == "checksum" {
                object.pattern = Some("^[0-9a-f]{64}$".to_owned());
            }
        }
        let then_file = name == "project";
        shown.required.push(name.clone());
        shown.properties.insert(name, property);
        if then_file {
            shown.required.push(SHOWN_FILE.to_owned());
            shown.properties.insert(SHOWN_FILE.to_owned(), file.clone());
        }
    }
    RefOr::T(Schema::Object(shown))
}

/// The body Stripe posts: an event, signed over its raw bytes.
pub fn stripe_event() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A Stripe event (`id`, `type`, `data.object`, …) exactly as Stripe sent and signed it.",
        ))
        .into()
}

/// `schema` with the description a client should read.
fn described(schema: RefOr<Schema>, description: &str) -> RefOr<Schema> {
    let mut schema = schema;
    let text = Some(description.to_owned());
    match &mut schema {
        RefOr::T(Schema::Object(object)) => object.description = text,
        RefOr::T(Schema::AllOf(all_of)) => all_of.description = text,
        RefOr::T(Schema::OneOf(one_of)) => one_of.description = text,
        RefOr::T(Schema::AnyOf(any_of)) => any_of.description = text,
        RefOr::T(Schema::Array(array)) => array.description = text,
        RefOr::Ref(_) | RefOr::T(_) => {}
    }
    schema
}

/// One object from an `allOf` of inline objects, which is how utoipa renders serde's
/// `flatten` (a view adding fields to its resource): a client reads one flat object, and so
/// does the document. Anything else is left as it is.
fn flattened(schema: RefOr<Schema>) -> RefOr<Schema> {
    let RefOr::T(Schema::AllOf(all_of)) = &schema else {
        return schema;
    };
    let mut merged: Object = ObjectBuilder::new().schema_type(Type::Object).build();
    for part in &all_of.items {
        let RefOr::T(Schema::Object(part)) = part else {
            return schema;
        };
        for (name, property) in &part.properties {
            merged.properties.insert(name.clone(), property.clone());
        }
        merged.required.extend(part.required.iter().cloned());
    }
    RefOr::T(Schema::Object(merged))
}
