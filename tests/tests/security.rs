//! The security suite (issue 10 §6), through the real edge in workerd, the origin and Postgres:
//! object-level authorisation (someone else's ids answer exactly like missing ones), mass
//! assignment, attacks on the bearer JWT, and every input limit. Every test name starts with
//! `security_`, so `cargo xtask test -- security_` runs them all.
//!
//! The JWT attacks need tokens with headers of their choosing, signed with keys of their
//! choosing ([`hs256`], at the end of the file), checked against a token the stack issued
//! before any attack relies on it.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests fail loudly and read top to bottom"
)]

use std::time::Duration;

use domain::auth::{Claims, TokenKeys};
use domain::limits::{MAX_HEADER_BYTES, MAX_JSON_BODY_BYTES, MAX_QUERY_BYTES, MAX_TOKEN_CHARS};
use domain::projects::{NAME_MAX, TEXT_MAX, TITLE_MAX};
use domain::query::search::{MAX_SEARCH_CHARS, MAX_TERMS};
use e2e::{Answer, Stack, TokenLifetimes, User, base64url, base64url_decode, chrono_now, forge};
use e2e::{origin_command, unique};
use futures::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const ME: &str = "/api/v1/auth/me/";
const PROJECTS: &str = "/api/v1/projects/";
const TASKS: &str = "/api/v1/tasks/";
const REGISTER: &str = "/api/v1/auth/register/";
/// An id no object has (the stack's sequences start at 1 and never get near it).
const MISSING: i64 = 999_999_999_999;
/// What every 401 carries (RFC 7235, simplejwt).
const CHALLENGE: &str = r#"Bearer realm="api""#;

// ---------------------------------------------------------------------------------------------
// Shared steps
// ---------------------------------------------------------------------------------------------

/// A request as `token`'s user, with a JSON body when one is given.
async fn act(
    stack: &Stack,
    method: &Method,
    path: &str,
    body: Option<&Value>,
    token: &str,
) -> Answer {
    let mut request = stack.request(method.clone(), path).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    stack.send(request).await
}

async fn create_project(stack: &Stack, user: &User, body: &Value) -> Value {
    let answer = stack.post(PROJECTS, body, Some(&user.access)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.body
}

async fn new_project(stack: &Stack, user: &User) -> i64 {
    create_project(stack, user, &json!({"name": unique("project")})).await["id"]
        .as_i64()
        .unwrap()
}

async fn new_task(stack: &Stack, user: &User, project: i64) -> i64 {
    let answer = stack
        .post(
            TASKS,
            &json!({"project": project, "title": unique("task")}),
            Some(&user.access),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.body["id"].as_i64().unwrap()
}

/// The owner's view of an object, read whole (to prove an attack changed nothing).
async fn owners_view(stack: &Stack, owner: &User, path: &str) -> String {
    let answer = stack.get(path, Some(&owner.access)).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
    answer.text
}

/// Headers that differ between any two answers whatever they say: the clock, the request id,
/// the rate limiter's running count, and D1's bookmark (the database's position in its own
/// history, which every write anyone makes moves on).
const VOLATILE: &[&str] = &[
    "date",
    "x-request-id",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-d1-bookmark",
];

/// The headers of an answer that could tell two objects apart, sorted.
fn telling_headers(answer: &Answer) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = answer
        .headers
        .iter()
        .filter(|(name, _)| !VOLATILE.contains(&name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    headers.sort();
    headers
}

/// Two answers a client cannot tell apart: status, body bytes and headers.
#[track_caller]
fn assert_indistinguishable(theirs: &Answer, missing: &Answer, case: &str) {
    assert_eq!(
        theirs.status, missing.status,
        "{case}: status (someone else's: {}, missing: {})",
        theirs.text, missing.text
    );
    assert_eq!(theirs.text, missing.text, "{case}: body bytes");
    assert_eq!(
        telling_headers(theirs),
        telling_headers(missing),
        "{case}: headers"
    );
}

/// `method` on someone else's object (`theirs`) and on a missing one (`missing`), as
/// `token`'s user: DRF's 404 for `resource`, and nothing to tell the two apart.
async fn assert_looks_missing(
    stack: &Stack,
    method: &Method,
    (theirs, missing): (&str, &str),
    body: Option<&Value>,
    token: &str,
    resource: &str,
    case: &str,
) {
    let on_theirs = act(stack, method, theirs, body, token).await;
    let on_missing = act(stack, method, missing, body, token).await;
    assert_eq!(
        on_theirs.status,
        StatusCode::NOT_FOUND,
        "{case}: {}",
        on_theirs.text
    );
    if *method != Method::HEAD {
        assert_eq!(
            on_theirs.errors(),
            &json!({"detail": format!("No {resource} matches the given query.")}),
            "{case}"
        );
    }
    assert_indistinguishable(&on_theirs, &on_missing, case);
}

/// A 401 with the challenge and exactly `errors` in the envelope.
#[track_caller]
fn assert_unauthorized(answer: &Answer, errors: &Value, case: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {}",
        answer.text
    );
    assert_eq!(answer.body["status_code"], json!(401), "{case}");
    assert_eq!(answer.errors(), errors, "{case}");
    assert_eq!(
        answer.header("www-authenticate"),
        Some(CHALLENGE),
        "{case}: every 401 carries the challenge"
    );
}

/// simplejwt's body for a bearer token that is not a valid access token.
fn bearer_refused(message: &str) -> Value {
    json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}],
    })
}

/// The user endpoints the JWT attacks are aimed at: one answered from the token alone, one
/// that reads the caller's data.
const BEARER_TARGETS: [&str; 2] = [ME, PROJECTS];

/// `token` is refused on every target with `Token is …` `message`.
async fn assert_bearer_refused(stack: &Stack, token: &str, message: &str, case: &str) {
    for path in BEARER_TARGETS {
        let answer = stack.get(path, Some(token)).await;
        assert_unauthorized(
            &answer,
            &bearer_refused(message),
            &format!("{case}, {path}"),
        );
    }
}

/// `token` is accepted (the control cases: the refusal is down to what the case changed).
async fn assert_bearer_accepted(stack: &Stack, token: &str, case: &str) {
    for path in BEARER_TARGETS {
        let answer = stack.get(path, Some(token)).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{case}, {path}: {}",
            answer.text
        );
    }
}

/// The stack's JWT signing key (the tests' process gets the stack's variables).
fn stack_key() -> Vec<u8> {
    std::env::var("E2E_JWT_SIGNING_KEY")
        .unwrap_or_else(|_| panic!("E2E_JWT_SIGNING_KEY: run under `cargo xtask test`"))
        .into_bytes()
}

/// The claims of a token, as JSON.
fn claims_of(token: &str) -> Value {
    serde_json::from_slice(&base64url_decode(token.split('.').nth(1).unwrap())).unwrap()
}

/// Fresh access claims for `user`, as the origin would issue them.
fn access_claims(user: &User) -> Value {
    let now = chrono_now();
    json!({
        "token_type": "access",
        "exp": now + 600,
        "iat": now,
        "jti": unique("jti"),
        "uid": user.id.to_string(),
        "username": user.username,
        "is_staff": false,
    })
}

/// A compact JWT of `header` and `claims`, its signature HMAC-SHA256 under `key` whatever the
/// header says.
fn jwt(header: &Value, claims: &Value, key: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        base64url(&header.to_string()),
        base64url(&claims.to_string())
    );
    let signature = e2e::base64url_bytes(&hs256::hmac(key, input.as_bytes()));
    format!("{input}.{signature}")
}

fn hs256_header() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

/// Adds a product through the operator command, as an operator would; its id.
fn add_product() -> i64 {
    let (code, stdout) = origin_command(&[
        "products",
        "add",
        "--name",
        &unique("Lamp"),
        "--price-cents",
        "990",
        "--currency",
        "usd",
        "--json",
    ]);
    assert_eq!(code, 0, "products add: {stdout}");
    let added: Value = serde_json::from_str(&stdout).unwrap();
    added[0]["id"].as_i64().unwrap()
}

// ---------------------------------------------------------------------------------------------
// BOLA: someone else's ids answer exactly like missing ones
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn security_bola_someone_elses_project_answers_exactly_like_a_missing_one() {
    let stack = Stack::new();
    let owner = stack.user().await;
    let intruder = stack.user().await;
    let theirs = new_project(&stack, &owner).await;
    new_task(&stack, &owner, theirs).await;
    let detail = format!("{PROJECTS}{theirs}/");
    let before = owners_view(&stack, &owner, &detail).await;

    let valid = json!({"name": "taken over", "description": "mine now"});
    let cases: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "", None),
        (Method::HEAD, "", None),
        (Method::PUT, "", Some(valid.clone())),
        // DRF looks the object up before it reads the body: a bad body is 404 too.
        (Method::PUT, "", Some(json!({}))),
        (Method::PATCH, "", Some(valid.clone())),
        (
            Method::PATCH,
            "",
            Some(json!({"name": "x".repeat(NAME_MAX + 1)})),
        ),
        (
            Method::PATCH,
            "",
            Some(json!({"is_archived": true, "owner": intruder.id})),
        ),
        (Method::POST, "archive/", None),
        (Method::POST, "archive/", Some(json!({}))),
        (Method::DELETE, "", None),
    ];
    for (method, action, body) in cases {
        let case = format!("{method} someone else's project {action}{body:?}");
        let path = |id: i64| format!("{PROJECTS}{id}/{action}");
        let (theirs_path, missing_path) = (path(theirs), path(MISSING));
        assert_looks_missing(
            &stack,
            &method,
            (&theirs_path, &missing_path),
            body.as_ref(),
            &intruder.access,
            "Project",
            &case,
        )
        .await;
    }

    assert_eq!(
        owners_view(&stack, &owner, &detail).await,
        before,
        "the owner's project is as it was, byte for byte"
    );
    assert_eq!(
        stack
            .count_where(
                "SELECT count(*) FROM projects WHERE id = $1 AND NOT is_archived",
                theirs
            )
            .await,
        1,
        "Postgres still holds the project, not archived"
    );
    assert_eq!(
        stack
            .count_where(
                "SELECT count(*) FROM projects WHERE owner_id = $1",
                intruder.id
            )
            .await,
        0,
        "the intruder owns nothing"
    );
}

#[tokio::test]
async fn security_bola_someone_elses_task_answers_exactly_like_a_missing_one() {
    let stack = Stack::new();
    let owner = stack.user().await;
    let intruder = stack.user().await;
    let project = new_project(&stack, &owner).await;
    let theirs = new_task(&stack, &owner, project).await;
    let own_project = new_project(&stack, &intruder).await;
    let detail = format!("{TASKS}{theirs}/");
    let before = owners_view(&stack, &owner, &detail).await;
    let project_before = owners_view(&stack, &owner, &format!("{PROJECTS}{project}/")).await;

    let cases: Vec<(Method, Option<Value>)> = vec![
        (Method::GET, None),
        (Method::HEAD, None),
        (
            Method::PUT,
            Some(json!({"project": project, "title": "taken over"})),
        ),
        // Moving the task into the intruder's own project: still not theirs to move.
        (
            Method::PUT,
            Some(json!({"project": own_project, "title": "stolen"})),
        ),
        (Method::PATCH, Some(json!({"project": own_project}))),
        (Method::PATCH, Some(json!({"done": true}))),
        // A bad body is 404 too: the lookup comes first.
        (Method::PUT, Some(json!({"title": ""}))),
        (
            Method::PATCH,
            Some(json!({"title": "x".repeat(TITLE_MAX + 1)})),
        ),
        (Method::DELETE, None),
    ];
    for (method, body) in cases {
        let case = format!("{method} someone else's task {body:?}");
        let missing = format!("{TASKS}{MISSING}/");
        assert_looks_missing(
            &stack,
            &method,
            (&detail, &missing),
            body.as_ref(),
            &intruder.access,
            "Task",
            &case,
        )
        .await;
    }

    assert_eq!(
        owners_view(&stack, &owner, &detail).await,
        before,
        "the owner's task is as it was"
    );
    assert_eq!(
        owners_view(&stack, &owner, &format!("{PROJECTS}{project}/")).await,
        project_before,
        "the owner's project still holds its task"
    );
    assert_eq!(
        stack
            .count_where(
                "SELECT count(*) FROM tasks WHERE project_id = $1",
                own_project
            )
            .await,
        0,
        "nothing moved into the intruder's project"
    );
}

/// A body naming a given project id.
type BodyFor = fn(i64) -> Value;

/// A task's `project` is the caller's or it does not exist: someone else's gets the body a
/// missing id gets (with its own id in the message, as DRF's), on create and on a move.
#[tokio::test]
async fn security_bola_a_task_cannot_be_put_into_someone_elses_project() {
    let stack = Stack::new();
    let owner = stack.user().await;
    let intruder = stack.user().await;
    let theirs = new_project(&stack, &owner).await;
    let own_project = new_project(&stack, &intruder).await;
    let own_task = new_task(&stack, &intruder, own_project).await;
    let own_task_path = format!("{TASKS}{own_task}/");
    let own_task_before = owners_view(&stack, &intruder, &own_task_path).await;
    let theirs_before = owners_view(&stack, &owner, &format!("{PROJECTS}{theirs}/")).await;

    let not_found = |id: i64| json!([format!("Invalid pk \"{id}\" - object does not exist.")]);
    let cases: Vec<(Method, String, BodyFor)> = vec![
        (
            Method::POST,
            TASKS.to_owned(),
            |p| json!({"project": p, "title": "planted"}),
        ),
        // Invalid otherwise too: the edge checks the project while it reports the title.
        (
            Method::POST,
            TASKS.to_owned(),
            |p| json!({"project": p, "title": ""}),
        ),
        (
            Method::PUT,
            own_task_path.clone(),
            |p| json!({"project": p, "title": "moved"}),
        ),
        (
            Method::PATCH,
            own_task_path.clone(),
            |p| json!({"project": p}),
        ),
        (
            Method::PATCH,
            own_task_path.clone(),
            |p| json!({"project": p, "done": "maybe"}),
        ),
    ];
    for (method, path, body) in cases {
        let case = format!("{method} {path} {}", body(0));
        let on_theirs = act(
            &stack,
            &method,
            &path,
            Some(&body(theirs)),
            &intruder.access,
        )
        .await;
        let on_missing = act(
            &stack,
            &method,
            &path,
            Some(&body(MISSING)),
            &intruder.access,
        )
        .await;
        assert_eq!(
            on_theirs.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            on_theirs.text
        );
        assert_eq!(on_theirs.errors()["project"], not_found(theirs), "{case}");
        assert_eq!(on_missing.errors()["project"], not_found(MISSING), "{case}");
        let mut theirs_errors = on_theirs.errors().clone();
        let mut missing_errors = on_missing.errors().clone();
        theirs_errors["project"] = json!("same");
        missing_errors["project"] = json!("same");
        assert_eq!(
            theirs_errors, missing_errors,
            "{case}: the other fields' errors"
        );
        assert_eq!(on_theirs.status, on_missing.status, "{case}");
        assert_eq!(
            telling_headers(&on_theirs)
                .into_iter()
                .filter(|(name, _)| name != "content-length")
                .collect::<Vec<_>>(),
            telling_headers(&on_missing)
                .into_iter()
                .filter(|(name, _)| name != "content-length")
                .collect::<Vec<_>>(),
            "{case}: headers (the length differs with the id's digits)"
        );
    }

    assert_eq!(
        owners_view(&stack, &owner, &format!("{PROJECTS}{theirs}/")).await,
        theirs_before,
        "the owner's project gained no task"
    );
    assert_eq!(
        owners_view(&stack, &intruder, &own_task_path).await,
        own_task_before,
        "the intruder's task did not move"
    );
    assert_eq!(
        stack
            .count_where("SELECT count(*) FROM tasks WHERE project_id = $1", theirs)
            .await,
        0,
        "Postgres: no task in the owner's project"
    );
}

#[tokio::test]
async fn security_bola_someone_elses_order_answers_exactly_like_a_missing_one() {
    let stack = Stack::new();
    let product = add_product();
    let owner = stack.user().await;
    let intruder = stack.user().await;
    let body =
        json!({"email": "buyer@example.com", "items": [{"product_id": product, "quantity": 2}]});
    let users_order = stack
        .post("/api/v1/orders/", &body, Some(&owner.access))
        .await;
    assert_eq!(
        users_order.status,
        StatusCode::CREATED,
        "{}",
        users_order.text
    );
    let users_order = users_order.body["id"].as_i64().unwrap();
    let guests_order = stack.post("/api/v1/orders/", &body, None).await;
    assert_eq!(
        guests_order.status,
        StatusCode::CREATED,
        "{}",
        guests_order.text
    );
    let guest_token = guests_order.body["order_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let guests_order = guests_order.body["id"].as_i64().unwrap();
    let other_guest = stack.post("/api/v1/orders/", &body, None).await;
    assert_eq!(
        other_guest.status,
        StatusCode::CREATED,
        "{}",
        other_guest.text
    );
    let other_guest_token = other_guest.body["order_token"].as_str().unwrap().to_owned();

    let as_user = |id: i64| {
        stack
            .request(Method::GET, &format!("/api/v1/orders/{id}/"))
            .bearer_auth(&intruder.access)
    };
    let as_guest = |id: i64, token: &str| {
        stack
            .request(Method::GET, &format!("/api/v1/orders/{id}/"))
            .header("X-Order-Token", token)
    };
    let cases = [
        (
            "a user reads another user's order",
            as_user(users_order),
            as_user(MISSING),
        ),
        (
            "a user reads a guest's order",
            as_user(guests_order),
            as_user(MISSING),
        ),
        (
            "a guest's token on a user's order",
            as_guest(users_order, &guest_token),
            as_guest(MISSING, &guest_token),
        ),
        (
            "another guest's token on a guest's order",
            as_guest(guests_order, &other_guest_token),
            as_guest(MISSING, &other_guest_token),
        ),
        (
            "a made-up token",
            as_guest(guests_order, &"0".repeat(64)),
            as_guest(MISSING, &"0".repeat(64)),
        ),
    ];
    for (case, on_theirs, on_missing) in cases {
        let on_theirs = stack.send(on_theirs).await;
        let on_missing = stack.send(on_missing).await;
        assert_eq!(
            on_theirs.status,
            StatusCode::NOT_FOUND,
            "{case}: {}",
            on_theirs.text
        );
        assert_eq!(
            on_theirs.errors(),
            &json!({"detail": "No Order matches the given query."}),
            "{case}"
        );
        assert_indistinguishable(&on_theirs, &on_missing, case);
    }

    let owners = stack
        .get(
            &format!("/api/v1/orders/{users_order}/"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(owners.status, StatusCode::OK, "the owner still reads it");
    let guests = stack.send(as_guest(guests_order, &guest_token)).await;
    assert_eq!(
        guests.status,
        StatusCode::OK,
        "the guest still reads theirs"
    );
    assert_eq!(
        stack
            .get("/api/v1/orders/", Some(&intruder.access))
            .await
            .body["count"],
        json!(0),
        "the intruder's list is empty"
    );
}

// ---------------------------------------------------------------------------------------------
// Mass assignment
// ---------------------------------------------------------------------------------------------

/// Fields a client may send but never set.
fn read_only_fields(victim: &User) -> Value {
    json!({
        "id": MISSING,
        "owner": victim.id,
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
        "is_staff": true,
        "task_count": 99,
        "tasks": [{"id": 1, "title": "injected"}],
    })
}

fn merged(mut base: Value, extra: &Value) -> Value {
    for (key, value) in extra.as_object().unwrap() {
        base[key] = value.clone();
    }
    base
}

#[tokio::test]
async fn security_mass_assignment_of_a_projects_read_only_fields_is_ignored() {
    let stack = Stack::new();
    let user = stack.user().await;
    let victim = stack.user().await;
    let extra = read_only_fields(&victim);

    let created = create_project(&stack, &user, &merged(json!({"name": "mine"}), &extra)).await;
    let id = created["id"].as_i64().unwrap();
    assert_ne!(id, MISSING, "the id is the database's");
    assert_eq!(created["owner"], json!(user.id), "the owner is the caller");
    assert_ne!(
        created["created_at"], extra["created_at"],
        "created_at is the server's"
    );
    assert_eq!(
        (created["task_count"].clone(), created["tasks"].clone()),
        (json!(0), json!([])),
        "no injected tasks"
    );
    assert!(created.get("updated_at").is_none() && created.get("is_staff").is_none());

    let detail = format!("{PROJECTS}{id}/");
    for method in [Method::PUT, Method::PATCH] {
        let body = merged(json!({"name": format!("renamed by {method}")}), &extra);
        let answer = stack
            .call(method.clone(), &detail, &body, &user.access)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{method}: {}", answer.text);
        assert_eq!(
            (
                answer.body["id"].clone(),
                answer.body["owner"].clone(),
                answer.body["created_at"].clone(),
                answer.body["task_count"].clone(),
            ),
            (
                json!(id),
                json!(user.id),
                created["created_at"].clone(),
                json!(0)
            ),
            "{method}: only name and description change"
        );
        assert_eq!(
            answer.body["name"],
            json!(format!("renamed by {method}")),
            "{method}"
        );
    }

    let recent = "SELECT count(*) FROM projects WHERE id = $1 \
                  AND created_at > now() - interval '1 hour'";
    assert_eq!(
        stack.count_where(recent, id).await,
        1,
        "Postgres keeps its own created_at"
    );
    let owned_by = "SELECT count(*) FROM projects WHERE owner_id = $1";
    assert_eq!(
        stack.count_where(owned_by, victim.id).await,
        0,
        "the victim owns nothing"
    );
    assert_eq!(stack.count_where(owned_by, user.id).await, 1);
    let with_id = "SELECT count(*) FROM projects WHERE id = $1";
    assert_eq!(stack.count_where(with_id, MISSING).await, 0);
    assert_eq!(
        stack.get(PROJECTS, Some(&victim.access)).await.body["count"],
        json!(0),
        "nothing appears in the victim's list"
    );
    assert_eq!(
        stack.get(ME, Some(&user.access)).await.body["is_staff"],
        json!(false),
        "is_staff in a body makes nobody staff"
    );
}

#[tokio::test]
async fn security_mass_assignment_of_a_tasks_read_only_fields_is_ignored() {
    let stack = Stack::new();
    let user = stack.user().await;
    let victim = stack.user().await;
    let project = new_project(&stack, &user).await;
    let extra = read_only_fields(&victim);

    let created = stack
        .post(
            TASKS,
            &merged(json!({"project": project, "title": "mine"}), &extra),
            Some(&user.access),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    assert_ne!(id, MISSING, "the id is the database's");
    assert_ne!(created.body["created_at"], extra["created_at"]);
    assert_eq!(created.body["project"], json!(project));
    for field in ["owner", "updated_at", "is_staff", "task_count", "tasks"] {
        assert!(
            created.body.get(field).is_none(),
            "{field} is not a task field"
        );
    }

    let detail = format!("{TASKS}{id}/");
    for method in [Method::PUT, Method::PATCH] {
        let body = merged(
            json!({"project": project, "title": format!("by {method}")}),
            &extra,
        );
        let answer = stack
            .call(method.clone(), &detail, &body, &user.access)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{method}: {}", answer.text);
        assert_eq!(
            (answer.body["id"].clone(), answer.body["created_at"].clone()),
            (json!(id), created.body["created_at"].clone()),
            "{method}: id and created_at stay"
        );
    }

    let recent = "SELECT count(*) FROM tasks WHERE id = $1 \
                  AND created_at > now() - interval '1 hour'";
    assert_eq!(
        stack.count_where(recent, id).await,
        1,
        "Postgres keeps its own created_at"
    );
    let with_id = "SELECT count(*) FROM tasks WHERE id = $1";
    assert_eq!(stack.count_where(with_id, MISSING).await, 0);
    assert_eq!(
        stack.get(TASKS, Some(&victim.access)).await.body["count"],
        json!(0),
        "nothing appears in the victim's list"
    );
}

#[tokio::test]
async fn security_mass_assignment_at_registration_makes_nobody_staff() {
    let stack = Stack::new();
    let username = unique("climber");
    let password = "a-fine-password";
    let created = stack
        .post(
            REGISTER,
            &json!({
                "username": username,
                "password": password,
                "email": format!("{username}@example.com"),
                "is_staff": true,
                "is_superuser": true,
                "is_active": true,
                "id": MISSING,
                "date_joined": "2000-01-01T00:00:00Z",
            }),
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    assert_ne!(id, MISSING, "the id is the database's");
    let mut fields: Vec<&str> = created
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["email", "id", "username"],
        "the contract's answer, nothing else"
    );

    let tokens = stack
        .post(
            "/api/token/",
            &json!({"username": username, "password": password}),
            None,
        )
        .await;
    let access = tokens.body["access"].as_str().unwrap();
    assert_eq!(
        claims_of(access)["is_staff"],
        json!(false),
        "the access token"
    );
    let refresh = tokens.body["refresh"].as_str().unwrap();
    assert_eq!(
        claims_of(refresh)["is_staff"],
        json!(false),
        "the refresh token"
    );
    let me = stack.get(ME, Some(access)).await;
    assert_eq!(me.body["is_staff"], json!(false));
    assert_ne!(me.body["date_joined"], json!("2000-01-01T00:00:00Z"));

    let staff = "SELECT count(*) FROM users WHERE username = $1 AND is_staff";
    assert_eq!(
        stack.count_where(staff, username.clone()).await,
        0,
        "Postgres"
    );
    let with_id = "SELECT count(*) FROM users WHERE id = $1";
    assert_eq!(stack.count_where(with_id, MISSING).await, 0);
}

// ---------------------------------------------------------------------------------------------
// JWT attacks (beyond `authentication.rs`'s `bad_tokens_are_refused_with_the_contract_bodies`)
// ---------------------------------------------------------------------------------------------

/// The test's own HMAC must sign as the stack does, or every attack below proves nothing.
#[tokio::test]
async fn security_jwt_the_suites_signer_matches_the_stacks() {
    let stack = Stack::new();
    let user = stack.user().await;
    let (input, signature) = user.access.rsplit_once('.').unwrap();
    assert_eq!(
        e2e::base64url_bytes(&hs256::hmac(&stack_key(), input.as_bytes())),
        signature,
        "HMAC-SHA256 over the issued token's header and payload"
    );
    assert_bearer_accepted(
        &stack,
        &jwt(&hs256_header(), &access_claims(&user), &stack_key()),
        "a token the suite signs with the stack's key",
    )
    .await;
}

#[tokio::test]
async fn security_jwt_alg_none_is_refused_in_any_case_and_any_form() {
    let stack = Stack::new();
    let user = stack.user().await;
    let claims = base64url(&access_claims(&user).to_string());
    let real_signature = user.access.rsplit_once('.').unwrap().1.to_owned();
    for alg in [
        json!("none"),
        json!("None"),
        json!("NONE"),
        json!("nOnE"),
        json!(""),
        json!(null),
    ] {
        let header = base64url(&json!({"alg": alg, "typ": "JWT"}).to_string());
        let input = format!("{header}.{claims}");
        let correct_mac = e2e::base64url_bytes(&hs256::hmac(&stack_key(), input.as_bytes()));
        let forms = [
            ("no signature", format!("{input}.")),
            ("no signature part", input.clone()),
            (
                "the issued token's signature",
                format!("{input}.{real_signature}"),
            ),
            ("a valid HS256 MAC", format!("{input}.{correct_mac}")),
        ];
        for (form, token) in forms {
            assert_bearer_refused(
                &stack,
                &token,
                "Token is invalid",
                &format!("alg {alg}, {form}"),
            )
            .await;
        }
    }
    let no_alg = jwt(&json!({"typ": "JWT"}), &access_claims(&user), &stack_key());
    assert_bearer_refused(&stack, &no_alg, "Token is invalid", "a header without alg").await;
}

#[tokio::test]
async fn security_jwt_algorithm_confusion_is_refused() {
    let stack = Stack::new();
    let user = stack.user().await;
    let claims = access_claims(&user);
    // What a confused verifier would take for "the public key" and feed to HMAC.
    let public_key = b"-----BEGIN PUBLIC KEY-----\n\
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\n\
        q9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n\
        -----END PUBLIC KEY-----\n";
    for alg in [
        "RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA", "HS384", "HS512",
    ] {
        let header = json!({"alg": alg, "typ": "JWT"});
        for (key_name, key) in [
            ("the stack's key", stack_key()),
            ("a public key", public_key.to_vec()),
        ] {
            let token = jwt(&header, &claims, &key);
            assert_bearer_refused(
                &stack,
                &token,
                "Token is invalid",
                &format!("alg {alg}, HMAC with {key_name}"),
            )
            .await;
        }
    }
    let token = jwt(&hs256_header(), &claims, public_key);
    assert_bearer_refused(
        &stack,
        &token,
        "Token is invalid",
        "HS256 keyed with a public key",
    )
    .await;
}

#[tokio::test]
async fn security_jwt_tampered_stripped_and_foreign_signatures_are_refused() {
    let stack = Stack::new();
    let user = stack.user().await;
    let other = stack.user().await;
    let (input, signature) = user.access.rsplit_once('.').unwrap();
    let (header, _) = input.split_once('.').unwrap();
    let with_claims = |change: &dyn Fn(&mut Value)| -> String {
        let mut claims = claims_of(&user.access);
        change(&mut claims);
        format!("{header}.{}.{signature}", base64url(&claims.to_string()))
    };
    // The first character: the last one carries two slack bits, which a change may not touch.
    let flipped = format!(
        "{}{}",
        if signature.starts_with('A') { 'B' } else { 'A' },
        &signature[1..]
    );
    let spaced_claims = serde_json::to_string_pretty(&claims_of(&user.access)).unwrap();
    let cases = [
        (
            "another user's uid, the original signature",
            with_claims(&|c: &mut Value| c["uid"] = json!(other.id.to_string())),
        ),
        (
            "a later exp, the original signature",
            with_claims(&|c: &mut Value| c["exp"] = json!(chrono_now() + 86_400 * 365)),
        ),
        (
            "the same claims re-serialised, the original signature",
            format!("{header}.{}.{signature}", base64url(&spaced_claims)),
        ),
        ("the signature stripped, dot kept", format!("{input}.")),
        ("the signature stripped", input.to_owned()),
        (
            "another user's valid signature",
            format!("{input}.{}", other.access.rsplit_once('.').unwrap().1),
        ),
        (
            "a signature character changed",
            format!("{input}.{flipped}"),
        ),
        (
            "the signature truncated",
            format!("{input}.{}", &signature[..signature.len() - 2]),
        ),
        ("the signature extended", format!("{input}.{signature}AA")),
        ("the signature padded", format!("{input}.{signature}=")),
        (
            "the signature in standard base64",
            format!(
                "{input}.{}",
                signature.replace('-', "+").replace('_', "/") + "="
            ),
        ),
        (
            "signed with an empty key",
            jwt(&hs256_header(), &access_claims(&user), b""),
        ),
        (
            "signed with \"secret\"",
            jwt(&hs256_header(), &access_claims(&user), b"secret"),
        ),
        (
            "signed with the stack's key and a byte more",
            jwt(
                &hs256_header(),
                &access_claims(&user),
                &[stack_key(), b"x".to_vec()].concat(),
            ),
        ),
    ];
    for (case, token) in cases {
        assert_bearer_refused(&stack, &token, "Token is invalid", case).await;
    }
    assert_bearer_accepted(&stack, &user.access, "the untouched token").await;
}

#[tokio::test]
async fn security_jwt_junk_tokens_and_malformed_headers_are_refused() {
    let stack = Stack::new();
    let user = stack.user().await;
    let key = stack_key();
    let signed_claims = |claims: Value| jwt(&hs256_header(), &claims, &key);
    let without = |field: &str| {
        let mut claims = access_claims(&user);
        claims.as_object_mut().unwrap().remove(field);
        signed_claims(claims)
    };
    let with = |field: &str, value: Value| {
        let mut claims = access_claims(&user);
        claims[field] = value;
        signed_claims(claims)
    };
    let cases = [
        ("a.b.c", "a.b.c".to_owned()),
        ("two dots", "..".to_owned()),
        ("three dots", "...".to_owned()),
        ("four parts", "a.b.c.d".to_owned()),
        ("an empty payload", "a..c".to_owned()),
        ("an empty header", ".b.c".to_owned()),
        ("not base64", "*&^%.$#@!.~~~~".to_owned()),
        (
            "base64 of non-JSON",
            format!("{}.{}.c", base64url("hello"), base64url("world")),
        ),
        ("empty JSON objects", "e30.e30.e30".to_owned()),
        (
            "a valid token and a fifth part",
            format!("{}.x", user.access),
        ),
        (
            "a valid token twice",
            format!("{}{}", user.access, user.access),
        ),
        ("null", "null".to_owned()),
        // Validly signed, but not the claims of an access token.
        ("signed empty claims", signed_claims(json!({}))),
        (
            "signed claims that are an array",
            signed_claims(json!([1, 2, 3])),
        ),
        ("signed, without jti", without("jti")),
        ("signed, with an empty jti", with("jti", json!(""))),
        ("signed, without uid", without("uid")),
        ("signed, without exp", without("exp")),
        ("signed, uid not an id", with("uid", json!("1 OR 1=1"))),
        ("signed, uid zero", with("uid", json!("0"))),
        ("signed, exp as text", with("exp", json!("99999999999"))),
        (
            "signed, an unknown token_type",
            with("token_type", json!("id")),
        ),
        (
            "signed, token_type in capitals",
            with("token_type", json!("ACCESS")),
        ),
    ];
    for (case, token) in cases {
        assert_bearer_refused(&stack, &token, "Token is invalid", case).await;
    }

    let bad_header = json!({
        "detail": "Authorization header must contain two space-delimited values",
        "code": "bad_authorization_header",
    });
    let token_and_more = format!("Bearer {} x", user.access);
    for value in ["Bearer", "Bearer a b", token_and_more.as_str()] {
        for path in BEARER_TARGETS {
            let answer = stack
                .send(
                    stack
                        .request(Method::GET, path)
                        .header("authorization", value),
                )
                .await;
            assert_unauthorized(&answer, &bad_header, &format!("{value:.20}…, {path}"));
        }
    }
}

#[tokio::test]
async fn security_jwt_oversized_tokens_are_refused_even_when_validly_signed() {
    let stack = Stack::new();
    let user = stack.user().await;
    let keys = TokenKeys::from_secret(&stack_key());
    // A valid token made long by its (unchecked) username claim, as long as the limit allows
    // and one step longer.
    let payload = base64url_decode(user.access.split('.').nth(1).unwrap());
    let claims: Claims = serde_json::from_slice(&payload).unwrap();
    let signed_with_name = |length: usize| {
        keys.encode(&Claims {
            username: "u".repeat(length),
            jti: unique("long"),
            ..claims.clone()
        })
    };
    let mut length = 2_000;
    while signed_with_name(length + 1).len() <= MAX_TOKEN_CHARS {
        length += 1;
    }
    let longest = signed_with_name(length);
    let too_long = signed_with_name(length + 3);
    assert!(longest.len() <= MAX_TOKEN_CHARS && too_long.len() > MAX_TOKEN_CHARS);
    assert_bearer_accepted(&stack, &longest, "a valid token at the limit").await;
    assert_bearer_refused(
        &stack,
        &too_long,
        "Token is invalid",
        "a valid token past the limit",
    )
    .await;
    for size in [MAX_TOKEN_CHARS + 1, 8 * 1024] {
        assert_bearer_refused(
            &stack,
            &"a".repeat(size),
            "Token is invalid",
            &format!("{size} chars"),
        )
        .await;
    }

    // The token endpoints hold the same limit on their fields: refused, and nothing written.
    for (path, field) in [
        ("/api/token/verify/", "token"),
        ("/api/token/refresh/", "refresh"),
        ("/api/token/blacklist/", "refresh"),
    ] {
        let answer = stack.post(path, &json!({field: too_long}), None).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.text
        );
        assert_eq!(
            answer.errors(),
            &json!({field: [format!("Ensure this field has no more than {MAX_TOKEN_CHARS} characters.")]}),
            "{path}"
        );
    }
    let refreshed = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": user.refresh}),
            None,
        )
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::OK,
        "the user's refresh token still works"
    );
}

#[tokio::test]
async fn security_jwt_key_references_in_the_header_are_never_followed() {
    let stack = Stack::new();
    let user = stack.user().await;
    // Where an attacker would host their keys: a listener that must never be called.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_url = format!("http://{}", trap.local_addr().unwrap());
    let attacker_key = b"the-attackers-own-key-0123456789";
    let attacker_jwk =
        json!({"kty": "oct", "kid": "attacker", "k": e2e::base64url_bytes(attacker_key)});
    let headers = [
        json!({"alg": "HS256", "typ": "JWT", "kid": "attacker"}),
        json!({"alg": "HS256", "kid": "../../../../../../dev/null"}),
        json!({"alg": "HS256", "kid": "x' UNION SELECT 'key"}),
        json!({"alg": "HS256", "jku": format!("{trap_url}/jwks.json"), "kid": "attacker"}),
        json!({"alg": "HS256", "x5u": format!("{trap_url}/cert.pem")}),
        json!({"alg": "HS256", "jwk": attacker_jwk}),
        json!({"alg": "HS256", "x5c": ["MIIBszCCAVmgAwIBAgIUeJ5PVtrb2Lkzr3fNr8jZbGQ2ld0wCgYIKoZIzj0EAwIw"]}),
        json!({"alg": "RS256", "jwk": {"kty": "RSA", "e": "AQAB", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"}}),
    ];
    for header in headers {
        let token = jwt(&header, &access_claims(&user), attacker_key);
        assert_bearer_refused(
            &stack,
            &token,
            "Token is invalid",
            &format!("header {header}"),
        )
        .await;
    }
    let called = tokio::time::timeout(Duration::from_millis(500), trap.accept()).await;
    assert!(
        called.is_err(),
        "the edge fetched a key from the token's header: {called:?}"
    );
}

#[tokio::test]
async fn security_jwt_time_claims_are_enforced() {
    let stack = Stack::new();
    let user = stack.user().await;
    let key = stack_key();
    let now = chrono_now();
    let at = |changes: Value| {
        let claims = merged(access_claims(&user), &changes);
        jwt(&hs256_header(), &claims, &key)
    };
    // Expiry has no leeway: a token is expired from its `exp` second on.
    for (case, exp) in [
        ("expired 2 s ago", now - 2),
        ("expired a minute ago", now - 60),
        ("expired a day ago", now - 86_400),
        ("expired at the epoch", 0),
    ] {
        let token = at(json!({"exp": exp, "iat": exp - 900}));
        assert_bearer_refused(&stack, &token, "Token is expired", case).await;
    }
    let (_, forged_expired) = forge(&user, now - 15 * 60 - 5, TokenLifetimes::default());
    assert_bearer_refused(
        &stack,
        &forged_expired,
        "Token is expired",
        "issued 15 min 5 s ago",
    )
    .await;

    // `nbf` and `iat` may run ahead of the edge's clock by the 30 s skew, no more.
    for (case, changes) in [
        ("nbf in a minute", json!({"nbf": now + 60})),
        (
            "nbf in a day",
            json!({"nbf": now + 86_400, "exp": now + 2 * 86_400}),
        ),
        (
            "iat in an hour",
            json!({"iat": now + 3_600, "exp": now + 4_000}),
        ),
        ("nbf as text", json!({"nbf": "0"})),
    ] {
        assert_bearer_refused(&stack, &at(changes), "Token is invalid", case).await;
    }
    assert_bearer_accepted(&stack, &at(json!({"nbf": now + 5})), "nbf within the skew").await;
    assert_bearer_accepted(&stack, &at(json!({"nbf": now - 60})), "nbf passed").await;

    let (expired_refresh, _) = forge(&user, now - 8 * 86_400, TokenLifetimes::default());
    let answer = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": expired_refresh}),
            None,
        )
        .await;
    assert_unauthorized(
        &answer,
        &json!({"detail": "Token is expired", "code": "token_not_valid"}),
        "an expired refresh token at the refresh endpoint",
    );
}

#[tokio::test]
async fn security_jwt_refresh_and_access_tokens_are_not_interchangeable() {
    let stack = Stack::new();
    let user = stack.user().await;
    assert_bearer_refused(
        &stack,
        &user.refresh,
        "Token has wrong type",
        "a refresh token as bearer",
    )
    .await;
    let relabelled = jwt(
        &hs256_header(),
        &merged(
            access_claims(&user),
            &json!({"token_type": "refresh", "exp": chrono_now() + 86_400}),
        ),
        &stack_key(),
    );
    assert_bearer_refused(
        &stack,
        &relabelled,
        "Token has wrong type",
        "refresh claims as bearer",
    )
    .await;

    let wrong_type = json!({"detail": "Token has wrong type", "code": "token_not_valid"});
    for path in ["/api/token/refresh/", "/api/token/blacklist/"] {
        let answer = stack
            .post(path, &json!({"refresh": user.access}), None)
            .await;
        assert_unauthorized(&answer, &wrong_type, &format!("an access token at {path}"));
    }
    assert_eq!(
        stack
            .count_where(
                "SELECT count(*) FROM blacklisted_tokens WHERE user_id = $1",
                user.id
            )
            .await,
        0,
        "nothing was blacklisted"
    );
    let rotated = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": user.refresh}),
            None,
        )
        .await;
    assert_eq!(
        rotated.status,
        StatusCode::OK,
        "the refresh token still works: {}",
        rotated.text
    );
}

#[tokio::test]
async fn security_jwt_a_deleted_users_tokens_are_refused_everywhere() {
    let stack = Stack::new();
    let user = stack.user().await;
    let deleted = stack
        .delete(ME, &json!({"password": user.password}), &user.access)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);

    let gone = json!({"detail": "User not found", "code": "user_not_found"});
    let fresh = jwt(&hs256_header(), &access_claims(&user), &stack_key());
    for (case, token) in [
        ("the issued token", &user.access),
        ("a fresh valid token", &fresh),
    ] {
        for path in [ME, PROJECTS, TASKS, "/api/v1/orders/"] {
            let answer = stack.get(path, Some(token)).await;
            assert_unauthorized(&answer, &gone, &format!("{case}, {path}"));
        }
        let write = stack
            .post(PROJECTS, &json!({"name": "ghost"}), Some(token))
            .await;
        assert_unauthorized(&write, &gone, &format!("{case}, a write"));
    }
    assert_eq!(
        stack
            .count_where("SELECT count(*) FROM projects WHERE owner_id = $1", user.id)
            .await,
        0,
        "no ghost project"
    );
}

// ---------------------------------------------------------------------------------------------
// Input limits
// ---------------------------------------------------------------------------------------------

/// `body` as JSON, padded with trailing spaces (still valid JSON) to exactly `size` bytes.
fn padded(body: &Value, size: usize) -> Vec<u8> {
    let mut bytes = body.to_string().into_bytes();
    assert!(
        bytes.len() <= size,
        "the body is longer than {size} already"
    );
    bytes.resize(size, b' ');
    bytes
}

fn too_large() -> Value {
    json!({"detail": format!("Request body exceeds the limit of {MAX_JSON_BODY_BYTES} bytes.")})
}

async fn send_bytes(
    stack: &Stack,
    method: Method,
    path: &str,
    body: Vec<u8>,
    token: Option<&str>,
) -> Answer {
    let mut request = stack
        .request(method, path)
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    stack.send(request).await
}

/// A POST whose body is sent chunked (no `Content-Length`), over a plain socket; the answer's
/// status code.
async fn post_chunked(stack: &Stack, path: &str, token: &str, body: &[u8]) -> u16 {
    let address = stack.edge.trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let mut wire = head.into_bytes();
    for chunk in body.chunks(4096) {
        wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    // The edge may answer and close before the last chunk: a failed write is expected then.
    let sending = tokio::spawn(async move {
        let _ = writer.write_all(&wire).await;
        let _ = writer.flush().await;
        writer
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut answer)).await;
    drop(sending.await);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer to the chunked POST: {text:.200}"))
}

#[tokio::test]
async fn security_limits_json_bodies_over_64_kib_are_413_before_parsing_and_write_nothing() {
    let stack = Stack::new();
    let user = stack.user().await;
    let project = new_project(&stack, &user).await;
    let task = new_task(&stack, &user, project).await;
    let project_before = owners_view(&stack, &user, &format!("{PROJECTS}{project}/")).await;
    let newcomer = unique("big");
    let over = MAX_JSON_BODY_BYTES + 1;
    let token = Some(user.access.as_str());
    let cases: Vec<(Method, String, Value, Option<&str>)> = vec![
        (
            Method::POST,
            PROJECTS.to_owned(),
            json!({"name": "big"}),
            token,
        ),
        (
            Method::PUT,
            format!("{PROJECTS}{project}/"),
            json!({"name": "big"}),
            token,
        ),
        (
            Method::PATCH,
            format!("{PROJECTS}{project}/"),
            json!({"name": "big"}),
            token,
        ),
        (
            Method::POST,
            TASKS.to_owned(),
            json!({"project": project, "title": "big"}),
            token,
        ),
        (
            Method::PATCH,
            format!("{TASKS}{task}/"),
            json!({"title": "big"}),
            token,
        ),
        (
            Method::DELETE,
            ME.to_owned(),
            json!({"password": user.password}),
            token,
        ),
        (
            Method::POST,
            REGISTER.to_owned(),
            json!({"username": newcomer, "password": "a-fine-password", "email": "big@example.com"}),
            None,
        ),
        (
            Method::POST,
            "/api/token/".to_owned(),
            json!({"username": user.username, "password": user.password}),
            None,
        ),
        (
            Method::POST,
            "/api/token/refresh/".to_owned(),
            json!({"refresh": user.refresh}),
            None,
        ),
        (
            Method::POST,
            "/api/token/verify/".to_owned(),
            json!({"token": user.access}),
            None,
        ),
        (
            Method::POST,
            "/api/token/blacklist/".to_owned(),
            json!({"refresh": user.refresh}),
            None,
        ),
        (
            Method::POST,
            "/api/v1/orders/".to_owned(),
            json!({"email": "a@example.com", "items": []}),
            None,
        ),
        (
            Method::POST,
            "/api/v1/payments/intent/".to_owned(),
            json!({"order_id": 1}),
            token,
        ),
    ];
    for (method, path, body, token) in cases {
        let case = format!("{method} {path}");
        let answer = send_bytes(&stack, method.clone(), &path, padded(&body, over), token).await;
        assert_eq!(
            answer.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{case}: {}",
            answer.text
        );
        assert_eq!(answer.errors(), &too_large(), "{case}");
        // Not even looked at: a body that is not JSON at all gets the same answer.
        let junk = send_bytes(&stack, method, &path, vec![b'{'; over], token).await;
        assert_eq!(
            junk.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{case}, junk: {}",
            junk.text
        );
    }
    let chunked = post_chunked(
        &stack,
        PROJECTS,
        &user.access,
        &padded(&json!({"name": "big"}), over),
    )
    .await;
    assert_eq!(
        chunked, 413,
        "a chunked body with no Content-Length is held to the limit too"
    );

    // At the limit exactly, a body is read.
    let at_limit = send_bytes(
        &stack,
        Method::POST,
        PROJECTS,
        padded(&json!({"name": "at the limit"}), MAX_JSON_BODY_BYTES),
        Some(&user.access),
    )
    .await;
    assert_eq!(at_limit.status, StatusCode::CREATED, "{}", at_limit.text);

    // Nothing above was written: one project (and the one at the limit), its task, the user,
    // and the refresh token that the refused refresh and logout carried.
    assert_eq!(
        stack
            .count_where("SELECT count(*) FROM projects WHERE owner_id = $1", user.id)
            .await,
        2
    );
    assert_eq!(
        owners_view(&stack, &user, &format!("{PROJECTS}{project}/")).await,
        project_before
    );
    assert_eq!(stack.users_named(&newcomer).await, 0, "no registration");
    let rotated = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": user.refresh}),
            None,
        )
        .await;
    assert_eq!(
        rotated.status,
        StatusCode::OK,
        "the refresh token was not used: {}",
        rotated.text
    );
    assert_eq!(
        stack.get(ME, Some(&user.access)).await.status,
        StatusCode::OK,
        "the account is still there"
    );
}

/// Every response wears the contract's headers, a refused oversized body included: without
/// `X-Request-ID` nobody can trace it, and without CORS a browser cannot even read the 413.
#[tokio::test]
async fn security_limits_a_413_wears_the_headers_of_every_response() {
    let stack = Stack::new();
    let id = unique("big-body");
    let answer = stack
        .send(
            stack
                .request(Method::POST, "/api/token/")
                .header("content-type", "application/json")
                .header("origin", "http://localhost:5173")
                .header("x-request-id", &id)
                .body(vec![b' '; MAX_JSON_BODY_BYTES + 1]),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
    for (name, value) in [
        ("x-request-id", id.as_str()),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("vary", "Origin"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(answer.header(name), Some(value), "{name} on a 413");
    }
    assert!(
        answer.header("access-control-allow-origin").is_some(),
        "a browser may read the 413 in development (all origins)"
    );
}

/// What a JSON API answer allows a browser to do with it: nothing (no scripts, no frames).
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

#[tokio::test]
async fn security_headers_every_answer_has_a_strict_csp_and_names_no_software() {
    let stack = Stack::new();
    let user = stack.user().await;
    let answers = [
        ("health", stack.get("/health/", None).await),
        ("a list", stack.get(PROJECTS, Some(&user.access)).await),
        ("a 401", stack.get(PROJECTS, None).await),
        ("a 404", stack.get("/nowhere/", None).await),
        (
            "a token refusal",
            stack
                .post(
                    "/api/token/",
                    &json!({"username": "nobody", "password": "x"}),
                    None,
                )
                .await,
        ),
        (
            "a 414",
            stack
                .get(
                    &format!("{PROJECTS}?{}", "x".repeat(MAX_QUERY_BYTES + 1)),
                    None,
                )
                .await,
        ),
    ];
    for (what, answer) in &answers {
        assert_eq!(
            answer.header("content-security-policy"),
            Some(API_CSP),
            "{what}"
        );
        for name in ["server", "x-powered-by", "via", "x-runtime", "x-version"] {
            assert_eq!(answer.header(name), None, "{what} names its {name}");
        }
        // Whatever is in it, no header names the software behind the answer.
        for (name, value) in &answer.headers {
            let value = value.to_str().unwrap_or_default().to_ascii_lowercase();
            for software in ["workerd", "wrangler", "miniflare", "axum", "hyper", "rust"] {
                assert!(!value.contains(software), "{what}: {name}: {value}");
            }
        }
    }
}

#[tokio::test]
async fn security_limits_a_query_string_past_4096_bytes_is_414_before_it_is_read() {
    let stack = Stack::new();
    let user = stack.user().await;
    for _ in 0..3 {
        new_project(&stack, &user).await;
    }
    // `page_size=1` last, ending exactly at the limit: read.
    let tail = "&page_size=1";
    let filler = MAX_QUERY_BYTES - "pad=".len() - tail.len();
    let at_limit = format!("pad={}{tail}", "x".repeat(filler));
    assert_eq!(at_limit.len(), MAX_QUERY_BYTES);
    let answer = stack
        .get(&format!("{PROJECTS}?{at_limit}"), Some(&user.access))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.body["results"].as_array().map(Vec::len),
        Some(1),
        "a parameter ending at byte 4096 is read"
    );
    // One byte more: refused whole, before authentication or a read.
    let past_limit = format!("pad={}{tail}", "x".repeat(filler + 1));
    for token in [Some(user.access.as_str()), None] {
        let answer = stack.get(&format!("{PROJECTS}?{past_limit}"), token).await;
        assert_eq!(answer.status.as_u16(), 414, "{}", answer.text);
        assert_eq!(
            answer.body,
            json!({"status_code": 414, "errors": {"detail": "Query string exceeds the limit of 4096 bytes."}})
        );
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    }
}

#[tokio::test]
async fn security_limits_headers_past_12_kib_in_total_are_431() {
    let stack = Stack::new();
    let user = stack.user().await;
    let headers_with = |filler: usize| {
        stack
            .request(reqwest::Method::GET, PROJECTS)
            .bearer_auth(&user.access)
            .header("x-filler-one", "y".repeat(filler / 2))
            .header("x-filler-two", "y".repeat(filler - filler / 2))
    };
    // A token of the longest kind plus ordinary headers fits…
    let answer = stack.send(headers_with(MAX_TOKEN_CHARS)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    // …headers past the limit in total do not, whichever header carries them.
    let answer = stack.send(headers_with(MAX_HEADER_BYTES)).await;
    assert_eq!(answer.status.as_u16(), 431, "{}", answer.text);
    assert_eq!(
        answer.body["errors"]["detail"],
        "Request headers exceed the limit of 12288 bytes in total."
    );
}

#[tokio::test]
async fn security_limits_page_size_is_capped_at_100() {
    let stack = Stack::new();
    let user = stack.user().await;
    let created: Vec<StatusCode> = futures::stream::iter(0..101)
        .map(|i| {
            let stack = stack.clone();
            let token = user.access.clone();
            async move {
                stack
                    .post(PROJECTS, &json!({"name": format!("p{i}")}), Some(&token))
                    .await
                    .status
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    assert!(
        created.iter().all(|s| *s == StatusCode::CREATED),
        "{created:?}"
    );

    for (page_size, expected) in [
        ("100", 100),
        ("101", 100),
        ("1000", 100),
        ("4294967297", 100),
        ("0", 20),
        ("-5", 20),
        ("abc", 20),
    ] {
        let answer = stack
            .get(
                &format!("{PROJECTS}?page_size={page_size}"),
                Some(&user.access),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "page_size={page_size}: {}",
            answer.text
        );
        assert_eq!(
            (
                answer.body["count"].clone(),
                answer.body["results"].as_array().unwrap().len()
            ),
            (json!(101), expected),
            "page_size={page_size}"
        );
    }
    let last = stack
        .get(
            &format!("{PROJECTS}?page_size=1000&page=2"),
            Some(&user.access),
        )
        .await;
    assert_eq!(
        (last.status, last.body["results"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1)),
        "pages are counted with the capped size"
    );
}

/// DRF reads `page_size` as a Python integer (any size) and cuts it at the maximum, so a
/// number too large for 64 bits is still "capped at 100", as the contract says.
#[tokio::test]
async fn security_limits_a_page_size_past_64_bits_is_capped_too() {
    let stack = Stack::new();
    let user = stack.user().await;
    let created: Vec<StatusCode> = futures::stream::iter(0..21)
        .map(|i| {
            let stack = stack.clone();
            let token = user.access.clone();
            async move {
                stack
                    .post(PROJECTS, &json!({"name": format!("p{i}")}), Some(&token))
                    .await
                    .status
            }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    assert!(
        created.iter().all(|s| *s == StatusCode::CREATED),
        "{created:?}"
    );
    let answer = stack
        .get(
            &format!("{PROJECTS}?page_size=99999999999999999999"),
            Some(&user.access),
        )
        .await;
    assert_eq!(
        answer.body["results"].as_array().map(Vec::len),
        Some(21),
        "capped at 100, so all 21 on one page"
    );
}

#[tokio::test]
async fn security_limits_search_terms_and_length() {
    let stack = Stack::new();
    let user = stack.user().await;
    let terms = |n: usize| {
        (0..n)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let too_many = json!({"search": [format!("Use at most {MAX_TERMS} search terms.")]});
    let too_long = json!({"search": [format!("Ensure this field has no more than {MAX_SEARCH_CHARS} characters.")]});
    let phrase = format!("\"{}\"", terms(MAX_TERMS + 5));
    let cases: Vec<(String, Option<Value>)> = vec![
        (terms(MAX_TERMS), None),
        (terms(MAX_TERMS + 1), Some(too_many.clone())),
        (
            terms(MAX_TERMS + 1).replace(' ', ","),
            Some(too_many.clone()),
        ),
        // A quoted phrase is one term.
        (phrase, None),
        ("a".repeat(MAX_SEARCH_CHARS), None),
        ("a".repeat(MAX_SEARCH_CHARS + 1), Some(too_long.clone())),
        // Characters, not bytes.
        ("한".repeat(MAX_SEARCH_CHARS), None),
        ("한".repeat(MAX_SEARCH_CHARS + 1), Some(too_long.clone())),
    ];
    for path in [PROJECTS, TASKS] {
        for (search, refused) in &cases {
            let url = reqwest::Url::parse_with_params(
                &format!("{}{path}", stack.edge),
                &[("search", search.as_str())],
            )
            .unwrap();
            let answer = stack
                .send(
                    stack
                        .request(Method::GET, &url.as_str()[stack.edge.len()..])
                        .bearer_auth(&user.access),
                )
                .await;
            let case = format!(
                "{path}?search={search:.40}… ({} chars)",
                search.chars().count()
            );
            match refused {
                None => assert_eq!(answer.status, StatusCode::OK, "{case}: {}", answer.text),
                Some(errors) => {
                    assert_eq!(
                        answer.status,
                        StatusCode::BAD_REQUEST,
                        "{case}: {}",
                        answer.text
                    );
                    assert_eq!(answer.errors(), errors, "{case}");
                }
            }
        }
    }
}

#[tokio::test]
async fn security_limits_string_fields_have_maximum_lengths_and_refusals_write_nothing() {
    let stack = Stack::new();
    let user = stack.user().await;
    let project = new_project(&stack, &user).await;
    let task = new_task(&stack, &user, project).await;
    let project_path = format!("{PROJECTS}{project}/");
    let task_path = format!("{TASKS}{task}/");
    let project_before = owners_view(&stack, &user, &project_path).await;
    let task_before = owners_view(&stack, &user, &task_path).await;
    let limit = |n: usize| {
        json!([format!(
            "Ensure this field has no more than {n} characters."
        )])
    };

    // (method, path, field, limit, the rest of a valid body)
    let cases: Vec<(Method, String, &str, usize, Value)> = vec![
        (
            Method::POST,
            PROJECTS.to_owned(),
            "name",
            NAME_MAX,
            json!({}),
        ),
        (
            Method::POST,
            PROJECTS.to_owned(),
            "description",
            TEXT_MAX,
            json!({"name": "n"}),
        ),
        (
            Method::PUT,
            project_path.clone(),
            "name",
            NAME_MAX,
            json!({}),
        ),
        (
            Method::PATCH,
            project_path.clone(),
            "name",
            NAME_MAX,
            json!({}),
        ),
        (
            Method::PATCH,
            project_path.clone(),
            "description",
            TEXT_MAX,
            json!({}),
        ),
        (
            Method::POST,
            TASKS.to_owned(),
            "title",
            TITLE_MAX,
            json!({"project": project}),
        ),
        (
            Method::POST,
            TASKS.to_owned(),
            "detail",
            TEXT_MAX,
            json!({"project": project, "title": "t"}),
        ),
        (
            Method::PUT,
            task_path.clone(),
            "title",
            TITLE_MAX,
            json!({"project": project}),
        ),
        (
            Method::PATCH,
            task_path.clone(),
            "title",
            TITLE_MAX,
            json!({}),
        ),
        (
            Method::PATCH,
            task_path.clone(),
            "detail",
            TEXT_MAX,
            json!({}),
        ),
    ];
    for (method, path, field, max, rest) in &cases {
        // Characters, not bytes: a multi-byte character counts once, as in Postgres and DRF.
        for letter in ["x", "한"] {
            let case = format!("{method} {path} {field} of {} {letter}", max + 1);
            let mut body = rest.clone();
            body[*field] = json!(letter.repeat(max + 1));
            let answer = stack.call(method.clone(), path, &body, &user.access).await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{case}: {:.200}",
                answer.text
            );
            assert_eq!(answer.errors()[*field], limit(*max), "{case}");
        }
    }
    assert_eq!(
        owners_view(&stack, &user, &project_path).await,
        project_before,
        "project"
    );
    assert_eq!(
        owners_view(&stack, &user, &task_path).await,
        task_before,
        "task"
    );
    assert_eq!(
        stack
            .count_where("SELECT count(*) FROM projects WHERE owner_id = $1", user.id)
            .await,
        1,
        "no project was created"
    );
    assert_eq!(
        stack
            .count_where("SELECT count(*) FROM tasks WHERE project_id = $1", project)
            .await,
        1,
        "no task was created"
    );

    // At the limit, in multi-byte characters, the values are stored whole.
    let name = "한".repeat(NAME_MAX);
    let created = create_project(&stack, &user, &json!({"name": name})).await;
    assert_eq!(created["name"], json!(name));
    let title = "한".repeat(TITLE_MAX);
    let task = stack
        .post(
            TASKS,
            &json!({"project": project, "title": title, "detail": "d".repeat(TEXT_MAX)}),
            Some(&user.access),
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED, "{:.200}", task.text);
    assert_eq!(task.body["title"], json!(title));

    // Credentials: a long password costs Argon2 time, so it is refused before hashing.
    let newcomer = unique("long");
    for (path, body, field, max) in [
        (
            REGISTER,
            json!({"username": newcomer, "email": "long@example.com", "password": "p".repeat(4097)}),
            "password",
            4096,
        ),
        (
            REGISTER,
            json!({"username": newcomer, "email": format!("{}@example.com", "e".repeat(250)), "password": "a-fine-password"}),
            "email",
            254,
        ),
        (
            "/api/token/",
            json!({"username": user.username, "password": "p".repeat(4097)}),
            "password",
            4096,
        ),
    ] {
        let answer = stack.post(path, &body, None).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path} {field}: {}",
            answer.text
        );
        assert_eq!(answer.errors()[field], limit(max), "{path} {field}");
    }
    assert_eq!(stack.users_named(&newcomer).await, 0, "no registration");
}

#[tokio::test]
async fn security_limits_an_odd_or_long_request_id_is_replaced_not_echoed() {
    let stack = Stack::new();
    let plain = "a".repeat(62) + "-_";
    let answer = stack
        .send(
            stack
                .request(Method::GET, "/health/")
                .header("x-request-id", &plain),
        )
        .await;
    assert_eq!(
        answer.header("x-request-id"),
        Some(plain.as_str()),
        "64 plain characters are kept"
    );

    let marker = uuid::Uuid::new_v4().simple().to_string();
    let refused = [
        format!("{marker}{}", "a".repeat(65 - marker.len())),
        format!("{marker} space"),
        format!("{marker}\"quote"),
        format!("{marker};x=1"),
        format!("{marker}/../../etc"),
        format!("{marker}<script>"),
        format!("{marker}%0d%0a"),
        format!("{marker}\tTab"),
        String::new(),
    ];
    for id in &refused {
        // A write, so the id would travel to the origin and into both logs.
        let answer = stack
            .send(
                stack
                    .request(Method::POST, "/api/token/")
                    .header("x-request-id", id)
                    .json(&json!({"username": unique("nobody"), "password": "whatever-it-is"})),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{id:?}: {}",
            answer.text
        );
        let given = answer.header("x-request-id").unwrap_or_default();
        assert_ne!(given, id.as_str(), "{id:?} is not echoed");
        assert!(
            !given.is_empty()
                && given.len() <= 64
                && given
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{id:?} was replaced by a plain id, not {given:?}"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (edge, origin) = stack.log_text();
    assert!(
        !edge.contains(&marker) && !origin.contains(&marker),
        "a refused request id reached the logs"
    );
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA256, for tokens signed as an attacker would sign them
// ---------------------------------------------------------------------------------------------

mod hs256 {
    use hmac::{Hmac, Mac as _};
    use sha2::Sha256;

    /// HMAC-SHA256 of `message` under `key` (any length, as HMAC takes).
    pub fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}
