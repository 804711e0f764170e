//! The catalogue and order reads, answered from D1 alone.

use domain::orders::{MAX_ORDER_TOKEN_CHARS, ORDER_TOKEN_HEADER, token_digest};
use domain::query::{PageRequest, QueryParams};
use domain::{ApiError, OrderId, UserId};

use super::sql;
use crate::auth::Owner;
use crate::ctx::Ctx;
use crate::error::EdgeResult;
use crate::http::{Request, Response};
use crate::platform::Platform;
use crate::projects::reads::{detail, paginated, run_paged};

/// `GET /api/v1/products/`: the products on sale, paginated.
pub async fn list_products<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
) -> EdgeResult<Response> {
    let params = QueryParams::parse(request.query.as_deref());
    let pages = PageRequest::parse(&params);
    let (count, results, _) = run_paged(ctx, None, &pages, sql::product_list, None).await?;
    paginated(request, &params, &pages, count, &results)
}

/// `GET /api/v1/orders/`: the caller's orders, newest first.
pub async fn list_orders<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    owner: Owner<'_>,
) -> EdgeResult<Response> {
    let params = QueryParams::parse(request.query.as_deref());
    let pages = PageRequest::parse(&params);
    let statements = |window| sql::order_list(owner.id, window);
    let (count, results, _) = run_paged(ctx, Some(owner), &pages, statements, None).await?;
    paginated(request, &params, &pages, count, &results)
}

/// Who is asking for an order: its user, or a guest presenting the order's token.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    User(UserId),
    Guest { token: Option<&'a str> },
}

impl<'a> Reader<'a> {
    /// A guest's token from [`ORDER_TOKEN_HEADER`].
    pub fn guest(request: &'a Request) -> Self {
        Self::Guest {
            token: request.header(ORDER_TOKEN_HEADER),
        }
    }
}

/// `GET /api/v1/orders/{id}/`: the order's user, or the guest with its token. Someone else's
/// order and a wrong token are both 404; no credentials at all is 401.
pub async fn order<P: Platform>(
    ctx: &Ctx<'_, P>,
    reader: Reader<'_>,
    id: OrderId,
) -> EdgeResult<Response> {
    let statement = match reader {
        Reader::User(owner) => sql::order_of_owner(owner, id),
        Reader::Guest { token: None } => return Err(ApiError::NotAuthenticated.into()),
        Reader::Guest { token: Some(token) } if token.len() > MAX_ORDER_TOKEN_CHARS => {
            return Err(ApiError::NotFound(Some("Order")).into());
        }
        Reader::Guest { token: Some(token) } => sql::order_of_token(&token_digest(token), id),
    };
    detail(ctx, None, statement, "Order").await
}
