//! Every log line of a request carries the session's fingerprint, never its ID.

mod common;

use axum::Router;
use axum::routing::get;
use cloakroom::Session;
use common::*;
use serde_json::json;

#[tokio::test]
async fn log_lines_of_a_request_carry_the_fingerprint_and_never_the_id() {
    let (logs, _guard) = capture_logs();

    let layer = config().build().unwrap();
    let manager = layer.manager();
    let app = Router::new()
        .route(
            "/work",
            get(|s: Session| async move {
                tracing::info!("handler at work");
                s.update("n", |n: u32| n + 1).unwrap();
            }),
        )
        .merge(routes())
        .layer(layer);
    let mut client = Client::new(app);
    client.put("/set/cart", json!([])).await;
    client.post("/login/alice").await;
    client.get("/work").await;

    let text = logs.text();
    let ticket = client.ticket.clone().unwrap();
    let id = manager.verify_ticket(&ticket).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("handler at work"))
        .unwrap_or_else(|| panic!("no handler line in:\n{text}"));
    let fingerprint = line
        .split("session{session=")
        .nth(1)
        .and_then(|rest| rest.get(..12))
        .unwrap_or_else(|| panic!("no fingerprint in {line}"));
    assert!(fingerprint.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
    assert!(text.contains("session created"), "{text}");
    let renewed = text
        .lines()
        .find(|l| l.contains("session regenerated"))
        .expect("a regenerate line");
    assert!(
        renewed.contains("renewed="),
        "the new fingerprint has its own field: {renewed}"
    );
    assert!(!text.contains(id.expose()), "a raw ID leaked into the logs:\n{text}");
    assert!(!text.contains(&ticket[44..]), "a ticket MAC leaked into the logs");
}

#[tokio::test]
async fn a_missing_layer_is_logged_once_at_error_level_with_the_fix() {
    let (logs, _guard) = capture_logs();

    let app = routes(); // no `.layer(...)`
    for _ in 0..3 {
        let reply = send(&app, "GET", "/peek", None, None).await;
        assert_eq!(reply.status, 500);
        assert!(
            reply.json()["error"]
                .as_str()
                .unwrap()
                .contains(".layer(session_layer)")
        );
    }
    let text = logs.text();
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "logged once:\n{text}");
    assert!(
        errors[0].contains("cloakroom::SessionLayer") && errors[0].contains("after the `.route(..)` calls"),
        "the line names the fix: {}",
        errors[0]
    );
}

#[tokio::test]
async fn a_secure_cookie_over_plain_http_to_a_lan_host_is_warned_about_once() {
    let (logs, _guard) = capture_logs();
    let app = app(config().build().unwrap());
    let lan = |uri: &str| {
        axum::http::Request::builder()
            .method("PUT")
            .uri(uri)
            .header("host", "192.168.1.20:3000")
            .header("origin", "http://192.168.1.20:3000")
            .header("content-type", "application/json")
            .body(axum::body::Body::from("1"))
            .unwrap()
    };
    assert!(send_request(&app, lan("/set/a")).await.session_cookie().is_some());
    assert!(send_request(&app, lan("/set/b")).await.session_cookie().is_some());
    let text = logs.text();
    assert_eq!(text.matches("over plain http").count(), 1, "once per layer: {text}");
    assert!(text.contains("192.168.1.20:3000"), "{text}");

    let (logs, _guard) = capture_logs();
    let local = axum::http::Request::builder()
        .method("PUT")
        .uri("/set/a")
        .header("host", "127.0.0.1:3000")
        .header("origin", "http://127.0.0.1:3000")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("1"))
        .unwrap();
    let fresh = common::app(config().build().unwrap());
    send_request(&fresh, local).await;
    assert!(
        !logs.text().contains("over plain http"),
        "loopback keeps Secure cookies"
    );
}
