//! Request bodies read the way GitHub's JSON-schema validation reads them, with its messages.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object body; an empty body counts as `{}`.
pub(crate) struct JsonBody(Map<String, Value>);

impl JsonBody {
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(other) => Err(ApiError::invalid_request(&format!(
                "For 'links/0/schema', {} is not an object.",
                describe(&other)
            ))),
            Err(_) => Err(ApiError::problems_parsing_json()),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    pub fn required_str(&self, name: &str) -> Result<String, ApiError> {
        self.opt_str(name)?
            .ok_or_else(|| ApiError::invalid_request(&format!("\"{name}\" wasn't supplied.")))
    }

    /// A string that may be left out but not sent as `null`.
    pub fn opt_str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(not_a(name, other, "string")),
        }
    }

    /// A string the schema allows to be `null`.
    pub fn opt_nullable_str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.opt_str(name),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(not_a(name, other, "boolean")),
        }
    }

    pub fn opt_str_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    other => Err(ApiError::invalid_request(&format!(
                        "For 'items', {} is not a string.",
                        describe(other)
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(not_a(name, other, "array")),
        }
    }
}

fn not_a(name: &str, value: &Value, kind: &str) -> ApiError {
    ApiError::invalid_request(&format!(
        "For 'properties/{name}', {} is not a {kind}.",
        describe(value)
    ))
}

/// How GitHub quotes a value in schema errors (Ruby's inspect: `nil`, `"text"`, `5`).
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nil".to_owned(),
        Value::Object(_) => "{...}".to_owned(),
        Value::Array(_) => "[...]".to_owned(),
        other => other.to_string(),
    }
}
