//! Store failures, server errors and what the client sees.

mod common;

use std::sync::atomic::Ordering;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use cloakroom::{MemoryStore, Session};
use common::*;
use serde_json::json;

/// A layer over `store` answering store failures with 503 "try again soon".
fn with_own_store_error_response(store: &CountingStore) -> cloakroom::SessionLayer {
    config()
        .store(store.clone())
        .on_store_error(|_| (axum::http::StatusCode::SERVICE_UNAVAILABLE, "try again soon").into_response())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_store_that_is_down_at_load_gives_503_with_a_json_body() {
    let store = CountingStore::new(MemoryStore::new());
    let mut client = Client::new(app(config().store(store.clone()).build().unwrap()));
    client.put("/set/a", json!(1)).await;
    store.down.store(true, Ordering::SeqCst);
    let reply = client.get("/get/a").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json(), json!({"error": "session store unavailable"}));
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn a_store_that_is_down_at_commit_gives_503() {
    let store = CountingStore::new(MemoryStore::new());
    let app = app(config().store(store.clone()).build().unwrap());
    store.down.store(true, Ordering::SeqCst);
    let reply = send(&app, "PUT", "/write-only/a", None, Some(json!(1))).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json(), json!({"error": "session store unavailable"}));
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn a_session_saved_before_a_store_failure_keeps_its_ticket() {
    let app = app(config().build().unwrap());
    let reply = send(&app, "POST", "/save-then-store-fails", None, None).await;
    assert_eq!(reply.status, 503);
    let ticket = reply
        .ticket()
        .expect("the saved session's ticket goes out with the 503");
    let read = send(&app, "GET", "/get/a", Some(&format!("sid={ticket}")), None).await;
    assert_eq!(read.json(), json!(1));
}

#[tokio::test]
async fn requests_succeed_again_when_the_store_comes_back() {
    let store = CountingStore::new(MemoryStore::new());
    let mut client = Client::new(app(config().store(store.clone()).build().unwrap()));
    client.put("/set/a", json!(1)).await;
    store.down.store(true, Ordering::SeqCst);
    assert_eq!(client.get("/get/a").await.status, 503);
    store.down.store(false, Ordering::SeqCst);
    assert_eq!(client.get("/get/a").await.json(), json!(1), "no data was lost");
}

#[tokio::test]
async fn the_store_error_response_can_be_replaced() {
    let store = CountingStore::new(MemoryStore::new());
    let layer = with_own_store_error_response(&store);
    let app = app(layer);
    store.down.store(true, Ordering::SeqCst);
    let reply = send(&app, "PUT", "/set/a", None, Some(json!(1))).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.text(), "try again soon");
}

#[tokio::test]
async fn a_5xx_response_discards_the_requests_changes() {
    let store = CountingStore::new(MemoryStore::new());
    let mut client = Client::new(app(config().store(store.clone()).build().unwrap()));
    client.put("/set/a", json!(1)).await;
    let reply = client.post("/fail").await;
    assert_eq!(reply.status, 500);
    assert_eq!(client.get("/get/doomed").await.json(), json!(null));
}

#[tokio::test]
async fn a_handler_returning_a_session_error_answers_500_without_details() {
    let app = Router::new()
        .route(
            "/typed",
            get(|s: Session| async move {
                s.insert("n", "not a number")?;
                s.get::<u64>("n").map(|n| n.unwrap_or(0).to_string())
            }),
        )
        .layer(config().build().unwrap());
    let reply = send(&app, "GET", "/typed", None, None).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json(), json!({"error": "session error"}));
}

#[tokio::test]
async fn a_full_memory_store_refuses_new_sessions_with_503_and_keeps_existing_ones() {
    let store = MemoryStore::builder().max_sessions(1).build();
    let app = app(config().store(store).build().unwrap());
    let mut first = Client::new(app.clone());
    first.put("/set/a", json!(1)).await;
    let mut second = Client::new(app);
    assert_eq!(second.put("/set/a", json!(1)).await.status, 503);
    assert_eq!(first.get("/get/a").await.json(), json!(1));
}

#[tokio::test]
async fn a_store_error_returned_by_a_handler_gets_the_configured_response() {
    let store = CountingStore::new(MemoryStore::new());
    let down = store.down.clone();
    let layer = with_own_store_error_response(&store);
    let app = Router::new()
        .route(
            "/save",
            get(move |s: Session| {
                let down = down.clone();
                async move {
                    s.insert("a", 1)?;
                    down.store(true, Ordering::SeqCst);
                    s.save().await
                }
            }),
        )
        .layer(layer);
    let reply = send(&app, "GET", "/save", None, None).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.text(), "try again soon");
}

#[tokio::test]
async fn a_store_failure_at_load_gets_the_configured_response_too() {
    let store = CountingStore::new(MemoryStore::new());
    let layer = with_own_store_error_response(&store);
    let mut client = Client::new(app(layer));
    client.put("/set/a", json!(1)).await;
    store.down.store(true, Ordering::SeqCst);
    let reply = client.get("/get/a").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.text(), "try again soon");
}

#[tokio::test]
async fn a_handler_can_match_the_typed_rejection() {
    use cloakroom::SessionRejection;

    let why = || {
        Router::new().route(
            "/why",
            get(|session: Result<Session, SessionRejection>| async move {
                match session {
                    Ok(_) => "loaded".to_owned(),
                    Err(SessionRejection::StoreUnavailable(err)) => format!("store: {err}"),
                    Err(other) => format!("other: {}", other.status().as_u16()),
                }
            }),
        )
    };
    let unwrapped = why(); // no layer
    assert_eq!(send(&unwrapped, "GET", "/why", None, None).await.text(), "other: 500");
    let store = CountingStore::new(MemoryStore::new());
    let app = why()
        .merge(routes())
        .layer(config().store(store.clone()).build().unwrap());
    let mut client = Client::new(app.clone());
    client.put("/set/a", json!(1)).await;
    assert_eq!(client.get("/why").await.text(), "loaded");
    store.down.store(true, Ordering::SeqCst);
    assert_eq!(
        client.get("/why").await.text(),
        "store: session store unavailable: connection refused"
    );
}
