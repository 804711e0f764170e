//! Property tests: whatever a client sends, the code that reads it answers, and never panics.
//! A panic in the edge's wasm poisons its isolate, so every parser on the request path is fed
//! arbitrary and near-valid input here: tokens, query strings (filters, search, ordering,
//! pagination), JSON and multipart bodies, the signed headers, and rates.
//!
//! `./dev test` runs each property over proptest's default 256 cases; for a longer run,
//! `PROPTEST_CASES=100000 cargo nextest run -p domain --test no_panics`.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use domain::auth::{Claims, TokenKeys, TokenLifetimes, TokenSubject, TokenType};
use domain::input::JsonBody;
use domain::orders::{NewOrder, PaymentIntentRequest};
use domain::projects::{ProjectChanges, TASK_ORDERING, Task, TaskChanges};
use domain::query::{Ordering, PageRequest, QueryParams, TaskFilters, search_terms};
use domain::signing::{self, Direction, Received, SignedParts};
use domain::throttle::{Grant, Rate, Scope, ScopeSet, decide};
use domain::{UserId, multipart};
use proptest::prelude::*;
use serde_json::{Value, json};

const KEY: &[u8] = b"a-signing-key-of-at-least-32-bytes!";
const NOW: i64 = 1_750_000_000;

fn keys() -> TokenKeys {
    TokenKeys::from_secret(KEY)
}

/// A token the keys would accept.
fn real_token() -> String {
    let subject = TokenSubject {
        user_id: UserId::new(7),
        username: "ann".into(),
        is_staff: false,
    };
    let refresh = Claims::refresh_for(&subject, "r-1".into(), NOW, TokenLifetimes::default());
    keys().encode(&refresh.access_from("a-1".into(), NOW, TokenLifetimes::default()))
}

/// Base64url-ish segments: the alphabet, some of what is not in it, and dots.
fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_\\-=+/.%]{0,80}"
}

/// JSON values, nested a little, with keys the parsers look for among random ones.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("name".to_owned()),
        Just("title".to_owned()),
        Just("description".to_owned()),
        Just("detail".to_owned()),
        Just("project".to_owned()),
        Just("done".to_owned()),
        Just("due_date".to_owned()),
        Just("is_archived".to_owned()),
        Just("email".to_owned()),
        Just("items".to_owned()),
        Just("product_id".to_owned()),
        Just("quantity".to_owned()),
        Just("order_id".to_owned()),
        Just("token".to_owned()),
        Just("refresh".to_owned()),
        "[a-z_]{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
        Just(json!("2025-02-29")),
        Just(json!("9999-12-31")),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
    ];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every body parser the edge and the origin run, on one body.
fn parse_every_way(body: &JsonBody) {
    for partial in [false, true] {
        let _ = ProjectChanges::from_body(body, partial);
        let _ = TaskChanges::from_body(body, partial);
    }
    let _ = TaskChanges::named_project(body);
    let _ = domain::projects::NewAttachment::from_body(body);
    let _ = NewOrder::from_body(body);
    let _ = PaymentIntentRequest::from_body(body);
    for expected in [None, Some(TokenType::Access), Some(TokenType::Refresh)] {
        let _ = keys().decode_field(body, "token", expected, NOW);
        let _ = keys().decode_field(body, "refresh", expected, NOW);
    }
}

proptest! {
    #[test]
    fn tokens_of_any_shape_are_refused_without_a_panic(
        raw in ".{0,600}",
        parts in prop::collection::vec(segment(), 0..6),
    ) {
        for token in [raw, parts.join(".")] {
            prop_assert!(keys().decode(&token, None, NOW).is_err());
        }
    }

    #[test]
    fn a_real_token_changed_anywhere_is_refused(position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let token = real_token();
        let mut bytes = token.clone().into_bytes();
        let at = position.index(bytes.len());
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        prop_assume!(changed != token);
        // A change to the base64 padding bits can leave the decoded bytes as they were; any
        // other change must be refused.
        if let Ok(claims) = keys().decode(&changed, None, NOW) {
            prop_assert_eq!(claims.jti, "a-1");
        }
    }

    #[test]
    fn query_strings_of_any_shape_parse_without_a_panic(raw in ".{0,600}", count in any::<u64>()) {
        let params = QueryParams::parse(Some(&raw));
        let _ = TaskFilters::parse(&params);
        let page = PageRequest::parse(&params);
        let _ = page.resolve(count);
        let _ = Ordering::parse(params.get("ordering"), TASK_ORDERING, Task::DEFAULT_ORDERING);
        if let Some(search) = params.get("search") {
            let _ = search_terms(search);
        }
    }

    #[test]
    fn structured_query_strings_parse_without_a_panic(
        pairs in prop::collection::vec(
            (
                prop_oneof![
                    Just("page"), Just("page_size"), Just("done"), Just("project"),
                    Just("min_due"), Just("max_due"), Just("search"), Just("ordering"),
                ],
                "[-+ ,.%0-9a-z_]{0,30}",
            ),
            0..8,
        ),
        count in 0u64..10_000_000,
    ) {
        let raw: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let params = QueryParams::parse(Some(&raw.join("&")));
        let _ = TaskFilters::parse(&params);
        let page = PageRequest::parse(&params);
        if let Ok(page) = page.resolve(count) {
            prop_assert!(page.size >= 1 && page.size <= 100);
            let _ = page.links("http://edge", "/api/v1/tasks/", &params);
        }
        let _ = Ordering::parse(params.get("ordering"), TASK_ORDERING, Task::DEFAULT_ORDERING);
    }

    #[test]
    fn bodies_of_any_bytes_are_answered_without_a_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        content_type in prop_oneof![
            Just(None),
            Just(Some("application/json")),
            Just(Some("application/x-www-form-urlencoded")),
            Just(Some("multipart/form-data; boundary=xyz")),
            Just(Some("multipart/form-data")),
            Just(Some("text/plain")),
        ],
    ) {
        if let Ok(body) = JsonBody::parse(content_type, &bytes) {
            parse_every_way(&body);
        }
    }

    #[test]
    fn json_bodies_of_any_shape_are_answered_without_a_panic(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Ok(body) = JsonBody::parse(Some("application/json"), &bytes) {
            parse_every_way(&body);
        }
    }

    #[test]
    fn multipart_bodies_of_any_bytes_are_answered_without_a_panic(
        boundary in "[-a-zA-Z0-9]{0,20}",
        bytes in prop::collection::vec(any::<u8>(), 0..1024),
        framed in any::<bool>(),
    ) {
        let body = if framed {
            let mut body = format!("--{boundary}\r\ncontent-disposition: form-data; name=\"a\"\r\n\r\n").into_bytes();
            body.extend_from_slice(&bytes);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            body
        } else {
            bytes
        };
        let _ = multipart::text_fields(&format!("multipart/form-data; boundary={boundary}"), &body);
    }

    #[test]
    fn signed_headers_of_any_value_are_checked_without_a_panic(
        values in prop::collection::vec(prop::option::of(".{0,100}"), 6),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let names = [
            signing::SIGNATURE_HEADER, signing::TIMESTAMP_HEADER, signing::USER_HEADER,
            signing::REQUEST_ID_HEADER, signing::IDEMPOTENCY_HEADER, signing::NONCE_HEADER,
        ];
        let header = |name: &str| {
            names.iter().position(|n| *n == name).and_then(|i| values[i].as_deref())
        };
        let received = Received {
            direction: Direction::EdgeToOrigin,
            method: "POST",
            path_and_query: "/api/v1/projects/",
            body: &body,
        };
        prop_assert!(signing::check_signed_headers(KEY, received, header, NOW, 60).is_err());
    }

    #[test]
    fn a_signature_checks_out_only_over_what_it_signed(
        body in prop::collection::vec(any::<u8>(), 0..256),
        other in prop::collection::vec(any::<u8>(), 0..256),
        nonce in "[0-9a-f]{32}",
    ) {
        let parts = SignedParts {
            direction: Direction::EdgeToOrigin,
            method: "POST",
            path_and_query: "/api/v1/projects/",
            body: &body,
            timestamp: NOW,
            user_id: Some(UserId::new(3)),
            request_id: "r",
            idempotency_key: None,
            nonce: Some(&nonce),
        };
        let signature = signing::sign(KEY, &parts);
        prop_assert!(signing::verify(KEY, &parts, &signature, NOW, 60).is_ok());
        let tampered = SignedParts { body: &other, ..parts };
        prop_assert_eq!(
            signing::verify(KEY, &tampered, &signature, NOW, 60).is_ok(),
            other == body
        );
    }

    #[test]
    fn rates_of_any_spelling_are_read_without_a_panic(raw in ".{0,40}") {
        if let Ok(rate) = Rate::parse(&raw) {
            prop_assert!(rate.requests >= 1);
        }
    }

    #[test]
    fn a_decision_never_grants_past_any_scope(
        grants in prop::collection::vec((0i64..200_000, 1u32..20, 0u8..16), 0..60),
        limit in 1u32..50,
        period in prop_oneof![Just(1u32), Just(60), Just(3600), Just(86_400)],
        want in 1u32..30,
        now in 0i64..300_000,
    ) {
        let grants: Vec<Grant> = grants
            .into_iter()
            .enumerate()
            .map(|(id, (at_ms, units, bits))| Grant {
                id: i64::try_from(id).unwrap(),
                at_ms,
                units,
                scopes: ScopeSet::from_bits(bits),
            })
            .collect();
        let rate = Rate { requests: limit, period_secs: period };
        let scopes = [(Scope::Burst, rate), (Scope::User, rate)];
        let decision = decide(&grants, &scopes, now, want);
        prop_assert!(decision.granted <= want);
        for standing in &decision.standings {
            prop_assert!(standing.remaining <= standing.limit);
        }
        if decision.granted == 0 {
            prop_assert!(decision.wait_secs >= 1);
        } else {
            prop_assert_eq!(decision.wait_secs, 0);
        }
    }
}
