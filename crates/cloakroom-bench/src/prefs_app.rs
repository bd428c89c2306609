//! The demo's preference routes on tower-sessions, for the side-by-side run of the
//! demo binary (`loadbench --parts demo`): `GET /prefs` answers the session's
//! preferences as one JSON object, `PUT /prefs/{name}` stores any JSON value
//! under a name of 1 to 64 `[A-Za-z0-9_-]`, and `GET /healthz` answers
//! `{"status":"ok"}`, as the demo does. tower-sessions cannot list a session's
//! keys, so the preferences live in one map under `prefs`, read and written back
//! by `PUT`: how a tower-sessions application keeps a set of named values.
//!
//! ```
//! let app = cloakroom_bench::prefs_app::router(tower_sessions::MemoryStore::default());
//! # let _: axum::Router = app;
//! ```

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use tower_sessions::Session;

use crate::apps::{COOKIE_NAME, IDLE_TIMEOUT};

/// The session key holding the preferences.
const PREFS: &str = "prefs";

/// The routes, under a tower-sessions layer over `store` with the demo's cookie
/// (`sid`, `Path=/`, `HttpOnly`, `SameSite=Lax`, not `Secure`: the demo outside
/// production) and idle timeout (24 h), in the demo's stack of layers: its
/// request log outside the session layer, its body limit (16 KiB) inside.
pub fn router<S: tower_sessions::SessionStore + Clone>(store: S) -> Router {
    let layer = tower_sessions::SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        .with_expiry(tower_sessions::Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(IDLE_TIMEOUT.as_secs() as i64),
        ))
        .with_path("/")
        .with_secure(false)
        .with_http_only(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax);
    Router::new()
        .route("/prefs", get(list))
        .route("/prefs/{name}", put(set))
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .layer(cloakroom_demo_serve::around_session(layer))
}

type Answer = Result<Json<Value>, (StatusCode, Json<Value>)>;

fn failed(err: tower_sessions::session::Error) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": err.to_string() })),
    )
}

async fn list(session: Session) -> Answer {
    let prefs: Map<String, Value> = session.get(PREFS).await.map_err(failed)?.unwrap_or_default();
    Ok(Json(Value::Object(prefs)))
}

async fn set(session: Session, Path(name): Path<String>, Json(value): Json<Value>) -> Answer {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err((
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "a preference name is 1 to 64 characters of A-Z, a-z, 0-9, _ and -" })),
        ));
    }
    let mut prefs: Map<String, Value> = session.get(PREFS).await.map_err(failed)?.unwrap_or_default();
    prefs.insert(name.clone(), value.clone());
    session.insert(PREFS, prefs).await.map_err(failed)?;
    Ok(Json(json!({ "name": name, "value": value })))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use tower::ServiceExt as _;

    use super::*;
    use crate::apps::{call, cookie_pair};

    async fn put(app: &Router, path: &str, cookie: Option<&str>, body: &str) -> (StatusCode, Option<String>) {
        let mut request = Request::put(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(cookie_pair);
        (response.status(), cookie)
    }

    #[tokio::test]
    async fn preferences_are_kept_and_listed_like_the_demos() {
        let app = router(tower_sessions::MemoryStore::default());
        let (status, cookie) = put(&app, "/prefs/theme", None, "\"dark\"").await;
        assert_eq!(status, StatusCode::OK);
        let cookie = cookie.expect("a new session's cookie");
        assert_eq!(put(&app, "/prefs/size", Some(&cookie), "3").await.0, StatusCode::OK);
        let listed = call(&app, "/prefs", Some(&cookie)).await;
        let listed: Value = serde_json::from_str(&listed.body).unwrap();
        assert_eq!(listed, json!({ "theme": "dark", "size": 3 }));
        assert_eq!(
            put(&app, "/prefs/a.b", Some(&cookie), "1").await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(call(&app, "/prefs", None).await.body, "{}");
        assert_eq!(call(&app, "/healthz", None).await.body, r#"{"status":"ok"}"#);
    }
}
