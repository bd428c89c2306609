//! Personalised responses stay out of shared caches: every response to a request
//! that read the session varies on the ticket and is private, unless the handler
//! says it is the same for everyone.

mod common;

use axum::Router;
use axum::routing::get;
use cloakroom::Session;
use cloakroom::response::Public;
use common::*;
use serde_json::json;

#[tokio::test]
async fn a_response_built_from_the_session_varies_on_the_cookie_and_is_private() {
    let mut client = Client::new(app(config().build().unwrap()));
    client.put("/set/a", json!(1)).await;
    let read = client.get("/get/a").await;
    assert_eq!(read.set_cookie(), None, "no ticket goes out");
    assert_eq!(read.headers["vary"], "cookie");
    assert_eq!(read.headers["cache-control"], "private, no-store");

    let anonymous = send(&client.app, "GET", "/peek", None, None).await;
    assert_eq!(
        anonymous.headers["vary"], "cookie",
        "an anonymous read depends on the cookie too"
    );
    assert_eq!(anonymous.headers["cache-control"], "private, no-store");
}

#[tokio::test]
async fn a_response_that_never_read_the_session_gets_no_cache_headers() {
    let mut client = Client::new(app(config().build().unwrap()));
    client.put("/set/a", json!(1)).await;
    let untouched = client.get("/noop").await;
    assert!(untouched.headers.get("vary").is_none());
    assert!(untouched.headers.get("cache-control").is_none());
    let blind = client.put("/write-only/theme", json!("dark")).await;
    assert_eq!(blind.set_cookie(), None);
    assert!(
        blind.headers.get("cache-control").is_none(),
        "a blind write read nothing"
    );
}

#[tokio::test]
async fn a_public_response_is_left_alone_unless_it_sets_the_cookie() {
    let app = Router::new()
        .route(
            "/logo",
            get(|s: Session| async move {
                let _ = s.contains("a");
                (Public, [("cache-control", "public, max-age=60")], "logo")
            }),
        )
        .route(
            "/public-write",
            get(|s: Session| async move {
                s.insert("seen", true).unwrap();
                (Public, "hi")
            }),
        )
        .merge(routes())
        .layer(config().build().unwrap());
    let mut client = Client::new(app);
    client.put("/set/a", json!(1)).await;
    let logo = client.get("/logo").await;
    assert!(logo.headers.get("vary").is_none());
    assert_eq!(logo.headers["cache-control"], "public, max-age=60");

    let fresh = send(&client.app, "GET", "/public-write", None, None).await;
    assert!(fresh.ticket().is_some());
    assert_eq!(fresh.headers["vary"], "cookie", "a Set-Cookie response is never shared");
    assert_eq!(fresh.headers["cache-control"], "private, no-store");
}

#[tokio::test]
async fn a_handlers_own_vary_and_cache_control_are_kept_and_not_doubled() {
    let app = Router::new()
        .route(
            "/own",
            get(|s: Session| async move {
                let _ = s.keys();
                (
                    [
                        ("vary", "Accept-Encoding, Cookie"),
                        ("cache-control", "private, max-age=5"),
                    ],
                    "ok",
                )
            }),
        )
        .layer(config().build().unwrap());
    let reply = send(&app, "GET", "/own", None, None).await;
    let vary: Vec<_> = reply.headers.get_all("vary").iter().collect();
    assert_eq!(vary, ["Accept-Encoding, Cookie"]);
    assert_eq!(reply.headers["cache-control"], "private, max-age=5");
}

#[tokio::test]
async fn with_the_header_transport_responses_vary_on_that_header() {
    let app = app(config().header("x-session-id").build().unwrap());
    let request = axum::http::Request::builder()
        .uri("/peek")
        .header("x-session-id", "")
        .body(axum::body::Body::empty())
        .unwrap();
    let reply = send_request(&app, request).await;
    assert_eq!(reply.headers["vary"], "x-session-id");
    assert_eq!(reply.headers["cache-control"], "private, no-store");
}
