//! No acknowledged write is lost, and no race signs a user out: compare-and-set of
//! keys read and written back (409 on conflict), increments that never conflict,
//! and stale tickets after a regenerate that keep the newer cookie.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::response::IntoResponse;
use axum::routing::post;
use cloakroom::{Error, Scoped, Session, SessionData, SessionScope, SessionWriter};
use common::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;

/// `/slow-update/{key}` reads the key, waits until released, then writes it back +1
/// along with a blind `note`; `entered` fires once it has read.
fn slow_update_app(entered: Arc<Notify>, release: Arc<Notify>) -> Router {
    Router::new()
        .route(
            "/slow-update/{key}",
            post(move |s: Session, Path(key): Path<String>| async move {
                let n = s.update(&key, |n: u64| n + 1)?;
                s.insert("note", "late")?;
                entered.notify_one();
                release.notified().await;
                Ok::<_, Error>(n.to_string())
            }),
        )
        .route(
            "/update/{key}",
            post(|s: Session, Path(key): Path<String>| async move {
                Ok::<_, Error>(s.update(&key, |n: u64| n + 1)?.to_string())
            }),
        )
        .route(
            "/increment/{key}",
            post(
                |s: Session, Path(key): Path<String>| async move { Ok::<_, Error>(s.increment(&key, 1)?.to_string()) },
            ),
        )
        .route(
            "/write-only-increment/{key}",
            post(|w: SessionWriter, Path(key): Path<String>| async move { w.increment(&key, 2) }),
        )
        .merge(routes())
}

#[tokio::test]
async fn an_update_that_lost_the_race_answers_409_and_applies_nothing() {
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let app = slow_update_app(entered.clone(), release.clone()).layer(config().build().unwrap());
    let mut client = Client::new(app.clone());
    client.put("/set/n", json!(1)).await;
    let ticket = client.ticket.clone().unwrap();
    let cookie = format!("sid={ticket}");

    let slow_app = app.clone();
    let slow = tokio::spawn(async move { send(&slow_app, "POST", "/slow-update/n", Some(&cookie), None).await });
    entered.notified().await;
    assert_eq!(client.post("/update/n").await.text(), "2", "the other update lands");
    release.notify_one();
    let late = slow.await.unwrap();

    assert_eq!(late.status, 409);
    assert_eq!(
        late.json(),
        json!({"error": "the session changed during this request; try again"})
    );
    assert!(
        late.set_cookie()
            .is_none_or(|c| c.starts_with(&format!("sid={ticket};"))),
        "the client keeps its ticket: {:?}",
        late.set_cookie()
    );
    assert_eq!(late.headers["cache-control"], "private, no-store");
    assert_eq!(client.get("/get/n").await.json(), json!(2), "not 3, and not lost");
    assert_eq!(
        client.get("/get/note").await.json(),
        json!(null),
        "nothing of the late request landed"
    );
}

#[tokio::test]
async fn concurrent_updates_of_one_counter_end_equal_to_the_2xx_answers() {
    let app = slow_update_app(Arc::default(), Arc::default()).layer(config().build().unwrap());
    let mut client = Client::new(app.clone());
    client.put("/set/n", json!(0)).await;
    let cookie = format!("sid={}", client.ticket.clone().unwrap());
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move { send(&app, "POST", "/update/n", Some(&cookie), None).await.status })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap().as_u16() {
            200 => accepted += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(accepted > 0);
    assert_eq!(client.get("/get/n").await.json(), json!(accepted));
}

#[tokio::test]
async fn concurrent_increments_of_one_key_all_count_and_never_conflict() {
    let app = slow_update_app(Arc::default(), Arc::default()).layer(config().build().unwrap());
    let mut client = Client::new(app.clone());
    client.put("/set/other", json!(0)).await;
    let cookie = format!("sid={}", client.ticket.clone().unwrap());
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (app, cookie) = (app.clone(), cookie.clone());
            let path = if i % 2 == 0 {
                "/increment/qty"
            } else {
                "/write-only-increment/qty"
            };
            tokio::spawn(async move { send(&app, "POST", path, Some(&cookie), None).await.status })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(client.get("/get/qty").await.json(), json!(25 + 25 * 2));
}

#[tokio::test]
async fn an_increment_of_a_key_that_holds_no_integer_is_refused() {
    let app = slow_update_app(Arc::default(), Arc::default()).layer(config().build().unwrap());
    let mut client = Client::new(app);
    client.put("/set/qty", json!("many")).await;
    assert_eq!(client.post("/increment/qty").await.status, 500, "the handler's error");
    assert_eq!(
        client.post("/write-only-increment/qty").await.status,
        409,
        "found at commit"
    );
    assert_eq!(client.get("/get/qty").await.json(), json!("many"));
}

#[tokio::test]
async fn save_reports_the_conflict_and_a_reload_lets_the_handler_retry() {
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (e, r) = (entered.clone(), release.clone());
    let retrying = Router::new()
        .route(
            "/retrying",
            post(move |s: Session| async move {
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    s.update("n", |n: u64| n + 10)?;
                    if attempts == 1 {
                        e.notify_one();
                        r.notified().await;
                    }
                    match s.save().await {
                        Err(Error::Conflict) => s.reload().await?,
                        other => return other.map(|()| attempts.to_string()),
                    }
                }
            }),
        )
        .merge(slow_update_app(Arc::default(), Arc::default()))
        .layer(config().build().unwrap());
    let mut client = Client::new(retrying.clone());
    client.put("/set/n", json!(0)).await;
    let cookie = format!("sid={}", client.ticket.clone().unwrap());
    let slow = tokio::spawn(async move { send(&retrying, "POST", "/retrying", Some(&cookie), None).await });
    entered.notified().await;
    client.post("/update/n").await;
    release.notify_one();
    let reply = slow.await.unwrap();
    assert_eq!(
        (reply.status.as_u16(), reply.text()),
        (200, "2".to_owned()),
        "retried once"
    );
    assert_eq!(client.get("/get/n").await.json(), json!(11), "both updates counted");
}

#[tokio::test]
async fn a_handler_that_ignores_a_conflict_still_answers_409() {
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (e, r) = (entered.clone(), release.clone());
    let app = Router::new()
        .route(
            "/ignoring",
            post(move |s: Session| async move {
                s.update("n", |n: u64| n + 1).unwrap();
                e.notify_one();
                r.notified().await;
                let _ = s.save().await; // a conflict, dropped on the floor
                "saved, it says"
            }),
        )
        .merge(slow_update_app(Arc::default(), Arc::default()))
        .layer(config().build().unwrap());
    let mut client = Client::new(app.clone());
    client.put("/set/n", json!(0)).await;
    let cookie = format!("sid={}", client.ticket.clone().unwrap());
    let slow = tokio::spawn(async move { send(&app, "POST", "/ignoring", Some(&cookie), None).await });
    entered.notified().await;
    client.post("/update/n").await;
    release.notify_one();
    assert_eq!(slow.await.unwrap().status, 409);
}

#[tokio::test]
async fn the_conflict_response_can_be_replaced() {
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let layer = config()
        .on_conflict(|| (axum::http::StatusCode::CONFLICT, "reload and try again").into_response())
        .build()
        .unwrap();
    let app = slow_update_app(entered.clone(), release.clone()).layer(layer);
    let mut client = Client::new(app.clone());
    client.put("/set/n", json!(1)).await;
    let cookie = format!("sid={}", client.ticket.clone().unwrap());
    let slow = tokio::spawn(async move { send(&app, "POST", "/slow-update/n", Some(&cookie), None).await });
    entered.notified().await;
    client.post("/update/n").await;
    release.notify_one();
    let late = slow.await.unwrap();
    assert_eq!(
        (late.status.as_u16(), late.text()),
        (409, "reload and try again".to_owned())
    );
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Wizard {
    step: u32,
}

impl SessionScope for Wizard {
    const NAME: &'static str = "wizard";
    fn initial() -> Self {
        Self::default()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Counters {
    a: u32,
    b: u32,
}

#[tokio::test]
async fn the_typed_views_write_back_what_they_read_as_compare_and_set() {
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (e, r) = (entered.clone(), release.clone());
    let (e2, r2) = (entered.clone(), release.clone());
    let app = Router::new()
        .route(
            "/slow-wizard",
            post(move |w: Scoped<Wizard>| async move {
                w.update(|w| w.step += 1).unwrap();
                e.notify_one();
                r.notified().await;
            }),
        )
        .route(
            "/wizard",
            post(|w: Scoped<Wizard>| async move { w.update(|w| w.step += 1).unwrap().step.to_string() }),
        )
        .route(
            "/slow-a",
            post(move |d: SessionData<Counters>| async move {
                d.update(|c| c.a += 1).unwrap();
                e2.notify_one();
                r2.notified().await;
            }),
        )
        .route(
            "/b",
            post(|d: SessionData<Counters>| async move { d.update(|c| c.b += 1).unwrap().b.to_string() }),
        )
        .route(
            "/a",
            post(|d: SessionData<Counters>| async move { d.update(|c| c.a += 1).unwrap().a.to_string() }),
        )
        .merge(routes())
        .layer(config().build().unwrap());
    let mut client = Client::new(app.clone());
    client.put("/set/a", json!(0)).await;
    let cookie = format!("sid={}", client.ticket.clone().unwrap());

    let (slow_app, slow_cookie) = (app.clone(), cookie.clone());
    let slow = tokio::spawn(async move { send(&slow_app, "POST", "/slow-wizard", Some(&slow_cookie), None).await });
    entered.notified().await;
    client.post("/wizard").await;
    release.notify_one();
    assert_eq!(slow.await.unwrap().status, 409, "the scope changed under it");

    let (slow_app, slow_cookie) = (app.clone(), cookie.clone());
    let slow = tokio::spawn(async move { send(&slow_app, "POST", "/slow-a", Some(&slow_cookie), None).await });
    entered.notified().await;
    assert_eq!(client.post("/b").await.text(), "1", "another field");
    release.notify_one();
    assert_eq!(
        slow.await.unwrap().status,
        200,
        "fields it did not write never conflict"
    );

    let (slow_app, slow_cookie) = (app.clone(), cookie);
    let slow = tokio::spawn(async move { send(&slow_app, "POST", "/slow-a", Some(&slow_cookie), None).await });
    entered.notified().await;
    assert_eq!(client.post("/a").await.text(), "2");
    release.notify_one();
    assert_eq!(slow.await.unwrap().status, 409, "the field it wrote changed");
    assert_eq!(client.get("/get/a").await.json(), json!(2));
}

/// `/slow-add` loads the session, waits until released, then writes; `entered`
/// fires once it has loaded.
fn late_writer_app(entered: Arc<Notify>, release: Arc<Notify>) -> Router {
    Router::new()
        .route(
            "/slow-add",
            post(move |s: Session| async move {
                let _ = s.keys();
                entered.notify_one();
                release.notified().await;
                s.increment("cart:apple", 1).unwrap();
            }),
        )
        .merge(routes())
}

#[tokio::test]
async fn a_late_request_that_lost_to_a_sign_in_answers_409_and_keeps_the_new_cookie() {
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let layer = config().build().unwrap();
    let manager = layer.manager();
    let app = late_writer_app(entered.clone(), release.clone()).layer(layer);
    let mut browser = Client::new(app.clone());
    browser.put("/set/visits", json!(1)).await;
    let anonymous = format!("sid={}", browser.ticket.clone().unwrap());

    let slow_app = app.clone();
    let slow = tokio::spawn(async move { send(&slow_app, "POST", "/slow-add", Some(&anonymous), None).await });
    entered.notified().await;
    let signed_in = browser.post("/login/alice").await;
    assert!(signed_in.ticket().is_some());
    release.notify_one();
    let late = slow.await.unwrap();

    assert_eq!(late.status, 409, "its write was not applied anywhere");
    assert_eq!(late.set_cookie(), None, "no removal cookie to sign alice out");
    assert_eq!(browser.get("/whoami").await.text(), "alice");
    let id = manager.verify_ticket(browser.ticket.as_ref().unwrap()).unwrap();
    assert!(
        !manager.get(&id).await.unwrap().unwrap().data.contains_key("cart:apple"),
        "no data is forwarded from the old ID to the new one"
    );
}

#[tokio::test]
async fn a_stale_ticket_reads_as_a_new_session_writes_409_and_never_clears_the_cookie() {
    let mut browser = Client::new(app(config().build().unwrap()));
    browser.put("/set/cart", json!(["apple"])).await;
    let stale = format!("sid={}", browser.ticket.clone().unwrap());
    browser.post("/login/alice").await;

    let read = send(&browser.app, "GET", "/get/cart", Some(&stale), None).await;
    assert_eq!(
        (read.status.as_u16(), read.json()),
        (200, json!(null)),
        "anonymous, no data"
    );
    assert_eq!(read.set_cookie(), None);
    let write = send(&browser.app, "PUT", "/set/cart", Some(&stale), Some(json!(["pear"]))).await;
    assert_eq!(write.status, 409);
    assert_eq!(write.set_cookie(), None);
    let blind = send(
        &browser.app,
        "PUT",
        "/write-only/theme",
        Some(&stale),
        Some(json!("dark")),
    )
    .await;
    assert_eq!(
        blind.status, 409,
        "the write-only handle neither writes nor starts a session"
    );
    assert_eq!(blind.set_cookie(), None);
    let logout = send(&browser.app, "POST", "/destroy", Some(&stale), None).await;
    assert_eq!(logout.status, 409, "a stale logout must not look done");
    assert_eq!(logout.set_cookie(), None);

    assert_eq!(browser.get("/whoami").await.text(), "alice");
    assert_eq!(browser.get("/get/cart").await.json(), json!(["apple"]));
}

#[tokio::test]
async fn two_concurrent_sign_ins_on_one_ticket_each_get_a_signed_in_ticket_or_409() {
    for _round in 0..5 {
        let layer = config().build().unwrap();
        let manager = layer.manager();
        let app = app(layer);
        let mut browser = Client::new(app.clone());
        browser.put("/set/a", json!(1)).await;
        let anonymous = format!("sid={}", browser.ticket.clone().unwrap());
        let sign_ins: Vec<_> = ["alice", "bob"]
            .into_iter()
            .map(|user| {
                let (app, cookie) = (app.clone(), anonymous.clone());
                tokio::spawn(async move {
                    (
                        user,
                        send(&app, "POST", &format!("/login/{user}"), Some(&cookie), None).await,
                    )
                })
            })
            .collect();
        let mut signed_in = 0;
        for task in sign_ins {
            let (user, reply) = task.await.unwrap();
            assert!(!reply.removes_cookie(), "never a removal cookie");
            match reply.status.as_u16() {
                200 => {
                    let ticket = reply.ticket().expect("a 2xx sign-in carries its ticket");
                    let id = manager.verify_ticket(&ticket).unwrap();
                    let meta = manager.get(&id).await.unwrap().expect("a live session").meta;
                    assert_eq!(meta.user.as_deref(), Some(user), "bound to the user who signed in");
                    signed_in += 1;
                }
                409 => assert_eq!(reply.set_cookie(), None),
                other => panic!("a sign-in answered {other}"),
            }
        }
        assert!(signed_in >= 1);
    }
}

#[tokio::test]
async fn an_increment_after_a_write_of_the_same_key_is_a_plain_write() {
    let app = Router::new()
        .route(
            "/mixed",
            post(|s: Session| async move {
                s.insert("n", 5)?;
                let seen = s.increment("n", 2)?;
                s.remove("m")?;
                let from_nothing = s.increment("m", 3)?;
                Ok::<_, Error>(format!("{seen} {from_nothing}"))
            }),
        )
        .merge(routes())
        .layer(config().build().unwrap());
    let mut client = Client::new(app);
    client.put("/set/m", json!(10)).await;
    assert_eq!(client.post("/mixed").await.text(), "7 3");
    assert_eq!(client.get("/get/n").await.json(), json!(7));
    assert_eq!(client.get("/get/m").await.json(), json!(3));
}

#[tokio::test]
async fn capped_increments_never_pass_their_cap_however_concurrent() {
    let app = Router::new()
        .route(
            "/add-ten",
            post(|s: Session| async move {
                match s.increment_at_most("qty", 10, 99)? {
                    Some(qty) => Ok::<_, Error>(qty.to_string().into_response()),
                    None => Ok(axum::http::StatusCode::UNPROCESSABLE_ENTITY.into_response()),
                }
            }),
        )
        .merge(routes())
        .layer(config().build().unwrap());
    let mut client = Client::new(app.clone());
    client.put("/set/other", json!(0)).await;
    let cookie = format!("sid={}", client.ticket.clone().unwrap());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move { send(&app, "POST", "/add-ten", Some(&cookie), None).await.status })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap().as_u16() {
            200 => accepted += 1,
            409 | 422 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(accepted, 9, "nine tens fit under 99");
    assert_eq!(client.get("/get/qty").await.json(), json!(90));
    assert_eq!(client.post("/add-ten").await.status, 422, "the view says no");
}

#[tokio::test]
async fn a_sign_in_with_a_stale_ticket_starts_a_fresh_signed_in_session() {
    // The browser never got the sign-in's response (and its cookie), and signs in again.
    let layer = config().build().unwrap();
    let manager = layer.manager();
    let mut browser = Client::new(app(layer));
    browser.put("/set/cart", json!(["apple"])).await;
    let stale = format!("sid={}", browser.ticket.clone().unwrap());
    let lost = browser.post("/login/alice").await;
    assert!(lost.ticket().is_some());

    let again = send(&browser.app, "POST", "/login/alice", Some(&stale), None).await;
    assert_eq!(again.status, 200);
    let ticket = again.ticket().expect("a fresh session's ticket");
    let id = manager.verify_ticket(&ticket).unwrap();
    let record = manager.get(&id).await.unwrap().expect("stored");
    assert_eq!(record.meta.user.as_deref(), Some("alice"));
    assert!(record.data.is_empty(), "nothing is forwarded from the moved session");
    assert_eq!(
        manager.list_user("alice").await.unwrap().len(),
        2,
        "the first sign-in lives on"
    );
}
