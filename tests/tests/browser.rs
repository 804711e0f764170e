//! The API docs pages in a real browser (issue 11 §5): Debian's `chromium`, headless, driven
//! over the devtools protocol ([`cdp`]). Swagger UI at `/api/docs/` must take a fresh access
//! token through "Authorize", send it with "Try it out" and keep it across a reload; Redoc at
//! `/api/redoc/` must render every operation of the document. Neither page may log an error or
//! a CSP violation: the headers tests (`docs_pages.rs`) check what the CSP says, these check
//! that the pages work under it.
//!
//! Each test starts its own chromium on its own profile, so they run side by side. Screenshots
//! are kept in `target/tmp/browser/` for a look. Every test name starts with `browser_`, so
//! `cargo xtask test -- browser_` runs them all.

// A crate root looks for its modules beside itself, not in a folder named after it.
#[path = "browser/cdp.rs"]
mod cdp;

use std::path::PathBuf;

use cdp::Page;
use e2e::{Stack, unique};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The document the edge serves, to know which operations Redoc must show.
const COMMITTED_JSON: &str = include_str!("../../openapi/openapi.json");

/// Swagger UI's block for `GET /api/v1/projects/` (`operations-{tag}-{operationId}`).
const PROJECT_LIST: &str = "#operations-v1-v1_projects_list";

/// Swagger UI (5.x) logs this console error whenever it opens a deep link whose operation id
/// holds an underscore, as all of ours do (`v1_projects_list`, drf-spectacular's names, kept
/// for DRF's clients): it cannot tell them from the old `_`-for-space escaping, so it tries both
/// and says so. The link works; the message is Swagger UI's, not a fault of the page.
const SWAGGER_DEEP_LINK_UNDERSCORE: &str =
    "Deprecated: escaping deep link whitespace with `_` is unsupported";

/// Redoc's sidebar shows Redocly's logo from their CDN; the CSP refuses it on purpose (only this
/// origin's files load, see `edge/assets/_headers`) and Redoc then hides the image.
const REDOC_LOGO: &str = "https://cdn.redoc.ly/redoc/logo-mini.svg";

/// Where the screenshots go: cargo's scratch folder for integration tests, `target/tmp/`.
fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("browser")
        .join(name)
}

#[tokio::test]
async fn browser_swagger_ui_authorizes_tries_out_the_project_list_and_remembers_the_token() {
    let stack = Stack::new();
    let user = stack.user().await;
    // A project only this user has: seeing it in the response proves the token was sent.
    let project = unique("browser_project");
    let created = stack
        .post(
            "/api/v1/projects/",
            &json!({"name": project}),
            Some(&user.access),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let mut page = Page::open().await;

    page.navigate(&format!("{}/api/docs/", stack.edge)).await;
    page.wait_for(
        "Swagger UI to render the project list operation",
        &format!("document.querySelector('{PROJECT_LIST}')"),
    )
    .await;
    authorize(&mut page, &user.access).await;
    page.click(
        "the project list operation's summary",
        &format!("{PROJECT_LIST} .opblock-summary-control"),
    )
    .await;
    let response = try_it_out(&mut page).await;

    response.assert_sent_the_token_and_listed(&user.access, &project);
    assert_eq!(
        page.evaluate("location.hash").await,
        "#/v1/v1_projects_list",
        "opening an operation links to it (deepLinking)"
    );
    page.evaluate(&format!(
        "document.querySelector('{PROJECT_LIST}').scrollIntoView()"
    ))
    .await;
    let shot = screenshot_path("swagger-try-it-out.png");
    page.screenshot(&shot).await;
    println!("screenshot: {}", shot.display());

    // persistAuthorization: after a reload the padlock is still closed and the token still sent;
    // deepLinking: the linked operation opens by itself.
    page.reload().await;
    page.wait_for(
        "the linked project list operation to open after the reload",
        &format!("document.querySelector('{PROJECT_LIST}.is-open .try-out__btn')"),
    )
    .await;
    page.wait_for(
        "the Authorize button to show the token kept from before the reload",
        "document.querySelector('.btn.authorize.locked')",
    )
    .await;
    let again = try_it_out(&mut page).await;
    again.assert_sent_the_token_and_listed(&user.access, &project);

    page.assert_no_problems(&[SWAGGER_DEEP_LINK_UNDERSCORE])
        .await;
}

#[tokio::test]
async fn browser_redoc_renders_every_operation_of_the_document() {
    let stack = Stack::new();
    let expected = documented_operations();
    let mut page = Page::open().await;

    page.navigate(&format!("{}/api/redoc/", stack.edge)).await;
    page.wait_for(
        &format!(
            "Redoc to render the document's {} operations",
            expected.len()
        ),
        &format!(
            "document.querySelectorAll('[data-section-id^=\"operation/\"]').length >= {}",
            expected.len()
        ),
    )
    .await;
    let rendered = rendered_operations(&mut page).await;
    // The screenshot shows one operation as Redoc renders it, beside the sidebar's list.
    page.evaluate(
        "document.querySelector('[data-section-id=\"operation/v1_projects_list\"]').scrollIntoView()",
    )
    .await;
    let shot = screenshot_path("redoc.png");
    page.screenshot(&shot).await;
    println!("screenshot: {}", shot.display());

    for known in [
        ("token_create", "Obtain a token pair"),
        ("v1_projects_list", "List your projects"),
        ("v1_tasks_create", "Create a task"),
    ] {
        assert!(
            rendered
                .iter()
                .any(|(id, heading)| (id.as_str(), heading.as_str()) == known),
            "Redoc shows {known:?} among {rendered:?}"
        );
    }
    assert_eq!(
        rendered, expected,
        "Redoc shows each operation of the document once, under its summary"
    );
    let title = page.text("h1").await;
    assert!(
        title.contains("Projects API"),
        "Redoc shows the document's title, not {title:?}"
    );
    page.assert_no_problems(&[REDOC_LOGO]).await;
}

/// Gives `token` to the jwtAuth scheme through "Authorize", as a user would, and closes the
/// dialog.
async fn authorize(page: &mut Page, token: &str) {
    page.click("the Authorize button", ".btn.authorize").await;
    page.fill(
        "the jwtAuth value in the Authorize dialog",
        ".auth-container #auth-bearer-value",
        token,
    )
    .await;
    page.click(
        "the dialog's Authorize button",
        ".auth-container .modal-btn.authorize",
    )
    .await;
    page.wait_for(
        "the dialog to say jwtAuth is authorized",
        "document.querySelector('.auth-container')?.innerText.includes('Authorized')",
    )
    .await;
    page.click("the dialog's Close button", ".auth-container .btn-done")
        .await;
    page.wait_for(
        "the dialog to close and the padlock to lock",
        "!document.querySelector('.modal-ux') && document.querySelector('.btn.authorize.locked')",
    )
    .await;
}

/// What Swagger UI shows after "Try it out" and "Execute" on the open project list operation.
#[derive(Debug)]
struct TriedOut {
    status: String,
    body: String,
    curl: String,
}

async fn try_it_out(page: &mut Page) -> TriedOut {
    page.click(
        "the project list's \"Try it out\" button",
        &format!("{PROJECT_LIST} .try-out__btn"),
    )
    .await;
    page.click(
        "the project list's \"Execute\" button",
        &format!("{PROJECT_LIST} .execute"),
    )
    .await;
    // The live response's row, under the table's header row (whose cells share its classes).
    let live = format!("{PROJECT_LIST} .live-responses-table tr.response");
    page.wait_for(
        "the server's response to the project list",
        &format!("document.querySelector('{live} .response-col_status')"),
    )
    .await;
    TriedOut {
        status: page.text(&format!("{live} .response-col_status")).await,
        body: page
            .text(&format!(
                "{live} .response-col_description .highlight-code pre"
            ))
            .await,
        curl: page
            .text(&format!("{PROJECT_LIST} .curl-command .curl"))
            .await,
    }
}

impl TriedOut {
    /// 200, the request carried `token`, and the list holds only the user's `project`.
    #[track_caller]
    fn assert_sent_the_token_and_listed(&self, token: &str, project: &str) {
        assert_eq!(
            self.status.trim(),
            "200",
            "Swagger UI's live response: {self:?}"
        );
        assert!(
            self.curl
                .contains(&format!("Authorization: Bearer {token}")),
            "the request Swagger UI sent carries the token:\n{}",
            self.curl
        );
        let body: Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the response body shown is JSON ({e}):\n{}", self.body));
        let names: Vec<&str> = body["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|listed| listed["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [project],
            "the user's projects, as shown:\n{}",
            self.body
        );
    }
}

/// Each operation of the committed document: (operationId, summary), sorted.
fn documented_operations() -> Vec<(String, String)> {
    let document: Value = serde_json::from_str(COMMITTED_JSON)
        .unwrap_or_else(|e| panic!("openapi/openapi.json is JSON: {e}"));
    let mut operations: Vec<(String, String)> = document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|path| path.values())
        .filter_map(|operation| {
            Some((
                operation["operationId"].as_str()?.to_owned(),
                operation["summary"].as_str()?.to_owned(),
            ))
        })
        .collect();
    operations.sort();
    operations
}

/// Each operation Redoc rendered: (operationId, heading), sorted. Redoc gives every operation a
/// section `operation/{operationId}` headed by its summary.
async fn rendered_operations(page: &mut Page) -> Vec<(String, String)> {
    let sections = page
        .evaluate(
            "[...document.querySelectorAll('[data-section-id^=\"operation/\"]')].map(section => [
                section.dataset.sectionId.slice('operation/'.length),
                section.querySelector('h2')?.innerText.trim() ?? '',
            ])",
        )
        .await;
    let mut operations: Vec<(String, String)> = serde_json::from_value(sections.clone())
        .unwrap_or_else(|e| panic!("Redoc's sections as [id, heading] pairs ({e}): {sections}"));
    operations.sort();
    operations
}
