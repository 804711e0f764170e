//! What each handler takes and answers: the part of an operation its route-table row cannot
//! say. [`spec`] matches on the handler without a wildcard arm, so a handler added to the
//! table does not compile until it is documented here.
//!
//! The generic parts (security, rate-limit headers and 429, 413/415, the `Idempotency-Key`
//! refusals, 503 when the origin is down, 414/431) come from the row in [`crate::paths`].
//!
//! - [`model`]: the vocabulary ([`Spec`], [`Body`], [`Success`], [`Refusal`]…);
//! - `health`, `accounts`, `projects`, `attachments`, `orders`, `schema`: one function per
//!   operation.

mod accounts;
pub mod attachments;
mod health;
pub mod model;
mod orders;
mod projects;
mod schema;

use domain::input::JsonBody;
use edge::routes::{Handler, Method, Route};
use serde_json::Value;

pub use model::{
    AnswerHeader, Body, BodyMedia, Media, Origin, Query, Reason, Refusal, Shape, Spec, Success,
    Tag, push,
};

/// The specification of the operation `route` serves; `None` for the origin's own calls,
/// which are never documented (their rows are `Access::Origin`).
pub fn spec(route: &Route) -> Option<Spec> {
    let partial = route.method == Method::Patch;
    Some(match route.handler {
        Handler::Health => health::health(),
        Handler::Ready => health::ready(),
        Handler::Schema => schema::document(),
        Handler::Register => accounts::register(),
        Handler::TokenObtain => accounts::token_obtain(),
        Handler::TokenRefresh => accounts::token_refresh(),
        Handler::TokenVerify => accounts::token_verify(),
        Handler::TokenBlacklist => accounts::token_blacklist(),
        Handler::Me => accounts::me(),
        Handler::DeleteMe => accounts::delete_me(),
        Handler::ListProjects => projects::list_projects(),
        Handler::CreateProject => projects::create_project(),
        Handler::ShowProject => projects::show_project(),
        Handler::UpdateProject => projects::update_project(partial),
        Handler::DeleteProject => projects::delete_project(),
        Handler::ArchiveProject => projects::archive_project(),
        Handler::ListTasks => projects::list_tasks(),
        Handler::CreateTask => projects::create_task(),
        Handler::ShowTask => projects::show_task(),
        Handler::UpdateTask => projects::update_task(partial),
        Handler::DeleteTask => projects::delete_task(),
        Handler::ListAttachments => attachments::list_attachments(),
        Handler::CreateAttachment => attachments::create_attachment(),
        Handler::ShowAttachment => attachments::show_attachment(),
        Handler::DeleteAttachment => attachments::delete_attachment(),
        Handler::Download => attachments::download(),
        Handler::ListProducts => orders::list_products(),
        Handler::ListOrders => orders::list_orders(),
        Handler::CreateOrder => orders::create_order(),
        Handler::ShowOrder => orders::show_order(),
        Handler::CreatePaymentIntent => orders::create_payment_intent(),
        Handler::StripeWebhook => orders::stripe_webhook(),
        Handler::Replicate
        | Handler::Versions
        | Handler::Isolate
        | Handler::Blobs
        | Handler::Sweep => return None,
    })
}

/// A body as the domain's parsers receive it.
pub(super) fn json_body(value: &Value) -> JsonBody {
    JsonBody::parse(Some("application/json"), value.to_string().as_bytes()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_refusal_example_has_the_status_it_is_listed_under() {
        for route in edge::routes::ROUTES {
            let Some(spec) = spec(route) else { continue };
            for refusal in &spec.refusals {
                for reason in &refusal.reasons {
                    assert_eq!(
                        reason.example["status_code"],
                        json!(refusal.status),
                        "{} {}: {}",
                        spec.id,
                        refusal.status,
                        reason.key
                    );
                }
            }
        }
    }
}
