//! The operator commands `check-edge` and `resync-edge` against the running stack. These tests
//! damage D1 on purpose, so `./dev test` runs them alone, after every other test.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::process::Command;

use e2e::{Stack, origin_command};
use reqwest::StatusCode;
use serde_json::json;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run under `./dev test`"))
}

fn origin(command: &str) -> (i32, String) {
    origin_command(&[command])
}

/// Runs SQL on the local D1 behind the running `wrangler dev`, as an operator's mistake would.
/// The local D1 is one SQLite file that workerd writes too: under write load the command can
/// find it locked, and is tried again (a few times, briefly).
fn d1(sql: &str) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let output = Command::new("npx")
            .args([
                "--no-install",
                "wrangler",
                "d1",
                "execute",
                "DB",
                "--local",
                "--persist-to",
                &var("E2E_D1_DIR"),
                "--command",
                sql,
            ])
            .current_dir(var("E2E_ROOT"))
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            return;
        }
        assert!(
            stderr.contains("SQLITE_BUSY") && attempts < 10,
            "wrangler d1 execute failed (attempt {attempts}): {stderr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

#[tokio::test]
async fn check_edge_reports_damage_and_resync_edge_repairs_it() {
    let stack = Stack::new();
    let user = stack.user().await;
    let project = stack
        .post(
            "/api/v1/projects/",
            &json!({"name": "Kept"}),
            Some(&user.access),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let task = stack
        .post(
            "/api/v1/tasks/",
            &json!({"project": project, "title": "Original"}),
            Some(&user.access),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let refreshed = stack
        .post(
            "/api/token/refresh/",
            &json!({"refresh": user.refresh}),
            None,
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK);

    let (code, report) = origin("check-edge");
    assert_eq!(code, 0, "a healthy stack is in sync:\n{report}");
    assert!(report.contains("in sync"), "{report}");

    // A stale row, an extra row, and a lost denylist entry.
    d1(&format!(
        "UPDATE tasks SET title = 'tampered', version = 1 WHERE id = {task}"
    ));
    d1(
        "INSERT INTO projects (id, owner_id, name, description, is_archived, created_at, name_folded, description_folded, version) VALUES (987654321, 1, 'ghost', '', 0, '2000-01-01T00:00:00.000000Z', 'ghost', '', 1)",
    );
    d1("DELETE FROM token_denylist");
    let (code, report) = origin("check-edge");
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("OUT OF SYNC"), "{report}");
    assert!(report.contains(&format!("stale: {task}")), "{report}");
    assert!(report.contains("extra: 987654321"), "{report}");
    assert!(
        !report.contains("denylist: 0 "),
        "the lost denylist entry is reported: {report}"
    );

    let (code, output) = origin("resync-edge");
    assert_eq!(code, 0, "{output}");
    assert!(output.ends_with("in sync\n"), "{output}");
    let repaired = stack
        .get(&format!("/api/v1/tasks/{task}/"), Some(&user.access))
        .await;
    assert_eq!(repaired.body["title"], json!("Original"));
    let old = stack
        .post("/api/token/verify/", &json!({"token": user.refresh}), None)
        .await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST, "the denylist is back");
}

#[tokio::test]
async fn resync_edge_rebuilds_a_wiped_d1() {
    let stack = Stack::new();
    let user = stack.user().await;
    let project = stack
        .post(
            "/api/v1/projects/",
            &json!({"name": "Survivor"}),
            Some(&user.access),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    for title in ["one", "two", "three"] {
        stack
            .post(
                "/api/v1/tasks/",
                &json!({"project": project, "title": title}),
                Some(&user.access),
            )
            .await;
    }
    d1(
        "DELETE FROM tasks; DELETE FROM projects; DELETE FROM users; DELETE FROM token_denylist; DELETE FROM tombstones",
    );
    let wiped = stack.get("/api/v1/auth/me/", Some(&user.access)).await;
    assert_eq!(
        wiped.status,
        StatusCode::UNAUTHORIZED,
        "the edge lost every user"
    );
    assert_eq!(origin("check-edge").0, 1);

    let (code, output) = origin("resync-edge");
    assert_eq!(code, 0, "{output}");
    let me = stack.get("/api/v1/auth/me/", Some(&user.access)).await;
    assert_eq!(me.status, StatusCode::OK);
    let tasks = stack
        .get(
            &format!("/api/v1/tasks/?project={project}"),
            Some(&user.access),
        )
        .await;
    assert_eq!(tasks.body["count"], json!(3));
    assert_eq!(origin("check-edge").0, 0);
}

/// `check-edge` compares at a watermark: writes landing while it runs are neither missing nor
/// extra, so a healthy stack under continuous writes is in sync; real damage is still found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_edge_is_in_sync_under_continuous_writes_and_still_finds_damage() {
    let stack = Stack::new();
    let user = stack.user().await;
    let project = stack
        .post(
            "/api/v1/projects/",
            &json!({"name": "Busy"}),
            Some(&user.access),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let victim = stack
        .post(
            "/api/v1/tasks/",
            &json!({"project": project, "title": "victim"}),
            Some(&user.access),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();

    // Writers: through the edge (write-through) and straight to the origin (D1 learns of those
    // only from the push), until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..3 {
        let (stack, user, stop) = (stack.clone(), user.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut written = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && written < 2000 {
                let body = json!({"project": project, "title": format!("w{writer}-{written}")});
                let answer = if writer == 0 {
                    stack
                        .origin_signed("POST", "/api/v1/tasks/", &body, Some(user.id))
                        .await
                } else {
                    stack
                        .post("/api/v1/tasks/", &body, Some(&user.access))
                        .await
                };
                assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
                written += 1;
            }
            written
        }));
    }
    let check = || tokio::task::spawn_blocking(|| origin("check-edge"));
    for round in 0..3 {
        let (code, report) = check().await.unwrap();
        assert_eq!(code, 0, "round {round}: in sync under writes:\n{report}");
    }

    // Damage D1 while the writes go on: the check still sees it.
    tokio::task::spawn_blocking(move || d1(&format!("DELETE FROM tasks WHERE id = {victim}")))
        .await
        .unwrap();
    let (code, report) = check().await.unwrap();
    assert_eq!(code, 1, "{report}");
    assert!(report.contains(&format!("missing: {victim}")), "{report}");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for writer in writers {
        total += writer.await.unwrap();
    }
    assert!(total > 0, "the writers wrote");
    let (code, output) = tokio::task::spawn_blocking(|| origin("resync-edge"))
        .await
        .unwrap();
    assert_eq!(code, 0, "{output}");
}
