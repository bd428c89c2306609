//! `GET /metrics`: cloakroom's metrics (loads, commits by outcome, new sessions,
//! conflicts, store errors, purged sessions, store call times, each labelled by
//! store) in the Prometheus text format.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::api::error_response;

/// The buckets of `cloakroom_store_call_seconds`, in seconds: 50 µs to 2.5 s.
/// A Prometheus histogram, not a summary: it adds up across instances, and a
/// call costs a bucket count, not a place in a quantile sketch.
///
/// ```
/// use cloakroom_demo::metrics::CALL_SECONDS_BUCKETS;
///
/// assert!(CALL_SECONDS_BUCKETS.windows(2).all(|pair| pair[0] < pair[1]));
/// ```
pub const CALL_SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// How often the recorded call times are folded into the histogram. Until then
/// each is kept as it came: without this, a demo nobody scrapes would keep every
/// one.
///
/// ```
/// assert_eq!(cloakroom_demo::metrics::UPKEEP_EVERY.as_secs(), 5);
/// ```
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's Prometheus recorder, installed on first use with a thread that
/// runs its upkeep every [`UPKEEP_EVERY`] (one per process: `None` when another
/// recorder was installed first).
///
/// ```
/// let handle = cloakroom_demo::metrics::recorder().expect("the first recorder of the process");
/// let text: String = handle.render();
/// # let _ = text;
/// ```
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("cloakroom_store_call_seconds".to_owned()),
            CALL_SECONDS_BUCKETS,
        )
        .expect("the buckets are not empty");
    let handle = match builder.install_recorder() {
        Ok(handle) => handle,
        Err(err) => {
            tracing::warn!(error = %err, "no metrics: a recorder is installed already");
            return None;
        }
    };
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
    if let Err(err) = spawned {
        // Rendering still runs the upkeep: only an unscraped demo keeps more.
        tracing::warn!(error = %err, "no metrics upkeep thread");
    }
    Some(handle)
}

/// `GET /metrics`: the text format; 503 when there is no recorder.
///
/// ```
/// use axum::{Router, routing::get};
///
/// let app: Router = Router::new().route("/metrics", get(cloakroom_demo::metrics::render));
/// ```
pub async fn render() -> Response {
    match recorder() {
        Some(handle) => {
            handle.run_upkeep();
            ([(CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
        }
        None => error_response(StatusCode::SERVICE_UNAVAILABLE, "metrics are not recorded"),
    }
}
