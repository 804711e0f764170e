//! Registration, the account, and the token endpoints (simplejwt's).

use domain::auth::{Login, NewAccount, TokenKeys, TokenProblem};
use domain::input::JsonBody;
use domain::{ApiError, FieldErrors};
use serde_json::json;

use super::{Body, Origin, Spec, Success, Tag, json_body};
use crate::examples::{self, refusal};
use crate::schemas;

pub(super) fn register() -> Spec {
    let created = Success::json(
        201,
        "The account; log in with `POST /api/token/`.",
        schemas::REGISTER,
        examples::registered(),
    );
    let bad = json_body(&json!({"username": "bad name", "email": "nope", "password": "1234"}));
    Spec::new("v1_auth_register_create", Tag::V1, "Register", created)
        .describe(
            "Creates an account and sends a welcome email. The password must pass Django's \
             default validators (long enough, not entirely numeric, not too similar to the \
             username or email).",
        )
        .body(Body::form(
            schemas::requests::REGISTER,
            examples::register_request(),
        ))
        .invalid(
            "A field is invalid or the username is taken (`A user with that username already exists.`).",
            &refusal(NewAccount::from_body(&bad)),
        )
        .origin(Origin::Idempotent)
}

pub(super) fn token_obtain() -> Spec {
    let ok = Success::ok(
        "A new token pair.",
        schemas::TOKEN_PAIR,
        examples::token_pair(),
    );
    Spec::new("token_create", Tag::Token, "Obtain a token pair", ok)
        .describe(
            "Takes a set of user credentials and returns an access and refresh JSON web token \
             pair to prove the authentication of those credentials.",
        )
        .body(Body::form(
            schemas::requests::TOKEN_OBTAIN,
            examples::login_request(),
        ))
        .invalid(
            "A credential is missing or blank.",
            &refusal(Login::from_body(&JsonBody::default())),
        )
        .refuses_with(
            "bad_credentials",
            "No active account has these credentials.",
            &ApiError::BadCredentials,
        )
        .origin(Origin::Idempotent)
}

/// A token field's refusal: `{}` lacks it.
fn missing_token(field: &str) -> ApiError {
    refusal(TokenKeys::from_secret(b"example").decode_field(&JsonBody::default(), field, None, 0))
}

pub(super) fn token_refresh() -> Spec {
    let ok = Success::ok(
        "A new pair: the presented refresh token is blacklisted (rotation).",
        schemas::TOKEN_PAIR,
        examples::token_pair(),
    );
    Spec::new(
        "token_refresh_create",
        Tag::Token,
        "Refresh a token pair",
        ok,
    )
    .describe(
        "Takes a refresh type JSON web token and returns a new access and refresh pair; the \
         refresh token presented cannot be used again.",
    )
    .body(Body::form(
        schemas::requests::TOKEN_REFRESH,
        examples::refresh_request(),
    ))
    .invalid("`refresh` is missing or blank.", &missing_token("refresh"))
    .refuses_with(
        "token_not_valid",
        "The token is invalid, expired, blacklisted or not a refresh token.",
        &ApiError::TokenNotValid(TokenProblem::Blacklisted),
    )
    .refuses_with(
        "no_active_account",
        "The token's account no longer exists.",
        &ApiError::NoActiveAccountForToken,
    )
    .origin(Origin::Idempotent)
}

pub(super) fn token_verify() -> Spec {
    let ok = Success::ok("The token is valid.", schemas::EMPTY, json!({}));
    Spec::new("token_verify_create", Tag::Token, "Verify a token", ok)
        .describe(
            "Takes a token and indicates if it is valid. This view provides no information \
             about a token's fitness for a particular use.",
        )
        .body(Body::form(
            schemas::requests::TOKEN_VERIFY,
            examples::verify_request(),
        ))
        .invalid("`token` is missing or blank.", &missing_token("token"))
        .refuses_with(
            "blacklisted",
            "The token is a blacklisted refresh token (simplejwt answers this one with 400).",
            &ApiError::VerifyBlacklisted,
        )
        .refuses_with(
            "token_not_valid",
            "The token is invalid or expired.",
            &ApiError::TokenNotValid(TokenProblem::Expired),
        )
}

pub(super) fn token_blacklist() -> Spec {
    let ok = Success::ok("The token is blacklisted.", schemas::EMPTY, json!({}));
    Spec::new(
        "token_blacklist_create",
        Tag::Token,
        "Blacklist a refresh token",
        ok,
    )
    .describe("Takes a refresh token and blacklists it (logout).")
    .body(Body::form(
        schemas::requests::TOKEN_BLACKLIST,
        examples::refresh_request(),
    ))
    .invalid("`refresh` is missing or blank.", &missing_token("refresh"))
    .refuses_with(
        "token_not_valid",
        "The token is invalid, expired, already blacklisted or not a refresh token.",
        &ApiError::TokenNotValid(TokenProblem::Invalid),
    )
    .origin(Origin::Idempotent)
}

pub(super) fn me() -> Spec {
    let ok = Success::ok("Your account.", schemas::USER, examples::user());
    Spec::new("v1_auth_me_retrieve", Tag::V1, "Your account", ok)
}

pub(super) fn delete_me() -> Spec {
    let wrong = FieldErrors::single("password", "Password is incorrect.");
    Spec::new(
        "v1_auth_me_destroy",
        Tag::V1,
        "Delete your account",
        Success::no_content("The account is gone."),
    )
    .describe(
        "Deletes the account after confirming its password: every token of it is revoked, its \
         projects and tasks are removed; its orders stay, detached from it.",
    )
    .body(Body::form(
        schemas::requests::ACCOUNT_DELETION,
        examples::account_deletion_request(),
    ))
    .invalid(
        "`password` is missing or is not the account's.",
        &ApiError::Validation(wrong),
    )
    .origin(Origin::Idempotent)
}
