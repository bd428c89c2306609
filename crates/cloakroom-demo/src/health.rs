//! The health check.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cloakroom::SessionManager;
use serde_json::json;

use crate::api::error_response;

/// `GET /healthz`: 200 `{"status":"ok"}` when the session store answers, else 503.
pub async fn healthz(State(manager): State<SessionManager>) -> Response {
    match manager.ping().await {
        Ok(()) => Json(json!({ "status": "ok" })).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "health check: session store unavailable");
            error_response(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable")
        }
    }
}
