//! The vocabulary operations are described in: a [`Spec`] per operation, built fluently, with
//! its body, its success and its own refusals.

use domain::ApiError;
use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};

use crate::examples::envelope;
use crate::schemas::component;

/// How operations are grouped: DRF's tags (`token`, `v1`), and ours for what DRF lacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Token,
    V1,
    Media,
    Health,
    Webhooks,
    Schema,
}

impl Tag {
    /// In the order the document lists them (those its operations use).
    pub const ALL: &[Self] = &[
        Self::Token,
        Self::V1,
        Self::Media,
        Self::Health,
        Self::Webhooks,
        Self::Schema,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::V1 => "v1",
            Self::Media => "media",
            Self::Health => "health",
            Self::Webhooks => "webhooks",
            Self::Schema => "schema",
        }
    }

    pub const fn description(self) -> &'static str {
        match self {
            Self::Token => "JSON Web Tokens: obtain, refresh (with rotation), verify, blacklist.",
            Self::V1 => {
                "Accounts, projects, their tasks and attachments, the catalogue, orders and payments."
            }
            Self::Media => "Attachments' files, downloaded by the signed URLs the API hands out.",
            Self::Health => "Liveness and readiness probes.",
            Self::Webhooks => "Calls from third parties (Stripe), verified by their signature.",
            Self::Schema => "This document.",
        }
    }
}

/// The query parameters a list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    None,
    /// `page` and `page_size`.
    Pages,
    /// Pages, `search` and `ordering` over projects.
    Projects,
    /// Pages, `search`, `ordering` and the filters over tasks.
    Tasks,
    /// Pages, `ordering` and the `project` filter over attachments.
    Attachments,
    /// A download link's `expires` and `signature`.
    Download,
    /// The document's `format`.
    Format,
}

/// A schema an operation names: a component, or one built in place.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Component(&'static str),
    Inline(fn() -> RefOr<Schema>),
}

impl Shape {
    pub fn schema(self) -> RefOr<Schema> {
        match self {
            Self::Component(name) => component(name),
            Self::Inline(build) => build(),
        }
    }
}

/// The content types a request body comes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyMedia {
    /// JSON only (a body with a nested list cannot be a form; a webhook is JSON).
    Json,
    /// JSON, `application/x-www-form-urlencoded` or `multipart/form-data`: DRF's parsers,
    /// which every JSON route has too.
    JsonOrForms,
    /// `multipart/form-data` only: an upload, its `file` part carrying one of `content_types`.
    Upload {
        file: &'static str,
        content_types: Vec<&'static str>,
    },
}

/// A request body.
#[derive(Debug, Clone)]
pub struct Body {
    pub schema: Shape,
    pub media: BodyMedia,
    /// Whether a body must be sent: a `PATCH` may send none (and change nothing).
    pub required: bool,
    /// Given with JSON; none for an upload (its file is bytes).
    pub example: Option<Value>,
}

impl Body {
    /// A body in any of DRF's three content types.
    pub(super) fn form(component_name: &'static str, example: Value) -> Self {
        Self {
            schema: Shape::Component(component_name),
            media: BodyMedia::JsonOrForms,
            required: true,
            example: Some(example),
        }
    }

    /// A JSON body only.
    pub(super) fn json(component_name: &'static str, example: Value) -> Self {
        Self {
            media: BodyMedia::Json,
            ..Self::form(component_name, example)
        }
    }

    /// A `multipart/form-data` body whose part `file` is a file of one of `content_types`.
    pub(super) fn upload(
        component_name: &'static str,
        file: &'static str,
        content_types: Vec<&'static str>,
    ) -> Self {
        Self {
            schema: Shape::Component(component_name),
            media: BodyMedia::Upload {
                file,
                content_types,
            },
            required: true,
            example: None,
        }
    }

    pub(super) fn optional(self) -> Self {
        Self {
            required: false,
            ..self
        }
    }
}

/// A response header of one operation's (the shared ones are components of
/// [`crate::responses`]).
#[derive(Debug, Clone)]
pub struct AnswerHeader {
    pub name: &'static str,
    pub description: String,
    pub schema: Shape,
    /// Whether every answer of its status carries it.
    pub required: bool,
}

impl AnswerHeader {
    pub fn required(name: &'static str, description: impl Into<String>, schema: Shape) -> Self {
        Self {
            name,
            description: description.into(),
            schema,
            required: true,
        }
    }
}

/// One representation of a successful answer.
#[derive(Debug, Clone)]
pub struct Media {
    pub content_type: &'static str,
    pub schema: Shape,
    pub example: Option<Value>,
}

/// The answer when all goes well.
#[derive(Debug, Clone)]
pub struct Success {
    pub status: u16,
    pub description: &'static str,
    /// Empty for an answer without a body (204).
    pub media: Vec<Media>,
    /// The operations that take the `id` of the object in this answer as their own `{id}`:
    /// the answer's OpenAPI `links`, which a client generator and schemathesis's stateful phase
    /// follow (create a task, then read, change and delete that very task).
    pub follows: Vec<Follow>,
    /// Headers of its own (beside the rate limit's, which the row decides).
    pub headers: Vec<AnswerHeader>,
}

/// An OpenAPI link: the `{id}` of operation `operation_id` is `$response.body#/id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follow {
    /// The link's name in the answer's `links` (`GetTask`).
    pub name: &'static str,
    pub operation_id: &'static str,
}

impl Success {
    pub(super) fn json(
        status: u16,
        description: &'static str,
        component_name: &'static str,
        example: Value,
    ) -> Self {
        Self {
            status,
            description,
            media: vec![Media {
                content_type: "application/json",
                schema: Shape::Component(component_name),
                example: Some(example),
            }],
            follows: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub(super) fn ok(
        description: &'static str,
        component_name: &'static str,
        example: Value,
    ) -> Self {
        Self::json(200, description, component_name, example)
    }

    pub(super) fn no_content(description: &'static str) -> Self {
        Self {
            status: 204,
            description,
            media: Vec::new(),
            follows: Vec::new(),
            headers: Vec::new(),
        }
    }
}

/// One way a request can be refused, with an example body.
#[derive(Debug, Clone)]
pub struct Reason {
    /// The example's name.
    pub key: &'static str,
    pub summary: String,
    pub example: Value,
}

impl Reason {
    pub fn new(key: &'static str, summary: impl Into<String>, example: Value) -> Self {
        Self {
            key,
            summary: summary.into(),
            example,
        }
    }

    /// `error`'s status, and the reason with its body as the example.
    pub fn of(key: &'static str, summary: impl Into<String>, error: &ApiError) -> (u16, Self) {
        (error.status(), Self::new(key, summary, envelope(error)))
    }
}

/// An operation's own refusals of one status (the generic ones come from its row).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: u16,
    pub reasons: Vec<Reason>,
    /// Whether it carries `Retry-After` (every 429 and 503 the error path answers does).
    pub retry_after: bool,
    /// Other headers of its own (`Content-Range` of a 416).
    pub headers: Vec<AnswerHeader>,
}

impl Refusal {
    pub fn new(status: u16, reason: Reason) -> Self {
        Self {
            status,
            reasons: vec![reason],
            retry_after: matches!(status, 429 | 503),
            headers: Vec::new(),
        }
    }
}

/// Adds `reason` to the refusal of `status`, or starts it.
pub fn push(refusals: &mut Vec<Refusal>, status: u16, reason: Reason) {
    match refusals.iter_mut().find(|r| r.status == status) {
        Some(refusal) => refusal.reasons.push(reason),
        None => refusals.push(Refusal::new(status, reason)),
    }
}

/// Where a request is answered, and so what an `Idempotency-Key` does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// At the edge, from D1 (or from the token alone): no key is read.
    Edge,
    /// Forwarded; the origin stores the outcome under the key: a retry is replayed, the same
    /// key for another body is 422, a retry while the first runs is 409.
    Idempotent,
    /// Forwarded; the key is checked and passed on, but the operation is idempotent by itself
    /// (a payment intent is one per order whatever the retries).
    Forwarded,
    /// Forwarded as it came (Stripe's own calls): the key is not documented.
    Relayed,
}

impl Origin {
    pub const fn is_forwarded(self) -> bool {
        !matches!(self, Self::Edge)
    }

    /// Whether the operation documents the `Idempotency-Key` header.
    pub const fn takes_idempotency_key(self) -> bool {
        matches!(self, Self::Idempotent | Self::Forwarded)
    }
}

/// What one operation takes and answers, beyond its row.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: &'static str,
    pub tag: Tag,
    pub summary: &'static str,
    pub description: Option<String>,
    pub query: Query,
    /// Header parameters beyond `Idempotency-Key` (names of [`crate::parameters`]).
    pub headers: Vec<&'static str>,
    /// The kind of object a detail path's `{id}` names ("Task").
    pub resource: Option<&'static str>,
    pub body: Option<Body>,
    pub success: Success,
    /// Answers other than the success that are no refusal either (206, 304).
    pub also: Vec<Success>,
    pub refusals: Vec<Refusal>,
    pub origin: Origin,
}

impl Spec {
    pub(super) fn new(id: &'static str, tag: Tag, summary: &'static str, success: Success) -> Self {
        Self {
            id,
            tag,
            summary,
            description: None,
            query: Query::None,
            headers: Vec::new(),
            resource: None,
            body: None,
            success,
            also: Vec::new(),
            refusals: Vec::new(),
            origin: Origin::Edge,
        }
    }

    pub(super) fn describe(self, description: impl Into<String>) -> Self {
        Self {
            description: Some(description.into()),
            ..self
        }
    }

    pub(super) fn query(self, query: Query) -> Self {
        Self { query, ..self }
    }

    /// Links the answer's object to these `(name, operation id)` operations on it.
    pub(super) fn follows(mut self, links: &[(&'static str, &'static str)]) -> Self {
        self.success.follows = links
            .iter()
            .map(|&(name, operation_id)| Follow { name, operation_id })
            .collect();
        self
    }

    pub(super) fn header(mut self, name: &'static str) -> Self {
        self.headers.push(name);
        self
    }

    pub(super) fn body(self, body: Body) -> Self {
        Self {
            body: Some(body),
            ..self
        }
    }

    pub(super) fn origin(self, origin: Origin) -> Self {
        Self { origin, ..self }
    }

    /// Adds a reason to refuse with `status`, and `example` as its body.
    pub(super) fn refuses(
        mut self,
        status: u16,
        key: &'static str,
        summary: impl Into<String>,
        example: Value,
    ) -> Self {
        push(
            &mut self.refusals,
            status,
            Reason::new(key, summary, example),
        );
        self
    }

    /// Another answer that is no refusal (a 206 beside a 200).
    pub(super) fn answers(mut self, answer: Success) -> Self {
        self.also.push(answer);
        self
    }

    /// The refusal of `status` (one listed already) carries `header` too.
    pub(super) fn refusal_header(mut self, status: u16, header: AnswerHeader) -> Self {
        if let Some(refusal) = self.refusals.iter_mut().find(|r| r.status == status) {
            refusal.headers.push(header);
        }
        self
    }

    /// The refusals of `status` are built by the handler itself, without `Retry-After`.
    pub(super) fn without_retry_after(mut self, status: u16) -> Self {
        for refusal in self.refusals.iter_mut().filter(|r| r.status == status) {
            refusal.retry_after = false;
        }
        self
    }

    /// Refuses with `error`'s own status and body.
    pub(super) fn refuses_with(
        mut self,
        key: &'static str,
        summary: impl Into<String>,
        error: &ApiError,
    ) -> Self {
        let (status, reason) = Reason::of(key, summary, error);
        push(&mut self.refusals, status, reason);
        self
    }

    /// 400 with the fields' problems; `error` is what the domain's parser says of a bad body.
    pub(super) fn invalid(self, summary: impl Into<String>, error: &ApiError) -> Self {
        self.refuses_with("invalid", summary, error)
    }

    /// 404 for an id that names nothing of the caller's (someone else's and a missing one
    /// alike).
    pub(super) fn not_found(self, resource: &'static str) -> Self {
        let summary = format!("No {} of yours has this id.", resource.to_lowercase());
        Self {
            resource: Some(resource),
            ..self
        }
        .refuses_with("not_found", summary, &ApiError::NotFound(Some(resource)))
    }

    /// A page list: 404 for a page that does not exist.
    pub(super) fn paginated(self, query: Query) -> Self {
        self.query(query).refuses_with(
            "invalid_page",
            "`page` is not a positive integer (nor `last`) or is past the last page.",
            &ApiError::InvalidPage,
        )
    }
}
