//! The OpenAPI document as the running edge serves it: the committed one, in both forms.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use e2e::Stack;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const COMMITTED_JSON: &str = include_str!("../../openapi/openapi.json");
const COMMITTED_YAML: &str = include_str!("../../openapi/openapi.yaml");

#[tokio::test]
async fn the_schema_is_yaml_by_default_and_the_committed_document() {
    let stack = Stack::new();
    let answer = stack.get("/api/schema/", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.oai.openapi; charset=utf-8")
    );
    // The stack configures no servers, so the text is the committed file's, byte for byte.
    assert_eq!(answer.text, COMMITTED_YAML);
}

#[tokio::test]
async fn the_schema_is_json_when_asked_for_either_way() {
    let stack = Stack::new();
    let committed: Value = serde_json::from_str(COMMITTED_JSON).unwrap();
    let by_query = stack.get("/api/schema/?format=json", None).await;
    assert_eq!(
        by_query.header("content-type"),
        Some("application/vnd.oai.openapi+json")
    );
    let by_accept = stack
        .send(
            stack
                .request(Method::GET, "/api/schema/")
                .header("accept", "application/json"),
        )
        .await;
    assert_eq!(by_accept.header("content-type"), Some("application/json"));
    for answer in [by_query, by_accept] {
        assert_eq!(answer.status, StatusCode::OK);
        let served: Value = serde_json::from_str(&answer.text).unwrap();
        assert_eq!(served, committed);
        assert_eq!(served["info"]["title"], "Projects API");
        assert_eq!(
            served["components"]["securitySchemes"]["jwtAuth"]["bearerFormat"],
            "JWT"
        );
    }
}

#[tokio::test]
async fn the_schema_needs_no_token_and_is_not_counted() {
    let stack = Stack::new();
    let answer = stack.get("/api/schema/", Some("not-a-token")).await;
    assert_eq!(answer.status, StatusCode::OK, "a bearer is not looked at");
    assert_eq!(answer.header("ratelimit-limit"), None);
}

#[tokio::test]
async fn a_format_the_document_is_not_served_in_is_404_as_in_drf() {
    let stack = Stack::new();
    for query in ["?format=xml", "?format=", "?format=JSON"] {
        let answer = stack
            .send(
                stack
                    .request(Method::GET, &format!("/api/schema/{query}"))
                    .header("accept", "application/json"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{query}");
        assert_eq!(
            answer.body,
            serde_json::json!({"status_code": 404, "errors": {"detail": "Not found."}}),
            "{query}"
        );
    }
    let drf_name = stack.get("/api/schema/?format=openapi-json", None).await;
    assert_eq!(
        drf_name.header("content-type"),
        Some("application/vnd.oai.openapi+json")
    );
}
