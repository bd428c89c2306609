//! The demo binary, configured from the environment, takes over the sessions of a
//! real Express service (express-session with connect-redis) on a real Redis: an
//! express user who is one of the demo's is signed in on the first request.

mod common;

use axum::http::StatusCode;
use cloakroom_testing::{ExpressApp, ExpressOptions, RedisServer};
use common::Client;
use common::process::{ChildGuard, TempDir, free_port, start_demo_with};

const SECRET: &str = "demo-express-test-secret-of-at-least-32-bytes";

/// A client holding only the express cookie `pair` (`name=value`).
fn client_with(addr: std::net::SocketAddr, pair: &str) -> Client {
    let client = Client::new(addr);
    let (name, value) = pair.split_once('=').unwrap();
    client.set_cookie(name, value);
    client
}

/// The demo binary with `SESSION_SECRET` and `vars`, listening; its address.
async fn demo(vars: &[(&str, &str)]) -> (ChildGuard, TempDir, std::net::SocketAddr) {
    let dir = TempDir::new("demo-express");
    let port = free_port();
    let mut all = vec![("SESSION_SECRET", SECRET)];
    all.extend_from_slice(vars);
    let demo = start_demo_with(&dir, port, &all).await;
    (demo, dir, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn express_users_are_signed_in_on_the_demo_without_signing_in_again() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&ExpressOptions::new(&redis.url()));
    let url = redis.url();
    let (_demo, _dir, addr) = demo(&[
        ("SESSION_STORE", &url),
        ("EXPRESS_SESSION_SECRET", "rotated-away,keyboard cat"),
    ])
    .await;

    let alice = client_with(addr, &express.sign_in("alice", r#"{"cart:tea":2,"pref:theme":"dark"}"#));
    let me = alice.get("/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(me.json()["id"], "alice", "{}", me.text());
    assert_eq!(alice.cookie("connect.sid"), None, "the express cookie was removed");
    assert!(alice.cookie("sid").is_some_and(|ticket| !ticket.is_empty()));
    let cart = alice.get("/cart").await.json();
    assert_eq!(cart["items"][0]["id"], "tea", "{cart}");
    assert_eq!(cart["items"][0]["qty"], 2, "{cart}");
    let devices = alice.get("/auth/sessions").await.json();
    let devices = devices["sessions"].as_array().expect("a list of sessions").clone();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert!(
        devices[0]["signed_in_at"].as_str().is_some(),
        "a sign-in, at the import: {devices:?}"
    );

    // Someone the demo does not know comes over without a user; a replayed
    // express cookie brings nothing.
    let stranger = client_with(addr, &express.sign_in("mallory", "{}"));
    assert_eq!(stranger.get("/auth/me").await.status, StatusCode::UNAUTHORIZED);
    let bob_cookie = express.sign_in("bob", "{}");
    assert_eq!(client_with(addr, &bob_cookie).get("/auth/me").await.json()["id"], "bob");
    assert_eq!(
        client_with(addr, &bob_cookie).get("/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_store_demo_reads_express_records_from_their_own_redis() {
    let redis = RedisServer::start();
    let options = ExpressOptions {
        cookie_name: "sessionId".to_owned(),
        prefix: "shop:".to_owned(),
        ..ExpressOptions::new(&redis.url())
    };
    let express = ExpressApp::start(&options);
    let url = redis.url();
    let (_demo, _dir, addr) = demo(&[
        ("EXPRESS_SESSION_SECRET", "keyboard cat"),
        ("EXPRESS_SESSION_REDIS", &url),
        ("EXPRESS_SESSION_COOKIE", "sessionId"),
        ("EXPRESS_SESSION_PREFIX", "shop:"),
    ])
    .await;
    let bob = client_with(addr, &express.sign_in("bob", "{}"));
    assert_eq!(bob.get("/auth/me").await.json()["id"], "bob");
    // Sessions live in memory; Redis keeps only the record's tombstone, for a minute.
    let keys = redis.command("KEYS *");
    let keys: Vec<&str> = keys.lines().filter(|line| !line.starts_with(['*', '$'])).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let tombstone = redis.command(&format!("GET {}", keys[0]));
    assert!(
        tombstone.contains(r#""imported":true"#) && !tombstone.contains("bob"),
        "{tombstone}"
    );
}
