//! `GET /metrics`: cloakroom's metrics (loads, commits by outcome, new sessions,
//! conflicts, store errors, purged sessions, store call times, each labelled by
//! store) in the Prometheus text format.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::api::error_response;

/// The process's Prometheus recorder, installed on first use (one per process:
/// `None` when another recorder was installed first).
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(err) => {
                tracing::warn!(error = %err, "no metrics: a recorder is installed already");
                None
            }
        })
        .as_ref()
}

/// `GET /metrics`: the text format; 503 when there is no recorder.
pub async fn render() -> Response {
    match recorder() {
        Some(handle) => {
            handle.run_upkeep();
            ([(CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
        }
        None => error_response(StatusCode::SERVICE_UNAVAILABLE, "metrics are not recorded"),
    }
}
