//! Session lifecycle through the real layer: regenerate, destroy, expiry, sliding,
//! and concurrent requests on one session.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use cloakroom::clock::{Clock, ManualClock};
use cloakroom::{MemoryStore, Session};
use common::*;
use serde_json::json;
use tokio::sync::Notify;

fn clocked(clock: &ManualClock) -> cloakroom::SessionConfig {
    config()
        .clock(clock.clone())
        .store(MemoryStore::builder().clock(clock.clone()).build())
}

#[tokio::test]
async fn regenerate_keeps_the_data_and_kills_the_old_id() {
    let mut client = Client::new(app(config().build().unwrap()));
    client.put("/set/cart", json!(["apple"])).await;
    let old = client.ticket.clone().unwrap();
    let reply = client.post("/regenerate").await;
    let new = reply.ticket().expect("a new ticket");
    assert_ne!(new[..43], old[..43]);
    assert_eq!(client.get("/get/cart").await.json(), json!(["apple"]));
    let replay = send(&client.app, "GET", "/get/cart", Some(&format!("sid={old}")), None).await;
    assert_eq!(replay.json(), json!(null), "the old ID is dead");
}

#[tokio::test]
async fn login_regenerates_and_binds_the_user() {
    let layer = config().build().unwrap();
    let manager = layer.manager();
    let mut client = Client::new(app(layer));
    client.put("/set/cart", json!(["apple"])).await;
    let before = client.ticket.clone().unwrap();
    client.post("/login/alice").await;
    assert_ne!(client.ticket.as_ref().unwrap()[..43], before[..43]);
    assert_eq!(client.get("/whoami").await.text(), "alice");
    assert_eq!(manager.list_user("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn destroy_deletes_the_session_and_removes_the_cookie_with_the_same_attributes() {
    let layer = config()
        .path("/app")
        .domain(Some("example.com".into()))
        .build()
        .unwrap();
    let manager = layer.manager();
    let app = Router::new().nest("/app", routes()).layer(layer);
    let mut client = Client::new(app);
    client.put("/app/set/a", json!(1)).await;
    let id = manager.verify_ticket(client.ticket.as_ref().unwrap()).unwrap();
    let reply = client.post("/app/destroy").await;
    assert_eq!(
        reply.set_cookie().unwrap(),
        "sid=; Path=/app; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Secure; HttpOnly; \
         SameSite=Lax"
    );
    assert!(manager.get(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn writes_after_destroy_go_to_a_fresh_session() {
    let layer = config().build().unwrap();
    let manager = layer.manager();
    let app = Router::new()
        .route(
            "/logout",
            post(|s: Session| async move {
                s.destroy();
                s.insert("flash", "bye").unwrap();
            }),
        )
        .merge(routes())
        .layer(layer);
    let mut client = Client::new(app);
    client.post("/login/alice").await;
    let old = manager.verify_ticket(client.ticket.as_ref().unwrap()).unwrap();
    let reply = client.post("/logout").await;
    let fresh = manager.verify_ticket(&reply.ticket().unwrap()).unwrap();
    assert_ne!(fresh, old);
    assert!(manager.get(&old).await.unwrap().is_none());
    assert_eq!(client.get("/get/flash").await.json(), json!("bye"));
    assert_eq!(
        client.get("/whoami").await.status,
        401,
        "the fresh session is anonymous"
    );
}

#[tokio::test]
async fn a_request_that_commits_after_logout_does_not_resurrect_the_session() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (e, r) = (entered.clone(), release.clone());
    let layer = config().build().unwrap();
    let manager = layer.manager();
    let app = Router::new()
        .route(
            "/slow-write",
            post(move |s: Session| async move {
                e.notify_one();
                r.notified().await;
                s.insert("late", true).unwrap();
            }),
        )
        .merge(routes())
        .layer(layer);
    let mut client = Client::new(app.clone());
    client.put("/set/a", json!(1)).await;
    let ticket = client.ticket.clone().unwrap();
    let id = manager.verify_ticket(&ticket).unwrap();

    let slow_app = app.clone();
    let slow_cookie = format!("sid={ticket}");
    let slow = tokio::spawn(async move { send(&slow_app, "POST", "/slow-write", Some(&slow_cookie), None).await });
    entered.notified().await;
    client.post("/destroy").await;
    release.notify_one();
    let late = slow.await.unwrap();

    assert!(manager.get(&id).await.unwrap().is_none(), "destroyed stays destroyed");
    assert!(
        late.removes_cookie(),
        "the late request tells the client its session is gone"
    );
    assert_eq!(manager.count().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests_writing_different_keys_keep_every_key() {
    let mut client = Client::new(app(config().build().unwrap()));
    client.put("/set/start", json!(0)).await;
    write_keys_concurrently(&client, 100).await;
    let keys = client.get("/keys").await.json();
    assert_eq!(keys.as_array().unwrap().len(), 101, "{keys}");
}

#[tokio::test]
async fn a_session_unused_for_the_idle_timeout_expires() {
    let clock = ManualClock::new();
    let mut client = Client::new(app(clocked(&clock)
        .idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap()));
    client.put("/set/a", json!(1)).await;
    clock.advance(Duration::from_secs(59));
    assert_eq!(client.get("/get/a").await.json(), json!(1));
    clock.advance(Duration::from_secs(60));
    let reply = client.get("/get/a").await;
    assert_eq!(reply.json(), json!(null));
    assert!(reply.removes_cookie());
}

#[tokio::test]
async fn an_active_session_still_ends_at_the_absolute_timeout() {
    let clock = ManualClock::new();
    let layer = clocked(&clock)
        .idle_timeout(Duration::from_secs(60))
        .absolute_timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let mut client = Client::new(app(layer));
    client.put("/set/a", json!(1)).await;
    for _ in 0..9 {
        clock.advance(Duration::from_secs(30));
        assert_eq!(client.put("/set/a", json!(1)).await.status, 200);
        assert_eq!(client.get("/get/a").await.json(), json!(1));
    }
    clock.advance(Duration::from_secs(30));
    assert_eq!(client.get("/get/a").await.json(), json!(null));
}

#[tokio::test]
async fn the_cookie_max_age_is_what_remains_of_the_earlier_deadline() {
    let clock = ManualClock::new();
    let layer = clocked(&clock)
        .idle_timeout(Duration::from_secs(1000))
        .absolute_timeout(Duration::from_secs(100))
        .build()
        .unwrap();
    let mut client = Client::new(app(layer));
    assert!(
        client
            .put("/set/a", json!(1))
            .await
            .set_cookie()
            .unwrap()
            .contains("Max-Age=100;")
    );
    // Past the touch step (1000 s / 20): the write slides the idle deadline, and the
    // cookie's Max-Age is bounded by the absolute deadline.
    clock.advance(Duration::from_secs(60));
    assert!(
        client
            .put("/set/a", json!(2))
            .await
            .set_cookie()
            .unwrap()
            .contains("Max-Age=40;")
    );
}

#[tokio::test]
async fn timeouts_shortened_after_sessions_were_stored_apply_at_once() {
    let clock = ManualClock::new();
    let store = MemoryStore::builder().clock(clock.clone()).build();
    let long = config().clock(clock.clone()).store(store.clone()).build().unwrap();
    let mut client = Client::new(app(long));
    client.put("/set/a", json!(1)).await;
    clock.advance(Duration::from_secs(120));
    let short = config()
        .clock(clock.clone())
        .store(store)
        .idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    client.app = app(short);
    assert_eq!(client.get("/get/a").await.json(), json!(null));
}

#[tokio::test]
async fn sessions_stored_under_a_longer_idle_timeout_stay_alive_while_used_after_it_is_shortened() {
    let clock = ManualClock::new();
    let store = MemoryStore::builder().clock(clock.clone()).build();
    let long = config()
        .clock(clock.clone())
        .store(store.clone())
        .idle_timeout(Duration::from_secs(1000))
        .build()
        .unwrap();
    let mut client = Client::new(app(long));
    client.put("/set/a", json!(1)).await;
    let short = config()
        .clock(clock.clone())
        .store(store)
        .idle_timeout(Duration::from_secs(100))
        .build()
        .unwrap();
    client.app = app(short);
    for _ in 0..4 {
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            client.get("/get/a").await.json(),
            json!(1),
            "read every 60 s, idle timeout 100 s"
        );
    }
    clock.advance(Duration::from_secs(101));
    assert_eq!(client.get("/get/a").await.json(), json!(null));
}

#[tokio::test]
async fn reads_send_no_cookie_until_the_idle_deadline_slides_by_a_twentieth() {
    let clock = ManualClock::new();
    let mut client = Client::new(app(clocked(&clock)
        .idle_timeout(Duration::from_secs(2000))
        .build()
        .unwrap()));
    client.put("/set/a", json!(1)).await;
    clock.advance(Duration::from_secs(50));
    assert_eq!(
        client.get("/get/a").await.set_cookie(),
        None,
        "a 50 s slide is below 100 s"
    );
    clock.advance(Duration::from_secs(60));
    let cookie = client
        .get("/get/a")
        .await
        .set_cookie()
        .expect("the slide re-sends the cookie");
    assert!(cookie.contains("Max-Age=2000;"), "{cookie}");
}

#[tokio::test]
async fn rolling_sessions_resend_the_cookie_on_every_read() {
    let mut client = Client::new(app(config().rolling(true).build().unwrap()));
    client.put("/set/a", json!(1)).await;
    assert!(client.get("/get/a").await.ticket().is_some());
    assert!(client.get("/get/a").await.ticket().is_some());
    assert_eq!(
        client.get("/noop").await.set_cookie(),
        None,
        "only responses that loaded it"
    );
}

#[tokio::test]
async fn resave_commits_even_when_nothing_changed() {
    let store = CountingStore::new(MemoryStore::new());
    let mut client = Client::new(app(config().resave(true).store(store.clone()).build().unwrap()));
    client.put("/set/a", json!(1)).await;
    store.calls.reset();
    client.get("/get/a").await;
    assert_eq!(store.calls.commit.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_read_only_request_makes_one_store_call() {
    let store = CountingStore::new(MemoryStore::new());
    let mut client = Client::new(app(config().store(store.clone()).build().unwrap()));
    client.put("/set/a", json!(1)).await;
    store.calls.reset();
    client.get("/get/a").await;
    assert_eq!(store.calls.total(), 1);
}

#[tokio::test]
async fn touch_slides_the_deadline_and_resends_the_cookie() {
    let clock = ManualClock::new();
    let layer = clocked(&clock).idle_timeout(Duration::from_secs(1000)).build().unwrap();
    let manager = layer.manager();
    let mut client = Client::new(app(layer));
    client.put("/set/a", json!(1)).await;
    clock.advance(Duration::from_secs(10));
    let cookie = client.post("/touch").await.set_cookie().expect("cookie re-sent");
    assert!(cookie.contains("Max-Age=1000;"), "{cookie}");
    let id = manager.verify_ticket(client.ticket.as_ref().unwrap()).unwrap();
    let meta = manager.get(&id).await.unwrap().unwrap().meta;
    assert_eq!(meta.last_seen, cloakroom::clock::whole_millis(clock.now()));
}
