//! The API docs pages (issue 11 §3), as `wrangler dev` serves them from the edge's static
//! assets (`edge/assets/`, plus the vendor bundles `scripts/docs-assets.sh` copies from the
//! pinned npm packages): Swagger UI at `/api/docs/`, Redoc at `/api/redoc/`. Each page answers
//! with its CSP and the standard headers, loads only files of this origin (each served with its
//! type), names no other site, and starts from `/api/schema/` without an inline script. Every
//! test name starts with `docs_pages_`, so `cargo xtask test -- docs_pages_` runs them all.
//!
//! The document itself (`/api/schema/`) is the worker's and is tested with it.

use e2e::{Answer, Stack};
use reqwest::StatusCode;

/// Swagger UI's policy: nothing inline, nothing from elsewhere.
const SWAGGER_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'none'";

/// Redoc's: the same, with the inline styles its styled-components inject and the blob: Web
/// Worker its search builds from its own code (see `edge/assets/_headers`).
const REDOC_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self' data:; worker-src blob:; \
    base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/// Both names of JavaScript's type are in use; either runs under `nosniff`.
const JAVASCRIPT: [&str; 2] = ["text/javascript", "application/javascript"];

/// What every file of both pages wears, besides its CSP.
const STANDARD_HEADERS: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
];

#[tokio::test]
async fn docs_pages_swagger_ui_loads_only_our_own_files_under_its_csp() {
    let stack = Stack::new();

    let page = stack.get("/api/docs/", None).await;

    assert_served(&page, "/api/docs/", &["text/html"], SWAGGER_CSP);
    assert_no_inline_code_nor_other_sites(&page.text, "/api/docs/");
    let files = references(&page.text);
    for expected in [
        "/api/docs/swagger-ui-bundle.js",
        "/api/docs/swagger-ui.css",
        "/api/docs/init.js",
    ] {
        assert!(
            files.iter().any(|file| file == expected),
            "/api/docs/ loads {expected}: {files:?}"
        );
    }
    assert_every_file_is_served(&stack, &files).await;

    let init = stack.get("/api/docs/init.js", None).await;
    assert_no_other_sites(&init.text, "/api/docs/init.js");
    for setting in [
        r#"url: "/api/schema/""#,
        "deepLinking: true",
        "persistAuthorization: true",
        r#"layout: "BaseLayout""#,
        "validatorUrl: null",
    ] {
        assert!(
            init.text.contains(setting),
            "init.js sets {setting}:\n{}",
            init.text
        );
    }
    // The standalone preset renders an inline <style>, which the CSP refuses.
    assert!(
        !init.text.contains("StandalonePreset"),
        "init.js runs without the standalone preset"
    );
}

#[tokio::test]
async fn docs_pages_redoc_loads_only_our_own_files_under_its_csp() {
    let stack = Stack::new();

    let page = stack.get("/api/redoc/", None).await;

    assert_served(&page, "/api/redoc/", &["text/html"], REDOC_CSP);
    assert_no_inline_code_nor_other_sites(&page.text, "/api/redoc/");
    assert!(
        page.text.contains(r#"<redoc spec-url="/api/schema/""#),
        "Redoc starts itself from the document:\n{}",
        page.text
    );
    let files = references(&page.text);
    assert!(
        files
            .iter()
            .any(|file| file == "/api/redoc/redoc.standalone.js"),
        "/api/redoc/ loads Redoc's bundle: {files:?}"
    );
    assert_every_file_is_served(&stack, &files).await;

    // Redoc 3 reports to Redocly unless the element says not to; the 2.x bundle has no such
    // code. (The CSP's connect-src would refuse the reports anyway.)
    let bundle = stack.get("/api/redoc/redoc.standalone.js", None).await;
    if bundle.text.contains("otel.cloud.redocly.com") {
        assert!(
            page.text.contains(r#"disable-telemetry="true""#),
            "this Redoc has telemetry: the page turns it off"
        );
    }
}

#[tokio::test]
async fn docs_pages_without_their_trailing_slash_redirect_to_it() {
    let stack = Stack::new();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();

    for (path, slashed) in [("/api/docs", "/api/docs/"), ("/api/redoc", "/api/redoc/")] {
        let response = client
            .get(format!("{}{path}", stack.edge))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));

        assert!(
            response.status().is_redirection(),
            "{path} redirects, not {}",
            response.status()
        );
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        assert!(
            location == slashed || location == format!("{}{slashed}", stack.edge),
            "{path} redirects to {slashed}, not {location:?}"
        );
    }
}

#[tokio::test]
async fn docs_pages_leave_every_other_path_to_the_worker() {
    let stack = Stack::new();

    // Files the docs do not have, and the assets' header rules (never served themselves): the
    // worker answers, with its JSON 404.
    for path in [
        "/api/docs/no-such-file.js",
        "/api/redoc/no/such/page/",
        "/_headers",
    ] {
        let answer = stack.get(path, None).await;

        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text
        );
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{path} is answered by the worker"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// 200, of one of `kinds`, with `csp` exactly and the standard headers.
#[track_caller]
fn assert_served(answer: &Answer, path: &str, kinds: &[&str], csp: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
    let content_type = answer.header("content-type").unwrap_or_default();
    assert!(
        kinds.iter().any(|kind| content_type.starts_with(kind)),
        "{path} is {kinds:?}, not {content_type:?}"
    );
    assert_eq!(
        answer.header("content-security-policy"),
        Some(csp),
        "{path}'s CSP"
    );
    for (name, value) in STANDARD_HEADERS {
        assert_eq!(answer.header(name), Some(value), "{path}: {name}");
    }
}

/// Every file a page references answers 200 with the type of its extension, under the CSP of
/// its folder.
async fn assert_every_file_is_served(stack: &Stack, files: &[String]) {
    for file in files {
        let kinds: &[&str] = match file.rsplit_once('.').map(|(_, extension)| extension) {
            Some("js") => &JAVASCRIPT,
            Some("css") => &["text/css"],
            Some("png") => &["image/png"],
            _ => panic!("{file}: a kind of file the docs pages do not use"),
        };
        let csp = if file.starts_with("/api/docs/") {
            SWAGGER_CSP
        } else if file.starts_with("/api/redoc/") {
            REDOC_CSP
        } else {
            panic!("{file}: the docs pages load only files of their own folders")
        };
        let answer = stack.get(file, None).await;
        assert_served(&answer, file, kinds, csp);
    }
}

/// No inline script (every `<script>` has a `src`), no `<style>` element or attribute, no event
/// handler attribute (outside comments), and no other site (anywhere).
#[track_caller]
fn assert_no_inline_code_nor_other_sites(html: &str, path: &str) {
    let markup = without_comments(html).to_ascii_lowercase();
    let scripts: Vec<&str> = markup
        .split("<script")
        .skip(1)
        .map(|tag| {
            tag.split_once('>')
                .map_or(tag, |(attributes, _)| attributes)
        })
        .collect();
    assert!(!scripts.is_empty(), "{path} loads its scripts:\n{html}");
    for script in scripts {
        assert!(
            script.contains(" src=\"/"),
            "{path}: every script is a file of ours, not <script{script}>"
        );
    }
    for inline in [
        "<style",
        " style=",
        " onload=",
        " onerror=",
        " onclick=",
        "javascript:",
    ] {
        assert!(
            !markup.contains(inline),
            "{path} has no {inline:?}:\n{html}"
        );
    }
    assert_no_other_sites(html, path);
}

/// Neither an absolute URL (http, https) nor a protocol-relative one: every reference is to
/// this origin.
#[track_caller]
fn assert_no_other_sites(text: &str, path: &str) {
    let lower = text.to_ascii_lowercase();
    for scheme in ["http:", "https:", "=\"//", "='//", "(\"//", "('//"] {
        assert!(
            !lower.contains(scheme),
            "{path} names another site ({scheme:?}):\n{text}"
        );
    }
}

/// The values of every `src` and `href` attribute in `html`, each a path on this origin.
fn references(html: &str) -> Vec<String> {
    let markup = without_comments(html);
    let mut found = Vec::new();
    for attribute in [" src=\"", " href=\""] {
        let mut rest = markup.as_str();
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let Some(end) = rest.find('"') else { break };
            let value = &rest[..end];
            assert!(
                value.starts_with('/') && !value.starts_with("//"),
                "{value:?}: the pages name their files by absolute path on this origin"
            );
            found.push(value.to_owned());
            rest = &rest[end..];
        }
    }
    found
}

/// `html` without its `<!-- -->` comments.
fn without_comments(html: &str) -> String {
    let mut markup = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<!--") {
        markup.push_str(&rest[..start]);
        rest = rest[start..]
            .find("-->")
            .map_or("", |end| &rest[start + end + 3..]);
    }
    markup.push_str(rest);
    markup
}
