//! The layer on a real SQLite file: what a request acknowledged is in the file,
//! restarts, concurrent writes, logout everywhere.

mod common;

use std::path::Path;
use std::time::Duration;

use cloakroom::{SessionLayer, SqliteStore};
use cloakroom_testing::TempDir;
use common::*;
use serde_json::json;
use sqlx::Connection as _;

async fn sqlite_layer(path: &Path) -> SessionLayer {
    let store = SqliteStore::builder()
        .timeout(Duration::from_secs(5))
        .open(path)
        .await
        .unwrap();
    config().store(store).build().unwrap()
}

/// The keys of the sessions table's rows, read by a connection of its own (as
/// another process would).
async fn keys_in_file(path: &Path) -> Vec<String> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT j.key FROM cloakroom_sessions, json_each(cloakroom_sessions.data) AS j
         WHERE cloakroom_sessions.moved = 0 ORDER BY j.key",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|(key,)| key).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_response_acknowledged_is_in_the_file() {
    let dir = TempDir::new("sqlite-layer");
    let path = dir.path().join("sessions.db");
    let mut client = Client::new(app(sqlite_layer(&path).await));
    assert_eq!(client.put("/set/cart", json!(["apple"])).await.status, 200);
    assert_eq!(keys_in_file(&path).await, ["cart"], "a new session");
    client.put("/write-only/theme", json!("dark")).await;
    assert_eq!(keys_in_file(&path).await, ["cart", "theme"], "a write-only commit");
    client.post("/login/alice").await;
    assert_eq!(client.get("/whoami").await.text(), "alice");
    client.post("/destroy").await;
    assert!(keys_in_file(&path).await.is_empty(), "a logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_of_the_app() {
    let dir = TempDir::new("sqlite-restart");
    let path = dir.path().join("sessions.db");
    // A new process: new layer, new store on the same file, same secret.
    let first = app(sqlite_layer(&path).await);
    let second = app(sqlite_layer(&path).await);
    assert_sessions_survive_a_restart(first, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_on_sqlite_keep_every_key_and_logout_is_final() {
    let dir = TempDir::new("sqlite-concurrent");
    let path = dir.path().join("sessions.db");
    assert_concurrent_writes_kept_and_logout_final(app(sqlite_layer(&path).await)).await;
    assert!(
        !keys_in_file(&path).await.iter().any(|key| key == "k1"),
        "nothing of the destroyed session is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_everywhere_ends_every_session_of_the_user() {
    let dir = TempDir::new("sqlite-logout-all");
    let path = dir.path().join("sessions.db");
    let app = app_with_logout_all(sqlite_layer(&path).await);
    let mut phone = Client::new(app.clone());
    let mut laptop = Client::new(app.clone());
    phone.post("/login/alice").await;
    laptop.post("/login/alice").await;
    assert_eq!(phone.post("/logout-all").await.text(), "2");
    assert_eq!(laptop.get("/whoami").await.status, 401);
}

cloakroom_layer_contracts!(async {
    let dir = TempDir::new("sqlite-contracts");
    let store = SqliteStore::open(dir.path().join("sessions.db")).await.unwrap();
    (dir, config().store(store))
});
