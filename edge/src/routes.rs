//! The route table: every public path, the methods it answers, and who handles it.

use std::sync::OnceLock;

use matchit::Router;

/// Every endpoint the edge serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Health,
    Ready,
    Register,
    Me,
    TokenObtain,
    TokenRefresh,
    TokenVerify,
    TokenBlacklist,
    /// Signed by the origin: a batch of change records to apply to D1.
    InternalReplicate,
    /// Signed by the origin: the (id, version) pairs of a replicated table.
    InternalVersions,
    Projects,
    Project,
    ProjectArchive,
    Tasks,
    Task,
}

impl Endpoint {
    /// The methods this endpoint answers (besides `OPTIONS`, and `HEAD` wherever `GET` is).
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Self::Health | Self::Ready => &["GET"],
            Self::Me => &["GET", "DELETE"],
            Self::Projects | Self::Tasks => &["GET", "POST"],
            Self::Project | Self::Task => &["GET", "PUT", "PATCH", "DELETE"],
            Self::Register
            | Self::ProjectArchive
            | Self::TokenObtain
            | Self::TokenRefresh
            | Self::TokenVerify
            | Self::TokenBlacklist
            | Self::InternalReplicate
            | Self::InternalVersions => &["POST"],
        }
    }

    /// The `Allow` header DRF would send: the methods, `HEAD` after `GET`, then `OPTIONS`.
    pub fn allow(self) -> Vec<&'static str> {
        let mut allow = Vec::new();
        for method in self.methods() {
            allow.push(*method);
            if *method == "GET" {
                allow.push("HEAD");
            }
        }
        allow.push("OPTIONS");
        allow
    }
}

fn router() -> &'static Router<Endpoint> {
    static ROUTER: OnceLock<Router<Endpoint>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let table = [
            ("/health/", Endpoint::Health),
            ("/ready/", Endpoint::Ready),
            ("/api/v1/auth/register/", Endpoint::Register),
            ("/api/v1/auth/me/", Endpoint::Me),
            ("/api/token/", Endpoint::TokenObtain),
            ("/api/token/refresh/", Endpoint::TokenRefresh),
            ("/api/token/verify/", Endpoint::TokenVerify),
            ("/api/token/blacklist/", Endpoint::TokenBlacklist),
            ("/internal/replicate/", Endpoint::InternalReplicate),
            ("/internal/versions/", Endpoint::InternalVersions),
            ("/api/v1/projects/", Endpoint::Projects),
            ("/api/v1/projects/{id}/", Endpoint::Project),
            ("/api/v1/projects/{id}/archive/", Endpoint::ProjectArchive),
            ("/api/v1/tasks/", Endpoint::Tasks),
            ("/api/v1/tasks/{id}/", Endpoint::Task),
        ];
        let mut router = Router::new();
        for (path, endpoint) in table {
            router
                .insert(path, endpoint)
                .unwrap_or_else(|e| unreachable!("route table is static and valid: {e}"));
        }
        router
    })
}

/// A matched route: the endpoint and its path parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub endpoint: Endpoint,
    pub params: Vec<(String, String)>,
}

/// Finds the endpoint for a path. The trailing slash is optional (served the same, without
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
        endpoint: *found.value,
        params: found
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_or_without_the_trailing_slash() {
        assert_eq!(
            find("/api/token/").map(|m| m.endpoint),
            Some(Endpoint::TokenObtain)
        );
        assert_eq!(
            find("/api/token").map(|m| m.endpoint),
            Some(Endpoint::TokenObtain)
        );
        assert_eq!(find("/api/tokens/"), None);
    }

    #[test]
    fn allow_lists_head_after_get_and_options_last() {
        assert_eq!(Endpoint::Me.allow(), ["GET", "HEAD", "DELETE", "OPTIONS"]);
        assert_eq!(Endpoint::TokenObtain.allow(), ["POST", "OPTIONS"]);
    }
}
