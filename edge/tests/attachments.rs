//! Attachments through the edge's pipeline, natively: uploads streamed into the blob store in
//! parts (never held whole), the metadata written through the origin, downloads by signed URL
//! with ranges and conditional requests, the refusals that store nothing, cleanup when
//! attachments are deleted, and the orphan sweep.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "tests fail loudly and read top to bottom"
)]

mod support;

use std::cell::Cell;
use std::rc::Rc;

use domain::ids::AttachmentId;
use domain::projects::Attachment;
use domain::replication::{AttachmentReplica, Change, ChangeKind, Entity};
use domain::trace::TraceContext;
use domain::wire::OriginReply;
use domain::{ProjectId, UserId};
use edge::cleanup;
use edge::ctx::Ctx;
use edge::http::{Request, Response};
use edge::platform::PART_BYTES;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use support::{NOW, TestEdge, body, project, settings};

const ALICE: i64 = 1;
const BOB: i64 = 2;
const BOUNDARY: &str = "----edge-test-boundary-7MA4YWxkTrZu0gW";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// An edge where Alice owns project 10 and Bob project 20, with an origin that stores what
/// the edge sends it (ids from 1) and replicates it back, as the real one does.
async fn edge_with(extra: &[(&str, &str)]) -> (TestEdge, String) {
    let edge = TestEdge::with_settings(settings(extra));
    let (_, alice) = edge.user(ALICE, "alice").await;
    edge.user(BOB, "bob").await;
    edge::replica::apply(&edge.replica, &[project(10, ALICE), project(20, BOB)])
        .await
        .unwrap();
    let next_id = Rc::new(Cell::new(0));
    *edge.origin.responder.borrow_mut() = Some(Box::new(move |request| {
        if request.method == "DELETE" {
            let id: i64 = request
                .path_and_query
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            return OriginReply {
                status: 204,
                body: None,
                changes: vec![Change {
                    version: 1_000 + id,
                    owner: None,
                    kind: Entity::Attachment.delete(id),
                }],
                headers: Vec::new(),
            };
        }
        let sent: Value = serde_json::from_slice(&request.body).unwrap();
        next_id.set(next_id.get() + 1);
        let attachment = Attachment {
            id: AttachmentId::new(next_id.get()),
            project: ProjectId::new(sent["project"].as_i64().unwrap()),
            storage_key: sent["storage_key"].as_str().unwrap().to_owned(),
            filename: sent["filename"].as_str().unwrap().to_owned(),
            size: sent["size"].as_i64().unwrap(),
            content_type: sent["content_type"].as_str().unwrap().to_owned(),
            checksum: sent["checksum"].as_str().unwrap().to_owned(),
            created_at: "2026-11-22T10:00:00.000000Z".into(),
        };
        OriginReply {
            status: 201,
            body: Some(serde_json::to_value(&attachment).unwrap()),
            changes: vec![Change {
                version: next_id.get(),
                owner: None,
                kind: ChangeKind::AttachmentUpsert(AttachmentReplica {
                    attachment,
                    owner: UserId::new(ALICE),
                }),
            }],
            headers: Vec::new(),
        }
    }));
    (edge, alice)
}

/// A form part: its name, its file name and content type if it is a file, its bytes.
type Part<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a [u8]);

/// A refused upload: what it is, its form, the status and the errors expected.
type Refusal<'a> = (&'a str, Vec<u8>, u16, Value);

/// A multipart body of `parts`.
fn form(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some((filename, content_type)) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; {}\r\nContent-Type: {content_type}\r\n\r\n",
                    filename_parameter(filename)
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// `filename="…"` for a plain name; RFC 5987's `filename*` for anything a quoted string
/// cannot carry (non-ASCII, quotes, control characters), as browsers and HTTP libraries send.
fn filename_parameter(filename: &str) -> String {
    if filename
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' || c == ' ')
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

fn upload_request(token: &str, body: &[u8]) -> Request {
    Request::new("POST", "/api/v1/attachments/")
        .with_header("authorization", &format!("Bearer {token}"))
        .with_header(
            "content-type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .with_header("content-length", &body.len().to_string())
        .with_stream(body, 64 * 1024)
}

/// `len` bytes of a PNG: its signature, then a pattern.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = PNG.to_vec();
    bytes.extend((0..len - PNG.len()).map(|i| u8::try_from(i * 31 % 251).unwrap()));
    bytes
}

async fn upload(
    edge: &TestEdge,
    token: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Response {
    let body = form(&[
        ("project", None, b"10"),
        ("file", Some((name, content_type)), bytes),
    ]);
    edge.send(upload_request(token, &body)).await
}

/// Runs the orphan sweep as the scheduled event would at `now`.
async fn sweep_at(edge: &TestEdge, now: i64) -> Result<cleanup::Swept, edge::platform::PortError> {
    let ctx = Ctx {
        platform: edge,
        settings: &edge.settings,
        now,
        request_id: "sweep",
        trace: TraceContext::start([1; 24]),
    };
    cleanup::sweep(&ctx).await
}

/// A URL's path and query, as the edge receives them.
fn path_of(url: &str) -> &str {
    url.strip_prefix("http://edge.test").unwrap()
}

#[tokio::test]
async fn a_large_upload_streams_into_the_store_in_parts_and_its_metadata_goes_to_the_origin() {
    let (edge, alice) = edge_with(&[]).await;
    let bytes = png(12 * 1024 * 1024 + 12_345);
    let response = upload(&edge, &alice, "holiday photo.png", "image/png", &bytes).await;
    assert_eq!(response.status, 201, "{:?}", body(&response));
    let shown = body(&response);
    let fields: Vec<&str> = shown
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "id",
            "project",
            "file",
            "filename",
            "size",
            "content_type",
            "checksum",
            "created_at"
        ]
    );
    assert_eq!(shown["filename"], "holiday photo.png");
    assert_eq!(shown["size"], bytes.len());
    assert_eq!(shown["content_type"], "image/png");
    assert_eq!(shown["checksum"], hex::encode(Sha256::digest(&bytes)));
    let file = shown["file"].as_str().unwrap();
    assert!(
        file.starts_with("http://edge.test/media/attachments/")
            && file.contains("/holiday%20photo.png?expires=")
            && file.contains("&signature="),
        "{file}"
    );
    let keys = edge.blobs.keys();
    assert_eq!(keys.len(), 1);
    assert!(domain::files::key::is_storage_key(&keys[0]), "{keys:?}");
    assert_eq!(
        edge.blobs.bytes(&keys[0]).unwrap(),
        bytes,
        "stored whole and unchanged"
    );
    assert!(
        edge.blobs.largest_piece() <= PART_BYTES,
        "never more than a part at once: {}",
        edge.blobs.largest_piece()
    );
    assert_eq!(edge.blobs.unfinished_uploads(), 0);
    // What the origin got: the metadata, never the bytes or the client's name as a key.
    let sent: Value = serde_json::from_slice(&edge.origin.received.borrow()[0].body).unwrap();
    assert_eq!(sent["storage_key"], keys[0]);
    assert_eq!(sent["project"], 10);

    let download = edge.send(Request::new("GET", path_of(file))).await;
    assert_eq!(download.status, 200);
    assert!(download.body == bytes, "the same bytes back");
    assert_eq!(download.header("content-type"), Some("image/png"));
    assert_eq!(
        download.header("content-disposition"),
        Some("attachment; filename=\"holiday photo.png\"; filename*=UTF-8''holiday%20photo.png")
    );
    assert_eq!(download.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        download.header("content-security-policy"),
        Some("default-src 'none'; sandbox")
    );
    assert_eq!(
        download.header("etag"),
        Some(format!("\"{}\"", shown["checksum"].as_str().unwrap()).as_str())
    );
}

#[tokio::test]
async fn a_small_upload_is_stored_in_one_piece_and_listed_and_shown_with_its_url() {
    let (edge, alice) = edge_with(&[]).await;
    let response = upload(&edge, &alice, "notes.txt", "text/plain", b"hello, world\n").await;
    assert_eq!(response.status, 201, "{:?}", body(&response));
    assert_eq!(edge.blobs.largest_piece(), 13);
    let id = body(&response)["id"].as_i64().unwrap();
    let auth = format!("Bearer {alice}");

    let list = edge
        .send(
            Request::new("GET", "/api/v1/attachments/?project=10")
                .with_header("authorization", &auth),
        )
        .await;
    assert_eq!(list.status, 200, "{:?}", body(&list));
    let listed = body(&list);
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["results"][0]["id"], id);
    assert!(listed["results"][0].get("storage_key").is_none());
    assert_eq!(listed["results"][0]["file"], body(&response)["file"]);

    let shown = edge
        .send(
            Request::new("GET", &format!("/api/v1/attachments/{id}/"))
                .with_header("authorization", &auth),
        )
        .await;
    assert_eq!(shown.status, 200);
    assert_eq!(body(&shown), body(&response));

    let (_, bob) = edge.tokens(BOB, "bob");
    let foreign = edge
        .send(
            Request::new("GET", &format!("/api/v1/attachments/{id}/"))
                .with_header("authorization", &format!("Bearer {bob}")),
        )
        .await;
    assert_eq!(foreign.status, 404);
    assert_eq!(
        body(&foreign)["errors"],
        json!({"detail": "No Attachment matches the given query."})
    );
    let bobs_list = edge
        .send(
            Request::new("GET", "/api/v1/attachments/")
                .with_header("authorization", &format!("Bearer {bob}")),
        )
        .await;
    assert_eq!(body(&bobs_list)["count"], 0);
    let bad_filter = edge
        .send(
            Request::new("GET", "/api/v1/attachments/?project=abc")
                .with_header("authorization", &auth),
        )
        .await;
    assert_eq!(bad_filter.status, 400);
}

#[tokio::test]
async fn downloads_answer_ranges_and_conditional_requests() {
    let (edge, alice) = edge_with(&[]).await;
    let bytes: Vec<u8> = b"0123456789".repeat(100);
    let response = upload(&edge, &alice, "digits.txt", "text/plain", &bytes).await;
    let file = body(&response)["file"].as_str().unwrap().to_owned();
    let etag = format!("\"{}\"", body(&response)["checksum"].as_str().unwrap());
    let get = |headers: &[(&str, &str)]| {
        let mut request = Request::new("GET", path_of(&file));
        for (name, value) in headers {
            request = request.with_header(name, value);
        }
        edge.send(request)
    };

    let first = get(&[("range", "bytes=0-9")]).await;
    assert_eq!(first.status, 206);
    assert_eq!(first.body, b"0123456789");
    assert_eq!(first.header("content-range"), Some("bytes 0-9/1000"));
    let tail = get(&[("range", "bytes=-5")]).await;
    assert_eq!((tail.status, tail.body.as_slice()), (206, &b"56789"[..]));
    assert_eq!(tail.header("content-range"), Some("bytes 995-999/1000"));
    let open = get(&[("range", "bytes=990-")]).await;
    assert_eq!(open.body, b"0123456789");
    let past = get(&[("range", "bytes=1000-")]).await;
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range"), Some("bytes */1000"));
    let many = get(&[("range", "bytes=0-1,5-6")]).await;
    assert_eq!(
        (many.status, many.body.len()),
        (200, 1000),
        "several ranges: the whole file"
    );
    let changed = get(&[("range", "bytes=0-9"), ("if-range", "\"another\"")]).await;
    assert_eq!(
        changed.status, 200,
        "If-Range with another validator: the whole file"
    );

    let cached = get(&[("if-none-match", &etag)]).await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    let weak = get(&[("if-none-match", &format!("W/{etag}, \"other\""))]).await;
    assert_eq!(weak.status, 304);
    let stale = get(&[("if-none-match", "\"other\"")]).await;
    assert_eq!(stale.status, 200);
}

#[tokio::test]
async fn an_expired_altered_or_foreign_link_answers_the_same_404() {
    let (edge, alice) = edge_with(&[]).await;
    let first = upload(&edge, &alice, "a.txt", "text/plain", b"first").await;
    let second = upload(&edge, &alice, "b.txt", "text/plain", b"second").await;
    let file = body(&first)["file"].as_str().unwrap().to_owned();
    let other = body(&second)["file"].as_str().unwrap().to_owned();
    let (path, query) = path_of(&file).split_once('?').unwrap();
    let (other_path, other_query) = path_of(&other).split_once('?').unwrap();
    let signature = query.split("signature=").nth(1).unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let expires: i64 = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap();
    let cases = [
        (
            "altered signature",
            format!(
                "{path}?{}",
                query.replacen(signature, &format!("{flipped}{}", &signature[1..]), 1)
            ),
        ),
        (
            "later expiry",
            format!(
                "{path}?{}",
                query.replace(&expires.to_string(), &(expires + 3600).to_string())
            ),
        ),
        (
            "another object's signature",
            format!("{path}?{other_query}"),
        ),
        (
            "another object under this signature",
            format!("{other_path}?{query}"),
        ),
        (
            "another file name",
            format!("{}/evil.html?{query}", path.rsplit_once('/').unwrap().0),
        ),
        ("no signature", path.to_owned()),
        (
            "duplicated parameter",
            format!("{path}?{query}&expires={expires}"),
        ),
    ];
    for (case, url) in cases {
        let answer = edge.send(Request::new("GET", &url)).await;
        assert_eq!(answer.status, 404, "{case}: {url}");
        assert_eq!(
            body(&answer)["errors"],
            json!({"detail": "Not found."}),
            "{case}"
        );
    }
    let late = edge
        .send_at(Request::new("GET", path_of(&file)), expires)
        .await;
    assert_eq!(late.status, 404, "expired");
    assert_eq!(body(&late)["errors"], json!({"detail": "Not found."}));
    let still_good = edge.send(Request::new("GET", path_of(&file))).await;
    assert_eq!(
        (still_good.status, still_good.body.as_slice()),
        (200, &b"first"[..])
    );
}

#[tokio::test]
async fn refused_uploads_store_nothing() {
    let (edge, alice) = edge_with(&[("UPLOAD_MAX_BYTES", "1048576")]).await;
    let text = b"plain words\n".as_slice();
    let big = png(PART_BYTES.min(1_048_576) + 1);
    let cases: Vec<Refusal> = vec![
        (
            "no file",
            form(&[("project", None, b"10")]),
            400,
            json!({"file": ["No file was submitted."]}),
        ),
        (
            "no project and an empty file",
            form(&[("file", Some(("a.txt", "text/plain")), b"")]),
            400,
            json!({"file": ["The submitted file is empty."], "project": ["This field is required."]}),
        ),
        (
            "a project that is not a number",
            form(&[
                ("project", None, b"ten"),
                ("file", Some(("a.txt", "text/plain")), text),
            ]),
            400,
            json!({"project": ["Incorrect type. Expected pk value, received str."]}),
        ),
        (
            "a file field that is not a file",
            form(&[("project", None, b"10"), ("file", None, text)]),
            400,
            json!({"file": ["The submitted data was not a file. Check the encoding type on the form."]}),
        ),
        (
            "a forbidden type",
            form(&[
                ("project", None, b"10"),
                (
                    "file",
                    Some(("run.exe", "application/octet-stream")),
                    b"MZ\x90\x00",
                ),
            ]),
            400,
            json!({"file": ["Unsupported file type: only PNG, JPEG, GIF, WebP, PDF, plain text, CSV and ZIP files are accepted."]}),
        ),
        (
            "a lying content type",
            form(&[
                ("project", None, b"10"),
                ("file", Some(("a.png", "image/png")), text),
            ]),
            400,
            json!({"file": ["The file's content does not match its type."]}),
        ),
        (
            "a lying extension",
            form(&[
                ("project", None, b"10"),
                (
                    "file",
                    Some(("page.txt", "text/plain")),
                    b"\x89PNG\r\n\x1a\n\0\0\0",
                ),
            ]),
            400,
            json!({"file": ["The file's content does not match its type."]}),
        ),
        (
            "a name too long",
            form(&[
                ("project", None, b"10"),
                (
                    "file",
                    Some((&format!("{}.txt", "n".repeat(120)), "text/plain")),
                    text,
                ),
            ]),
            400,
            json!({"file": ["Ensure this filename has at most 100 characters (it has 124)."]}),
        ),
        (
            "someone else's project",
            form(&[
                ("project", None, b"20"),
                ("file", Some(("a.txt", "text/plain")), text),
            ]),
            404,
            json!({"detail": "No Project matches the given query."}),
        ),
        (
            "a project that does not exist",
            form(&[
                ("file", Some(("a.txt", "text/plain")), text),
                ("project", None, b"99"),
            ]),
            404,
            json!({"detail": "No Project matches the given query."}),
        ),
        (
            "a file over the limit",
            form(&[
                ("project", None, b"10"),
                ("file", Some(("big.png", "image/png")), &big),
            ]),
            413,
            json!({"detail": "Request body exceeds the limit of 1048576 bytes."}),
        ),
    ];
    for (case, form_body, status, errors) in cases {
        let answer = edge.send(upload_request(&alice, &form_body)).await;
        assert_eq!(answer.status, status, "{case}: {:?}", body(&answer));
        assert_eq!(body(&answer)["errors"], errors, "{case}");
        assert!(
            edge.blobs.keys().is_empty(),
            "{case}: stored {:?}",
            edge.blobs.keys()
        );
        assert_eq!(edge.blobs.unfinished_uploads(), 0, "{case}");
    }
    assert!(
        edge.origin.received.borrow().is_empty(),
        "nothing reached the origin"
    );

    let json = edge
        .send(
            Request::new("POST", "/api/v1/attachments/")
                .with_header("authorization", &format!("Bearer {alice}"))
                .with_json(&json!({"project": 10, "file": "x"})),
        )
        .await;
    assert_eq!(json.status, 415);
    let declared = edge
        .send(
            Request::new("POST", "/api/v1/attachments/")
                .with_header("authorization", &format!("Bearer {alice}"))
                .with_header(
                    "content-type",
                    &format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .with_header("content-length", &(2 * 1_048_576).to_string())
                .with_stream(&[], 1),
        )
        .await;
    assert_eq!(
        declared.status, 413,
        "refused by its Content-Length, unread"
    );
}

#[tokio::test]
async fn hostile_file_names_are_stored_under_the_edges_key_and_shown_safely() {
    let (edge, alice) = edge_with(&[]).await;
    for (sent, kept) in [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\\\Users\\\\me\\\\report.pdf.txt", "report.pdf.txt"),
        ("a\"; filename=evil.html.txt", "a__ filename=evil.html.txt"),
        ("evil\r\nX-Injected: 1.txt", "evilX-Injected_ 1.txt"),
        ("résumé 履歴書.txt", "résumé 履歴書.txt"),
    ] {
        let answer = upload(&edge, &alice, sent, "text/plain", b"some text").await;
        assert_eq!(answer.status, 201, "{sent}: {:?}", body(&answer));
        assert_eq!(body(&answer)["filename"], kept, "{sent}");
        let file = body(&answer)["file"].as_str().unwrap().to_owned();
        let download = edge.send(Request::new("GET", path_of(&file))).await;
        assert_eq!(download.status, 200, "{sent}");
        let disposition = download.header("content-disposition").unwrap();
        assert!(
            !disposition.contains('\r') && !disposition.contains('\n') && disposition.is_ascii(),
            "{disposition}"
        );
    }
    for key in edge.blobs.keys() {
        assert!(domain::files::key::is_storage_key(&key), "{key}");
    }
}

#[tokio::test]
async fn a_refused_metadata_write_removes_the_blob_and_an_unclear_one_leaves_it_to_the_sweep() {
    let (edge, alice) = edge_with(&[]).await;
    edge.origin.reply(
        400,
        Some(json!({"filename": ["Enter a valid file name."]})),
        Vec::new(),
    );
    let refused = upload(&edge, &alice, "a.txt", "text/plain", b"words").await;
    assert_eq!(refused.status, 400);
    assert!(edge.blobs.keys().is_empty(), "the origin refused: removed");

    // No answer at all: the origin may have stored the metadata, so the bytes stay…
    edge.origin.fail();
    let unclear = upload(&edge, &alice, "a.txt", "text/plain", b"words").await;
    assert_eq!(unclear.status, 503);
    assert_eq!(edge.blobs.keys().len(), 1);
    assert!(
        edge.logs
            .borrow()
            .iter()
            .any(|line| line.contains("orphan sweep"))
    );
    // …and the sweep judges them once they are a day old and nothing refers to them.
    let young = sweep_at(&edge, NOW + 3_600).await.unwrap();
    assert_eq!(
        (young.examined, young.removed),
        (1, 0),
        "younger than a day: kept"
    );
    let old = sweep_at(&edge, NOW + 86_400).await.unwrap();
    assert_eq!((old.examined, old.removed), (1, 1));
    assert!(edge.blobs.keys().is_empty());

    // A removal that fails is left to the sweep as well.
    edge.origin
        .reply(400, Some(json!({"size": ["Too large."]})), Vec::new());
    edge.blobs.fail_deletes(true);
    let refused = upload(&edge, &alice, "a.txt", "text/plain", b"words").await;
    assert_eq!(refused.status, 400);
    assert_eq!(edge.blobs.keys().len(), 1);
    assert!(
        edge.logs
            .borrow()
            .iter()
            .any(|line| line.contains("the orphan sweep will"))
    );
}

#[tokio::test]
async fn a_file_passing_the_limit_in_its_second_part_is_aborted_and_stores_nothing() {
    let (edge, alice) =
        edge_with(&[("UPLOAD_MAX_BYTES", &(PART_BYTES + 100 * 1024).to_string())]).await;
    let sent = form(&[
        ("project", None, b"10"),
        (
            "file",
            Some(("big.png", "image/png")),
            &png(PART_BYTES + 200 * 1024),
        ),
    ]);
    // Sent without its length: the limit is found while streaming, after a part was written.
    let request = Request::new("POST", "/api/v1/attachments/")
        .with_header("authorization", &format!("Bearer {alice}"))
        .with_header(
            "content-type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .with_stream(&sent, 64 * 1024);
    let answer = edge.send(request).await;
    assert_eq!(answer.status, 413, "{:?}", body(&answer));
    assert_eq!(
        edge.blobs.largest_piece(),
        PART_BYTES,
        "a part had been written"
    );
    assert_eq!(edge.blobs.unfinished_uploads(), 0, "and its upload aborted");
    assert!(edge.blobs.keys().is_empty());
}

#[tokio::test]
async fn the_sweep_keeps_what_attachments_refer_to_and_what_is_not_ours() {
    let (edge, alice) = edge_with(&[]).await;
    let kept = upload(&edge, &alice, "kept.txt", "text/plain", b"kept").await;
    assert_eq!(kept.status, 201);
    let orphan = format!("attachments/2026/10/{}", "ab".repeat(16));
    edge.blobs
        .insert(&orphan, b"orphan".to_vec(), NOW - 2 * 86_400);
    edge.blobs
        .insert("attachments/notes-by-an-operator.txt", b"x".to_vec(), 0);
    let ctx = Ctx {
        platform: &edge,
        settings: &edge.settings,
        now: NOW + 2 * 86_400,
        request_id: "sweep",
        trace: TraceContext::start([1; 24]),
    };
    let swept = cleanup::sweep(&ctx).await.unwrap();
    assert_eq!((swept.examined, swept.removed), (3, 1));
    assert_eq!(
        swept.keys,
        std::slice::from_ref(&orphan),
        "it names what it removed"
    );
    let mut left = edge.blobs.keys();
    left.sort();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&orphan));
    assert!(
        edge.logs
            .borrow()
            .iter()
            .any(|line| line.contains("\"removed\":1"))
    );
}

#[tokio::test]
async fn deleting_an_attachment_or_its_project_removes_the_blobs() {
    let (edge, alice) = edge_with(&[]).await;
    let auth = format!("Bearer {alice}");
    let first = upload(&edge, &alice, "a.txt", "text/plain", b"one").await;
    upload(&edge, &alice, "b.txt", "text/plain", b"two").await;
    upload(&edge, &alice, "c.txt", "text/plain", b"three").await;
    assert_eq!(edge.blobs.keys().len(), 3);
    let id = body(&first)["id"].as_i64().unwrap();
    let deleted = edge
        .send(
            Request::new("DELETE", &format!("/api/v1/attachments/{id}/"))
                .with_header("authorization", &auth),
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(edge.blobs.keys().len(), 2, "its blob went with it");
    // The project's deletion, as the origin's push brings it: the other two go.
    let ctx = Ctx {
        platform: &edge,
        settings: &edge.settings,
        now: NOW,
        request_id: "push",
        trace: TraceContext::start([1; 24]),
    };
    cleanup::apply(
        &ctx,
        &[Change {
            version: 5_000,
            owner: None,
            kind: Entity::Project.delete(10),
        }],
    )
    .await
    .unwrap();
    assert!(edge.blobs.keys().is_empty(), "{:?}", edge.blobs.keys());
    let listed = edge
        .send(Request::new("GET", "/api/v1/attachments/").with_header("authorization", &auth))
        .await;
    assert_eq!(body(&listed)["count"], 0);
}

#[tokio::test]
async fn a_replayed_upload_answers_the_first_attachment_and_keeps_no_second_copy() {
    let (edge, alice) = edge_with(&[]).await;
    let first = upload(&edge, &alice, "a.txt", "text/plain", b"once").await;
    let replayed: Value = body(&first);
    // The origin answers a replay with the first attachment (another storage key).
    let mut reply = replayed.clone();
    reply
        .as_object_mut()
        .unwrap()
        .insert("storage_key".into(), json!(edge.blobs.keys()[0]));
    reply.as_object_mut().unwrap().remove("file");
    edge.origin.reply(201, Some(reply), Vec::new());
    let again = upload(&edge, &alice, "a.txt", "text/plain", b"once").await;
    assert_eq!(again.status, 201);
    assert_eq!(body(&again)["id"], replayed["id"]);
    assert_eq!(
        edge.blobs.keys().len(),
        1,
        "the replay's bytes were removed"
    );
}
