//! The DRF service's own OpenAPI document, the one the parity gate fuzzes with: where it is,
//! and the operations it lists.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::ui::{ROOT, shown};

/// As the DRF service serves it at `/api/schema/?format=json`, saved in the shared folder
/// beside this repository.
pub fn path() -> PathBuf {
    ROOT.join("../shared/reference/drf-service/openapi.json")
}

/// Every operation of the document, `METHOD /path`, in the document's order.
pub fn load() -> Result<Vec<String>> {
    let path = path();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the DRF document {}", shown(&path)))?;
    let document: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", shown(&path)))?;
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
