//! Metrics (cargo feature `metrics`): what a request costs and how it ended,
//! counted by a recorder this test binary installs, through the real layer on
//! the memory store, Redis, Postgres and SQLite.

mod common;

use std::sync::LazyLock;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use cloakroom::store::SessionStore;
use cloakroom::{MemoryStore, PostgresStore, RedisStore, Session, SessionLayer, SqliteStore};
use cloakroom_testing::{PostgresServer, RedisServer, TempDir};
use common::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::json;

/// The recorder of this binary, installed once; the tests take turns.
static SNAPSHOTS: LazyLock<Snapshotter> = LazyLock::new(|| {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only recorder of this binary");
    snapshotter
});
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every counter as `name{label=value,…}` → value, and histograms' sample counts.
fn readings() -> std::collections::BTreeMap<String, u64> {
    SNAPSHOTS
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            let value = match value {
                DebugValue::Counter(n) => n,
                DebugValue::Histogram(samples) => samples.len() as u64,
                DebugValue::Gauge(_) => 0,
            };
            (name, value)
        })
        .collect()
}

/// The counter `name{labels}` now, or 0.
fn reading(all: &std::collections::BTreeMap<String, u64>, name: &str) -> u64 {
    all.get(name).copied().unwrap_or(0)
}

/// The test app, plus `POST /conflict`: reads `n`, lets another writer change it
/// (through the manager), then writes it back: the commit is refused (409).
fn app_with_a_conflict(layer: SessionLayer) -> Router {
    let manager = layer.manager();
    Router::new()
        .route(
            "/conflict",
            post(move |session: Session| {
                let manager = manager.clone();
                async move {
                    let n: i64 = session.update("n", |n: i64| n + 1).unwrap();
                    manager.set(&session.id().unwrap(), "n", n + 100).await.unwrap();
                }
            }),
        )
        .merge(routes())
        .layer(layer)
}

/// Runs a new session, a read, a write, a conflict and a purge on `store`, and
/// checks each metric labelled with its kind moved by what they did.
async fn a_request_of_each_kind_is_counted<S: SessionStore + Clone>(store: S) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let kind = store.kind();
    let layer = config().store(store).build().unwrap();
    let manager = layer.manager();
    let app = app_with_a_conflict(layer);
    let before = readings();
    let mut client = Client::new(app.clone());
    client.put("/set/n", json!(1)).await; // a new session
    client.get("/get/n").await; // a read
    client.put("/set/b", json!(2)).await; // a write: load + commit
    let conflict = client.post("/conflict").await;
    assert_eq!(conflict.status, 409);
    manager.purge_expired().await.unwrap();
    let after = readings();
    let delta = |name: &str| reading(&after, name) - reading(&before, name);
    let store_label = format!("store={kind}");
    assert_eq!(delta(&format!("cloakroom_sessions_created_total{{{store_label}}}")), 1);
    assert!(delta(&format!("cloakroom_store_loads_total{{{store_label}}}")) >= 3);
    // The write, and the manager's write that the conflicting request then meets.
    assert_eq!(
        delta(&format!(
            "cloakroom_store_commits_total{{outcome=applied,{store_label}}}"
        )),
        2
    );
    assert_eq!(
        delta(&format!(
            "cloakroom_store_commits_total{{outcome=conflict,{store_label}}}"
        )),
        1
    );
    assert_eq!(delta(&format!("cloakroom_conflicts_total{{{store_label}}}")), 1);
    assert!(delta(&format!("cloakroom_store_call_seconds{{op=load,{store_label}}}")) >= 3);
    assert!(after.contains_key(&format!("cloakroom_sessions_purged_total{{{store_label}}}")));
    let ticket = client.ticket.clone().unwrap();
    for name in after.keys() {
        assert!(
            !name.contains(&ticket) && !name.contains("alice"),
            "a label names a session: {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_memory_store() {
    a_request_of_each_kind_is_counted(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    let redis = RedisServer::start();
    a_request_of_each_kind_is_counted(RedisStore::connect(&redis.url()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let server = PostgresServer::start();
    a_request_of_each_kind_is_counted(PostgresStore::connect(&server.url()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    let dir = TempDir::new("sqlite-metrics");
    a_request_of_each_kind_is_counted(SqliteStore::open(dir.path().join("sessions.db")).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fails_is_counted_by_operation() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let store = CountingStore::new(MemoryStore::new());
    let app = app(config().store(store.clone()).build().unwrap());
    let mut client = Client::new(app.clone());
    client.put("/set/a", json!(1)).await;
    let before = readings();
    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(client.get("/get/a").await.status, 503);
    let after = readings();
    let name = "cloakroom_store_errors_total{op=load,store=custom}";
    assert_eq!(reading(&after, name) - reading(&before, name), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_stores_own_purge_is_counted() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let clock = cloakroom::clock::ManualClock::new();
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .purge_interval(Duration::from_millis(20))
        .build();
    let layer = config().clock(clock.clone()).store(store.clone()).build().unwrap();
    let mut client = Client::new(app(layer));
    client.put("/set/a", json!(1)).await;
    let before = reading(&readings(), "cloakroom_sessions_purged_total{store=memory}");
    clock.advance(Duration::from_secs(2 * 86_400));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reading(&readings(), "cloakroom_sessions_purged_total{store=memory}") == before {
        assert!(std::time::Instant::now() < deadline, "the purge task counted nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(store.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn express_imports_are_counted_by_outcome() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let import = cloakroom::import::ExpressImport::new("keyboard cat");
    let app = app(config().store(store).import_express(import).build().unwrap());
    let sid = "metricsSid0123456789abcdefghijkl";
    let record = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"userId":"ann"}"#;
    put_record(&redis, &format!("sess:{sid}"), record, Duration::from_secs(600)).await;
    let cookie = express_cookie(sid, b"keyboard cat");
    let before = readings();
    assert_eq!(send(&app, "GET", "/whoami", Some(&cookie), None).await.text(), "ann");
    assert_eq!(send(&app, "GET", "/whoami", Some(&cookie), None).await.status, 401);
    let forged = express_cookie(sid, b"not the secret");
    assert_eq!(send(&app, "GET", "/whoami", Some(&forged), None).await.status, 401);
    let after = readings();
    for (outcome, n) in [("imported", 1), ("claimed", 1), ("invalid", 1), ("failed", 0)] {
        let name = format!("cloakroom_express_imports_total{{outcome={outcome}}}");
        assert_eq!(reading(&after, &name) - reading(&before, &name), n, "{name}");
    }
    let created = "cloakroom_sessions_created_total{store=redis}";
    assert_eq!(
        reading(&after, created) - reading(&before, created),
        1,
        "the import stored one session"
    );
}
