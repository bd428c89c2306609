//! Checks every store that outlives the app (Redis, Postgres) passes the same way
//! through the layer.

use axum::Router;
use serde_json::json;

use axum::http::StatusCode;

use super::{Client, send, write_keys_concurrently};

/// A session made on `first` (a cart, a sign-in) is there on `second`, a new app
/// over the same store and secret: a restart signs nobody out.
pub async fn assert_sessions_survive_a_restart(first: Router, second: Router) {
    let mut client = Client::new(first);
    client.put("/set/cart", json!(["apple"])).await;
    client.post("/login/alice").await;
    client.app = second;
    assert_eq!(client.get("/whoami").await.text(), "alice");
    assert_eq!(client.get("/get/cart").await.json(), json!(["apple"]));
}

/// 100 concurrent writes of different keys all kept; after a logout, a late write
/// with the old cookie (read-write or write-only) goes to a fresh session and the
/// destroyed one stays gone.
pub async fn assert_concurrent_writes_kept_and_logout_final(app: Router) {
    let mut client = Client::new(app);
    client.put("/set/start", json!(0)).await;
    let cookie = write_keys_concurrently(&client, 100).await;
    assert_eq!(client.get("/keys").await.json().as_array().unwrap().len(), 101);
    client.post("/destroy").await;
    let late = send(&client.app, "PUT", "/set/late", Some(&cookie), Some(json!(1))).await;
    assert_ne!(
        late.ticket().unwrap(),
        cookie[4..],
        "a fresh session, not the destroyed one"
    );
    assert_eq!(
        send(&client.app, "GET", "/get/k1", Some(&cookie), None).await.json(),
        json!(null)
    );
    // The write-only handle writes before it knows the session is gone: the write
    // goes to a fresh session.
    let late = send(&client.app, "PUT", "/write-only/late", Some(&cookie), Some(json!(2))).await;
    let fresh = format!("sid={}", late.ticket().expect("a fresh session's ticket"));
    assert_ne!(fresh, cookie);
    assert_eq!(
        send(&client.app, "GET", "/get/late", Some(&fresh), None).await.json(),
        json!(2)
    );
}

/// Flash messages: 20 pushed by concurrent requests are all kept; taken by 20
/// concurrent requests, each message is shown by exactly one response (the others
/// show nothing, or answer 409 having lost the race), and then none is left. A
/// visitor without a session who looks stores no session.
pub async fn assert_flash_shown_once_and_never_lost(app: Router) {
    let anonymous = send(&app, "GET", "/flash", None, None).await;
    assert_eq!(anonymous.json(), json!([]));
    assert!(anonymous.set_cookie().is_none(), "a look without a session stores none");

    let mut client = Client::new(app);
    client.put("/set/start", json!(0)).await;
    let cookie = format!("sid={}", client.ticket.clone().unwrap());
    let pushes: Vec<_> = (0..20)
        .map(|i| {
            let (app, cookie) = (client.app.clone(), cookie.clone());
            tokio::spawn(async move { send(&app, "POST", &format!("/flash/m{i}"), Some(&cookie), None).await })
        })
        .collect();
    for push in pushes {
        assert_eq!(push.await.unwrap().status, StatusCode::OK);
    }
    let takes: Vec<_> = (0..20)
        .map(|_| {
            let (app, cookie) = (client.app.clone(), cookie.clone());
            tokio::spawn(async move { send(&app, "GET", "/flash", Some(&cookie), None).await })
        })
        .collect();
    let mut shown: Vec<String> = Vec::new();
    for take in takes {
        let reply = take.await.unwrap();
        match reply.status {
            StatusCode::OK => shown.extend(
                reply
                    .json()
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap().to_owned()),
            ),
            StatusCode::CONFLICT => {}
            other => panic!("a take answered {other}"),
        }
    }
    shown.sort();
    let mut pushed: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    pushed.sort();
    assert_eq!(shown, pushed, "every message shown, each once");
    assert_eq!(client.get("/flash").await.json(), json!([]), "none left");
    assert_eq!(
        client.get("/get/start").await.json(),
        json!(0),
        "the rest of the session untouched"
    );
}
