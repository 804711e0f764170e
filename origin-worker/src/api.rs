//! The origin's internal API: the paths the edge forwards, each spelled once in
//! [`domain::paths`] (the edge's route table reads the same constants), their handlers, and the
//! request layer around them.
//!
//! Only the edge calls it: every endpoint but `/health/` and `/ready/` takes a
//! [`Signed`](crate::http::signed::Signed) request. Tokens are verified at the edge, so
//! `/api/token/verify/` never reaches the origin.

use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post, put};
use domain::{ApiError, paths};

use crate::attachments::handlers as attachments;
use crate::auth::handlers as auth;
use crate::http::reply::Failure;
use crate::http::{context, health};
use crate::orders::handlers as orders;
use crate::payments;
use crate::projects::handlers as projects;
use crate::state::AppState;

/// The router with its request layer.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(paths::HEALTH, get(health::health))
        .route(paths::READY, get(health::ready))
        .route(paths::REGISTER, post(auth::register))
        .route(paths::ME, delete(auth::delete_me))
        .route(paths::TOKEN_OBTAIN, post(auth::obtain))
        .route(paths::TOKEN_REFRESH, post(auth::refresh))
        .route(paths::TOKEN_BLACKLIST, post(auth::blacklist))
        .route(paths::PROJECTS, post(projects::create_project))
        .route(
            paths::PROJECT,
            put(projects::update_project)
                .patch(projects::update_project)
                .delete(projects::delete_project),
        )
        .route(paths::PROJECT_ARCHIVE, post(projects::archive_project))
        .route(paths::TASKS, post(projects::create_task))
        .route(
            paths::TASK,
            put(projects::update_task)
                .patch(projects::update_task)
                .delete(projects::delete_task),
        )
        .route(paths::ATTACHMENTS, post(attachments::create_attachment))
        .route(paths::ATTACHMENT, delete(attachments::delete_attachment))
        .route(paths::ORDERS, post(orders::create_order))
        .route(paths::PAYMENT_INTENT, post(payments::intent::create_intent))
        .route(paths::STRIPE_WEBHOOK, post(payments::webhook::receive))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            context::request_context,
        ))
        .with_state(state)
}

/// Any other path or method: the contract's 404 envelope.
async fn not_found() -> Failure {
    Failure::Api(ApiError::NotFound(None))
}
