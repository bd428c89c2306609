//! The extractors: write-only handle, typed data, scopes, guard, task-local access,
//! header transport, and what happens without a layer.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use cloakroom::clock::ManualClock;
use cloakroom::{MemoryStore, Scoped, Session, SessionData, SessionScope};
use common::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[tokio::test]
async fn the_write_only_handle_costs_one_store_call_on_a_live_session() {
    let clock = ManualClock::new();
    let store = CountingStore::new(MemoryStore::builder().clock(clock.clone()).build());
    let layer = config().clock(clock.clone()).store(store.clone()).build().unwrap();
    let mut client = Client::new(app(layer));
    client.put("/set/a", json!(1)).await;
    let ticket = client.ticket.clone();
    store.calls.reset();
    let reply = client.put("/write-only/theme", json!("dark")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(store.calls.total(), 1);
    assert_eq!(store.calls.commit_or_create.load(Ordering::SeqCst), 1);
    assert!(reply.set_cookie().is_none(), "the deadline did not move: no cookie");

    // Past the touch step (1/20 of the 24 h idle timeout), the write slides the
    // deadline and the cookie follows with a full Max-Age.
    clock.advance(Duration::from_secs(24 * 3600 / 20 + 1));
    let reply = client.put("/write-only/theme", json!("light")).await;
    let cookie = reply.set_cookie().expect("the slid deadline re-sends the cookie");
    assert!(cookie.contains("Max-Age=86400;"), "{cookie}");
    assert_eq!(client.ticket, ticket, "same session, same ticket");
    assert_eq!(client.get("/get/theme").await.json(), json!("light"));
    assert_eq!(client.get("/get/a").await.json(), json!(1));
}

#[tokio::test]
async fn the_write_only_handle_starts_a_fresh_session_without_a_ticket() {
    let store = CountingStore::new(MemoryStore::new());
    let mut client = Client::new(app(config().store(store.clone()).build().unwrap()));
    let reply = client.put("/write-only/theme", json!("dark")).await;
    assert!(reply.ticket().is_some());
    assert_eq!(store.calls.total(), 1);
    assert_eq!(client.get("/get/theme").await.json(), json!("dark"));
}

#[tokio::test]
async fn the_write_only_handle_starts_a_fresh_anonymous_session_when_the_old_one_is_gone() {
    let layer = config().build().unwrap();
    let manager = layer.manager();
    let mut client = Client::new(app(layer));
    client.post("/login/alice").await;
    client.put("/set/a", json!(1)).await;
    let old = manager.verify_ticket(client.ticket.as_ref().unwrap()).unwrap();
    manager.destroy(&old).await.unwrap();

    let reply = client.put("/write-only/theme", json!("dark")).await;
    let fresh = manager.verify_ticket(&reply.ticket().expect("new cookie")).unwrap();
    assert_ne!(fresh, old);
    assert!(manager.get(&old).await.unwrap().is_none(), "not resurrected");
    let record = manager.get(&fresh).await.unwrap().unwrap();
    assert_eq!(record.meta.user, None, "no user binding carried over");
    assert_eq!(record.data.keys().collect::<Vec<_>>(), vec!["theme"]);
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Visitor {
    visits: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    theme: Option<String>,
}

#[tokio::test]
async fn typed_session_data_reads_defaults_and_writes_per_field() {
    let app = Router::new()
        .route(
            "/visit",
            post(
                |data: SessionData<Visitor>| async move { data.update(|v| v.visits += 1).unwrap().visits.to_string() },
            ),
        )
        .route(
            "/theme",
            post(|data: SessionData<Visitor>| async move {
                data.update(|v| v.theme = Some("dark".into())).unwrap();
            }),
        )
        .route(
            "/no-theme",
            post(|data: SessionData<Visitor>| async move {
                data.update(|v| v.theme = None).unwrap();
            }),
        )
        .merge(routes())
        .layer(config().build().unwrap());
    let mut client = Client::new(app);
    assert_eq!(client.post("/visit").await.text(), "1");
    assert_eq!(client.post("/visit").await.text(), "2");
    client.post("/theme").await;
    assert_eq!(client.get("/get/theme").await.json(), json!("dark"));
    assert_eq!(client.get("/get/visits").await.json(), json!(2));
    client.post("/no-theme").await;
    assert_eq!(client.get("/keys").await.json(), json!(["visits"]));
}

#[derive(Debug, Serialize, Deserialize)]
struct Checkout {
    step: String,
}

impl SessionScope for Checkout {
    const NAME: &'static str = "checkout";
    fn initial() -> Self {
        Checkout {
            step: "shipping".into(),
        }
    }
}

#[tokio::test]
async fn a_scope_starts_from_its_initial_state_and_keeps_its_own_key() {
    let app = Router::new()
        .route(
            "/checkout",
            get(|c: Scoped<Checkout>| async move { c.get().unwrap().step }),
        )
        .route(
            "/checkout/pay",
            post(|c: Scoped<Checkout>| async move { c.update(|c| c.step = "payment".into()).unwrap().step }),
        )
        .route("/checkout/reset", post(|c: Scoped<Checkout>| async move { c.reset() }))
        .route(
            "/clobber",
            post(|s: Session| async move { s.insert("scope::checkout", "x").unwrap_err().to_string() }),
        )
        .merge(routes())
        .layer(config().build().unwrap());
    let mut client = Client::new(app);
    assert_eq!(client.get("/checkout").await.text(), "shipping");
    assert_eq!(client.post("/checkout/pay").await.text(), "payment");
    client.put("/set/step", json!("unrelated")).await;
    assert_eq!(client.get("/checkout").await.text(), "payment");
    assert!(client.post("/clobber").await.text().contains("reserved"));
    client.post("/checkout/reset").await;
    assert_eq!(client.get("/checkout").await.text(), "shipping");
}

#[tokio::test]
async fn the_sign_in_guard_answers_401_for_anonymous_requests() {
    let mut client = Client::new(app(config().build().unwrap()));
    let reply = client.get("/whoami").await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json(), json!({"error": "not signed in"}));
    client.post("/login/bob").await;
    assert_eq!(client.get("/whoami").await.text(), "bob");
}

async fn deep_in_the_call_stack() -> String {
    let session = Session::current().await.unwrap();
    session.update("calls", |n: u32| n + 1).unwrap().to_string()
}

#[tokio::test]
async fn the_current_session_is_reachable_without_an_extractor() {
    let app = Router::new()
        .route("/deep", post(deep_in_the_call_stack))
        .layer(config().build().unwrap());
    let mut client = Client::new(app);
    assert_eq!(client.post("/deep").await.text(), "1");
    assert_eq!(client.post("/deep").await.text(), "2");
}

#[tokio::test]
async fn outside_a_request_there_is_no_current_session() {
    let err = Session::current().await.unwrap_err();
    assert!(err.to_string().contains("SessionLayer"), "{err}");
}

#[tokio::test]
async fn an_extractor_without_the_layer_answers_500_naming_the_layer() {
    let app = routes();
    let reply = send(&app, "GET", "/peek", None, None).await;
    assert_eq!(reply.status, 500);
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .contains("cloakroom::SessionLayer")
    );
}

#[tokio::test]
async fn the_header_transport_carries_the_ticket_instead_of_the_cookie() {
    let layer = config().header("x-session-id").build().unwrap();
    let app = app(layer);
    let request = |method: &str, uri: &str, ticket: &str, body: Option<serde_json::Value>| {
        let builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-session-id", ticket)
            .header("content-type", "application/json");
        builder
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap()
    };
    let reply = send_request(&app, request("PUT", "/set/a", "", Some(json!(7)))).await;
    assert!(reply.set_cookies().is_empty(), "never a cookie for header clients");
    let ticket = reply.headers["x-session-id"].to_str().unwrap().to_owned();
    assert_eq!(ticket.len(), 87);
    assert_eq!(reply.headers["cache-control"], "private, no-store");

    let reply = send_request(&app, request("GET", "/get/a", &ticket, None)).await;
    assert_eq!(reply.json(), json!(7));
    assert_eq!(reply.headers["x-session-id"], ticket.as_str());
    assert!(reply.set_cookies().is_empty());

    let reply = send_request(&app, request("GET", "/get/a", "forged", None)).await;
    assert_eq!(reply.json(), json!(null));
    assert_eq!(reply.headers["x-session-id"], "", "a bad header ticket is cleared");

    // Without the header, the cookie is used as usual.
    let reply = send(&app, "GET", "/get/a", Some(&format!("sid={ticket}")), None).await;
    assert_eq!(reply.json(), json!(7));
}

#[tokio::test]
async fn the_manager_lists_revokes_and_logs_out_a_users_sessions() {
    let layer = config().build().unwrap();
    let manager = layer.manager();
    let app = Router::new()
        .route(
            "/handle",
            get(|s: Session| async move { s.handle().map(|h| h.to_string()).unwrap_or_default() }),
        )
        .merge(routes())
        .layer(layer);
    let mut phone = Client::new(app.clone());
    let mut laptop = Client::new(app.clone());
    let mut other = Client::new(app);
    phone.post("/login/alice").await;
    laptop.post("/login/alice").await;
    other.post("/login/bob").await;

    let devices = manager.list_user("alice").await.unwrap();
    assert_eq!(devices.len(), 2);
    let phone_handle = phone.get("/handle").await.text();
    assert!(devices.iter().any(|d| d.handle.as_str() == phone_handle));
    let phone_id = manager.verify_ticket(phone.ticket.as_ref().unwrap()).unwrap();
    assert!(!phone_id.expose().contains(&phone_handle));

    let bob_handle = other.get("/handle").await.text();
    let foreign = cloakroom::SessionHandle::from_client(bob_handle);
    assert!(!manager.revoke("alice", &foreign).await.unwrap(), "cannot revoke bob's");
    assert!(
        manager
            .revoke("alice", &cloakroom::SessionHandle::from_client(phone_handle))
            .await
            .unwrap()
    );
    assert_eq!(phone.get("/whoami").await.status, 401);
    assert_eq!(laptop.get("/whoami").await.text(), "alice");

    assert_eq!(manager.destroy_user("alice").await.unwrap(), 1);
    assert_eq!(laptop.get("/whoami").await.status, 401);
    assert_eq!(other.get("/whoami").await.text(), "bob");
}

#[tokio::test]
async fn debug_output_never_shows_ids_or_values() {
    let layer = config().build().unwrap();
    let manager = layer.manager();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = seen.clone();
    let app = Router::new()
        .route(
            "/debug",
            post(move |s: Session| async move {
                s.insert("password", "hunter2").unwrap();
                s.save().await.unwrap();
                assert!(s.id().is_some());
                *sink.lock().unwrap() = format!("{s:?} {:?}", s.id());
            }),
        )
        .layer(layer);
    let mut client = Client::new(app);
    client.post("/debug").await;
    let printed = seen.lock().unwrap().clone();
    let id = manager.verify_ticket(client.ticket.as_ref().unwrap()).unwrap();
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains(id.expose()), "{printed}");
    assert!(printed.contains("password"), "keys are fine to show: {printed}");
    assert!(printed.contains("SessionId(<redacted>)"), "{printed}");
}

#[tokio::test]
async fn a_closure_given_to_update_may_use_the_session() {
    let app = Router::new()
        .route(
            "/nested",
            post(|s: Session| async move {
                let inner = s.clone();
                s.update("n", move |n: u32| n + u32::from(inner.contains("n")))
                    .unwrap()
                    .to_string()
            }),
        )
        .layer(config().build().unwrap());
    let mut client = Client::new(app);
    assert_eq!(client.post("/nested").await.text(), "0");
    assert_eq!(client.post("/nested").await.text(), "1");
}

#[tokio::test]
async fn the_session_is_not_handed_out_unloaded_as_a_plain_extension() {
    let app = Router::new()
        .route(
            "/ext",
            get(|axum::Extension(s): axum::Extension<Session>| async move { s.is_new().to_string() }),
        )
        .layer(config().build().unwrap());
    let reply = send(&app, "GET", "/ext", None, None).await;
    assert_eq!(reply.status, 500, "use the Session extractor, which loads it");
}

#[tokio::test]
async fn a_flash_read_costs_the_requests_load_and_commit_only() {
    let store = CountingStore::new(MemoryStore::new());
    let mut client = Client::new(app(config().store(store.clone()).build().unwrap()));
    client.post("/flash/saved").await;
    store.calls.reset();
    assert_eq!(client.get("/flash").await.json(), json!(["saved"]));
    assert_eq!(store.calls.load.load(Ordering::SeqCst), 1);
    assert_eq!(store.calls.commit.load(Ordering::SeqCst), 1, "the take's removals");
    assert_eq!(store.calls.total(), 2);
    store.calls.reset();
    assert_eq!(client.get("/flash").await.json(), json!([]));
    assert_eq!(store.calls.total(), 1, "nothing to take: the load alone");
    println!("a flash read: 1 load and 1 commit with messages, 1 load without");
}

#[tokio::test]
async fn a_csrf_check_costs_the_requests_load_only() {
    let store = CountingStore::new(MemoryStore::new());
    let app = app(config().store(store.clone()).build().unwrap());
    let mut client = Client::new(app.clone());
    client.put("/set/a", json!(1)).await;
    let token = client.get("/csrf").await.text();
    let cookie = format!("sid={}", client.ticket.clone().unwrap());
    store.calls.reset();
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/csrf/json")
        .header("cookie", &cookie)
        .header("x-csrf-token", &token)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send_request(&app, request).await.status, 200);
    assert_eq!(
        store.calls.load.load(Ordering::SeqCst),
        1,
        "the check reads the session's load"
    );
    assert_eq!(store.calls.total(), 2, "and the handler's own write commits");
    store.calls.reset();
    let anonymous = send(&app, "GET", "/csrf", None, None).await;
    assert!(anonymous.presession_cookie().is_some());
    assert_eq!(store.calls.total(), 0, "a pre-session token: no store call at all");
    println!("a CSRF check: the request's one load (0 calls of its own); an anonymous token: none");
}

#[tokio::test]
async fn trusted_proxies_without_a_client_address_fail_at_startup_naming_both() {
    let err = config()
        .trusted_proxies(["10.0.0.1".parse().unwrap()])
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("trusted_proxies") && err.contains("client_addr"), "{err}");
}

#[tokio::test]
async fn the_size_cap_and_its_answer_can_be_set_and_a_bad_cap_fails_at_startup() {
    let layer = config()
        .max_session_bytes(2048)
        .on_too_large(|| (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "cart full").into_response())
        .build()
        .unwrap();
    let mut client = Client::new(app(layer));
    let refused = client.put("/set/big", json!("x".repeat(3000))).await;
    assert_eq!(refused.status, 413);
    assert_eq!(refused.text(), "cart full");
    let err = config().max_session_bytes(100).build().unwrap_err().to_string();
    assert!(err.contains("max_session_bytes") && err.contains("1024"), "{err}");
}

#[tokio::test]
async fn a_write_only_slide_re_sends_the_sessions_own_persistence() {
    let clock = ManualClock::new();
    let store = CountingStore::new(MemoryStore::builder().clock(clock.clone()).build());
    let layer = config().clock(clock.clone()).store(store.clone()).build().unwrap();
    let mut client = Client::new(app(layer));
    client.post("/login-browser/alice").await;
    clock.advance(Duration::from_secs(24 * 3600 / 20 + 1));
    store.calls.reset();
    let reply = client.put("/write-only/theme", json!("dark")).await;
    let cookie = reply.session_cookie().expect("the slid deadline re-sends the cookie");
    assert!(!cookie.contains("Max-Age"), "still a browser-session cookie: {cookie}");
    assert_eq!(store.calls.commit_or_create.load(Ordering::SeqCst), 1);
    assert_eq!(
        store.calls.load.load(Ordering::SeqCst),
        1,
        "one read for its persistence, on a slide only"
    );
    // A browser-session default, and a session that asked to be remembered.
    let layer = config().persistent(false).build().unwrap();
    let mut client = Client::new(app(layer));
    client.put("/set/a", json!(1)).await;
    let reply = client.post("/persistent/true").await;
    assert!(
        reply.session_cookie().unwrap().contains("Max-Age="),
        "{:?}",
        reply.session_cookie()
    );
}

cloakroom_layer_contracts!(async { ((), config()) });

/// A clock one millisecond later at every reading: a commit that read the time
/// twice would give its parts different times.
#[derive(Debug, Default)]
struct TickingClock(std::sync::atomic::AtomicU64);

impl cloakroom::clock::Clock for TickingClock {
    fn now(&self) -> std::time::SystemTime {
        let ticks = self.0.fetch_add(1, Ordering::Relaxed);
        std::time::UNIX_EPOCH + Duration::from_secs(1_795_435_200) + Duration::from_millis(ticks)
    }
}

#[tokio::test]
async fn a_sign_in_that_creates_the_session_records_one_time_for_all_of_it() {
    let layer = config()
        .clock(TickingClock::default())
        .record_devices(true)
        .build()
        .unwrap();
    let manager = layer.manager();
    let app = routes().layer(layer);
    send(&app, "POST", "/login/alice", None, None).await;
    let [device] = manager.list_user("alice").await.unwrap().try_into().unwrap();
    assert_eq!(device.signed_in_at, Some(device.created_at), "{device:?}");
    assert_eq!(device.last_seen, device.created_at, "{device:?}");
}
