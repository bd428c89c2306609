//! The layer on a real Postgres: statements per request kind, faults, restarts.

mod common;

use std::time::Duration;

use cloakroom::{PostgresStore, SessionLayer};
use cloakroom_testing::PostgresServer;
use common::*;
use serde_json::json;

async fn postgres_layer(server: &PostgresServer, timeout: Duration) -> SessionLayer {
    let store = PostgresStore::builder()
        .timeout(timeout)
        .connect(&server.url())
        .await
        .unwrap();
    config().store(store).build().unwrap()
}

/// The statements `request` runs.
macro_rules! statements_of {
    ($server:expr, $request:expr) => {{
        let from = $server.log().len();
        $request;
        $server.statements_since(from)
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_kind_runs_the_documented_statements() {
    let server = PostgresServer::start_with(&["log_statement=all"]);
    let app = app_with_logout_all(postgres_layer(&server, Duration::from_secs(2)).await);
    let mut client = Client::new(app.clone());
    let new_session = statements_of!(server, client.put("/set/a", json!(1)).await);
    assert_eq!(new_session, ["create"], "new session");

    let read = statements_of!(server, client.get("/get/a").await);
    assert_eq!(read, ["read"], "read-only request");

    let untouched = statements_of!(server, client.get("/noop").await);
    assert!(untouched.is_empty(), "a handler without a session: {untouched:?}");

    let write = statements_of!(server, client.put("/set/a", json!(2)).await);
    assert_eq!(write, ["read", "commit"], "write: the load, then the commit");

    let write_only = statements_of!(server, client.put("/write-only/b", json!(3)).await);
    assert_eq!(write_only, ["commit"], "write through the write-only handle");

    let regenerate = statements_of!(server, client.post("/regenerate").await);
    assert_eq!(regenerate, ["read", "regenerate"]);

    let login = statements_of!(server, client.post("/login/alice").await);
    assert_eq!(login, ["read", "regenerate"], "login: the user index is a column");

    let mut second = Client::new(app.clone());
    second.post("/login/alice").await;
    let logout = statements_of!(server, client.post("/destroy").await);
    assert_eq!(logout, ["read", "delete"]);

    client.post("/login/alice").await;
    let logout_all = statements_of!(server, client.post("/logout-all").await);
    assert_eq!(
        logout_all,
        ["read", "delete-user", "delete"],
        "logout-all of 2 sessions: load, one delete of all, then the destroy of the current one"
    );
    let stale = format!("sid={}", second.ticket.clone().unwrap());
    let write_gone = statements_of!(
        server,
        send(&app, "PUT", "/write-only/c", Some(&stale), Some(json!(1))).await
    );
    assert_eq!(
        write_gone,
        ["commit", "commit-checked", "create"],
        "a blind write to a gone session: the fast commit updates nothing, the checked one says gone, \
         then a fresh session"
    );
    println!(
        "statements per request kind:\n new session {new_session:?}\n read {read:?}\n write {write:?}\n \
         write-only {write_only:?}\n regenerate {regenerate:?}\n login {login:?}\n logout {logout:?}\n \
         logout-all {logout_all:?}\n write-only to a gone session {write_gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_of_the_app() {
    let server = PostgresServer::start();
    // A new process: new layer, new pool, same database and secret.
    let first = app(postgres_layer(&server, Duration::from_secs(2)).await);
    let second = app(postgres_layer(&server, Duration::from_secs(2)).await);
    assert_sessions_survive_a_restart(first, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_on_postgres_keep_every_key_and_logout_is_final() {
    let server = PostgresServer::start();
    assert_concurrent_writes_kept_and_logout_final(app(postgres_layer(&server, Duration::from_secs(5)).await)).await;
    assert_eq!(
        server.sql("SELECT count(*) FROM cloakroom_sessions WHERE data ? 'k1'"),
        "0",
        "nothing of the destroyed session is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_down_gives_503_and_coming_back_restores_service_and_data() {
    let mut server = PostgresServer::start();
    let layer = postgres_layer(&server, Duration::from_millis(500)).await;
    let manager = layer.manager();
    let mut client = Client::new(app(layer));
    client.put("/set/cart", json!(["apple"])).await;
    let cookie = format!("sid={}", client.ticket.clone().unwrap());

    let traffic = Traffic::start(&client.app, &cookie);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut server = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    })
    .await
    .unwrap();
    assert_down(&client.app, "/get/cart", &cookie).await;
    assert!(manager.ping().await.is_err());

    let server = tokio::task::spawn_blocking(move || {
        server.start_again();
        server
    })
    .await
    .unwrap();
    let recovered = until_served(&client.app, "/get/cart", &cookie).await;
    assert_eq!(
        recovered.json(),
        json!(["apple"]),
        "acknowledged writes survived the restart"
    );
    assert!(manager.ping().await.is_ok());
    traffic.finish().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_stale_ticket_write_answers_409_and_keeps_the_cookie() {
    let server = PostgresServer::start();
    let mut client = Client::new(app(postgres_layer(&server, Duration::from_secs(2)).await));
    client.put("/set/a", json!(1)).await;
    let stale = format!("sid={}", client.ticket.clone().unwrap());
    client.post("/regenerate").await;
    let reply = send(&client.app, "PUT", "/set/a", Some(&stale), Some(json!(2))).await;
    assert_eq!(reply.status, 409);
    assert!(reply.set_cookies().is_empty(), "the browser keeps the cookie it has");
    assert_eq!(client.get("/get/a").await.json(), json!(1));
}

cloakroom_layer_contracts!(async {
    let server = PostgresServer::start();
    let store = PostgresStore::builder()
        .timeout(Duration::from_secs(5))
        .connect(&server.url())
        .await
        .unwrap();
    (server, config().store(store))
});
