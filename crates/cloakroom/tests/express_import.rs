//! The express-session import against the real thing: an Express service with
//! express-session and connect-redis on Node signs users in, and the layer takes
//! their sessions over from the same Redis.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use cloakroom::import::ExpressImport;
use cloakroom::{Error, MemoryStore, RedisStore, Session, SessionLayer};
use cloakroom_testing::{ExpressApp, ExpressOptions, RedisCluster, RedisServer};
use common::*;
use serde_json::{Value, json};

/// The express session cookie's `name=value` from a `Cookie` pair, and its sid.
fn sid_of(cookie: &str) -> String {
    let value = cookie.split_once('=').unwrap().1.replace("%3A", ":");
    let signed = value.strip_prefix("s:").unwrap();
    signed.rsplit_once('.').unwrap().0.to_owned()
}

/// What `redis` holds under `key`, as text (a bulk reply's payload).
fn value_of(redis: &RedisServer, key: &str) -> Option<String> {
    let reply = redis.command(&format!("GET {key}"));
    if reply.starts_with("$-1") {
        return None;
    }
    let (_, payload) = reply.split_once("\r\n")?;
    Some(payload.trim_end_matches("\r\n").to_owned())
}

/// The remaining life of `key` in `redis`, ms.
fn pttl(redis: &RedisServer, key: &str) -> i64 {
    redis
        .command(&format!("PTTL {key}"))
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap()
}

/// Every key of `redis` but express's own records, with its contents as text.
fn cloakroom_contents(redis: &RedisServer) -> Vec<(String, String)> {
    let keys = redis.command("KEYS *");
    keys.lines()
        .filter(|line| !line.starts_with(['*', '$']) && !line.starts_with("sess:"))
        .map(|key| {
            let read = match redis.command(&format!("TYPE {key}")).trim() {
                "+string" => format!("GET {key}"),
                "+hash" => format!("HGETALL {key}"),
                "+zset" => format!("ZRANGE {key} 0 -1"),
                "+set" => format!("SMEMBERS {key}"),
                other => panic!("{key} is a {other}"),
            };
            (key.to_owned(), redis.command(&read))
        })
        .collect()
}

/// The layer over a Redis store on `redis`, importing with `express`.
async fn layer_on(redis: &RedisServer, express: ExpressImport) -> (Router, SessionLayer) {
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let layer = config().store(store).import_express(express).build().unwrap();
    (app(layer.clone()), layer)
}

/// The ticket in a reply and the `Cookie` header that carries it.
fn ticket_cookie(reply: &Reply) -> String {
    format!("sid={}", reply.ticket().expect("a cloakroom ticket"))
}

/// The `Set-Cookie` of a reply for the cookie `name`.
fn cookie_named(reply: &Reply, name: &str) -> Option<String> {
    reply
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_express_session_becomes_a_cloakroom_session() {
    let (logs, _guard) = capture_logs();
    let redis = RedisServer::start();
    let express = ExpressApp::start(&ExpressOptions::new(&redis.url()));
    let cookie = express.sign_in("alice", r#"{"cart":[{"sku":"tea","qty":2}],"theme":"dark","visits":3}"#);
    let sid = sid_of(&cookie);
    let record = redis.command(&format!("GET sess:{sid}"));
    println!("the connect-redis record: {record}");
    assert!(record.contains(r#""userId":"alice""#), "{record}");
    let ttl = pttl(&redis, &format!("sess:{sid}"));
    assert!(ttl > 3_590_000, "{ttl}");

    let (app, layer) = layer_on(&redis, ExpressImport::new("keyboard cat")).await;
    let first = send(&app, "GET", "/whoami", Some(&cookie), None).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.text(), "alice", "the user is signed in on the first request");
    let removal = cookie_named(&first, "connect.sid").expect("the express cookie is removed");
    assert!(
        removal.starts_with("connect.sid=; Path=/;") && removal.contains("Max-Age=0"),
        "{removal}"
    );
    let session = first.session_cookie().unwrap();
    let max_age: u64 = session
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        max_age <= ttl as u64 / 1000 + 1,
        "the express session's remaining life caps the new one: {max_age}"
    );
    let tombstone = value_of(&redis, &format!("sess:{sid}")).unwrap();
    assert!(
        tombstone.starts_with(r#"{"cloakroom_import":{"until":"#)
            && tombstone.contains(r#","imported":true}"#)
            && !tombstone.contains("alice"),
        "the record was consumed, a tombstone left for a minute: {tombstone}"
    );
    assert!(pttl(&redis, &format!("sess:{sid}")) <= 60_000);
    let on_express = express.request("GET", "/session", Some(&cookie), None);
    assert_eq!(
        on_express.status, 200,
        "express reads the tombstone as an empty session: {}",
        on_express.body
    );
    assert_eq!(
        serde_json::from_str::<Value>(&on_express.body).unwrap()["id"],
        Value::Null
    );

    let ticket = ticket_cookie(&first);
    let manager = layer.manager();
    let id = manager.verify_ticket(&first.ticket().unwrap()).unwrap();
    let record = manager.get(&id).await.unwrap().unwrap();
    let express_end = std::time::SystemTime::now() + Duration::from_millis(ttl as u64);
    assert!(
        record.meta.absolute_deadline <= express_end,
        "the absolute deadline is capped too"
    );
    // A request whose handler then fails on a store call still gets the ticket of
    // the session it imported: the express record is gone, so nothing else would
    // keep the user signed in.
    let other = express.sign_in("alice", "{}");
    let failed = send(&app, "GET", "/store-fails", Some(&other), None).await;
    assert_eq!(failed.status, 503);
    let kept = ticket_cookie(&failed);
    assert_eq!(send(&app, "GET", "/whoami", Some(&kept), None).await.text(), "alice");
    let cart = send(&app, "GET", "/get/cart", Some(&ticket), None).await;
    assert_eq!(cart.json(), json!([{"sku": "tea", "qty": 2}]));
    let keys = send(&app, "GET", "/keys", Some(&ticket), None).await.json();
    let mut keys: Vec<String> = serde_json::from_value(keys).unwrap();
    keys.sort();
    assert_eq!(
        keys,
        ["cart", "theme", "userId", "visits"],
        "every field but the cookie"
    );
    assert_eq!(
        send(&app, "GET", "/get/visits", Some(&ticket), None).await.json(),
        json!(3)
    );
    let devices = layer.manager().list_user("alice").await.unwrap();
    assert_eq!(
        devices.len(),
        2,
        "alice's two imported sessions, listed with her devices"
    );

    // The express sid is nowhere in cloakroom's keys or values, nor in its logs.
    let contents = cloakroom_contents(&redis);
    assert!(contents.len() >= 2, "{contents:?}");
    for (key, value) in contents {
        assert!(
            !key.contains(&sid) && !value.contains(&sid),
            "{key} holds the express sid: {value}"
        );
    }
    let logs = logs.text();
    assert!(logs.contains("imported an express session"), "{logs}");
    assert!(!logs.contains(&sid), "the express sid was logged:\n{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_tampered_unsigned_and_foreign_cookies_stay_anonymous() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&ExpressOptions::new(&redis.url()));
    let (app, _layer) = layer_on(&redis, ExpressImport::new("keyboard cat")).await;
    let monitor = redis.monitor();

    // Replay: the cookie of a session already imported.
    let cookie = express.sign_in("alice", "{}");
    assert_eq!(send(&app, "GET", "/whoami", Some(&cookie), None).await.text(), "alice");
    let replay = send(&app, "GET", "/whoami", Some(&cookie), None).await;
    assert_eq!(replay.status, 401, "a replayed cookie imports nothing");
    assert_eq!(replay.session_cookie(), None);

    // Tampered, unsigned, or signed with a secret the layer does not know: not
    // even looked up, and the record stays.
    let bob = express.sign_in("bob", "{}");
    let sid = sid_of(&bob);
    let last = bob.chars().last().unwrap();
    let tampered = format!("{}{}", &bob[..bob.len() - 1], if last == 'A' { 'B' } else { 'A' });
    let other_sid = format!("connect.sid=s%3A{}.{}", "x".repeat(32), bob.rsplit_once('.').unwrap().1);
    let unsigned = format!("connect.sid={sid}");
    let _ = monitor.take();
    for forged in [
        &tampered,
        &other_sid,
        &unsigned,
        &"connect.sid=s%3A".to_owned(),
        &"connect.sid=%E0%A4%A".to_owned(),
    ] {
        let reply = send(&app, "GET", "/whoami", Some(forged), None).await;
        assert_eq!(reply.status, 401, "{forged}");
        assert!(reply.set_cookies().is_empty(), "{forged}: {:?}", reply.set_cookies());
    }
    assert_eq!(monitor.take(), Vec::<String>::new(), "nothing was read from Redis");
    let (wrong_secret, _) = layer_on(&redis, ExpressImport::new("another secret")).await;
    assert_eq!(
        send(&wrong_secret, "GET", "/whoami", Some(&bob), None).await.status,
        401
    );
    assert_eq!(monitor.take(), Vec::<String>::new(), "nothing was read from Redis");
    assert_eq!(
        redis.command(&format!("EXISTS sess:{sid}")).trim(),
        ":1",
        "bob's record stays"
    );

    // A layer that knows the secret among others imports it.
    let (rotated, _) = layer_on(
        &redis,
        ExpressImport::new("unused").secrets(["new secret", "keyboard cat"]),
    )
    .await;
    assert_eq!(send(&rotated, "GET", "/whoami", Some(&bob), None).await.text(), "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_import_the_session_once() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&ExpressOptions::new(&redis.url()));
    let (app, layer) = layer_on(&redis, ExpressImport::new("keyboard cat")).await;
    let cookie = express.sign_in("carol", r#"{"cart":["a","b"]}"#);
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move { send(&app, "GET", "/whoami", Some(&cookie), None).await })
        })
        .collect();
    let mut signed_in = 0;
    for request in requests {
        let reply = request.await.unwrap();
        match reply.status.as_u16() {
            200 => {
                assert_eq!(reply.text(), "carol");
                assert!(reply.ticket().is_some());
                signed_in += 1;
            }
            401 => assert_eq!(reply.session_cookie(), None, "the others are anonymous"),
            other => panic!("unexpected {other}: {}", reply.text()),
        }
    }
    assert_eq!(signed_in, 1, "exactly one request got the session");
    assert_eq!(layer.manager().list_user("carol").await.unwrap().len(), 1);

    // Requests that write: the one that imports keeps its write; the others are
    // refused (409) and set no cookie, so none replaces the new ticket.
    let cookie = express.sign_in("carol", "{}");
    let requests: Vec<_> = (0..8)
        .map(|i| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move { send(&app, "PUT", &format!("/set/k{i}"), Some(&cookie), Some(json!(i))).await })
        })
        .collect();
    let mut tickets = Vec::new();
    for request in requests {
        let reply = request.await.unwrap();
        match reply.status.as_u16() {
            200 => tickets.push(reply.ticket().expect("the importer's ticket")),
            409 => assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies()),
            other => panic!("unexpected {other}: {}", reply.text()),
        }
    }
    assert_eq!(tickets.len(), 1, "exactly one request imported and wrote");
    let keys = send(&app, "GET", "/keys", Some(&format!("sid={}", tickets[0])), None)
        .await
        .json();
    let written = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k.as_str().unwrap().starts_with('k'))
        .count();
    assert_eq!(written, 1, "{keys}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_logged_out_on_express_is_not_imported() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&ExpressOptions::new(&redis.url()));
    let (app, _layer) = layer_on(&redis, ExpressImport::new("keyboard cat")).await;
    let cookie = express.sign_in("dave", "{}");
    assert_eq!(express.request("POST", "/logout", Some(&cookie), None).status, 200);
    let reply = send(&app, "GET", "/whoami", Some(&cookie), None).await;
    assert_eq!(reply.status, 401);
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passport_users_other_names_and_browser_session_cookies() {
    let redis = RedisServer::start();
    let options = ExpressOptions {
        cookie_name: "sessionId".to_owned(),
        prefix: "shop:sess:".to_owned(),
        max_age: None,
        ..ExpressOptions::new(&redis.url())
    };
    let express = ExpressApp::start(&options);
    let cookie = express.sign_in_at("/passport", "42", r#"{"locale":"fr"}"#);
    // The layer keeps its sessions in memory, and reads express records from Redis.
    let import = ExpressImport::new("keyboard cat")
        .cookie_name("sessionId")
        .prefix("shop:sess:")
        .connect(&redis.url())
        .await
        .unwrap();
    let layer = config()
        .store(MemoryStore::new())
        .import_express(import)
        .build()
        .unwrap();
    let app = app(layer);
    let first = send(&app, "GET", "/whoami", Some(&cookie), None).await;
    assert_eq!(first.text(), "42", "a number becomes a string");
    let session = first.session_cookie().unwrap();
    assert!(
        !session.contains("Max-Age"),
        "express gave a browser-session cookie, so does cloakroom: {session}"
    );
    assert!(cookie_named(&first, "sessionId").unwrap().contains("Max-Age=0"));
    let ticket = ticket_cookie(&first);
    assert_eq!(
        send(&app, "GET", "/get/passport", Some(&ticket), None).await.json(),
        json!({"user": 42})
    );
    assert_eq!(
        send(&app, "GET", "/get/locale", Some(&ticket), None).await.json(),
        json!("fr")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_records_leave_express_signed_in_until_a_sign_out_here() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&ExpressOptions::new(&redis.url()));
    let (app, _layer) = layer_on(&redis, ExpressImport::new("keyboard cat").keep_records(true)).await;
    let cookie = express.sign_in("erin", r#"{"step":2}"#);
    let sid = sid_of(&cookie);
    let first = send(&app, "GET", "/whoami", Some(&cookie), None).await;
    assert_eq!(first.text(), "erin");
    assert_eq!(cookie_named(&first, "connect.sid"), None, "the express cookie stays");
    assert_eq!(
        redis.command(&format!("EXISTS sess:{sid}")).trim(),
        ":1",
        "the record stays"
    );
    let on_express: Value =
        serde_json::from_str(&express.request("GET", "/session", Some(&cookie), None).body).unwrap();
    assert_eq!(on_express["id"], "erin", "still signed in on the Express side");

    // Signing out here ends the express session too, so nothing imports it again.
    let both = format!("{}; {cookie}", ticket_cookie(&first));
    let out = send(&app, "POST", "/destroy", Some(&both), None).await;
    assert_eq!(out.status, 200);
    assert!(out.removes_cookie());
    assert!(cookie_named(&out, "connect.sid").unwrap().contains("Max-Age=0"));
    assert_eq!(redis.command(&format!("EXISTS sess:{sid}")).trim(), ":0");
    assert_eq!(send(&app, "GET", "/whoami", Some(&cookie), None).await.status, 401);
    let on_express: Value =
        serde_json::from_str(&express.request("GET", "/session", Some(&cookie), None).body).unwrap();
    assert_eq!(on_express["id"], Value::Null, "signed out on the Express side too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_cannot_be_imported_are_left_or_refused_whole() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&ExpressOptions::new(&redis.url()));

    // Past the size cap: refused, and the record goes back with its life.
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let small = config()
        .store(store)
        .max_session_bytes(4096)
        .import_express(ExpressImport::new("keyboard cat"))
        .build()
        .unwrap();
    let small = app(small);
    let big = express.sign_in("frank", &format!(r#"{{"notes":"{}"}}"#, "n".repeat(8000)));
    let key = format!("sess:{}", sid_of(&big));
    let before = value_of(&redis, &key).unwrap();
    let reply = send(&small, "GET", "/whoami", Some(&big), None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(value_of(&redis, &key).unwrap(), before, "the record is back as it was");
    let ttl = pttl(&redis, &key);
    assert!(ttl > 3_500_000, "with its remaining life: {ttl}");

    // Not a session's JSON, a cookie expiry that is no date, or a cookie that
    // expired while Redis still holds the record: not imported, and left exactly
    // as it was, life included.
    let (app, _layer) = layer_on(&redis, ExpressImport::new("keyboard cat")).await;
    for (sid, json) in [
        ("unreadableSid000000000000000001", "not-json"),
        ("unreadableSid000000000000000002", r#"{"userId":"gina","#),
        (
            "unreadableSid000000000000000003",
            r#"{"cookie":{"expires":"soon"},"userId":"gina"}"#,
        ),
        (
            "expiredSid0000000000000000000001",
            r#"{"cookie":{"expires":"2020-01-01T00:00:00.000Z"},"userId":"gina"}"#,
        ),
    ] {
        let key = format!("sess:{sid}");
        put_record(&redis, &key, json, Duration::from_secs(600)).await;
        let reply = send(
            &app,
            "GET",
            "/whoami",
            Some(&express_cookie(sid, b"keyboard cat")),
            None,
        )
        .await;
        assert_eq!(reply.status, 401);
        assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
        assert_eq!(value_of(&redis, &key).as_deref(), Some(json), "left to express");
        assert!(pttl(&redis, &key) > 590_000, "with its life");
    }

    // A user the application does not know: the data comes, the user does not.
    let (mapped, layer) = layer_on(
        &redis,
        ExpressImport::new("keyboard cat").map_user(|user| (user == "known").then(|| user.to_owned())),
    )
    .await;
    let stranger = express.sign_in("stranger", r#"{"cart":["x"]}"#);
    let reply = send(&mapped, "GET", "/get/cart", Some(&stranger), None).await;
    assert_eq!(reply.json(), json!(["x"]));
    assert_eq!(
        send(&mapped, "GET", "/whoami", Some(&ticket_cookie(&reply)), None)
            .await
            .status,
        401
    );
    assert!(layer.manager().list_user("stranger").await.unwrap().is_empty());
}

#[tokio::test]
async fn configuration_mistakes_fail_at_build() {
    let build = |import: ExpressImport| config().import_express(import).build().unwrap_err();
    let message = |err: Error| {
        assert!(
            matches!(
                err,
                Error::Config {
                    option: "import_express",
                    ..
                }
            ),
            "{err}"
        );
        err.to_string()
    };
    let no_redis = message(build(ExpressImport::new("s")));
    assert!(no_redis.contains("ExpressImport::connect"), "{no_redis}");
    let redis = RedisServer::start();
    let with = |import: ExpressImport| async { import.connect(&redis.url()).await.unwrap() };
    let empty = message(build(with(ExpressImport::new("")).await));
    assert!(empty.contains("secret"), "{empty}");
    let same = message(build(with(ExpressImport::new("s").cookie_name("sid")).await));
    assert!(same.contains("cookie_name"), "{same}");
    let bad_name = message(build(with(ExpressImport::new("s").cookie_name("a b")).await));
    assert!(bad_name.contains("cookie_name"), "{bad_name}");
    let bad_field = message(build(with(ExpressImport::new("s").user_fields(["passport."])).await));
    assert!(bad_field.contains("user_fields"), "{bad_field}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_kept_on_a_redis_cluster_are_imported() {
    let cluster = RedisCluster::start();
    let options = ExpressOptions {
        redis_url: cluster.urls().join(","),
        cluster: true,
        ..ExpressOptions::new("")
    };
    let express = ExpressApp::start(&options);
    let cookie = express.sign_in("alice", r#"{"cart":["tea"]}"#);
    let store = RedisStore::connect_cluster(cluster.urls()).await.unwrap();
    let layer = config()
        .store(store)
        .import_express(ExpressImport::new("keyboard cat"))
        .build()
        .unwrap();
    let app = app(layer);
    let first = send(&app, "GET", "/whoami", Some(&cookie), None).await;
    assert_eq!(first.text(), "alice", "{:?}", first.set_cookies());
    let cart = send(&app, "GET", "/get/cart", Some(&ticket_cookie(&first)), None).await;
    assert_eq!(cart.json(), json!(["tea"]));
    assert_eq!(
        send(&app, "GET", "/whoami", Some(&cookie), None).await.status,
        401,
        "consumed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_that_cannot_be_stored_or_answered_leaves_the_record() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&ExpressOptions::new(&redis.url()));
    let import = || async { ExpressImport::new("keyboard cat").connect(&redis.url()).await.unwrap() };

    // The session store fails: the record is put back, and a later request imports it.
    let store = CountingStore::new(MemoryStore::new());
    let layer = config()
        .store(store.clone())
        .import_express(import().await)
        .build()
        .unwrap();
    let service = app(layer);
    let cookie = express.sign_in("hana", r#"{"cart":["x"]}"#);
    let key = format!("sess:{}", sid_of(&cookie));
    let record = value_of(&redis, &key).unwrap();
    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let reply = send(&service, "GET", "/whoami", Some(&cookie), None).await;
    assert_eq!(reply.status, 401);
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
    assert_eq!(value_of(&redis, &key).unwrap(), record, "put back as it was");
    store.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        send(&service, "GET", "/whoami", Some(&cookie), None).await.text(),
        "hana"
    );

    // The request never answers (its future is dropped mid-handler, as when the
    // client goes away): the import is undone, the session made of it deleted,
    // even after the handler regenerated it.
    let layer = config()
        .store(MemoryStore::new())
        .import_express(import().await)
        .build()
        .unwrap();
    let manager = layer.manager();
    let slow = Router::new()
        .route(
            "/slow",
            get(|session: Session| async move {
                // A sign-in's regenerate, saved: the undo follows the session to
                // its new key.
                session.regenerate();
                session.save().await.unwrap();
                tokio::time::sleep(Duration::from_secs(30)).await;
            }),
        )
        .merge(routes())
        .layer(layer);
    let cookie = express.sign_in("ivan", "{}");
    let key = format!("sess:{}", sid_of(&cookie));
    let record = value_of(&redis, &key).unwrap();
    let cut = tokio::time::timeout(
        Duration::from_millis(300),
        send(&slow, "GET", "/slow", Some(&cookie), None),
    )
    .await;
    assert!(cut.is_err(), "the request was cut off");
    let mut restored = false;
    for _ in 0..100 {
        if value_of(&redis, &key).as_deref() == Some(record.as_str()) {
            restored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(restored, "the record is back: {:?}", value_of(&redis, &key));
    assert!(
        manager.list_user("ivan").await.unwrap().is_empty(),
        "no session left behind"
    );
    assert_eq!(send(&slow, "GET", "/whoami", Some(&cookie), None).await.text(), "ivan");

    // Redis is down: nothing changes on the client; once it is back, the import runs.
    let mut records = RedisServer::start();
    let express = ExpressApp::start(&ExpressOptions::new(&records.url()));
    let cookie = express.sign_in("jo", "{}");
    let layer = config()
        .store(MemoryStore::new())
        .import_express(
            ExpressImport::new("keyboard cat")
                .connect(&records.url())
                .await
                .unwrap(),
        )
        .build()
        .unwrap();
    let service = app(layer);
    records.kill();
    let reply = send(&service, "GET", "/whoami", Some(&cookie), None).await;
    assert_eq!(reply.status, 401);
    assert!(
        reply.set_cookies().is_empty(),
        "the express cookie stays: {:?}",
        reply.set_cookies()
    );
    records.restart();
    let mut signed_in = false;
    for _ in 0..50 {
        if send(&service, "GET", "/whoami", Some(&cookie), None).await.text() == "jo" {
            signed_in = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(signed_in, "imported once Redis is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_express_cookie_is_removed_with_the_attributes_it_was_set_with() {
    let redis = RedisServer::start();
    let json = r#"{"cookie":{"expires":null,"path":"/shop","domain":"example.test","secure":true,"httpOnly":true,"sameSite":"strict","partitioned":true},"userId":"kim"}"#;
    let expected = "connect.sid=; Path=/shop; Domain=example.test; Expires=Thu, 01 Jan 1970 00:00:00 GMT; \
                    Max-Age=0; Secure; HttpOnly; SameSite=Strict; Partitioned";

    // A record of those attributes under `sid`, and the express cookie naming it.
    let signed_in = |sid: &'static str| {
        let redis = &redis;
        async move {
            put_record(redis, &format!("sess:{sid}"), json, Duration::from_secs(600)).await;
            express_cookie(sid, b"keyboard cat")
        }
    };

    let (app, _layer) = layer_on(&redis, ExpressImport::new("keyboard cat")).await;
    let cookie = signed_in("attributesSid00000000000000001").await;
    let first = send(&app, "GET", "/whoami", Some(&cookie), None).await;
    assert_eq!(first.text(), "kim");
    assert_eq!(cookie_named(&first, "connect.sid").as_deref(), Some(expected));

    // Signing out here with records kept: the same removal, from the record.
    let (kept, _layer) = layer_on(&redis, ExpressImport::new("keyboard cat").keep_records(true)).await;
    let cookie = signed_in("attributesSid00000000000000002").await;
    let first = send(&kept, "GET", "/whoami", Some(&cookie), None).await;
    assert_eq!(cookie_named(&first, "connect.sid"), None);
    let out = send(
        &kept,
        "POST",
        "/destroy",
        Some(&format!("{}; {cookie}", ticket_cookie(&first))),
        None,
    )
    .await;
    assert_eq!(cookie_named(&out, "connect.sid").as_deref(), Some(expected));
    assert_eq!(
        value_of(&redis, "sess:attributesSid00000000000000002"),
        None,
        "the record is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_leave_the_import_to_a_same_site_one() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&ExpressOptions::new(&redis.url()));
    let (app, _layer) = layer_on(&redis, ExpressImport::new("keyboard cat")).await;
    let cookie = express.sign_in("lou", "{}");
    let request = |site: &str| {
        axum::http::Request::get("/whoami")
            .header("cookie", &cookie)
            .header("sec-fetch-site", site)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let reply = send_request(&app, request("cross-site")).await;
    assert_eq!(reply.status, 401, "its response could not set a SameSite=Lax ticket");
    assert!(reply.set_cookies().is_empty());
    assert_eq!(redis.command(&format!("EXISTS sess:{}", sid_of(&cookie))).trim(), ":1");
    assert_eq!(send_request(&app, request("same-origin")).await.text(), "lou");
}
