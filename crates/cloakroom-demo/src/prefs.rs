//! Preferences: each under its own session key `pref:NAME`, written through the
//! write-only handle so that setting one costs a single store call.

use axum::Json;
use cloakroom::{Session, SessionWriter};
use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiJson, ApiPath, ApiResult};

/// The prefix of preference keys in the session.
pub const PREF_PREFIX: &str = "pref:";
/// The longest preference name.
pub const MAX_NAME_LEN: usize = 64;

/// True for 1 to 64 characters of `[A-Za-z0-9_-]`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `PUT /prefs/{name}` with any JSON value: stores it without reading the session.
pub async fn put(
    writer: SessionWriter,
    ApiPath(name): ApiPath<String>,
    ApiJson(value): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    if !is_valid_name(&name) {
        return Err(ApiError::bad_request(format!(
            "a preference name is 1 to {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, _ and -"
        )));
    }
    writer.insert(format!("{PREF_PREFIX}{name}"), &value)?;
    Ok(Json(json!({ "name": name, "value": value })))
}

/// The session's preferences as one object, name to value.
pub fn all(session: &Session) -> Result<Map<String, Value>, cloakroom::Error> {
    let mut prefs = Map::new();
    for key in session.keys() {
        if let Some(name) = key.strip_prefix(PREF_PREFIX)
            && let Some(value) = session.get::<Value>(&key)?
        {
            prefs.insert(name.to_owned(), value);
        }
    }
    Ok(prefs)
}

/// `GET /prefs`: `{"name": value, ...}`.
pub async fn list(session: Session) -> ApiResult<Json<Map<String, Value>>> {
    Ok(Json(all(&session)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_safe_words() {
        assert!(is_valid_name("theme"));
        assert!(is_valid_name("Font_size-2"));
        assert!(is_valid_name(&"a".repeat(64)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"a".repeat(65)));
        assert!(!is_valid_name("a.b"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("thème"));
    }
}
