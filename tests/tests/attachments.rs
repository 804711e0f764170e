//! Attachments through the real edge (workerd under `wrangler dev`) with its local R2, the
//! origin and Postgres: uploads and downloads byte for byte (20 MiB included), the refusals
//! that store nothing, hostile file names, ranges and conditional requests, signed links that
//! expire or were altered, deletion cascades, and the orphan sweep.
//!
//! What R2 holds is read through the edge's `/internal/blobs/` (signed as the origin signs).
//! These tests take turns ([`serial`]): whether an upload stored nothing is a question about
//! the whole bucket.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests fail loudly and read top to bottom"
)]

use std::collections::BTreeSet;
use std::fs::File;
use std::process::Command;

use e2e::{Answer, Stack, User, chrono_now};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const BOUNDARY: &str = "e2e-attachment-boundary-d41d8cd98f00b204";
const MIB: usize = 1024 * 1024;

/// Holds the bucket for one test at a time (a lock file in the stack's folder).
fn serial() -> File {
    let path =
        std::path::Path::new(&std::env::var("E2E_DATA_DIR").unwrap()).join("attachments.lock");
    let file = File::create(path).unwrap();
    file.lock().unwrap();
    file
}

/// Every key in the bucket.
async fn blobs(stack: &Stack) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/internal/blobs/?cursor={cursor}"),
            None => "/internal/blobs/".to_owned(),
        };
        let page = stack.edge_internal(Method::GET, &path, &Value::Null).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        for blob in page.body["blobs"].as_array().unwrap() {
            keys.insert(blob["key"].as_str().unwrap().to_owned());
        }
        match page.body["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return keys,
        }
    }
}

/// `filename="…"` for a plain name, RFC 5987's `filename*` for anything else.
fn filename_parameter(filename: &str) -> String {
    if filename
        .chars()
        .all(|c| (c.is_ascii_graphic() && c != '"') || c == ' ')
    {
        return format!("filename=\"{filename}\"");
    }
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("filename*=UTF-8''{encoded}")
}

/// A multipart body with `project` and one file part.
fn form(project: &str, filename: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"project\"\r\n\r\n{project}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; {}\r\n\
         Content-Type: {content_type}\r\n\r\n",
        filename_parameter(filename)
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(stack: &Stack, user: &User, body: Vec<u8>) -> Answer {
    stack
        .send(
            stack
                .request(Method::POST, "/api/v1/attachments/")
                .bearer_auth(&user.access)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(body),
        )
        .await
}

async fn project_of(stack: &Stack, user: &User) -> i64 {
    let created = stack
        .post(
            "/api/v1/projects/",
            &json!({"name": "With files"}),
            Some(&user.access),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    created.body["id"].as_i64().unwrap()
}

/// `len` bytes of a PNG: its signature, then bytes that do not repeat in any short period.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut state: u32 = 0x9e37_79b9;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The path and query of a `file` URL, on this stack's edge.
fn path_of(stack: &Stack, file: &str) -> String {
    let url = reqwest::Url::parse(file).unwrap();
    let edge = reqwest::Url::parse(&stack.edge).unwrap();
    assert_eq!(
        url.origin(),
        edge.origin(),
        "an absolute URL on the edge: {file}"
    );
    format!("{}?{}", url.path(), url.query().unwrap())
}

async fn download(stack: &Stack, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = stack.request(Method::GET, path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    stack.send(request).await
}

#[tokio::test]
async fn a_20_mib_file_goes_up_and_comes_back_byte_for_byte() {
    let _serial = serial();
    let stack = Stack::new();
    let user = stack.user().await;
    let project = project_of(&stack, &user).await;
    let bytes = png(20 * MIB);
    let before = blobs(&stack).await;
    let created = upload(
        &stack,
        &user,
        form(&project.to_string(), "big.png", "image/png", &bytes),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["size"], 20 * MIB);
    assert_eq!(
        created.body["checksum"],
        hex::encode(Sha256::digest(&bytes))
    );
    let added: Vec<String> = blobs(&stack).await.difference(&before).cloned().collect();
    assert_eq!(added.len(), 1, "one object: {added:?}");
    let file = created.body["file"].as_str().unwrap();
    assert!(
        file.contains(&format!("/media/{}/big.png?", added[0])),
        "{file}"
    );

    // No bearer token: the link is the credential.
    let path = path_of(&stack, file);
    let whole = download(&stack, &path, &[]).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(whole.bytes == bytes, "the same 20 MiB back");
    assert_eq!(whole.header("content-type"), Some("image/png"));
    assert_eq!(
        whole.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert_eq!(
        whole.header("content-disposition"),
        Some("attachment; filename=\"big.png\"; filename*=UTF-8''big.png")
    );
    // What the worker's own code ever held: its wasm memory only grows, so after the upload
    // it is the high-water mark of everything this isolate did. An upload holds two 6 MiB part
    // buffers and a few chunks at most; the file held whole, grown as it came, would need a
    // 32 MiB buffer on its own.
    let isolate = stack
        .edge_internal(Method::GET, "/internal/isolate/", &Value::Null)
        .await;
    let wasm_bytes = isolate.body["linear_memory_bytes"].as_u64().unwrap();
    eprintln!("wasm linear memory after a 20 MiB upload and download: {wasm_bytes} bytes");
    assert!(
        wasm_bytes < 32 * MIB as u64,
        "the edge streamed rather than held the file: {wasm_bytes} bytes of wasm memory"
    );
    let middle = download(&stack, &path, &[("range", "bytes=10485760-10485859")]).await;
    assert_eq!(middle.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(middle.bytes, bytes[10 * MIB..10 * MIB + 100]);
    assert_eq!(
        middle.header("content-range"),
        Some("bytes 10485760-10485859/20971520")
    );
}

#[tokio::test]
async fn refused_uploads_store_nothing() {
    let _serial = serial();
    let stack = Stack::new();
    let user = stack.user().await;
    let other = stack.user().await;
    let project = project_of(&stack, &user).await.to_string();
    let foreign = project_of(&stack, &other).await.to_string();
    let text = b"just some words\n";
    let before = blobs(&stack).await;
    let cases: Vec<(&str, Vec<u8>, StatusCode, Value)> = vec![
        (
            "someone else's project",
            form(&foreign, "a.txt", "text/plain", text),
            StatusCode::NOT_FOUND,
            json!({"detail": "No Project matches the given query."}),
        ),
        (
            "a project that does not exist",
            form("999999999", "a.txt", "text/plain", text),
            StatusCode::NOT_FOUND,
            json!({"detail": "No Project matches the given query."}),
        ),
        (
            "a forbidden type",
            form(
                &project,
                "tool.exe",
                "application/x-msdownload",
                b"MZ\x90\x00\x03",
            ),
            StatusCode::BAD_REQUEST,
            json!({"file": ["Unsupported file type: only PNG, JPEG, GIF, WebP, PDF, plain text, CSV and ZIP files are accepted."]}),
        ),
        (
            "a script calling itself an image",
            form(
                &project,
                "cat.png",
                "image/png",
                b"<script>alert(1)</script>",
            ),
            StatusCode::BAD_REQUEST,
            json!({"file": ["The file's content does not match its type."]}),
        ),
        (
            "an empty file",
            form(&project, "empty.txt", "text/plain", b""),
            StatusCode::BAD_REQUEST,
            json!({"file": ["The submitted file is empty."]}),
        ),
        (
            "a name too long",
            form(
                &project,
                &format!("{}.txt", "x".repeat(200)),
                "text/plain",
                text,
            ),
            StatusCode::BAD_REQUEST,
            json!({"file": ["Ensure this filename has at most 100 characters (it has 204)."]}),
        ),
    ];
    for (case, body, status, errors) in cases {
        let answer = upload(&stack, &user, body).await;
        assert_eq!(answer.status, status, "{case}: {answer:?}");
        assert_eq!(answer.errors(), &errors, "{case}");
    }
    let json_body = stack
        .post(
            "/api/v1/attachments/",
            &json!({"project": project, "file": "x"}),
            Some(&user.access),
        )
        .await;
    assert_eq!(json_body.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Over the limit by a byte: refused as the stream passes it.
    let oversized = upload(
        &stack,
        &user,
        form(&project, "big.png", "image/png", &png(20 * MIB + 1)),
    )
    .await;
    assert_eq!(
        oversized.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{oversized:?}"
    );
    // Over it by a megabyte: its Content-Length gives it away before a byte is read. Answered
    // that early, `wrangler dev`'s proxy sometimes drops the connection instead of relaying
    // the 413 (the client is still sending); either way nothing may be stored.
    let declared = reqwest::Client::new()
        .post(format!("{}/api/v1/attachments/", stack.edge))
        .bearer_auth(&user.access)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(form(&project, "big.png", "image/png", &png(21 * MIB)))
        .send()
        .await;
    if let Ok(answer) = declared {
        assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE, "{answer:?}");
    }
    assert_eq!(blobs(&stack).await, before, "nothing stored");
    let listed = stack.get("/api/v1/attachments/", Some(&user.access)).await;
    assert_eq!(listed.body["count"], 0);
}

#[tokio::test]
async fn hostile_names_are_kept_as_labels_and_sent_back_safely() {
    let _serial = serial();
    let stack = Stack::new();
    let user = stack.user().await;
    let project = project_of(&stack, &user).await.to_string();
    for (sent, kept) in [
        ("../../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\boot.ini.txt", "boot.ini.txt"),
        (
            "report\r\nSet-Cookie: stolen=1.txt",
            "reportSet-Cookie_ stolen=1.txt",
        ),
        (
            "quote\"; filename=evil.html.txt",
            "quote__ filename=evil.html.txt",
        ),
        ("사진 résumé 履歴書.txt", "사진 résumé 履歴書.txt"),
    ] {
        let created = upload(
            &stack,
            &user,
            form(&project, sent, "text/plain", b"label test"),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{sent}: {created:?}");
        assert_eq!(created.body["filename"], kept, "{sent}");
        let file = created.body["file"].as_str().unwrap();
        let got = download(&stack, &path_of(&stack, file), &[]).await;
        assert_eq!(
            (got.status, got.bytes.as_slice()),
            (StatusCode::OK, &b"label test"[..]),
            "{sent}"
        );
        let disposition = got.header("content-disposition").unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\""),
            "{disposition}"
        );
        assert!(got.header("set-cookie").is_none(), "{sent}");
        assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            got.header("content-security-policy"),
            Some("default-src 'none'; sandbox")
        );
    }
}

#[tokio::test]
async fn downloads_serve_ranges_and_answer_if_none_match() {
    let _serial = serial();
    let stack = Stack::new();
    let user = stack.user().await;
    let project = project_of(&stack, &user).await.to_string();
    let bytes = b"0123456789".repeat(50);
    let created = upload(
        &stack,
        &user,
        form(&project, "digits.csv", "text/csv", &bytes),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let path = path_of(&stack, created.body["file"].as_str().unwrap());
    let etag = format!("\"{}\"", created.body["checksum"].as_str().unwrap());

    let first = download(&stack, &path, &[("range", "bytes=0-4")]).await;
    assert_eq!(
        (first.status, first.bytes.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &b"01234"[..])
    );
    assert_eq!(first.header("content-range"), Some("bytes 0-4/500"));
    let head = stack.send(stack.request(Method::HEAD, &path)).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.bytes.is_empty());
    assert_eq!(head.header("content-length"), Some("500"));
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    let tail = download(&stack, &path, &[("range", "bytes=-3")]).await;
    assert_eq!(tail.bytes, b"789");
    let past = download(&stack, &path, &[("range", "bytes=600-")]).await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.header("content-range"), Some("bytes */500"));
    let cached = download(&stack, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    let whole = download(&stack, &path, &[]).await;
    assert_eq!((whole.status, whole.bytes.len()), (StatusCode::OK, 500));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
}

#[tokio::test]
async fn expired_altered_and_foreign_links_answer_404() {
    let _serial = serial();
    let stack = Stack::new();
    let user = stack.user().await;
    let project = project_of(&stack, &user).await.to_string();
    let first = upload(
        &stack,
        &user,
        form(&project, "one.txt", "text/plain", b"one"),
    )
    .await;
    let second = upload(
        &stack,
        &user,
        form(&project, "two.txt", "text/plain", b"two"),
    )
    .await;
    let path = path_of(&stack, first.body["file"].as_str().unwrap());
    let other = path_of(&stack, second.body["file"].as_str().unwrap());
    let (route, query) = path.split_once('?').unwrap();
    let (other_route, other_query) = other.split_once('?').unwrap();
    let key = route
        .trim_start_matches("/media/")
        .rsplit_once('/')
        .unwrap()
        .0
        .to_owned();
    // Links signed here, with the key the edge derives from the shared secret: the same
    // scheme, so only their expiry differs from a good one.
    let media_key =
        domain::files::signed::derived_key(std::env::var("E2E_ORIGIN_SECRET").unwrap().as_bytes());
    let signed = |expires: i64| {
        format!(
            "{route}?{}",
            domain::files::signed::signed_query(&media_key, &key, expires)
        )
    };
    let good = download(&stack, &signed(chrono_now() + 600), &[]).await;
    assert_eq!(
        (good.status, good.bytes.as_slice()),
        (StatusCode::OK, &b"one"[..])
    );
    let signature = query.split("signature=").nth(1).unwrap();
    let altered = format!(
        "{route}?{}",
        query.replace(
            signature,
            &format!(
                "{}{}",
                if signature.starts_with('A') { 'B' } else { 'A' },
                &signature[1..]
            )
        )
    );
    for (case, link) in [
        ("expired", signed(chrono_now() - 1)),
        ("altered signature", altered),
        (
            "another object's signature",
            format!("{route}?{other_query}"),
        ),
        (
            "this signature on another object",
            format!("{other_route}?{query}"),
        ),
        ("no signature", route.to_owned()),
    ] {
        let answer = download(&stack, &link, &[]).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{case}: {link}");
        assert_eq!(answer.errors(), &json!({"detail": "Not found."}), "{case}");
    }
}

#[tokio::test]
async fn deleting_an_attachment_its_project_or_its_owner_removes_the_objects() {
    let _serial = serial();
    let stack = Stack::new();
    let user = stack.user().await;
    let kept_project = project_of(&stack, &user).await;
    let doomed_project = project_of(&stack, &user).await;
    let before = blobs(&stack).await;
    let mut ids = Vec::new();
    for (project, name) in [
        (kept_project, "a.txt"),
        (kept_project, "b.txt"),
        (doomed_project, "c.txt"),
    ] {
        let created = upload(
            &stack,
            &user,
            form(&project.to_string(), name, "text/plain", b"bytes"),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        ids.push(created.body["id"].as_i64().unwrap());
    }
    let count = |keys: BTreeSet<String>| keys.difference(&before).count();
    assert_eq!(count(blobs(&stack).await), 3);

    let deleted = stack
        .send(
            stack
                .request(Method::DELETE, &format!("/api/v1/attachments/{}/", ids[0]))
                .bearer_auth(&user.access),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(count(blobs(&stack).await), 2, "the attachment's object");
    let gone = stack
        .send(
            stack
                .request(
                    Method::DELETE,
                    &format!("/api/v1/projects/{doomed_project}/"),
                )
                .bearer_auth(&user.access),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(count(blobs(&stack).await), 1, "the project's objects");
    let account = stack
        .send(
            stack
                .request(Method::DELETE, "/api/v1/auth/me/")
                .bearer_auth(&user.access)
                .json(&json!({"password": user.password})),
        )
        .await;
    assert_eq!(account.status, StatusCode::NO_CONTENT, "{account:?}");
    assert_eq!(count(blobs(&stack).await), 0, "the account's objects");
}

/// An object whose metadata never arrived, put straight into the local bucket (under a month
/// no upload of these tests uses); answers its key.
fn put_orphan() -> String {
    let orphan = format!(
        "attachments/2020/01/{}",
        hex::encode(uuid::Uuid::new_v4().as_bytes())
    );
    let source = std::env::temp_dir().join(format!("orphan-{}", uuid::Uuid::new_v4()));
    std::fs::write(&source, b"left behind").unwrap();
    let output = Command::new("npx")
        .args(["--no-install", "wrangler", "r2", "object", "put"])
        .arg(format!("projects-tasks-attachments/{orphan}"))
        .args([
            "--local",
            "--persist-to",
            &std::env::var("E2E_D1_DIR").unwrap(),
            "--file",
        ])
        .arg(&source)
        .current_dir(std::env::var("E2E_ROOT").unwrap())
        .env("WRANGLER_SEND_METRICS", "false")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    orphan
}

#[tokio::test]
async fn the_orphan_sweep_removes_objects_nothing_refers_to_once_they_are_a_day_old() {
    let _serial = serial();
    let stack = Stack::new();
    let user = stack.user().await;
    let project = project_of(&stack, &user).await.to_string();
    let kept = upload(
        &stack,
        &user,
        form(&project, "kept.txt", "text/plain", b"kept"),
    )
    .await;
    assert_eq!(kept.status, StatusCode::CREATED);
    let orphan = put_orphan();
    assert!(blobs(&stack).await.contains(&orphan));

    // The test stack's sweep takes orphans three seconds old (ORPHAN_MIN_AGE_SECS), not a
    // day: this one is younger.
    let early = stack
        .edge_internal(Method::POST, "/internal/sweep/", &Value::Null)
        .await;
    assert_eq!(early.status, StatusCode::OK, "{early:?}");
    assert!(
        blobs(&stack).await.contains(&orphan),
        "too young to sweep: {early:?}"
    );

    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let later = stack
        .edge_internal(Method::POST, "/internal/sweep/", &Value::Null)
        .await;
    assert_eq!(later.status, StatusCode::OK, "{later:?}");
    assert!(later.body["removed"].as_u64().unwrap() >= 1, "{later:?}");
    assert!(
        later.body["removed_keys"]
            .as_array()
            .unwrap()
            .contains(&json!(orphan)),
        "it names what it removed: {later:?}"
    );
    let left = blobs(&stack).await;
    assert!(!left.contains(&orphan), "the orphan is gone");
    let file = kept.body["file"].as_str().unwrap();
    let still = download(&stack, &path_of(&stack, file), &[]).await;
    assert_eq!(
        (still.status, still.bytes.as_slice()),
        (StatusCode::OK, &b"kept"[..]),
        "what is referred to stays"
    );
    let (log, _) = stack.log_text();
    assert!(
        log.contains("orphan sweep"),
        "the sweep reports what it did"
    );

    // The daily cron trigger runs the same sweep (`wrangler dev` fires it on request).
    let another = put_orphan();
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let fired = reqwest::get(format!(
        "{}/cdn-cgi/handler/scheduled?cron=17+3+*+*+*",
        stack.edge
    ))
    .await
    .unwrap();
    assert!(fired.status().is_success(), "{fired:?}");
    assert!(
        stack
            .eventually(std::time::Duration::from_secs(10), || async {
                !blobs(&stack).await.contains(&another)
            })
            .await,
        "the scheduled sweep removed the orphan"
    );
    assert!(blobs(&stack).await.contains(kept_key(&kept)));
}

/// The storage key in an attachment's `file` URL.
fn kept_key(attachment: &Answer) -> &str {
    let file = attachment.body["file"].as_str().unwrap();
    let path = file.split("/media/").nth(1).unwrap();
    path.rsplit_once('/').unwrap().0
}
