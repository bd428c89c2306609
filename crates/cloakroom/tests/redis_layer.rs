//! The layer on a real Redis: commands per request kind, faults, restarts.

mod common;

use std::time::Duration;

use cloakroom::clock::ManualClock;
use cloakroom::{RedisStore, SessionLayer};
use cloakroom_testing::RedisServer;
use common::*;
use serde_json::json;

async fn redis_layer(redis: &RedisServer, timeout: Duration) -> SessionLayer {
    let store = RedisStore::builder()
        .timeout(timeout)
        .connect(&redis.url())
        .await
        .unwrap();
    config().store(store).build().unwrap()
}

/// A client of the test app over `redis` with a manual clock and the given idle
/// timeout, holding a session with `a = 1`.
async fn client_on_a_manual_clock(redis: &RedisServer, idle: Duration) -> (Client, ManualClock) {
    let clock = ManualClock::new();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let layer = config()
        .clock(clock.clone())
        .idle_timeout(idle)
        .store(store)
        .build()
        .unwrap();
    let mut client = Client::new(app(layer));
    client.put("/set/a", json!(1)).await;
    (client, clock)
}

/// The commands `request` sends: what MONITOR saw before it is dropped first.
macro_rules! commands_of {
    ($monitor:expr, $request:expr) => {{
        let _ = $monitor.take();
        $request;
        $monitor.take()
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_kind_sends_the_documented_commands() {
    let redis = RedisServer::start();
    let app = app_with_logout_all(redis_layer(&redis, Duration::from_secs(2)).await);
    // Warm up: load every script once, so EVALSHA finds them.
    let mut warm = Client::new(app.clone());
    warm.put("/set/a", json!(1)).await;
    warm.put("/set/a", json!(2)).await;
    warm.get("/get/a").await;
    warm.put("/write-only/b", json!(2)).await;
    warm.post("/regenerate").await;
    warm.post("/login/warm").await;
    warm.post("/destroy").await;
    let monitor = redis.monitor();

    let mut client = Client::new(app.clone());
    let new_session = commands_of!(monitor, client.put("/set/a", json!(1)).await);
    assert_eq!(new_session, ["RESTORE", "ZADD"], "new session: one pipeline, no script");

    let read = commands_of!(monitor, client.get("/get/a").await);
    assert_eq!(read, ["HGETALL"], "read-only request: no script while no slide is due");

    let untouched = commands_of!(monitor, client.get("/noop").await);
    assert!(untouched.is_empty(), "a handler without a session: {untouched:?}");

    let write = commands_of!(monitor, client.put("/set/a", json!(2)).await);
    assert_eq!(
        write,
        ["HGETALL", "HSET", "PEXPIRE", "HGET"],
        "write: the load, then the commit (one pipeline, no script)"
    );

    let write_only = commands_of!(monitor, client.put("/write-only/b", json!(3)).await);
    assert_eq!(
        write_only,
        ["HSET", "PEXPIRE", "HGET"],
        "write through the write-only handle: one pipeline"
    );

    let regenerate = commands_of!(monitor, client.post("/regenerate").await);
    assert_eq!(
        regenerate,
        ["HGETALL", "EVALSHA"],
        "regenerate: the load, then the rename"
    );

    let login = commands_of!(monitor, client.post("/login/alice").await);
    assert_eq!(
        login,
        ["HGETALL", "ZREMRANGEBYSCORE", "ZADD", "EVALSHA"],
        "login: load, index the user (one pipeline), regenerate"
    );

    let mut second = Client::new(app.clone());
    second.post("/login/alice").await;
    let logout = commands_of!(monitor, client.post("/destroy").await);
    assert_eq!(logout, ["HGETALL", "EVALSHA", "ZREM"], "logout: load, delete, unindex");

    client.post("/login/alice").await;
    let logout_all = commands_of!(monitor, client.post("/logout-all").await);
    assert_eq!(
        logout_all,
        ["HGETALL", "ZRANGE", "EVALSHA", "EVALSHA", "ZREM", "ZRANGE", "EVALSHA"],
        "logout-all of 2 sessions: load, list, delete each, unindex, list again (empty), \
         then the destroy of the current one"
    );
    println!(
        "commands per request kind:\n new session {new_session:?}\n read {read:?}\n write {write:?}\n \
         write-only {write_only:?}\n regenerate {regenerate:?}\n login {login:?}\n logout {logout:?}\n \
         logout-all {logout_all:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_the_sliding_script_only_when_a_slide_is_due() {
    let redis = RedisServer::start();
    let idle = Duration::from_secs(2000);
    let (mut client, clock) = client_on_a_manual_clock(&redis, idle).await;
    clock.advance(Duration::from_secs(101));
    client.get("/get/a").await; // a first slide loads the script
    let monitor = redis.monitor();

    clock.advance(Duration::from_secs(99)); // under the touch step (idle / 20 = 100 s)
    let quiet = commands_of!(monitor, client.get("/get/a").await);
    assert_eq!(quiet, ["HGETALL"]);
    clock.advance(Duration::from_secs(2));
    let reply = client.get("/get/a").await;
    let due = monitor.take();
    assert_eq!(due, ["HGETALL", "EVALSHA"], "the read, then the slide");
    assert_eq!(reply.json(), json!(1));
    assert!(reply.set_cookie().is_some(), "the slid deadline re-sends the cookie");
    assert_eq!(commands_of!(monitor, client.get("/get/a").await), ["HGETALL"]);

    // A session dead by the layer's clock: the script drops it.
    clock.advance(idle);
    let reply = client.get("/get/a").await;
    assert_eq!(monitor.take(), ["HGETALL", "EVALSHA"]);
    assert_eq!(reply.json(), json!(null));
    assert!(reply.removes_cookie());
    let after = commands_of!(monitor, client.get("/get/a").await);
    assert!(after.is_empty(), "the client holds no ticket now: {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_run_a_script_only_when_a_slide_is_due_or_the_session_is_gone() {
    let redis = RedisServer::start();
    let idle = Duration::from_secs(2000);
    let (mut client, clock) = client_on_a_manual_clock(&redis, idle).await;
    clock.advance(Duration::from_secs(101));
    client.put("/write-only/b", json!(1)).await; // a first slide loads the script
    let monitor = redis.monitor();

    clock.advance(Duration::from_secs(99)); // under the touch step (idle / 20 = 100 s)
    let quiet = commands_of!(monitor, client.put("/write-only/b", json!(2)).await);
    assert_eq!(quiet, ["HSET", "PEXPIRE", "HGET"]);
    clock.advance(Duration::from_secs(2));
    let reply = client.put("/write-only/b", json!(3)).await;
    assert_eq!(
        monitor.take(),
        ["HSET", "PEXPIRE", "HGET", "EVALSHA", "HGETALL"],
        "the write, the slide, then a read of the session's cookie persistence for the re-sent cookie"
    );
    assert!(reply.set_cookie().is_some(), "the slid deadline re-sends the cookie");
    let quiet = commands_of!(monitor, client.put("/write-only/b", json!(4)).await);
    assert_eq!(quiet, ["HSET", "PEXPIRE", "HGET"]);
    assert_eq!(client.get("/get/b").await.json(), json!(4));

    // Dead by the layer's clock: the script drops it; the write goes to a fresh session.
    clock.advance(idle);
    let old_ticket = client.ticket.clone();
    let _ = monitor.take();
    let reply = client.put("/write-only/b", json!(5)).await;
    assert_eq!(
        monitor.take(),
        ["HSET", "PEXPIRE", "HGET", "EVALSHA", "RESTORE", "ZADD"],
        "the write, the script that drops the dead session, the create of the fresh one"
    );
    assert_ne!(reply.ticket(), None);
    assert_ne!(client.ticket, old_ticket, "a fresh session");
    assert_eq!(client.get("/get/b").await.json(), json!(5));
    assert_eq!(
        client.get("/get/a").await.json(),
        json!(null),
        "nothing of the dead session"
    );
    assert_eq!(
        session_hashes(&redis).len(),
        1,
        "only the fresh session is left in Redis"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_flushed_from_redis_are_loaded_again() {
    let redis = RedisServer::start();
    let mut client = Client::new(app(redis_layer(&redis, Duration::from_secs(2)).await));
    client.put("/set/a", json!(1)).await;
    client.post("/regenerate").await;
    redis.command("SCRIPT FLUSH");
    let monitor = redis.monitor();
    let reply = client.post("/regenerate").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        monitor.take(),
        ["HGETALL", "EVALSHA", "SCRIPT", "EVALSHA"],
        "the load, then NOSCRIPT, load, again"
    );
    assert_eq!(client.get("/get/a").await.json(), json!(1));
    let mut other = Client::new(client.app.clone());
    assert_eq!(
        other.put("/set/c", json!(3)).await.status,
        200,
        "a new session after the flush"
    );
    assert_eq!(other.get("/get/c").await.json(), json!(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_of_the_app() {
    let redis = RedisServer::start();
    // A new process: new layer, new connection, same Redis and secret.
    let first = app(redis_layer(&redis, Duration::from_secs(2)).await);
    let second = app(redis_layer(&redis, Duration::from_secs(2)).await);
    assert_sessions_survive_a_restart(first, second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_on_redis_keep_every_key_and_logout_is_final() {
    let redis = RedisServer::start();
    assert_concurrent_writes_kept_and_logout_final(app(redis_layer(&redis, Duration::from_secs(2)).await)).await;
    // What the write-only handle wrote under the destroyed key was removed.
    for hash in session_hashes(&redis) {
        let has_meta = redis.command(&format!("HEXISTS {hash} m"));
        assert_eq!(has_meta.trim(), ":1", "{hash} holds data without a session");
    }
}

/// The session hashes in `redis` (keys `...:s:...`).
fn session_hashes(redis: &RedisServer) -> Vec<String> {
    redis
        .command("KEYS *:s:*")
        .split("\r\n")
        .filter(|line| !line.is_empty() && !line.starts_with(['*', '$']))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_down_gives_503_and_coming_back_restores_service_and_data() {
    let mut redis = RedisServer::start();
    let layer = redis_layer(&redis, Duration::from_millis(500)).await;
    let manager = layer.manager();
    let mut client = Client::new(app(layer));
    client.put("/set/cart", json!(["apple"])).await;
    let cookie = format!("sid={}", client.ticket.clone().unwrap());

    let traffic = Traffic::start(&client.app, &cookie);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut redis = tokio::task::spawn_blocking(move || {
        redis.kill();
        redis
    })
    .await
    .unwrap();
    assert_down(&client.app, "/get/cart", &cookie).await;
    assert!(manager.ping().await.is_err());

    let mut redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
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
    redis.kill();
}

/// A layer over `redis` whose sessions idle out after 1 s and whose store purges
/// every 200 ms.
async fn fast_purging_layer(redis: &RedisServer) -> SessionLayer {
    let store = RedisStore::builder()
        .purge_interval(Some(Duration::from_millis(200)))
        .connect(&redis.url())
        .await
        .unwrap();
    config()
        .idle_timeout(Duration::from_secs(1))
        .store(store)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_task_empties_the_expiry_sets_of_sessions_redis_expired() {
    let redis = RedisServer::start();
    let layer = fast_purging_layer(&redis).await;
    let app = app(layer);
    for _ in 0..3 {
        assert!(
            send(&app, "PUT", "/set/a", None, Some(json!(1)))
                .await
                .ticket()
                .is_some()
        );
    }
    let entries = || {
        let reply = redis.command(
            "EVAL \"local n = 0 for _, k in ipairs(redis.call('KEYS', '*:expiries')) do n = n + redis.call('ZCARD', k) end return n\" 0",
        );
        reply.trim().trim_start_matches(':').parse::<u64>().unwrap()
    };
    assert_eq!(entries(), 3);
    let mut left = entries();
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = entries();
    }
    assert_eq!(left, 0, "expired sessions leave no entries behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_also_takes_gone_sessions_out_of_their_users_index() {
    let redis = RedisServer::start();
    let layer = fast_purging_layer(&redis).await;
    let manager = layer.manager();
    let app = app(layer);
    for _ in 0..100 {
        // A sign-in, then the browser goes away.
        let reply = send(&app, "POST", "/login/alice", None, None).await;
        assert!(reply.ticket().is_some());
    }
    // Alice's index, which Redis removes once it holds nothing.
    let index = || {
        let keys = redis.command("KEYS *user:*");
        let Some(key) = keys.lines().find(|l| l.contains("user:")) else {
            return 0;
        };
        let reply = redis.command(&format!("ZCARD {key}"));
        reply.trim().trim_start_matches(':').parse::<u64>().unwrap()
    };
    assert_eq!(index(), 100);
    let mut left = index();
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = index();
    }
    assert_eq!(left, 0, "the abandoned sign-ins leave no index entries behind");
    assert!(manager.list_user("alice").await.unwrap().is_empty());
    assert_eq!(manager.destroy_user("alice").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_stale_ticket_after_a_sign_in_writes_409_and_keeps_the_cookie() {
    let redis = RedisServer::start();
    let mut browser = Client::new(app(redis_layer(&redis, Duration::from_secs(2)).await));
    browser.put("/set/cart", json!(["apple"])).await;
    let stale = format!("sid={}", browser.ticket.clone().unwrap());
    browser.post("/login/alice").await;

    let read = send(&browser.app, "GET", "/get/cart", Some(&stale), None).await;
    assert_eq!((read.status.as_u16(), read.json()), (200, json!(null)));
    assert_eq!(read.set_cookie(), None);
    for (method, path) in [("PUT", "/set/cart"), ("PUT", "/write-only/theme")] {
        let write = send(&browser.app, method, path, Some(&stale), Some(json!(["pear"]))).await;
        assert_eq!(write.status, 409, "{path}");
        assert_eq!(write.set_cookie(), None, "{path}");
    }
    assert_eq!(browser.get("/whoami").await.text(), "alice");
    assert_eq!(browser.get("/get/cart").await.json(), json!(["apple"]));
    assert!(
        session_hashes(&redis).len() == 2,
        "the session and the marker, no stray data: {:?}",
        session_hashes(&redis)
    );
}

cloakroom_layer_contracts!(async {
    let redis = RedisServer::start();
    let store = RedisStore::builder()
        .timeout(Duration::from_secs(5))
        .connect(&redis.url())
        .await
        .unwrap();
    (redis, config().store(store))
});
