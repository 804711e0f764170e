//! The route table: every endpoint the edge serves, one row per path and method, saying who may
//! call it, how it is throttled, what body it takes and which handler answers. The pipeline
//! ([`crate::app`]) reads each step from the row: the body limit, the (coming) rate limit, the
//! caller's authentication, the handler. The OpenAPI drift test will walk [`ROUTES`] too.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use domain::limits::MAX_JSON_BODY_BYTES;
use domain::paths;
use matchit::Router;

/// The methods routes are declared with. `HEAD` is answered wherever `GET` is, and `OPTIONS`
/// everywhere; neither has rows of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// A request's method as routed: `HEAD` is `GET`; anything unlisted (`OPTIONS`, `QUERY`,
    /// `PROPFIND`…) is `None`.
    pub fn for_routing(raw: &str) -> Option<Self> {
        Some(match raw {
            "GET" | "HEAD" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            _ => return None,
        })
    }

    /// Whether the request only reads (`GET`, `HEAD`).
    pub const fn is_read(self) -> bool {
        matches!(self, Self::Get)
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone. A bearer token, if sent, is not looked at.
    Public,
    /// A user with a valid access token whose account still exists.
    User,
    /// A user when a bearer token is sent (it must verify, as for `User`), a guest otherwise:
    /// the seed's `AllowAny` checkout, where a guest proves an order is theirs by its token.
    UserOrGuest,
    /// Only the origin, by a fresh signature over the request; anything else is a 404.
    Origin,
}

/// Which rate-limit scopes count a request (the limiter reads this column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Never limited: probes and the origin's own calls.
    Exempt,
    /// The seed's scopes: anonymous per day by client IP, or user per day and burst per minute.
    Standard,
    /// Token and registration endpoints: the standard scopes plus a stricter one per IP.
    Credentials,
}

/// The body an endpoint takes, and so how much of it is read before the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// None expected; whatever is sent is read under the JSON limit and ignored.
    None,
    /// A JSON document, read whole under [`MAX_JSON_BODY_BYTES`].
    Json,
    /// Raw bytes read whole under `limit` (signed pushes, webhooks: verified over the bytes).
    Raw { limit: usize },
    /// Streamed to the handler without being read into memory first (uploads); the handler
    /// enforces `limit` while it streams.
    Stream { limit: usize },
}

impl BodyKind {
    /// The most bytes the pipeline reads into memory for this route; `None` when the body is
    /// left to stream.
    pub const fn read_limit(self) -> Option<usize> {
        match self {
            Self::None | Self::Json => Some(MAX_JSON_BODY_BYTES),
            Self::Raw { limit } => Some(limit),
            Self::Stream { .. } => None,
        }
    }
}

/// Which function answers. `app::dispatch` maps each to its call, exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Health,
    Ready,
    Schema,
    Register,
    TokenObtain,
    TokenRefresh,
    TokenVerify,
    TokenBlacklist,
    Me,
    DeleteMe,
    ListProjects,
    CreateProject,
    ShowProject,
    UpdateProject,
    DeleteProject,
    ArchiveProject,
    ListTasks,
    CreateTask,
    ShowTask,
    UpdateTask,
    DeleteTask,
    ListAttachments,
    CreateAttachment,
    ShowAttachment,
    DeleteAttachment,
    Download,
    ListProducts,
    ListOrders,
    CreateOrder,
    ShowOrder,
    CreatePaymentIntent,
    StripeWebhook,
    Replicate,
    Versions,
    Isolate,
    Blobs,
    Sweep,
}

/// One endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub path: &'static str,
    pub method: Method,
    pub access: Access,
    pub throttle: Throttle,
    pub body: BodyKind,
    pub handler: Handler,
}

impl Route {
    /// Token and registration endpoints: they take credentials or hand out tokens, so they get
    /// the stricter throttle scope and every answer of theirs is `no-store` (RFC 6749 §5.1).
    pub fn handles_credentials(&self) -> bool {
        self.throttle == Throttle::Credentials
    }
}

/// Largest signed push the origin sends (bytes).
pub const MAX_PUSH_BYTES: usize = 2 * 1024 * 1024;

/// Where downloads are served: `/media/attachments/YYYY/MM/<id>/<file name>`, by signed URL.
pub const MEDIA: &str = "/media/{*file}";

/// The most an upload's body may stream through the edge: the largest `UPLOAD_MAX_BYTES`
/// allows (100 MiB, a Workers request's limit) and the form around the file. The configured
/// limit is enforced while it streams.
pub const MAX_UPLOAD_STREAM_BYTES: usize = 100 * 1024 * 1024 + 64 * 1024;

/// Largest Stripe event accepted (bytes). Events are a few kilobytes; a payment intent with
/// its expanded charges stays far below this.
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

const fn route(
    path: &'static str,
    method: Method,
    access: Access,
    throttle: Throttle,
    body: BodyKind,
    handler: Handler,
) -> Route {
    Route {
        path,
        method,
        access,
        throttle,
        body,
        handler,
    }
}

use Access::{Origin, Public, User, UserOrGuest};
use BodyKind::{Json, None as NoBody, Raw, Stream};
use Handler as H;
use Method::{Delete, Get, Patch, Post, Put};
use Throttle::{Credentials, Exempt, Standard};

/// Every endpoint. Read it as a table.
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    //     path                       method  access  throttle     body    handler
    route(paths::HEALTH,              Get,    Public, Exempt,      NoBody, H::Health),
    route(paths::READY,               Get,    Public, Exempt,      NoBody, H::Ready),
    route(paths::SCHEMA,              Get,    Public, Exempt,      NoBody, H::Schema),
    route(paths::REGISTER,            Post,   Public, Credentials, Json,   H::Register),
    route(paths::TOKEN_OBTAIN,        Post,   Public, Credentials, Json,   H::TokenObtain),
    route(paths::TOKEN_REFRESH,       Post,   Public, Credentials, Json,   H::TokenRefresh),
    route(paths::TOKEN_VERIFY,        Post,   Public, Credentials, Json,   H::TokenVerify),
    route(paths::TOKEN_BLACKLIST,     Post,   Public, Credentials, Json,   H::TokenBlacklist),
    route(paths::ME,                  Get,    User,   Standard,    NoBody, H::Me),
    route(paths::ME,                  Delete, User,   Standard,    Json,   H::DeleteMe),
    route(paths::PROJECTS,            Get,    User,   Standard,    NoBody, H::ListProjects),
    route(paths::PROJECTS,            Post,   User,   Standard,    Json,   H::CreateProject),
    route(paths::PROJECT,             Get,    User,   Standard,    NoBody, H::ShowProject),
    route(paths::PROJECT,             Put,    User,   Standard,    Json,   H::UpdateProject),
    route(paths::PROJECT,             Patch,  User,   Standard,    Json,   H::UpdateProject),
    route(paths::PROJECT,             Delete, User,   Standard,    NoBody, H::DeleteProject),
    route(paths::PROJECT_ARCHIVE,     Post,   User,   Standard,    NoBody, H::ArchiveProject),
    route(paths::TASKS,               Get,    User,   Standard,    NoBody, H::ListTasks),
    route(paths::TASKS,               Post,   User,   Standard,    Json,   H::CreateTask),
    route(paths::TASK,                Get,    User,   Standard,    NoBody, H::ShowTask),
    route(paths::TASK,                Put,    User,   Standard,    Json,   H::UpdateTask),
    route(paths::TASK,                Patch,  User,   Standard,    Json,   H::UpdateTask),
    route(paths::TASK,                Delete, User,   Standard,    NoBody, H::DeleteTask),
    route(paths::ATTACHMENTS,         Get,    User,   Standard,    NoBody, H::ListAttachments),
    route(paths::ATTACHMENTS,         Post,   User,   Standard,    Stream { limit: MAX_UPLOAD_STREAM_BYTES }, H::CreateAttachment),
    route(paths::ATTACHMENT,          Get,    User,   Standard,    NoBody, H::ShowAttachment),
    route(paths::ATTACHMENT,          Delete, User,   Standard,    NoBody, H::DeleteAttachment),
    // The signed URL is the credential (no bearer token); like the seed's media under nginx,
    // not throttled.
    route(MEDIA,                      Get,    Public, Exempt,      NoBody, H::Download),
    route(paths::PRODUCTS,            Get,    Public, Standard,    NoBody, H::ListProducts),
    route(paths::ORDERS,              Get,    User,   Standard,    NoBody, H::ListOrders),
    route(paths::ORDERS,              Post,   UserOrGuest, Standard, Json, H::CreateOrder),
    route(paths::ORDER,               Get,    UserOrGuest, Standard, NoBody, H::ShowOrder),
    route(paths::PAYMENT_INTENT,      Post,   UserOrGuest, Standard, Json, H::CreatePaymentIntent),
    route(paths::STRIPE_WEBHOOK,      Post,   Public, Exempt,      Raw { limit: MAX_WEBHOOK_BYTES }, H::StripeWebhook),
    route(paths::INTERNAL_REPLICATE,  Post,   Origin, Exempt,      Raw { limit: MAX_PUSH_BYTES }, H::Replicate),
    route(paths::INTERNAL_VERSIONS,   Post,   Origin, Exempt,      Raw { limit: MAX_JSON_BODY_BYTES }, H::Versions),
    route(paths::INTERNAL_ISOLATE,    Get,    Origin, Exempt,      NoBody, H::Isolate),
    route(paths::INTERNAL_BLOBS,      Get,    Origin, Exempt,      NoBody, H::Blobs),
    route(paths::INTERNAL_SWEEP,      Post,   Origin, Exempt,      Raw { limit: MAX_JSON_BODY_BYTES }, H::Sweep),
];

/// The routes of one path, by method.
#[derive(Debug)]
pub struct PathRoutes {
    path: &'static str,
    by_method: BTreeMap<Method, &'static Route>,
}

impl PathRoutes {
    pub fn get(&self, method: Method) -> Option<&'static Route> {
        self.by_method.get(&method).copied()
    }

    /// The `Allow` header DRF would send: the methods in table order, `HEAD` after `GET`, then
    /// `OPTIONS`.
    pub fn allow(&self) -> Vec<&'static str> {
        let mut allow = Vec::new();
        for route in ROUTES.iter().filter(|r| r.path == self.path) {
            allow.push(route.method.as_str());
            if route.method == Method::Get {
                allow.push("HEAD");
            }
        }
        allow.push("OPTIONS");
        allow
    }
}

fn router() -> &'static Router<PathRoutes> {
    static ROUTER: OnceLock<Router<PathRoutes>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut paths: Vec<PathRoutes> = Vec::new();
        for route in ROUTES {
            match paths.iter_mut().find(|routes| routes.path == route.path) {
                Some(routes) => {
                    routes.by_method.insert(route.method, route);
                }
                None => paths.push(PathRoutes {
                    path: route.path,
                    by_method: BTreeMap::from([(route.method, route)]),
                }),
            }
        }
        let mut router = Router::new();
        for routes in paths {
            #[expect(
                clippy::unreachable,
                reason = "the static route table; any test that routes builds it"
            )]
            router
                .insert(routes.path, routes)
                .unwrap_or_else(|e| unreachable!("the route table is static and valid: {e}"));
        }
        router
    })
}

/// A matched path: its routes and its parameters.
#[derive(Debug)]
pub struct Matched {
    pub routes: &'static PathRoutes,
    /// The `{id}` segment, for detail paths (as sent; the handler parses it).
    pub id: Option<String>,
}

/// Finds the routes of a path. The trailing slash is optional (served the same, without
/// Django's redirect).
pub fn find(path: &str) -> Option<Matched> {
    let normalized;
    let path = if path.ends_with('/') {
        path
    } else {
        normalized = format!("{path}/");
        &normalized
    };
    router().at(path).ok().map(|found| Matched {
        routes: found.value,
        id: found.params.get("id").map(str::to_owned),
    })
}

/// The row for a path and a request method, if there is one.
pub fn lookup(path: &str, method: &str) -> Option<&'static Route> {
    find(path)?.routes.get(Method::for_routing(method)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(path: &str, method: Method) -> Option<Handler> {
        find(path)?.routes.get(method).map(|r| r.handler)
    }

    #[test]
    fn paths_match_with_or_without_the_trailing_slash() {
        assert_eq!(handler("/api/token/", Post), Some(H::TokenObtain));
        assert_eq!(handler("/api/token", Post), Some(H::TokenObtain));
        assert!(find("/api/tokens/").is_none());
        let detail = find("/api/v1/tasks/12").unwrap();
        assert_eq!(detail.id.as_deref(), Some("12"));
    }

    #[test]
    fn allow_lists_head_after_get_and_options_last() {
        let allow = |path: &str| find(path).unwrap().routes.allow();
        assert_eq!(allow(paths::ME), ["GET", "HEAD", "DELETE", "OPTIONS"]);
        assert_eq!(allow(paths::TOKEN_OBTAIN), ["POST", "OPTIONS"]);
        assert_eq!(
            allow("/api/v1/projects/1/"),
            ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]
        );
    }

    #[test]
    fn head_routes_as_get_and_extension_methods_route_nowhere() {
        assert_eq!(Method::for_routing("HEAD"), Some(Get));
        for method in ["OPTIONS", "QUERY", "PROPFIND", "PURGE", "get"] {
            assert_eq!(Method::for_routing(method), None, "{method}");
        }
    }

    #[test]
    fn every_path_and_method_has_one_row() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    a.path != b.path || a.method != b.method,
                    "{} {} is routed twice",
                    a.method.as_str(),
                    a.path
                );
            }
        }
    }

    #[test]
    fn only_the_origin_reaches_internal_paths_and_reads_never_take_a_body() {
        for route in ROUTES {
            assert_eq!(
                route.path.starts_with("/internal/"),
                route.access == Access::Origin,
                "{}",
                route.path
            );
            if route.method.is_read() {
                assert_eq!(route.body, BodyKind::None, "{}", route.path);
            }
        }
    }
}
