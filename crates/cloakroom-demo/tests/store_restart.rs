//! The demo on Redis, Postgres and SQLite, as a real process: a restart with the
//! same store and secret keeps users signed in.

mod common;

use std::fs;
use std::net::SocketAddr;

use axum::http::StatusCode;
use cloakroom_testing::{PostgresServer, RedisServer};
use common::Client;
use common::process::{ChildGuard, TempDir, free_port, start_demo_with};

const SECRET: &str = "a-restart-test-secret-of-at-least-thirty-two-bytes";

/// Starts the demo on `port` with sessions in the store at `store_url`; waits
/// (bounded) until it listens.
async fn start_demo(dir: &TempDir, port: u16, store_url: &str) -> ChildGuard {
    start_demo_with(dir, port, &[("SESSION_SECRET", SECRET), ("SESSION_STORE", store_url)]).await
}

/// Signs in and fills a cart on a demo over `store_url`, restarts the demo, and
/// finds both still there.
async fn a_restart_keeps_users_signed_in(label: &str, store_url: &str) {
    let dir = TempDir::new(label);
    let port = free_port();
    let first = start_demo(&dir, port, store_url).await;
    let client = Client::new(SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(client.login("alice").await.status, StatusCode::OK);
    client.post("/cart", serde_json::json!({"id": "apple", "qty": 2})).await;
    drop(first);

    let _second = start_demo(&dir, port, store_url).await;
    let me = client.get("/auth/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json(), serde_json::json!({"id": "alice", "role": "admin"}));
    assert_eq!(client.get("/cart").await.json()["items"][0]["qty"], 2);
    let health = client.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn a_restarted_demo_on_the_same_redis_keeps_users_signed_in() {
    let redis = tokio::task::spawn_blocking(RedisServer::start).await.unwrap();
    a_restart_keeps_users_signed_in("redis-restart", &redis.url()).await;
}

#[tokio::test]
async fn a_restarted_demo_on_the_same_postgres_keeps_users_signed_in() {
    let postgres = tokio::task::spawn_blocking(PostgresServer::start).await.unwrap();
    a_restart_keeps_users_signed_in("postgres-restart", &postgres.url()).await;
    let rows = postgres.sql("SELECT count(*) FROM cloakroom_sessions WHERE user_id IS NOT NULL");
    assert_eq!(
        rows, "1",
        "the demo created its table and kept the signed-in session there"
    );
}

#[tokio::test]
async fn a_restarted_demo_on_the_same_sqlite_file_keeps_users_signed_in() {
    let dir = TempDir::new("sqlite-file");
    let file = dir.path().join("sessions.db");
    assert!(!file.exists());
    // An absolute path: sqlite:// then /tmp/…; the demo creates the file.
    a_restart_keeps_users_signed_in("sqlite-restart", &format!("sqlite://{}", file.display())).await;
    assert!(file.exists(), "the demo created the file");
}

#[tokio::test]
async fn the_request_log_shows_the_status_sent_when_a_commit_fails() {
    let mut redis = tokio::task::spawn_blocking(RedisServer::start).await.unwrap();
    let dir = TempDir::new("redis-log");
    let port = free_port();
    let demo = start_demo(&dir, port, &redis.url()).await;
    let client = Client::new(SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(
        client.put("/prefs/theme", serde_json::json!("dark")).await.status,
        StatusCode::OK
    );
    redis.kill();
    // The write-only handle reads nothing: the handler answers 200, and the commit
    // after it fails.
    let failed = client.put("/prefs/theme", serde_json::json!("light")).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    drop(demo);

    let log = fs::read_to_string(dir.path().join(format!("demo-{port}.log"))).expect("read the log");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("path=/prefs/theme")).collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].contains("status=200"), "{}", lines[0]);
    assert!(
        lines[1].contains("status=503"),
        "the status sent, not the handler's: {}",
        lines[1]
    );
}
