//! Tickets through the real layer: cookies, strict mode, rotation, hostile input.

mod common;

use std::sync::atomic::Ordering;

use cloakroom::{MemoryStore, SessionId, SessionLayer};
use common::*;
use serde_json::json;

#[tokio::test]
async fn an_untouched_new_session_is_neither_stored_nor_given_a_cookie() {
    let store = CountingStore::new(MemoryStore::new());
    let app = app(config().store(store.clone()).build().unwrap());
    let reply = send(&app, "GET", "/peek", None, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.total(), 0);
    assert!(store.inner.is_empty());
}

#[tokio::test]
async fn save_uninitialized_stores_an_untouched_new_session() {
    let store = MemoryStore::new();
    let app = app(config().save_uninitialized(true).store(store.clone()).build().unwrap());
    let reply = send(&app, "GET", "/peek", None, None).await;
    assert!(reply.ticket().is_some());
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn a_value_written_in_one_request_is_read_in_the_next() {
    let mut client = Client::new(app(config().build().unwrap()));
    assert_eq!(client.put("/set/cart", json!(["apple"])).await.status, 200);
    assert!(client.ticket.is_some());
    assert_eq!(client.get("/get/cart").await.json(), json!(["apple"]));
}

#[tokio::test]
async fn the_cookie_has_the_configured_attributes_and_the_idle_max_age() {
    let mut client = Client::new(app(config().build().unwrap()));
    let cookie = client.put("/set/a", json!(1)).await.set_cookie().unwrap();
    let ticket = client.ticket.clone().unwrap();
    assert_eq!(
        cookie,
        format!("sid={ticket}; Path=/; Max-Age=86400; Secure; HttpOnly; SameSite=Lax")
    );
    assert_eq!(ticket.len(), 87);
}

#[tokio::test]
async fn a_browser_session_cookie_has_no_max_age() {
    let mut client = Client::new(app(config().persistent(false).secure(false).build().unwrap()));
    let cookie = client.put("/set/a", json!(1)).await.set_cookie().unwrap();
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn the_stored_key_is_the_hash_of_the_id_never_the_id() {
    let store = MemoryStore::new();
    let layer = config().store(store.clone()).build().unwrap();
    let manager = layer.manager();
    let mut client = Client::new(app(layer));
    client.put("/set/a", json!(1)).await;
    let id = manager.verify_ticket(client.ticket.as_ref().unwrap()).unwrap();
    assert_eq!(manager.get(&id).await.unwrap().unwrap().data["a"], "1");
    assert_ne!(id.store_key().to_hex(), id.expose());
}

#[tokio::test]
async fn a_tampered_ticket_gets_an_anonymous_session_and_a_cleared_cookie() {
    let mut client = Client::new(app(config().build().unwrap()));
    client.put("/set/secret", json!("mine")).await;
    let ticket = client.ticket.clone().unwrap();
    let mut tampered = ticket.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    let reply = send(
        &client.app,
        "GET",
        "/get/secret",
        Some(&format!("sid={tampered}")),
        None,
    )
    .await;
    assert_eq!(reply.json(), json!(null));
    assert!(reply.removes_cookie(), "{:?}", reply.set_cookie());
}

#[tokio::test]
async fn a_bad_ticket_is_replaced_not_cleared_when_the_handler_writes() {
    let app = app(config().build().unwrap());
    let reply = send(&app, "PUT", "/set/a", Some("sid=garbage"), Some(json!(1))).await;
    let ticket = reply.ticket().expect("a new ticket replaces the bad one");
    assert_ne!(ticket, "garbage");
}

#[tokio::test]
async fn a_signed_ticket_for_an_unknown_session_is_not_adopted() {
    let layer = config().build().unwrap();
    let manager = layer.manager();
    let app = app(layer);
    let chosen = SessionId::generate();
    let planted = manager.ticket(&chosen);
    let reply = send(&app, "PUT", "/set/a", Some(&format!("sid={planted}")), Some(json!(1))).await;
    let issued = manager.verify_ticket(&reply.ticket().unwrap()).unwrap();
    assert_ne!(issued, chosen, "the client's ID must never be adopted");
    assert!(manager.get(&chosen).await.unwrap().is_none());
}

#[tokio::test]
async fn an_untouched_request_with_an_unknown_ticket_clears_the_cookie() {
    let layer = config().build().unwrap();
    let planted = layer.manager().ticket(&SessionId::generate());
    let app = app(layer);
    let reply = send(&app, "GET", "/peek", Some(&format!("sid={planted}")), None).await;
    assert!(reply.removes_cookie());
}

#[tokio::test]
async fn a_ticket_signed_by_a_previous_secret_is_accepted_and_re_signed() {
    let store = MemoryStore::new();
    let old_app = app(SessionLayer::builder(OLD_SECRET.to_vec())
        .store(store.clone())
        .build()
        .unwrap());
    let mut client = Client::new(old_app);
    client.put("/set/cart", json!(["apple"])).await;
    let old_ticket = client.ticket.clone().unwrap();

    let rotated = config()
        .previous_secret(OLD_SECRET.to_vec())
        .store(store)
        .build()
        .unwrap();
    let reply = send(
        &app(rotated),
        "GET",
        "/get/cart",
        Some(&format!("sid={old_ticket}")),
        None,
    )
    .await;
    assert_eq!(reply.json(), json!(["apple"]));
    let new_ticket = reply.ticket().expect("re-signed with the first secret");
    assert_ne!(new_ticket, old_ticket);
    assert_eq!(new_ticket[..43], old_ticket[..43], "same session ID");
}

#[tokio::test]
async fn a_ticket_signed_by_an_unknown_secret_is_refused() {
    let store = MemoryStore::new();
    let mut client = Client::new(app(SessionLayer::builder(OLD_SECRET.to_vec())
        .store(store.clone())
        .build()
        .unwrap()));
    client.put("/set/cart", json!(["apple"])).await;
    let foreign = client.ticket.clone().unwrap();
    let app = app(config().store(store).build().unwrap());
    let reply = send(&app, "GET", "/get/cart", Some(&format!("sid={foreign}")), None).await;
    assert_eq!(reply.json(), json!(null));
}

#[tokio::test]
async fn hostile_cookie_headers_never_reach_the_store() {
    let store = CountingStore::new(MemoryStore::new());
    let app = app(config().store(store.clone()).build().unwrap());
    let many: String = (0..3000).map(|i| format!("c{i}=v; ")).collect();
    let huge = format!("sid={}", "A".repeat(8192));
    let dupes = format!("{}x=1", "sid=AAAA.BBBB; ".repeat(500));
    let fake = format!("sid={}.{}", "A".repeat(43), "B".repeat(43));
    for cookie in [
        many.as_str(),
        huge.as_str(),
        dupes.as_str(),
        fake.as_str(),
        "sid",
        "=;=;;",
        "sid=\"\"",
    ] {
        let reply = send(&app, "GET", "/peek", Some(cookie), None).await;
        assert_eq!(reply.status, 200, "cookie {:.40}", cookie);
    }
    let non_utf8 = axum::http::Request::builder()
        .uri("/peek")
        .header(
            "cookie",
            axum::http::HeaderValue::from_bytes(b"sid=\xff\xfe; a=\xc3").unwrap(),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send_request(&app, non_utf8).await.status, 200);
    assert_eq!(store.calls.load.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn responses_that_set_a_cookie_vary_on_cookie_and_are_not_cached() {
    let mut client = Client::new(app(config().build().unwrap()));
    let reply = client.put("/set/a", json!(1)).await;
    assert_eq!(reply.headers["vary"], "cookie");
    assert_eq!(reply.headers["cache-control"], "private, no-store");
    let untouched = client.get("/noop").await;
    assert!(untouched.headers.get("cache-control").is_none());
}

#[tokio::test]
async fn a_handlers_own_cache_control_is_kept() {
    use axum::routing::get;
    let layer = config().build().unwrap();
    let app = axum::Router::new()
        .route(
            "/",
            get(|s: cloakroom::Session| async move {
                s.insert("a", 1).unwrap();
                ([("cache-control", "private, max-age=5")], "ok")
            }),
        )
        .layer(layer);
    let reply = send(&app, "GET", "/", None, None).await;
    assert!(reply.ticket().is_some());
    assert_eq!(reply.headers["cache-control"], "private, max-age=5");
}
