//! The operations an OpenAPI document lists: what a gate's deviations may name.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::ui::shown;

/// Every operation of the document at `path`, `METHOD /path`, in the document's order.
pub fn load(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the OpenAPI document {}", shown(path)))?;
    let document: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", shown(path)))?;
    Ok(operations(&document))
}

fn operations(document: &Value) -> Vec<String> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let Some(paths) = document["paths"].as_object() else {
        return Vec::new();
    };
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|methods| methods.keys())
                .filter(|method| METHODS.contains(&method.as_str()))
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_method_and_path_without_the_other_keys_of_a_path_item() {
        let document = serde_json::json!({"paths": {
            "/api/v1/tasks/{id}/": {
                "get": {}, "parameters": [], "delete": {}
            },
            "/api/token/": {"post": {}}
        }});
        assert_eq!(
            operations(&document),
            [
                "GET /api/v1/tasks/{id}/",
                "DELETE /api/v1/tasks/{id}/",
                "POST /api/token/"
            ]
        );
    }
}
