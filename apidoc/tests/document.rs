//! The document against the code it describes: the committed files, the route table, the
//! domain's limits, parsers and serialized values.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::BTreeSet;
use std::path::Path;

use apidoc::files;
use apidoc::operations::attachments::{NO_FILE, NOT_A_FILE, ONE_FILE};
use apidoc::parameters::{IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_MAX, ORDER_TOKEN, STRIPE_SIGNATURE};
use apidoc::paths::documented_path;
use apidoc::schemas::requests::{self, PASSWORD_MIN, USERNAME_MAX};
use domain::auth::{Login, NewAccount, TokenKeys, TokenPair, Username, password_problems};
use domain::files::name::MAX_FILENAME_CHARS;
use domain::files::{key, kind, signed};
use domain::input::{JsonBody, Text, messages};
use domain::limits::{MAX_PASSWORD_CHARS, MAX_TOKEN_CHARS};
use domain::orders::{
    Currency, EMAIL_MAX, MAX_ORDER_ITEMS, MAX_ORDER_TOKEN_CHARS, MAX_QUANTITY, NewOrder, Order,
    OrderItem, OrderStatus, PaymentIntentRequest, Product,
};
use domain::projects::{
    Attachment, NAME_MAX, PROJECT_ORDERING, Project, ProjectChanges, ProjectView, TASK_ORDERING,
    TEXT_MAX, TITLE_MAX, Task, TaskChanges,
};
use domain::query::SortField;
use domain::query::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use domain::query::search::MAX_SEARCH_CHARS;
use domain::replication::UserReplica;
use domain::{ApiError, OrderId, ProductId, ProjectId, TaskId, UserId};
use edge::attachments::reads::ATTACHMENT_ORDERING;
use edge::routes::{Access, BodyKind, Handler, MEDIA, ROUTES, Throttle, lookup};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const REGENERATE: &str = "run `cargo run -p apidoc -- write` and commit openapi/";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn document() -> Value {
    serde_json::from_str(&files::json().unwrap()).unwrap()
}

/// A path the documented `path` stands for: each parameter given a value the edge routes.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{year}", "2026")
        .replace("{month}", "03")
        .replace("{object}", "00112233445566778899aabbccddeeff")
        .replace("{filename}", "report.pdf")
}

/// Every operation: path, lower-case method, operation.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((path.clone(), method.to_owned(), operation.clone()));
            }
        }
    }
    found
}

/// Follows a `$ref` within the document (any depth); anything else is itself.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            let target = document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} resolves to nothing"));
            resolve(document, target)
        }
        None => value,
    }
}

#[track_caller]
fn schema<'a>(document: &'a Value, component: &str) -> &'a Value {
    document
        .pointer(&format!("/components/schemas/{component}"))
        .unwrap_or_else(|| panic!("no component {component}"))
}

fn names(value: &Value, key: &str) -> Vec<String> {
    match &value[key] {
        Value::Object(map) => map.keys().cloned().collect(),
        Value::Array(list) => list
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_committed_files_are_what_the_code_generates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in files::rendered().unwrap() {
        let committed = std::fs::read_to_string(root.join(file.path))
            .unwrap_or_else(|e| panic!("{}: {e}; {REGENERATE}", file.path));
        if let Some(difference) = files::first_difference(&committed, &file.text) {
            panic!(
                "{} differs from the generated document at {difference}\n{REGENERATE}",
                file.path
            );
        }
    }
}

#[test]
fn every_route_a_client_may_call_is_documented() {
    let document = document();
    for route in ROUTES.iter().filter(|r| r.access != Access::Origin) {
        let method = route.method.as_str().to_lowercase();
        assert!(
            document["paths"][documented_path(route.path).as_ref()]
                .get(&method)
                .is_some(),
            "{} {} is routed but not documented",
            route.method.as_str(),
            route.path
        );
    }
}

#[test]
fn every_documented_operation_is_routed_and_public() {
    for (path, method, _) in operations(&document()) {
        let route = lookup(&concrete(&path), &method.to_uppercase())
            .unwrap_or_else(|| panic!("{method} {path} is documented but not routed"));
        assert_eq!(
            documented_path(route.path),
            path,
            "{method} {path} routes elsewhere"
        );
        assert_ne!(
            route.access,
            Access::Origin,
            "{method} {path} is the origin's"
        );
    }
}

/// `RateLimit-*` may appear only on the answers of routes the limiter counts, and on every
/// answer of theirs but a body over the pipeline's limit (refused before counting; a streamed
/// body is measured by its handler, after), shared or not.
#[test]
fn rate_limit_headers_are_listed_exactly_on_counted_answers() {
    let document = document();
    for (path, method, operation) in operations(&document) {
        let route = lookup(&concrete(&path), &method.to_uppercase()).unwrap();
        let counted = route.throttle != Throttle::Exempt;
        for (status, response) in operation["responses"].as_object().unwrap() {
            let listed = !resolve(&document, response)["headers"]["RateLimit-Remaining"].is_null();
            let before_counting = matches!(status.as_str(), "414" | "431")
                || (status == "413" && route.body.read_limit().is_some());
            assert_eq!(
                listed,
                counted && !before_counting,
                "{method} {path} {status}: RateLimit-* listed {listed}, counted {counted}"
            );
        }
    }
}

#[test]
fn no_internal_path_is_documented() {
    let document = document();
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert!(
        paths.iter().all(|path| !path.starts_with("/internal/")),
        "{paths:?}"
    );
    let internal = ROUTES.iter().filter(|r| r.access == Access::Origin);
    for route in internal {
        assert!(
            document["paths"].get(route.path).is_none(),
            "{} is documented",
            route.path
        );
    }
}

#[test]
fn operation_ids_are_unique() {
    let mut seen = BTreeSet::new();
    for (path, method, operation) in operations(&document()) {
        let id = operation["operationId"].as_str().unwrap().to_owned();
        assert!(seen.insert(id.clone()), "{id} again at {method} {path}");
    }
}

/// The properties of a schema, through `$ref`s and the parts of an `allOf`.
fn property_names(document: &Value, schema: &Value) -> Vec<String> {
    let schema = resolve(document, schema);
    let mut found = names(schema, "properties");
    for part in schema["allOf"].as_array().into_iter().flatten() {
        found.extend(property_names(document, part));
    }
    found
}

/// Every link leads from an answer that carries an object's `id` to an operation whose path
/// takes that `id`; each create links to every operation on what it created.
#[test]
fn links_lead_from_a_created_object_to_the_operations_on_it() {
    let document = document();
    let operations = operations(&document);
    let by_id = |id: &str| {
        operations
            .iter()
            .find(|(_, _, operation)| operation["operationId"] == id)
            .unwrap_or_else(|| panic!("a link names {id}, which no operation is"))
    };
    let mut linked = BTreeSet::new();
    for (path, method, operation) in &operations {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let Some(links) = response.get("links").and_then(Value::as_object) else {
                continue;
            };
            let body = &response["content"]["application/json"]["schema"];
            assert!(
                property_names(&document, body).contains(&"id".to_owned()),
                "{method} {path} {status} links, but its body has no id"
            );
            for (name, link) in links {
                assert_eq!(
                    link["parameters"],
                    json!({"id": "$response.body#/id"}),
                    "{name}"
                );
                let target = link["operationId"].as_str().unwrap();
                let (target_path, _, _) = by_id(target);
                assert!(
                    target_path.ends_with("/{id}/") || target_path.contains("/{id}/"),
                    "{name}: {target_path}"
                );
                assert!(
                    target_path.starts_with(path.as_str()),
                    "{name} leads from {path} to {target_path}, another resource"
                );
                linked.insert(target.to_owned());
            }
        }
    }
    for (path, method, operation) in &operations {
        let on_an_id = path.contains("{id}") && !path.contains("/auth/");
        if on_an_id {
            let id = operation["operationId"].as_str().unwrap();
            assert!(
                linked.contains(id),
                "nothing links to {method} {path} ({id})"
            );
        }
    }
}

/// DRF clients generated from DRF's document keep their method names: every operation of
/// DRF's that we serve has DRF's id (an attachment's `PUT` and `PATCH` are not served).
#[test]
fn operations_drf_had_keep_drfs_operation_ids() {
    let drf_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/drf-service/openapi.json");
    let drf: Value = serde_json::from_str(&std::fs::read_to_string(&drf_path).unwrap()).unwrap();
    let ours = document();
    let mut compared = 0;
    for (path, method, operation) in operations(&drf) {
        if lookup(&path.replace("{id}", "1"), &method.to_uppercase()).is_none() {
            continue;
        }
        assert_eq!(
            ours["paths"][&path][&method]["operationId"], operation["operationId"],
            "{method} {path}"
        );
        compared += 1;
    }
    assert!(compared > 0, "no operation of DRF's is served");
}

/// The row's columns show in each operation: who may call it, its rate limit, its body.
#[test]
fn each_operation_shows_its_rows_columns() {
    let document = document();
    for route in ROUTES.iter().filter(|r| r.access != Access::Origin) {
        let method = route.method.as_str().to_lowercase();
        let operation = &document["paths"][documented_path(route.path).as_ref()][&method];
        let what = format!("{} {}", route.method.as_str(), route.path);
        let responses = &operation["responses"];
        let has = |status: &str| responses.get(status).is_some();

        let security = operation.get("security").cloned().unwrap_or(Value::Null);
        let expected = match route.access {
            Access::User => json!([{"jwtAuth": []}]),
            Access::UserOrGuest => json!([{"jwtAuth": []}, {}]),
            Access::Public | Access::Origin => Value::Null,
        };
        assert_eq!(security, expected, "{what}: security");
        if route.access != Access::Public {
            assert!(has("401"), "{what}: 401");
        }

        let counted = route.throttle != Throttle::Exempt;
        assert_eq!(has("429"), counted, "{what}: 429");
        let success = responses
            .as_object()
            .unwrap()
            .iter()
            .find(|(status, _)| status.starts_with('2'))
            .map(|(_, response)| response)
            .unwrap();
        for header in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
            assert_eq!(
                success["headers"].get(header).is_some(),
                counted,
                "{what}: {header}"
            );
        }
        if route.throttle == Throttle::Credentials {
            assert!(has("503"), "{what}: the credentials scope fails closed");
        }

        assert_eq!(has("413"), route.body != BodyKind::None, "{what}: 413");
        // JSON, a form, or (streamed) an upload's multipart form: another type is refused.
        let typed = matches!(route.body, BodyKind::Json | BodyKind::Stream { .. });
        assert_eq!(has("415"), typed, "{what}: 415");
        assert_eq!(
            operation.get("requestBody").is_some(),
            route.body != BodyKind::None,
            "{what}: request body"
        );
        assert!(has("414") && has("431"), "{what}: 414 and 431");
    }
}

#[test]
fn unsafe_writes_forwarded_to_the_origin_take_an_idempotency_key() {
    let key = json!({"$ref": format!("#/components/parameters/{IDEMPOTENCY_KEY}")});
    for (path, method, operation) in operations(&document()) {
        let takes_key = operation["parameters"]
            .as_array()
            .is_some_and(|parameters| parameters.contains(&key));
        let idempotent = operation["responses"].get("422").is_some();
        if idempotent {
            assert!(takes_key, "{method} {path} replays without a key");
            assert!(
                operation["responses"].get("409").is_some(),
                "{method} {path}"
            );
        }
        if takes_key {
            assert_ne!(method, "get", "{path}");
            assert!(
                operation["responses"].get("503").is_some(),
                "{method} {path} goes to the origin"
            );
        }
    }
}

#[test]
fn every_reference_resolves() {
    fn walk(document: &Value, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    assert!(
                        document
                            .pointer(reference.trim_start_matches('#'))
                            .is_some(),
                        "{at}: {reference}"
                    );
                }
                for (key, inner) in map {
                    walk(document, inner, &format!("{at}/{key}"));
                }
            }
            Value::Array(list) => {
                for (index, inner) in list.iter().enumerate() {
                    walk(document, inner, &format!("{at}/{index}"));
                }
            }
            _ => {}
        }
    }
    let document = document();
    walk(&document, &document, "");
}

/// Each limit a request schema states, beside the domain's constant it must equal.
#[test]
fn request_limits_are_the_domains() {
    let document = document();
    let cases: &[(&str, &str, &str, usize)] = &[
        ("ProjectRequest", "name", "maxLength", NAME_MAX),
        ("ProjectRequest", "description", "maxLength", TEXT_MAX),
        ("PatchedProjectRequest", "name", "maxLength", NAME_MAX),
        (
            "PatchedProjectRequest",
            "description",
            "maxLength",
            TEXT_MAX,
        ),
        ("TaskRequest", "title", "maxLength", TITLE_MAX),
        ("TaskRequest", "detail", "maxLength", TEXT_MAX),
        ("PatchedTaskRequest", "title", "maxLength", TITLE_MAX),
        ("PatchedTaskRequest", "detail", "maxLength", TEXT_MAX),
        ("RegisterRequest", "username", "maxLength", USERNAME_MAX),
        ("RegisterRequest", "email", "maxLength", EMAIL_MAX),
        ("RegisterRequest", "password", "minLength", PASSWORD_MIN),
        (
            "RegisterRequest",
            "password",
            "maxLength",
            MAX_PASSWORD_CHARS,
        ),
        (
            "TokenObtainPairRequest",
            "username",
            "maxLength",
            USERNAME_MAX,
        ),
        (
            "TokenObtainPairRequest",
            "password",
            "maxLength",
            MAX_PASSWORD_CHARS,
        ),
        (
            "TokenRefreshRequest",
            "refresh",
            "maxLength",
            MAX_TOKEN_CHARS,
        ),
        ("TokenVerifyRequest", "token", "maxLength", MAX_TOKEN_CHARS),
        (
            "TokenBlacklistRequest",
            "refresh",
            "maxLength",
            MAX_TOKEN_CHARS,
        ),
        (
            "AccountDeletionRequest",
            "password",
            "maxLength",
            MAX_PASSWORD_CHARS,
        ),
        ("OrderRequest", "email", "maxLength", EMAIL_MAX),
        ("OrderRequest", "items", "maxItems", MAX_ORDER_ITEMS),
        (
            "OrderItemRequest",
            "quantity",
            "maximum",
            usize::try_from(MAX_QUANTITY).unwrap(),
        ),
    ];
    for (component, field, keyword, expected) in cases {
        let stated = &schema(&document, component)["properties"][field][keyword];
        assert_eq!(stated, &json!(expected), "{component}.{field} {keyword}");
    }
}

#[test]
fn parameter_limits_are_the_domains() {
    let document = document();
    let parameter = |name: &str| document["components"]["parameters"][name]["schema"].clone();
    assert_eq!(parameter("page_size")["maximum"], json!(MAX_PAGE_SIZE));
    assert_eq!(parameter("page_size")["default"], json!(DEFAULT_PAGE_SIZE));
    assert_eq!(parameter("search")["maxLength"], json!(MAX_SEARCH_CHARS));
    assert_eq!(
        parameter(ORDER_TOKEN)["maxLength"],
        json!(MAX_ORDER_TOKEN_CHARS)
    );
    let signature_limit = edge::forward::FORWARDED_HEADERS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(STRIPE_SIGNATURE))
        .map(|(_, limit)| *limit)
        .unwrap();
    assert_eq!(
        parameter(STRIPE_SIGNATURE)["maxLength"],
        json!(signature_limit)
    );
    assert_eq!(
        parameter(IDEMPOTENCY_KEY)["maxLength"],
        json!(IDEMPOTENCY_KEY_MAX)
    );
}

#[test]
fn headers_are_named_as_the_services_read_them() {
    assert!(domain::signing::IDEMPOTENCY_HEADER.eq_ignore_ascii_case(IDEMPOTENCY_KEY));
    assert!(domain::orders::ORDER_TOKEN_HEADER.eq_ignore_ascii_case(ORDER_TOKEN));
    assert!(
        edge::forward::FORWARDED_HEADERS
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(STRIPE_SIGNATURE))
    );
}

/// The limits the domain keeps private (or the edge spells inline) are restated in apidoc;
/// these hold each restatement to the code that enforces it.
#[test]
fn restated_limits_are_the_ones_enforced() {
    let long = |n: usize| "a".repeat(n);
    assert!(Username::parse(&long(USERNAME_MAX)).is_ok());
    assert!(Username::parse(&long(USERNAME_MAX + 1)).is_err());

    let too_short = |password: &str| {
        password_problems(password, "alice", "alice@example.com")
            .iter()
            .any(|problem| problem.contains("too short"))
    };
    assert!(too_short(&"x".repeat(PASSWORD_MIN - 1)));
    assert!(!too_short(&"x".repeat(PASSWORD_MIN)));

    let email = format!("{}@example.com", "a".repeat(EMAIL_MAX));
    let body =
        json_body(&json!({"username": "alice", "email": email, "password": "correct horse"}));
    let Err(ApiError::Validation(errors)) = NewAccount::from_body(&body) else {
        panic!("an email over {EMAIL_MAX} characters is refused at registration");
    };
    assert_eq!(
        errors.get("email"),
        Some(&[messages::max_length(EMAIL_MAX)][..])
    );

    let message = ApiError::BadIdempotencyKey.errors_body("")["detail"].to_string();
    assert!(
        message.contains(&format!("1 to {IDEMPOTENCY_KEY_MAX} ")),
        "{message}"
    );
}

#[test]
fn ordering_lists_the_domains_fields_both_ways() {
    let document = document();
    let allowed = |path: &str| -> Vec<Value> {
        let parameters = document["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap();
        let ordering = parameters.iter().find(|p| p["name"] == "ordering").unwrap();
        ordering["schema"]["items"]["enum"]
            .as_array()
            .unwrap()
            .clone()
    };
    let both_ways = |fields: &[SortField]| -> Vec<Value> {
        fields
            .iter()
            .flat_map(|f| [json!(f.name()), json!(format!("-{}", f.name()))])
            .collect()
    };
    assert_eq!(allowed("/api/v1/projects/"), both_ways(PROJECT_ORDERING));
    assert_eq!(allowed("/api/v1/tasks/"), both_ways(TASK_ORDERING));
    assert_eq!(
        allowed("/api/v1/attachments/"),
        both_ways(ATTACHMENT_ORDERING)
    );
}

fn json_body(value: &Value) -> JsonBody {
    JsonBody::parse(Some("application/json"), value.to_string().as_bytes()).unwrap()
}

/// How the services read each request body, by component: `Err(field errors)` or `Ok`.
fn parse(component: &str, body: &JsonBody) -> Result<(), ApiError> {
    let keys = TokenKeys::from_secret(b"a key the examples were not signed with");
    let token = |field: &str| match keys.decode_field(body, field, None, 0) {
        // A token that does not verify is a 401: the body's shape was fine.
        Err(ApiError::TokenNotValid(_)) | Ok(_) => Ok(()),
        Err(other) => Err(other),
    };
    match component {
        "RegisterRequest" => NewAccount::from_body(body).map(drop),
        "TokenObtainPairRequest" => Login::from_body(body).map(drop),
        "TokenRefreshRequest" | "TokenBlacklistRequest" => token("refresh"),
        "TokenVerifyRequest" => token("token"),
        // The origin's `DELETE /api/v1/auth/me/` reads its one field so.
        "AccountDeletionRequest" => {
            let mut fields = body.fields();
            let password = fields.text("password", Text::required(MAX_PASSWORD_CHARS));
            fields.finish(password).map(drop)
        }
        "ProjectRequest" => ProjectChanges::from_body(body, false).map(drop),
        "PatchedProjectRequest" => ProjectChanges::from_body(body, true).map(drop),
        "TaskRequest" => TaskChanges::from_body(body, false).map(drop),
        "PatchedTaskRequest" => TaskChanges::from_body(body, true).map(drop),
        "OrderRequest" => NewOrder::from_body(body).map(drop),
        "PaymentIntentRequest" => PaymentIntentRequest::from_body(body).map(drop),
        other => panic!("no parser for {other}: add the services' reading of it here"),
    }
}

/// Each body's example parses; without any one of its required fields it does not, and that
/// field is the one reported; without an optional field it still parses.
#[test]
fn request_bodies_are_what_the_services_accept() {
    let document = document();
    let mut checked = BTreeSet::new();
    for (path, method, operation) in operations(&document) {
        let Some(json_content) = operation["requestBody"]["content"].get("application/json") else {
            continue;
        };
        let Some(component) = json_content["schema"]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        else {
            continue;
        };
        let example = &json_content["example"];
        let what = format!("{method} {path} ({component})");
        assert!(
            parse(component, &json_body(example)).is_ok(),
            "{what}: its example is refused: {:?}",
            parse(component, &json_body(example))
        );
        let shape = schema(&document, component);
        let required = names(shape, "required");
        for field in names(shape, "properties") {
            let mut without = example.clone();
            if without.as_object_mut().unwrap().remove(&field).is_none() {
                continue;
            }
            let result = parse(component, &json_body(&without));
            if required.contains(&field) {
                let Err(ApiError::Validation(errors)) = result else {
                    panic!("{what}: accepted without its required {field}");
                };
                assert_eq!(
                    errors.get(&field),
                    Some(&[messages::REQUIRED.to_owned()][..]),
                    "{what} without {field}"
                );
            } else {
                assert!(
                    result.is_ok(),
                    "{what}: refused without its optional {field}"
                );
            }
        }
        checked.insert(component.to_owned());
    }
    // An order's line is checked within its order; an upload is no JSON (below).
    let bodies: BTreeSet<String> = requests::all()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .filter(|name| name != requests::ORDER_LINE && name != requests::ATTACHMENT)
        .collect();
    assert_eq!(
        checked, bodies,
        "every request body is checked against its parser"
    );
}

/// An order's lines are objects of their own: each required field of a line is required.
#[test]
fn an_order_line_needs_each_of_its_required_fields() {
    let document = document();
    let example =
        document["paths"]["/api/v1/orders/"]["post"]["requestBody"]["content"]["application/json"]
            ["example"]
            .clone();
    let required = names(schema(&document, requests::ORDER_LINE), "required");
    assert!(!required.is_empty());
    for field in required {
        let mut without = example.clone();
        without["items"][0].as_object_mut().unwrap().remove(&field);
        let Err(ApiError::Validation(errors)) = NewOrder::from_body(&json_body(&without)) else {
            panic!("an order line without {field} is accepted");
        };
        let line = errors.element("items", 0).unwrap();
        assert_eq!(
            line.get(&field),
            Some(&[messages::REQUIRED.to_owned()][..]),
            "{field}"
        );
    }
}

fn keys(value: &Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

/// A serialized domain value has exactly the properties its schema lists, in its order, and
/// each is required (the services always send every field).
#[track_caller]
fn assert_describes(document: &Value, component: &str, value: &Value) {
    let shape = schema(document, component);
    assert_eq!(
        keys(value),
        names(shape, "properties"),
        "{component}: properties"
    );
    assert_eq!(
        keys(value),
        names(shape, "required"),
        "{component}: required"
    );
}

#[test]
fn serialized_domain_values_have_exactly_their_schemas_properties() {
    let document = document();
    let task = Task {
        id: TaskId::new(1),
        project: ProjectId::new(2),
        title: "t".into(),
        detail: String::new(),
        done: false,
        due_date: None,
        created_at: "2026-01-01T00:00:00.000000Z".into(),
    };
    let project = Project {
        id: ProjectId::new(2),
        owner: UserId::new(3),
        name: "p".into(),
        description: String::new(),
        is_archived: false,
        created_at: "2026-01-01T00:00:00.000000Z".into(),
    };
    let item = OrderItem {
        product_id: ProductId::new(4),
        name: "Mug".into(),
        quantity: 1,
        unit_price_cents: 500,
        line_total_cents: 500,
    };
    let order = Order {
        id: OrderId::new(5),
        email: "a@example.com".into(),
        items: vec![item.clone()],
        total_cents: 500,
        currency: Currency::parse("usd").unwrap(),
        status: OrderStatus::Paid,
        created_at: "2026-01-01T00:00:00.000000Z".into(),
    };
    let user = UserReplica {
        id: UserId::new(3),
        username: "alice".into(),
        email: "a@example.com".into(),
        is_staff: false,
        date_joined: "2026-01-01T00:00:00.000000Z".into(),
    };
    let pair = TokenPair {
        refresh: "r".into(),
        access: "a".into(),
    };
    let cases = [
        ("Task", serde_json::to_value(&task).unwrap()),
        (
            "Project",
            serde_json::to_value(ProjectView::new(project, vec![task])).unwrap(),
        ),
        ("Order", serde_json::to_value(order.view()).unwrap()),
        ("OrderItem", serde_json::to_value(&item).unwrap()),
        ("User", serde_json::to_value(&user).unwrap()),
        ("TokenPair", serde_json::to_value(&pair).unwrap()),
    ];
    for (component, value) in &cases {
        assert_describes(&document, component, value);
    }
    let status = schema(&document, "OrderStatus");
    for value in [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::PaymentFailed,
    ] {
        let serialized = serde_json::to_value(value).unwrap();
        assert!(
            status["enum"].as_array().unwrap().contains(&serialized),
            "{serialized}"
        );
    }
}

/// The public list shows products without `active` ([`Product::PUBLIC_FIELDS`], which the
/// edge builds its JSON from).
#[test]
fn a_product_is_described_as_the_public_list_shows_it() {
    let document = document();
    let shape = schema(&document, "Product");
    assert_eq!(names(shape, "properties"), Product::PUBLIC_FIELDS);
    assert_eq!(names(shape, "required"), Product::PUBLIC_FIELDS);
}

/// The examples the document shows are what the services send: built from domain values,
/// each with exactly the properties of its schema.
#[test]
fn success_examples_have_exactly_their_schemas_properties() {
    let document = document();
    for (path, method, operation) in operations(&document) {
        // The document's own example would be the document.
        if path == domain::paths::SCHEMA {
            continue;
        }
        for (status, response) in operation["responses"].as_object().unwrap() {
            if !status.starts_with('2') {
                continue;
            }
            let Some(content) = response["content"].get("application/json") else {
                continue;
            };
            let shape = resolve(&document, &content["schema"]);
            let example = &content["example"];
            let mut properties = names(shape, "properties");
            // `allOf` (an order just placed: an order and its token).
            for part in shape["allOf"].as_array().into_iter().flatten() {
                properties.extend(names(resolve(&document, part), "properties"));
            }
            let sent = keys(example);
            assert!(
                sent.iter().all(|key| properties.contains(key)),
                "{method} {path} {status}: the example has {sent:?}, the schema {properties:?}"
            );
            let mut required = names(shape, "required");
            for part in shape["allOf"].as_array().into_iter().flatten() {
                required.extend(names(resolve(&document, part), "required"));
            }
            assert!(
                required.iter().all(|key| sent.contains(key)),
                "{method} {path} {status}: the example lacks one of {required:?}"
            );
        }
    }
}

#[test]
fn every_error_example_has_the_status_it_is_listed_under() {
    let document = document();
    for (path, method, operation) in operations(&document) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let response = resolve(&document, response);
            let Some(examples) = response["content"]["application/json"]["examples"].as_object()
            else {
                continue;
            };
            for (name, example) in examples {
                assert_eq!(
                    example["value"]["status_code"].to_string(),
                    *status,
                    "{method} {path} {status}: {name}"
                );
            }
        }
    }
}

/// The catch-all of downloads is documented as the one shape of path its signed URLs have;
/// every other row at its own path, and no path has a catch-all OpenAPI could not state.
#[test]
fn only_the_download_catch_all_is_documented_at_another_path() {
    for route in ROUTES {
        let documented = documented_path(route.path);
        assert!(!documented.contains("{*"), "{documented}");
        if route.path == MEDIA {
            assert_eq!(
                documented,
                "/media/attachments/{year}/{month}/{object}/{filename}"
            );
        } else {
            assert_eq!(documented, route.path);
        }
    }
}

/// A URL the edge signs (`file` of an attachment) has the documented path, routes to the
/// download, and its segments are valid values of the documented parameters.
#[test]
fn a_signed_download_url_is_an_instance_of_the_documented_path() {
    let document = document();
    let template = documented_path(MEDIA);
    let operation = &document["paths"][template.as_ref()]["get"];
    let storage_key = key::storage_key(2026, 11, [0xab; 16]);
    for name in ["report.pdf", "Site map (v2).pdf", "ünïcode résumé.txt"] {
        let url = signed::signed_path(b"secret", &storage_key, name, 1_800_000_000);
        let (path, query) = url.split_once('?').unwrap();
        let route = lookup(path, "GET").unwrap();
        assert_eq!(route.handler, Handler::Download, "{path}");
        let templates: Vec<&str> = template.split('/').collect();
        let segments: Vec<&str> = path.split('/').collect();
        assert_eq!(templates.len(), segments.len(), "{path}");
        for (expected, segment) in templates.iter().zip(&segments) {
            if let Some(parameter) = expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let declared = operation["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == parameter && p["in"] == "path")
                    .unwrap_or_else(|| panic!("{parameter} is not declared"));
                assert_eq!(declared["required"], json!(true), "{parameter}");
                assert!(!segment.is_empty(), "{parameter} of {path}");
            } else {
                assert_eq!(expected, segment, "{path}");
            }
        }
        assert_eq!(
            signed::parse_media_path(path).map(|(key, _)| key),
            Some(storage_key.clone())
        );
        let names: Vec<&str> = query
            .split('&')
            .map(|p| p.split('=').next().unwrap())
            .collect();
        assert_eq!(names, ["expires", "signature"], "{url}");
        for name in names {
            let declared = operation["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name && p["in"] == "query")
                .unwrap_or_else(|| panic!("{name} is not declared"));
            assert_eq!(declared["required"], json!(true), "{name}");
        }
    }
    let filename = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "filename")
        .unwrap();
    assert_eq!(filename["schema"]["maxLength"], json!(MAX_FILENAME_CHARS));
}

/// The edge shows an attachment as it is stored, `storage_key` replaced by `file` after
/// `project` (`edge::attachments::represent`); the schema and the example say the same.
#[test]
fn an_attachment_is_its_stored_fields_with_file_in_place_of_its_key() {
    let document = document();
    let mut shown: Vec<String> = Vec::new();
    for field in Attachment::FIELDS {
        match *field {
            "storage_key" => {}
            "project" => shown.extend(["project".to_owned(), "file".to_owned()]),
            other => shown.push(other.to_owned()),
        }
    }
    let shape = schema(&document, "Attachment");
    assert_eq!(names(shape, "properties"), shown);
    assert_eq!(names(shape, "required"), shown);
    let example = &document["paths"]["/api/v1/attachments/{id}/"]["get"]["responses"]["200"]["content"]
        ["application/json"]["example"];
    assert_eq!(keys(example), shown);
    let file = example["file"].as_str().unwrap();
    assert!(file.starts_with("https://"), "{file}");
    let path = file.split_once("://").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    let (path, _) = path.split_once('?').unwrap();
    assert_eq!(lookup(path, "GET").unwrap().handler, Handler::Download);
    assert_eq!(
        schema(&document, "PaginatedAttachmentList")["properties"]["results"]["items"],
        json!({"$ref": "#/components/schemas/Attachment"})
    );
}

/// The upload is a multipart form of `project` and one `file` of an accepted kind, and
/// nothing else: no JSON, no url-encoded form (neither carries a file).
#[test]
fn the_upload_is_a_multipart_form_of_a_project_and_a_file() {
    let document = document();
    let body = &document["paths"]["/api/v1/attachments/"]["post"]["requestBody"];
    assert_eq!(body["required"], json!(true));
    assert_eq!(keys(&body["content"]), ["multipart/form-data"]);
    let form = &body["content"]["multipart/form-data"];
    assert_eq!(
        form["schema"],
        json!({"$ref": "#/components/schemas/AttachmentRequest"})
    );
    let shape = schema(&document, requests::ATTACHMENT);
    assert_eq!(names(shape, "properties"), ["project", "file"]);
    assert_eq!(names(shape, "required"), ["project", "file"]);
    assert_eq!(shape["properties"]["file"]["format"], json!("binary"));
    let declared: Vec<&str> = form["encoding"]["file"]["contentType"]
        .as_str()
        .unwrap()
        .split(", ")
        .collect();
    let mut accepted: Vec<&str> = kind::ALLOWED.iter().map(|k| k.content_type).collect();
    accepted.push("application/octet-stream");
    assert_eq!(declared, accepted);
    for content_type in &accepted {
        let head: &[u8] = match *content_type {
            "image/png" => b"\x89PNG\r\n\x1a\n",
            "image/jpeg" => b"\xFF\xD8\xFF",
            "image/gif" => b"GIF89a",
            "image/webp" => b"RIFF\0\0\0\0WEBPVP8 ",
            "application/pdf" => b"%PDF-1.7",
            "application/zip" => b"PK\x03\x04",
            _ => b"plain text, a, b",
        };
        let extension = kind::ALLOWED
            .iter()
            .find(|k| k.content_type == *content_type)
            .map_or("txt", |k| k.extensions[0]);
        assert!(
            kind::classify(Some(content_type), &format!("f.{extension}"), head).is_ok(),
            "a file declared {content_type} is refused"
        );
    }
}

/// The messages the upload's handler spells itself (not the domain) are restated verbatim.
#[test]
fn the_upload_handlers_own_messages_are_restated_verbatim() {
    let handler = include_str!("../../edge/src/attachments/upload.rs");
    for message in [NO_FILE, NOT_A_FILE, ONE_FILE, "incorrect_pk_type(\"str\")"] {
        assert!(
            handler.contains(message),
            "edge/src/attachments/upload.rs no longer says {message:?}"
        );
    }
}

/// A download answers in the type the file was stored as, or `application/octet-stream`; a
/// range past the end carries the file's size in `Content-Range`.
#[test]
fn a_download_answers_in_the_files_own_type() {
    let document = document();
    let operation = &document["paths"][documented_path(MEDIA).as_ref()]["get"];
    let mut types: Vec<&str> = kind::ALLOWED.iter().map(|k| k.content_type).collect();
    types.push("application/octet-stream");
    for status in ["200", "206"] {
        assert_eq!(
            keys(&operation["responses"][status]["content"]),
            types,
            "{status}"
        );
        assert_eq!(
            operation["responses"][status]["headers"]["ETag"]["required"],
            json!(true)
        );
    }
    assert!(operation["responses"]["304"].get("content").is_none());
    assert_eq!(
        operation["responses"]["206"]["headers"]["Content-Range"]["required"],
        json!(true)
    );
    let unsatisfiable = ApiError::RangeNotSatisfiable { size: 10 };
    let (name, _) = unsatisfiable.headers().into_iter().next().unwrap();
    assert_eq!(
        operation["responses"]["416"]["headers"][name]["required"],
        json!(true)
    );
    assert!(operation.get("security").is_none());
}
