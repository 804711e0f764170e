//! Just enough of the Chrome devtools protocol (CDP) to drive Debian's `chromium` headless:
//! start it on a profile of its own, open a page, navigate, evaluate JavaScript, wait for a
//! condition, take a screenshot. A small client over one WebSocket rather than a
//! browser-automation crate: the tests need a handful of commands, and a crate that downloads
//! its own browser is of no use where none can be downloaded.
//!
//! Everything the page reports as wrong (console errors, uncaught exceptions, failed loads, CSP
//! violations) is collected as it arrives, so that a test can fail on it: a page that renders
//! but logs a refused script is broken for someone.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long chromium may take to start listening for devtools (a cold start on a busy 2-core
/// machine takes a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one devtools command may take to be answered.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a page may take to fire its `load` event.
const LOAD_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`Page::wait_for`] waits for its condition.
const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
/// How often [`Page::wait_for`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long a killed chromium's helper processes may take to exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// The viewport every page is rendered (and screenshotted) at.
const VIEWPORT: (u32, u32) = (1280, 1600);

/// A headless chromium of this test's own: its own profile in a temporary folder, its stderr
/// in a file there (read for the devtools address, and shown when it fails to start). Dropping
/// it kills the browser and removes the folder, so a failed test leaves neither behind.
#[derive(Debug)]
struct Chromium {
    child: Child,
    /// The temporary folder: `profile/` (the user data dir), `stderr.log`, and what chromium
    /// keeps beside a profile (`config/`, `cache/`).
    folder: PathBuf,
}

impl Chromium {
    /// Starts chromium and returns it with the browser's devtools WebSocket address.
    fn start() -> (Self, String) {
        let binary = find_on_path("chromium")
            .unwrap_or_else(|| panic!("chromium is missing: ./dev setup installs it"));
        let folder = std::env::temp_dir().join(e2e::unique("e2e-chromium"));
        let profile = folder.join("profile");
        std::fs::create_dir_all(&profile)
            .unwrap_or_else(|e| panic!("creating {}: {e}", profile.display()));
        let stderr_path = folder.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", stderr_path.display()));

        let mut command = Command::new(&binary);
        command
            // Its crash handler's database and any cache outside the profile go into the
            // folder too, not into the user's home.
            .env("XDG_CONFIG_HOME", folder.join("config"))
            .env("XDG_CACHE_HOME", folder.join("cache"))
            .arg("--headless")
            .arg("--disable-gpu")
            .arg("--no-first-run")
            .arg("--no-default-browser-check")
            .arg("--hide-scrollbars")
            .arg("--mute-audio")
            // Port 0: the kernel picks a free one, so tests running side by side never collide;
            // chromium prints the one it got.
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={},{}", VIEWPORT.0, VIEWPORT.1));
        // Chromium's sandbox refuses to run as root (containers, CI); as anyone else it stays on.
        if running_as_root() {
            command.arg("--no-sandbox");
        }
        // stderr into a file, not a pipe: chromium writes a lot there (D-Bus complaints in a
        // container) and would block on a full pipe nobody drains.
        let child = command
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut chromium = Self { child, folder };
        let address = chromium.devtools_address();
        (chromium, address)
    }

    /// Waits for the `devtools listening on ws://…` line chromium prints once it accepts
    /// devtools connections.
    fn devtools_address(&mut self) -> String {
        let started = Instant::now();
        loop {
            let stderr = self.stderr();
            if let Some(address) = stderr
                .lines()
                .find_map(|line| line.strip_prefix("DevTools listening on "))
            {
                return address.trim().to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chromium exited ({status}) before listening for DevTools; its stderr:\n{}",
                    last_lines(&stderr, 30)
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "chromium did not listen for DevTools within {} s; its stderr:\n{}",
                START_TIMEOUT.as_secs(),
                last_lines(&stderr, 30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.folder.join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // SIGKILL: nothing of the profile is worth a clean shutdown. Errors mean it has exited
        // already.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its helpers (zygotes, renderers, network service, crash handler) exit by themselves
        // once the browser is gone, a moment later; until then they may still write into the
        // folder (a removal would fail, or be undone). Every one of them names the folder on
        // its command line, so wait until none does.
        let started = Instant::now();
        while self.helpers_running() && started.elapsed() < SHUTDOWN_TIMEOUT {
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Err(e) = std::fs::remove_dir_all(&self.folder) {
            eprintln!(
                "could not remove chromium's folder {}: {e}",
                self.folder.display()
            );
        }
    }
}

impl Chromium {
    /// Whether a process whose command line names this chromium's folder is still running.
    fn helpers_running(&self) -> bool {
        let folder = self.folder.as_os_str().as_encoded_bytes();
        let Ok(processes) = std::fs::read_dir("/proc") else {
            return false;
        };
        processes.flatten().any(|process| {
            std::fs::read(process.path().join("cmdline")).is_ok_and(|command_line| {
                command_line
                    .windows(folder.len())
                    .any(|window| window == folder)
            })
        })
    }
}

/// Something the page reported as wrong.
#[derive(Debug, Clone)]
pub struct Problem {
    /// `console error`, `uncaught exception`, `CSP violation` or `error` (a failed load, from
    /// the browser's own log).
    pub kind: &'static str,
    pub text: String,
}

/// One tab of a [`Chromium`] of its own, driven over a devtools session.
#[derive(Debug)]
pub struct Page {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The flat session attached to the tab: every command to it carries this id.
    session: Option<String>,
    next_id: u64,
    /// How many `load` events the tab has fired (navigation waits for one more).
    loads: u64,
    problems: Vec<Problem>,
    /// Declared last, so dropped last: the socket closes before the browser is killed.
    chromium: Chromium,
}

impl Page {
    /// Starts a headless chromium and opens a blank tab in it, at [`VIEWPORT`] size, reporting
    /// console messages, exceptions and the browser's log (CSP violations are logged there).
    pub async fn open() -> Self {
        let (chromium, address) = Chromium::start();
        let (socket, _) = tokio::time::timeout(
            CALL_TIMEOUT,
            tokio_tungstenite::connect_async(address.as_str()),
        )
        .await
        .unwrap_or_else(|_| panic!("connecting to chromium's DevTools at {address} timed out"))
        .unwrap_or_else(|e| panic!("connecting to chromium's DevTools at {address}: {e}"));
        let mut page = Self {
            socket,
            session: None,
            next_id: 1,
            loads: 0,
            problems: Vec::new(),
            chromium,
        };

        let target = page
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = page
            .call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        page.session = Some(
            attached["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("Target.attachToTarget gave no session: {attached}"))
                .to_owned(),
        );
        for domain in ["Page", "Runtime", "Log"] {
            page.call(&format!("{domain}.enable"), json!({})).await;
        }
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": VIEWPORT.0, "height": VIEWPORT.1, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        page
    }

    /// Opens `url` and waits for its `load` event (scripts loaded and run; what they fetch and
    /// render afterwards needs [`Page::wait_for`]).
    pub async fn navigate(&mut self, url: &str) {
        let loads = self.loads;
        let navigated = self.call("Page.navigate", json!({"url": url})).await;
        if let Some(error) = navigated["errorText"].as_str() {
            panic!("chromium could not open {url}: {error}");
        }
        self.wait_for_load(loads, url).await;
    }

    /// Reloads the page and waits for its `load` event.
    pub async fn reload(&mut self) {
        // Asked before, not while the page is being replaced.
        let url = self.url().await;
        let loads = self.loads;
        self.call("Page.reload", json!({})).await;
        self.wait_for_load(loads, &url).await;
    }

    /// The value of a JavaScript expression (a promise is awaited), as JSON. Panics if it
    /// throws.
    pub async fn evaluate(&mut self, expression: &str) -> Value {
        let mut evaluated = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(exception) = evaluated.get("exceptionDetails") {
            let message = exception["exception"]["description"]
                .as_str()
                .or_else(|| exception["text"].as_str())
                .unwrap_or("an exception");
            panic!("evaluating `{expression}` threw: {message}");
        }
        evaluated["result"]["value"].take()
    }

    /// Polls the JavaScript `condition` every [`POLL_INTERVAL`] until it is truthy. Panics after
    /// [`WAIT_TIMEOUT`] naming `what` it waited for and what the page shows instead.
    pub async fn wait_for(&mut self, what: &str, condition: &str) {
        let started = Instant::now();
        let check = format!("Boolean({condition})");
        loop {
            if self.evaluate(&check).await == Value::Bool(true) {
                return;
            }
            if started.elapsed() > WAIT_TIMEOUT {
                let state = self.describe().await;
                panic!(
                    "waited {} s for {what} (`{condition}`), in vain; {state}",
                    WAIT_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Waits for an element matching `selector`, then clicks it.
    pub async fn click(&mut self, what: &str, selector: &str) {
        self.wait_for(what, &format!("document.querySelector({})", js(selector)))
            .await;
        self.evaluate(&format!("document.querySelector({}).click()", js(selector)))
            .await;
    }

    /// Types `value` into the input matching `selector` as a user would, for React's sake:
    /// React tracks an input's value through the native setter and hears of changes through
    /// `input` events, so assigning `.value` alone would be undone at its next render.
    pub async fn fill(&mut self, what: &str, selector: &str, value: &str) {
        self.wait_for(what, &format!("document.querySelector({})", js(selector)))
            .await;
        self.evaluate(&format!(
            "(() => {{
                const input = document.querySelector({selector});
                const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
                setter.call(input, {value});
                input.dispatchEvent(new Event('input', {{ bubbles: true }}));
            }})()",
            selector = js(selector),
            value = js(value),
        ))
        .await;
    }

    /// The rendered text of the first element matching `selector` ("" if there is none).
    pub async fn text(&mut self, selector: &str) -> String {
        let text = self
            .evaluate(&format!(
                "document.querySelector({})?.innerText ?? ''",
                js(selector)
            ))
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The page's address.
    pub async fn url(&mut self) -> String {
        let url = self.evaluate("location.href").await;
        url.as_str().unwrap_or_default().to_owned()
    }

    /// Saves what the viewport shows as a PNG at `path` (its folder is created).
    pub async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let data = shot["data"]
            .as_str()
            .unwrap_or_else(|| panic!("Page.captureScreenshot gave no data"));
        let png = base64_decode(data);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)
                .unwrap_or_else(|e| panic!("creating {}: {e}", folder.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Panics if the page reported anything wrong so far, except the problems whose text
    /// contains one of `expected` (each a refusal the page's CSP makes on purpose).
    pub async fn assert_no_problems(&mut self, expected: &[&str]) {
        // A round trip reads whatever the browser reported before it.
        let url = self.url().await;
        let unexpected: Vec<&Problem> = self
            .problems
            .iter()
            .filter(|problem| !expected.iter().any(|text| problem.text.contains(text)))
            .collect();
        if !unexpected.is_empty() {
            let mut listed = String::new();
            for problem in unexpected {
                let _ = writeln!(listed, "- {}: {}", problem.kind, problem.text);
            }
            panic!("{url} reported problems:\n{listed}");
        }
    }

    /// The page's state, for a failure's message: address, readiness, title, the start of its
    /// text, and the problems it reported.
    async fn describe(&mut self) -> String {
        let state = self
            .evaluate(
                "({url: location.href, readyState: document.readyState, title: document.title,
                  text: (document.body?.innerText ?? '').slice(0, 600)})",
            )
            .await;
        let field = |name: &str| state[name].as_str().unwrap_or_default().to_owned();
        let mut description = format!(
            "the page is {} ({}, title {:?}), showing:\n{}\n",
            field("url"),
            field("readyState"),
            field("title"),
            field("text")
        );
        if self.problems.is_empty() {
            description.push_str("It reported no problem.");
        } else {
            description.push_str("It reported:\n");
            for problem in &self.problems {
                let _ = writeln!(description, "- {}: {}", problem.kind, problem.text);
            }
        }
        description
    }

    async fn wait_for_load(&mut self, loads_before: u64, url: &str) {
        let waited = tokio::time::timeout(LOAD_TIMEOUT, async {
            while self.loads == loads_before {
                self.read_message().await;
            }
        })
        .await;
        if waited.is_err() {
            let state = self.describe().await;
            panic!(
                "{url} did not finish loading within {} s; {state}",
                LOAD_TIMEOUT.as_secs()
            );
        }
    }

    /// Sends one command (to the tab's session once attached) and returns its result. Events
    /// that arrive meanwhile are noted.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            command["sessionId"] = json!(session);
        }
        let answered = tokio::time::timeout(CALL_TIMEOUT, async {
            self.socket
                .send(Message::text(command.to_string()))
                .await
                .unwrap_or_else(|e| panic!("sending {method} to chromium: {e}"));
            loop {
                let message = self.read_message().await;
                if message["id"].as_u64() == Some(id) {
                    return message;
                }
            }
        })
        .await;
        let mut answer = answered.unwrap_or_else(|_| {
            panic!(
                "chromium did not answer {method} within {} s",
                CALL_TIMEOUT.as_secs()
            )
        });
        if let Some(error) = answer.get("error") {
            panic!("chromium refused {method}: {error}");
        }
        answer["result"].take()
    }

    /// Reads the next message from the browser, noting it if it is an event of the tab.
    async fn read_message(&mut self) -> Value {
        loop {
            let message = self
                .socket
                .next()
                .await
                .unwrap_or_else(|| {
                    panic!(
                        "chromium closed its DevTools connection; its stderr:\n{}",
                        last_lines(&self.chromium.stderr(), 30)
                    )
                })
                .unwrap_or_else(|e| panic!("reading from chromium's DevTools connection: {e}"));
            let Message::Text(text) = message else {
                continue;
            };
            let message: Value = serde_json::from_str(text.as_str()).unwrap_or_else(|e| {
                panic!("chromium sent something other than JSON ({e}): {text}")
            });
            if message["id"].is_null() {
                self.note(&message);
            }
            return message;
        }
    }

    /// Keeps what an event says about the tab: a finished load, or a problem.
    fn note(&mut self, event: &Value) {
        if event["sessionId"].as_str() != self.session.as_deref() {
            return;
        }
        let params = &event["params"];
        let problem = match event["method"].as_str().unwrap_or_default() {
            "Page.loadEventFired" => {
                self.loads += 1;
                None
            }
            "Runtime.consoleAPICalled"
                if matches!(params["type"].as_str(), Some("error" | "assert")) =>
            {
                let words: Vec<String> = params["args"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|arg| match &arg["value"] {
                        Value::String(text) => text.clone(),
                        Value::Null => arg["description"].as_str().unwrap_or_default().to_owned(),
                        value => value.to_string(),
                    })
                    .collect();
                Some(Problem {
                    kind: "console error",
                    text: words.join(" "),
                })
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let text = details["exception"]["description"]
                    .as_str()
                    .or_else(|| details["text"].as_str())
                    .unwrap_or("an exception");
                Some(Problem {
                    kind: "uncaught exception",
                    text: text.to_owned(),
                })
            }
            "Log.entryAdded" if params["entry"]["level"] == "error" => {
                let entry = &params["entry"];
                let text = entry["text"].as_str().unwrap_or_default();
                let kind =
                    if entry["source"] == "security" || text.contains("Content Security Policy") {
                        "CSP violation"
                    } else {
                        "error"
                    };
                let url = entry["url"].as_str().unwrap_or_default();
                Some(Problem {
                    kind,
                    text: if url.is_empty() {
                        text.to_owned()
                    } else {
                        format!("{text} ({url})")
                    },
                })
            }
            _ => None,
        };
        self.problems.extend(problem);
    }
}

/// A Rust string as a JavaScript string literal (JSON's syntax is JavaScript's).
fn js(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// Where `name` is on `PATH`, as the shell would find it.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|folder| folder.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether this process runs as root (its `/proc/self` belongs to its user).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// Standard base64 (a screenshot's encoding) decoded with the harness's base64url decoder:
/// the two alphabets differ in two characters, and padding carries nothing.
fn base64_decode(data: &str) -> Vec<u8> {
    let url_safe: String = data
        .chars()
        .filter(|c| *c != '=')
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    e2e::base64url_decode(&url_safe)
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}
