//! Checks real answers against the REST API's OpenAPI document (docs/openapi.json): the
//! schema the document gives for the route and status, made strict (every object refuses
//! properties it does not name), validated with `jsonschema`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The document as the code generates it (and docs/openapi.json holds).
pub fn document() -> Value {
    serde_json::from_str(&canopy_server::http::openapi::document_json()).expect("document JSON")
}

/// The schema the document gives for `method pattern` answering `status` as JSON, made strict:
/// a real answer with an undocumented field fails as much as one missing a required field.
pub fn strict_schema(
    document: &Value,
    method: &Method,
    pattern: &str,
    status: StatusCode,
) -> Result<Value, String> {
    let operation = &document["paths"][pattern][method.as_str().to_lowercase()];
    if !operation.is_object() {
        return Err(format!("{method} {pattern} is not in the document"));
    }
    let response = &operation["responses"][status.as_str()];
    if !response.is_object() {
        return Err(format!(
            "{method} {pattern} answered {status}, which the document does not list"
        ));
    }
    let mut schema = response["content"]["application/json"]["schema"].clone();
    if !schema.is_object() {
        return Err(format!("{method} {pattern} {status}: no JSON schema"));
    }
    let mut components = document["components"].clone();
    forbid_unnamed_properties(&mut components);
    forbid_unnamed_properties(&mut schema);
    if let Some(map) = schema.as_object_mut() {
        map.insert("components".to_owned(), components);
        map.insert(
            "$schema".to_owned(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
    }
    Ok(schema)
}

fn forbid_unnamed_properties(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), json!(false));
            }
            map.values_mut().for_each(forbid_unnamed_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_unnamed_properties),
        _ => {}
    }
}

/// Where `answer` (the JSON body of `method pattern` answering `status`) disagrees with the
/// document; empty when it validates.
pub fn mismatches(
    document: &Value,
    method: &Method,
    pattern: &str,
    status: StatusCode,
    answer: &Value,
) -> Vec<String> {
    let schema = match strict_schema(document, method, pattern, status) {
        Ok(schema) => schema,
        Err(problem) => return vec![problem],
    };
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    validator
        .iter_errors(answer)
        .map(|error| format!("{error} (at {})", error.instance_path()))
        .collect()
}
