//! What schemathesis found, read from its NDJSON report (`--report ndjson`): one JSON event a
//! line. Only three kinds matter here:
//!
//! - `ScenarioFinished`: a scenario's test cases, their requests and responses, and every check
//!   run on each case with its status (`success`, `failure`, `skip`). A failing check names
//!   itself (`positive_data_acceptance`) and the operation (`POST /api/v1/tasks/`);
//! - `NonFatalError` / `FatalError`: schemathesis could not test something (a connection
//!   refused, a schema it could not read); never something a deviation can excuse;
//! - `EngineFinished`: the last line of a complete run.
//!
//! Every other event and field is skipped.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

/// One failing check on one test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The check's name, as `--checks` takes it.
    pub check: String,
    /// `METHOD /path`, the path as the document spells it.
    pub operation: String,
    /// schemathesis's own words: what was expected and what came.
    pub message: String,
    /// The response's status, when there was one.
    pub status: Option<u16>,
    /// The response's body as text (lossy UTF-8), or empty.
    pub body: String,
    /// The request, `METHOD URL`, to reproduce it by hand.
    pub request: String,
}

impl Failure {
    /// What a deviation's `matching` is looked for in: the message and the response body.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.message, self.body)
    }
}

/// The parts of a run the gate judges.
#[derive(Debug, Default)]
pub struct Run {
    pub version: Option<String>,
    pub failures: Vec<Failure>,
    /// What schemathesis could not test, one line each.
    pub errors: Vec<String>,
    /// How many responses each `METHOD /path` got, and how many of them were 2xx (the
    /// coverage phase also sends methods the document does not list).
    pub answered: BTreeMap<String, (u64, u64)>,
    /// Whether the report ends with `EngineFinished` (a run cut short does not).
    pub finished: bool,
}

impl Run {
    /// The `operations` that never answered 2xx: tested only on their way to a refusal (no
    /// such object, not built yet), or not at all.
    pub fn never_succeeded<'a>(&self, operations: &'a [String]) -> Vec<&'a str> {
        operations
            .iter()
            .filter(|operation| self.answered.get(*operation).is_none_or(|(_, ok)| *ok == 0))
            .map(String::as_str)
            .collect()
    }
}

/// One line of the report; the events not named here are skipped.
#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "Initialize")]
    initialize: Option<Initialize>,
    #[serde(rename = "ScenarioFinished")]
    scenario: Option<ScenarioFinished>,
    #[serde(rename = "NonFatalError")]
    non_fatal: Option<Value>,
    #[serde(rename = "FatalError")]
    fatal: Option<Value>,
    #[serde(rename = "EngineFinished")]
    finished: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Initialize {
    schemathesis_version: String,
}

#[derive(Debug, Deserialize)]
struct ScenarioFinished {
    recorder: Recorder,
}

/// A scenario: its cases, the interaction (request, response) of each, and the checks run on
/// each, all keyed by the case's id.
#[derive(Debug, Deserialize)]
struct Recorder {
    #[serde(default)]
    cases: BTreeMap<String, RecordedCase>,
    #[serde(default)]
    checks: BTreeMap<String, Vec<Check>>,
    #[serde(default)]
    interactions: BTreeMap<String, Interaction>,
}

#[derive(Debug, Deserialize)]
struct RecordedCase {
    value: Case,
}

#[derive(Debug, Deserialize)]
struct Case {
    method: String,
    path: String,
}

#[derive(Debug, Deserialize)]
struct Check {
    name: String,
    status: String,
    failure_info: Option<FailureInfo>,
}

#[derive(Debug, Deserialize)]
struct FailureInfo {
    failure: FailureDetail,
}

#[derive(Debug, Deserialize)]
struct FailureDetail {
    operation: String,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct Interaction {
    request: Option<Request>,
    response: Option<Response>,
}

#[derive(Debug, Deserialize)]
struct Request {
    method: String,
    uri: String,
}

#[derive(Debug, Deserialize)]
struct Response {
    status_code: u16,
    content: Option<Bytes>,
}

/// Bytes as the report writes them: `{"$base64": "..."}`.
#[derive(Debug, Deserialize)]
struct Bytes {
    #[serde(rename = "$base64")]
    base64: String,
}

impl Bytes {
    fn text(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .decode(&self.base64)
            .map_or_else(
                |_| format!("(undecodable body: {})", self.base64),
                |bytes| String::from_utf8_lossy(&bytes).into_owned(),
            )
    }
}

/// Reads a whole NDJSON report.
pub fn parse(ndjson: &str) -> Result<Run> {
    let mut run = Run::default();
    for (number, line) in ndjson.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(line)
            .with_context(|| format!("line {} of the report is not an event", number + 1))?;
        if let Some(initialize) = event.initialize {
            run.version = Some(initialize.schemathesis_version);
        }
        if let Some(scenario) = event.scenario {
            read_scenario(scenario.recorder, &mut run);
        }
        for error in [event.non_fatal, event.fatal].into_iter().flatten() {
            run.errors.push(describe_error(&error));
        }
        if event.finished.is_some() {
            run.finished = true;
        }
    }
    Ok(run)
}

fn read_scenario(recorder: Recorder, run: &mut Run) {
    for (id, case) in &recorder.cases {
        let Some(response) = recorder
            .interactions
            .get(id)
            .and_then(|i| i.response.as_ref())
        else {
            continue;
        };
        let operation = format!("{} {}", case.value.method.to_uppercase(), case.value.path);
        let tally = run.answered.entry(operation).or_default();
        tally.0 += 1;
        if (200..300).contains(&response.status_code) {
            tally.1 += 1;
        }
    }
    for (id, checks) in recorder.checks {
        let interaction = recorder.interactions.get(&id);
        let response = interaction.and_then(|i| i.response.as_ref());
        for check in checks {
            let Some(info) = check.failure_info.filter(|_| check.status == "failure") else {
                continue;
            };
            run.failures.push(Failure {
                check: check.name,
                operation: info.failure.operation,
                message: info.failure.message,
                status: response.map(|r| r.status_code),
                body: response
                    .and_then(|r| r.content.as_ref())
                    .map(Bytes::text)
                    .unwrap_or_default(),
                request: interaction
                    .and_then(|i| i.request.as_ref())
                    .map(|r| format!("{} {}", r.method, r.uri))
                    .unwrap_or_default(),
            });
        }
    }
}

/// An error event in one line: its `label` (the operation) and what went wrong, as far as the
/// report says.
fn describe_error(error: &Value) -> String {
    let label = error["label"].as_str().unwrap_or("the run");
    let what = [&error["value"], &error["exception"]]
        .into_iter()
        .find(|v| !v.is_null())
        .map_or_else(|| error.to_string(), Value::to_string);
    let what: String = what.chars().take(300).collect();
    format!("{label}: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// A `ScenarioFinished` line with one case: its checks as `(name, status)`, the failing ones
    /// on `operation`, answered `status` with `body`.
    fn scenario(operation: &str, checks: &[(&str, &str)], status: u16, body: &str) -> String {
        let (method, path) = operation.split_once(' ').unwrap();
        let checks: Vec<Value> = checks
            .iter()
            .map(|(name, outcome)| {
                let mut check = serde_json::json!({"name": name, "status": outcome});
                if *outcome == "failure" {
                    check["failure_info"] = serde_json::json!({"failure": {
                        "type": "X", "code": "ST000", "operation": operation,
                        "title": "t", "message": format!("{name} failed"), "case_id": null,
                        "severity": "medium"}});
                }
                check
            })
            .collect();
        serde_json::json!({"ScenarioFinished": {
            "id": "s", "phase": "fuzzing", "status": "failure",
            "recorder": {
                "label": operation,
                "cases": {"c1": {"value": {"method": method, "path": path, "id": "c1"}}},
                "checks": {"c1": checks},
                "interactions": {"c1": {
                    "request": {"method": method, "uri": format!("http://127.0.0.1:1{path}")},
                    "response": {"status_code": status, "headers": {},
                                 "content": {"$base64": encoded(body)}, "elapsed": 0.01}
                }}
            }
        }})
        .to_string()
    }

    #[test]
    fn failing_checks_become_failures_with_their_response() {
        let report = [
            r#"{"Initialize":{"command":"st run","schemathesis_version":"4.32.5","seed":1}}"#
                .to_owned(),
            scenario(
                "POST /api/v1/tasks/",
                &[
                    ("not_a_server_error", "success"),
                    ("positive_data_acceptance", "failure"),
                ],
                400,
                r#"{"errors":{"due_date":["Date has wrong format."]}}"#,
            ),
            r#"{"EngineFinished":{"running_time":1.0}}"#.to_owned(),
        ]
        .join("\n");
        let run = parse(&report).unwrap();
        assert_eq!(run.version.as_deref(), Some("4.32.5"));
        assert!(run.finished);
        assert!(run.errors.is_empty());
        assert_eq!(
            run.failures,
            vec![Failure {
                check: "positive_data_acceptance".to_owned(),
                operation: "POST /api/v1/tasks/".to_owned(),
                message: "positive_data_acceptance failed".to_owned(),
                status: Some(400),
                body: r#"{"errors":{"due_date":["Date has wrong format."]}}"#.to_owned(),
                request: "POST http://127.0.0.1:1/api/v1/tasks/".to_owned(),
            }]
        );
    }

    #[test]
    fn a_run_cut_short_or_in_error_says_so() {
        let report = [
            r#"{"Initialize":{"schemathesis_version":"4.32.5"}}"#,
            r#"{"NonFatalError":{"label":"GET /api/v1/tasks/","value":{"type":"ConnectionError"}}}"#,
            r#"{"PhaseStarted":{"phase":{"name":"fuzzing"}}}"#,
        ]
        .join("\n");
        let run = parse(&report).unwrap();
        assert!(!run.finished, "no EngineFinished: the run did not complete");
        assert_eq!(run.errors.len(), 1);
        assert!(
            run.errors[0].starts_with("GET /api/v1/tasks/: ")
                && run.errors[0].contains("ConnectionError"),
            "{}",
            run.errors[0]
        );
    }

    #[test]
    fn answers_are_tallied_per_operation() {
        let report = [
            scenario("GET /api/v1/tasks/{id}/", &[], 404, "{}"),
            scenario("GET /api/v1/tasks/{id}/", &[], 404, "{}"),
            scenario("GET /api/v1/projects/", &[], 200, "{}"),
        ]
        .join("\n");
        let run = parse(&report).unwrap();
        assert_eq!(run.answered["GET /api/v1/tasks/{id}/"], (2, 0));
        assert_eq!(run.answered["GET /api/v1/projects/"], (1, 1));
        let operations = [
            "GET /api/v1/tasks/{id}/",
            "GET /api/v1/projects/",
            "DELETE /api/v1/projects/{id}/",
        ]
        .map(str::to_owned);
        assert_eq!(
            run.never_succeeded(&operations),
            vec!["GET /api/v1/tasks/{id}/", "DELETE /api/v1/projects/{id}/"]
        );
    }

    #[test]
    fn a_line_that_is_not_json_is_an_error_naming_it() {
        let e = parse("{}\nnot json").unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
    }
}
