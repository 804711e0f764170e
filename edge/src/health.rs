//! Liveness and readiness.

use domain::ApiError;
use domain::paths;
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::EdgeError;
use crate::forward::{Outgoing, signed_request};
use crate::http::Response;
use crate::platform::{Origin as _, Platform};
use crate::replica;

/// `GET /health/`: the isolate answers; nothing else is asked.
pub fn health() -> Response {
    Response::json(200, &json!({"status": "ok"}))
}

/// `GET /ready/`: D1 answers a query and the origin says it is ready (which means Postgres
/// answers too). 503 names what is down.
pub async fn ready<P: Platform>(ctx: &Ctx<'_, P>) -> Response {
    let mut down = Vec::new();
    if let Err(e) = replica::ping(ctx.replica()).await {
        ctx.warn("readiness: D1", &e);
        down.push("d1");
    }
    let probe = signed_request(
        ctx,
        Outgoing {
            method: "GET",
            path_and_query: paths::READY,
            ..Outgoing::default()
        },
    );
    match ctx.origin().send(probe).await {
        Ok(answer) if answer.status == 200 => {}
        Ok(answer) => {
            let problem =
                EdgeError::fault("readiness: origin", format!("status {}", answer.status));
            ctx.warn("readiness: origin", &problem);
            down.push("origin");
        }
        Err(e) => {
            ctx.warn("readiness: origin", &e);
            down.push("origin");
        }
    }
    if down.is_empty() {
        Response::json(200, &json!({"status": "ready"}))
    } else {
        let error = ApiError::Unavailable;
        let mut errors = error.errors_body(ctx.request_id);
        if let Some(errors) = errors.as_object_mut() {
            errors.insert("down".to_owned(), json!(down));
        }
        Response::json(
            503,
            &json!({"status_code": error.status(), "errors": errors}),
        )
    }
}
