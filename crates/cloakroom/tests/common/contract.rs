//! Checks every store that outlives the app (Redis, Postgres) passes the same way
//! through the layer.

use axum::Router;
use serde_json::json;

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
