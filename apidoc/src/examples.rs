//! Example values. What the API answers is built from domain values and serialized by serde, as
//! the services serialize them, so an example cannot show a field the API does not send; error
//! bodies are [`ApiError::envelope`]s of what the domain's parsers say of a bad input.

use domain::auth::{Claims, TokenKeys, TokenLifetimes, TokenPair, TokenSubject};
use domain::files::{key, signed};
use domain::ids::AttachmentId;
use domain::orders::{Currency, Order, OrderItem, OrderStatus, Product};
use domain::projects::{Attachment, Project, ProjectView, Task};
use domain::query::Date;
use domain::replication::UserReplica;
use domain::{ApiError, OrderId, ProductId, ProjectId, TaskId, UserId};
use serde::Serialize;
use serde_json::{Value, json};

/// The request id error examples carry.
pub const REQUEST_ID: &str = "5b0e3c1e9a8d4f27";

/// When the examples happen: 2026-03-01 09:30 UTC.
const NOW: i64 = 1_772_357_400;
const CREATED_AT: &str = "2026-03-01T09:30:00.000000Z";

fn value(of: impl Serialize) -> Value {
    serde_json::to_value(of).unwrap_or(Value::Null)
}

/// The body the API sends for `error`.
pub fn envelope(error: &ApiError) -> Value {
    error.envelope(REQUEST_ID)
}

/// The error of a parse the example expects to fail. A parse that succeeds has no refusal to
/// show; it becomes a 500 (the tests check every example's status).
pub fn refusal<T>(result: Result<T, ApiError>) -> ApiError {
    result.err().unwrap_or(ApiError::Internal)
}

fn user_id() -> UserId {
    UserId::new(1)
}

fn task_value() -> Task {
    Task {
        id: TaskId::new(12),
        project: ProjectId::new(3),
        title: "Write the API documentation".to_owned(),
        detail: "Paths, schemas and an example for each.".to_owned(),
        done: false,
        due_date: Date::from_ymd(2026, 3, 31),
        created_at: CREATED_AT.to_owned(),
    }
}

fn project_value() -> Project {
    Project {
        id: ProjectId::new(3),
        owner: user_id(),
        name: "Website relaunch".to_owned(),
        description: "The new site, its docs and its API.".to_owned(),
        is_archived: false,
        created_at: "2026-02-27T16:05:12.000000Z".to_owned(),
    }
}

pub fn task() -> Value {
    value(task_value())
}

/// A project with one task.
pub fn project() -> Value {
    value(ProjectView::new(project_value(), vec![task_value()]))
}

/// A project just created: no tasks yet.
pub fn new_project() -> Value {
    value(ProjectView::new(project_value(), Vec::new()))
}

/// A real pair, signed with an example key: the shape a client gets.
pub fn token_pair() -> Value {
    let keys = TokenKeys::from_secret(b"an example key, never a real one");
    let subject = TokenSubject {
        user_id: user_id(),
        username: "alice".to_owned(),
        is_staff: false,
    };
    let life = TokenLifetimes::default();
    let refresh = Claims::refresh_for(
        &subject,
        "6f1c7d2a9b3e4f5a8c0d1e2f3a4b5c6d".to_owned(),
        NOW,
        life,
    );
    let access = refresh.access_from("0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d".to_owned(), NOW, life);
    value(TokenPair {
        refresh: keys.encode(&refresh),
        access: keys.encode(&access),
    })
}

/// What registration answers.
pub fn registered() -> Value {
    json!({"id": 1, "username": "alice", "email": "alice@example.com"})
}

pub fn user() -> Value {
    value(UserReplica {
        id: user_id(),
        username: "alice".to_owned(),
        email: "alice@example.com".to_owned(),
        is_staff: false,
        date_joined: CREATED_AT.to_owned(),
    })
}

/// The examples' currency (`Currency::parse` of a literal code cannot fail).
fn usd() -> Option<Currency> {
    Currency::parse("usd")
}

fn product_value() -> Option<Product> {
    Some(Product {
        id: ProductId::new(2),
        name: "Mug".to_owned(),
        price_cents: 1_250,
        currency: usd()?,
        active: true,
    })
}

/// A product as the public list shows it: [`Product::PUBLIC_FIELDS`] only.
pub fn product() -> Value {
    let mut product = value(product_value());
    if let Some(fields) = product.as_object_mut() {
        fields.retain(|name, _| Product::PUBLIC_FIELDS.contains(&name.as_str()));
    }
    product
}

fn order_value() -> Option<Order> {
    let mug = product_value()?;
    Some(Order {
        id: OrderId::new(7),
        email: "alice@example.com".to_owned(),
        items: vec![OrderItem {
            product_id: mug.id,
            name: mug.name,
            quantity: 2,
            unit_price_cents: mug.price_cents,
            line_total_cents: 2 * mug.price_cents,
        }],
        total_cents: 2 * mug.price_cents,
        currency: mug.currency,
        status: OrderStatus::Pending,
        created_at: CREATED_AT.to_owned(),
    })
}

pub fn order() -> Value {
    order_value().map_or(Value::Null, |order| value(order.view()))
}

/// A guest's order as created: with its token, shown once.
pub fn created_order() -> Value {
    let mut order = order();
    order["order_token"] =
        json!("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    order
}

/// Where the examples' API is.
pub const BASE_URL: &str = "https://api.example.com";

/// The key the example download URLs are signed with.
const MEDIA_KEY: &[u8] = b"an example key, never a real one";

fn attachment_value() -> Attachment {
    Attachment {
        id: AttachmentId::new(5),
        project: ProjectId::new(3),
        storage_key: key::storage_key(
            2026,
            3,
            [
                0x5e, 0x0b, 0x4c, 0x1a, 0x9d, 0x2f, 0x47, 0x68, 0xa1, 0x3c, 0x8e, 0x52, 0x07, 0xd9,
                0xb6, 0x4f,
            ],
        ),
        filename: "Site map (v2).pdf".to_owned(),
        size: 48_213,
        content_type: "application/pdf".to_owned(),
        checksum: "9b74c9897bac770ffc029102a200c5de2a7f8e3cb8e3c4f1c2b5a8e4d6f0a1b2".to_owned(),
        created_at: CREATED_AT.to_owned(),
    }
}

/// An attachment's download URL, as its `file` shows it.
pub fn download_url() -> String {
    let stored = attachment_value();
    let expires = NOW + 3_600;
    format!(
        "{BASE_URL}{}",
        signed::signed_path(MEDIA_KEY, &stored.storage_key, &stored.filename, expires)
    )
}

/// An attachment as the edge shows it: `storage_key` replaced by the signed `file` URL, after
/// `project` (`edge::attachments::represent`).
pub fn attachment() -> Value {
    let Value::Object(stored) = value(attachment_value()) else {
        return Value::Null;
    };
    let mut shown = serde_json::Map::new();
    for (field, field_value) in stored {
        if field == crate::schemas::STORED_KEY {
            continue;
        }
        let then_file = field == "project";
        shown.insert(field, field_value);
        if then_file {
            shown.insert(crate::schemas::SHOWN_FILE.to_owned(), json!(download_url()));
        }
    }
    Value::Object(shown)
}

/// A first page holding one item.
pub fn page_of(item: &Value) -> Value {
    json!({"count": 1, "next": null, "previous": null, "results": [item]})
}

pub fn register_request() -> Value {
    json!({"username": "alice", "email": "alice@example.com", "password": "correct horse"})
}

pub fn login_request() -> Value {
    json!({"username": "alice", "password": "correct horse"})
}

pub fn refresh_request() -> Value {
    json!({"refresh": token_pair()["refresh"]})
}

pub fn verify_request() -> Value {
    json!({"token": token_pair()["access"]})
}

pub fn account_deletion_request() -> Value {
    json!({"password": "correct horse"})
}

pub fn project_request() -> Value {
    json!({"name": "Website relaunch", "description": "The new site, its docs and its API."})
}

pub fn task_request() -> Value {
    json!({
        "project": 3,
        "title": "Write the API documentation",
        "detail": "Paths, schemas and an example for each.",
        "done": false,
        "due_date": "2026-03-31",
    })
}

pub fn order_request() -> Value {
    json!({"email": "alice@example.com", "items": [{"product_id": 2, "quantity": 2}]})
}

pub fn payment_intent_request() -> Value {
    json!({"order_id": 7})
}
