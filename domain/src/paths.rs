//! Every path the two deployables serve, in the router syntax both use (`{id}` for a path
//! parameter; matchit at the edge, axum at the origin). The edge's route table and the origin's
//! router are built from these, so a path is spelled once.
//!
//! Paths end with the slash DRF uses; the edge also serves them without it.

pub const HEALTH: &str = "/health/";
/// The OpenAPI document (YAML, or JSON for `?format=json`).
pub const SCHEMA: &str = "/api/schema/";
pub const READY: &str = "/ready/";

pub const REGISTER: &str = "/api/v1/auth/register/";
pub const ME: &str = "/api/v1/auth/me/";
pub const TOKEN_OBTAIN: &str = "/api/token/";
pub const TOKEN_REFRESH: &str = "/api/token/refresh/";
pub const TOKEN_VERIFY: &str = "/api/token/verify/";
pub const TOKEN_BLACKLIST: &str = "/api/token/blacklist/";

pub const PROJECTS: &str = "/api/v1/projects/";
pub const PROJECT: &str = "/api/v1/projects/{id}/";
pub const PROJECT_ARCHIVE: &str = "/api/v1/projects/{id}/archive/";
pub const TASKS: &str = "/api/v1/tasks/";
pub const TASK: &str = "/api/v1/tasks/{id}/";
/// Uploads (multipart at the edge; the metadata, as JSON, at the origin) and the list.
pub const ATTACHMENTS: &str = "/api/v1/attachments/";
pub const ATTACHMENT: &str = "/api/v1/attachments/{id}/";
pub const PRODUCTS: &str = "/api/v1/products/";
pub const ORDERS: &str = "/api/v1/orders/";
pub const ORDER: &str = "/api/v1/orders/{id}/";
pub const PAYMENT_INTENT: &str = "/api/v1/payments/intent/";
/// Stripe → edge → origin: the raw event and its `Stripe-Signature`, untouched.
pub const STRIPE_WEBHOOK: &str = "/webhooks/stripe/";

/// Origin → edge: a batch of change records to apply to D1 (signed by the origin).
pub const INTERNAL_REPLICATE: &str = "/internal/replicate/";
/// Origin → edge: a page of what D1 holds, for `check-edge` and `resync-edge` (signed).
pub const INTERNAL_VERSIONS: &str = "/internal/versions/";
/// Origin (or an operator holding its secret) → edge: what this isolate holds in memory.
pub const INTERNAL_ISOLATE: &str = "/internal/isolate/";
/// A page of the attachments' blobs in R2 (`?cursor=`), for operators and the tests.
pub const INTERNAL_BLOBS: &str = "/internal/blobs/";
/// Runs the orphan sweep now, as the daily cron trigger does.
pub const INTERNAL_SWEEP: &str = "/internal/sweep/";
