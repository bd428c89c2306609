//! The demo's HTTP contract, route by route, through a real server on a free port.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use cloakroom::clock::ManualClock;
use common::{Client, ProbeStore, TestServer, cookie_attributes};
use serde_json::{Value, json};
use tokio::task::JoinSet;

async fn signed_in(server: &TestServer, user: &str) -> Client {
    let client = server.client();
    client.login(user).await;
    client
}

/// A server whose sessions tell time by `clock`.
async fn with_clock(clock: &ManualClock) -> TestServer {
    let clock = clock.clone();
    TestServer::start_with(|mut config| {
        config.session = config.session.clock(clock);
        config
    })
    .await
}

fn handles(sessions: &Value) -> Vec<(String, bool)> {
    sessions["sessions"]
        .as_array()
        .expect("sessions is an array")
        .iter()
        .map(|s| {
            (
                s["handle"].as_str().unwrap().to_owned(),
                s["current"].as_bool().unwrap(),
            )
        })
        .collect()
}

// --- service -----------------------------------------------------------------

#[tokio::test]
async fn healthz_is_ok_when_the_store_answers() {
    let server = TestServer::start().await;
    let response = server.client().get("/healthz").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "status": "ok" }));
}

#[tokio::test]
async fn healthz_is_503_when_the_store_is_down() {
    let store = ProbeStore::default();
    let probe = store.clone();
    let server = TestServer::start_with(|mut config| {
        config.session = config.session.store(store);
        config
    })
    .await;
    probe.set_down(true);
    let response = server.client().get("/healthz").await;
    assert_eq!(
        response.expect_error(StatusCode::SERVICE_UNAVAILABLE),
        "session store unavailable"
    );
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let server = TestServer::start().await;
    let response = server.client().get("/no/such/route").await;
    assert_eq!(response.expect_error(StatusCode::NOT_FOUND), "not found");
}

#[tokio::test]
async fn wrong_method_on_a_known_route_is_json_405() {
    let server = TestServer::start().await;
    let response = server.client().delete("/healthz").await;
    response.expect_error(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn oversized_bodies_are_413_with_a_json_error() {
    let server = TestServer::start().await;
    let huge = "x".repeat(cloakroom_demo::BODY_LIMIT + 1);
    let response = server.client().put("/prefs/big", json!(huge)).await;
    response.expect_error(StatusCode::PAYLOAD_TOO_LARGE);
}

// --- page ----------------------------------------------------------------------

#[tokio::test]
async fn page_shows_the_sign_in_form_to_anonymous_visitors() {
    let server = TestServer::start().await;
    let response = server.client().get("/").await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.header("content-type").unwrap().starts_with("text/html"));
    let html = response.text();
    assert!(html.contains(r#"id="login-form""#), "{html}");
    assert!(!html.contains(r#"id="whoami""#), "{html}");
    assert!(
        response.session_cookie().is_none(),
        "viewing the page creates no session"
    );
    assert!(
        html.contains(r#"<form id="login-form" method="post" action="/auth/login">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"name="username""#) && html.contains(r#"name="password""#),
        "{html}"
    );
    assert!(csrf_of(&html).is_some(), "a hidden _csrf field: {html}");
}

/// The value of the page's hidden `_csrf` field.
fn csrf_of(html: &str) -> Option<String> {
    let (_, rest) = html.split_once(r#"<input type="hidden" name="_csrf" value=""#)?;
    Some(rest.split('"').next()?.to_owned())
}

/// The flash messages the page shows.
fn flashes(html: &str) -> Vec<String> {
    let Some((_, rest)) = html.split_once(r#"<ul id="flash" role="status">"#) else {
        return Vec::new();
    };
    let list = rest.split("</ul>").next().unwrap_or_default();
    list.split("<li>")
        .skip(1)
        .map(|item| item.split("</li>").next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn the_sign_in_form_needs_its_csrf_token_and_leaves_a_flash_once() {
    let server = TestServer::start().await;
    let client = server.client();
    let page = client.get("/").await;
    let token = csrf_of(&page.text()).expect("the sign-in form's token");
    assert!(page.session_cookie().is_none(), "the page stores no session");
    assert!(client.cookie("sid_csrf").is_some(), "the token's pre-session cookie");

    // Without the token, or with another: 403 JSON, and nobody is signed in.
    let missing = client
        .post_form("/auth/login", "username=alice&password=alice-pass")
        .await;
    assert_eq!(missing.expect_error(StatusCode::FORBIDDEN), "missing CSRF token");
    let forged = format!("username=alice&password=alice-pass&_csrf={}", "A".repeat(43));
    let forged = client.post_form("/auth/login", &forged).await;
    assert_eq!(forged.expect_error(StatusCode::FORBIDDEN), "invalid CSRF token");
    assert!(client.cookie("sid").is_none(), "no session was made");
    assert_eq!(client.get("/auth/me").await.status, StatusCode::UNAUTHORIZED);

    // With it: 303 to the page, which shows the flash once.
    let body = format!("username=alice&password=alice-pass&_csrf={token}");
    let signed_in = client.post_form("/auth/login", &body).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.header("location").as_deref(), Some("/"));
    assert_eq!(client.get("/auth/me").await.json()["id"], "alice");
    let page = client.get("/").await.text();
    assert_eq!(flashes(&page), ["Signed in as alice"]);
    assert_eq!(page.matches("Signed in as").count(), 1, "the phrase is only the flash");
    let again = client.get("/").await.text();
    assert!(flashes(&again).is_empty(), "shown once: {again}");
    assert!(!again.contains("Signed in as"), "{again}");
}

#[tokio::test]
async fn the_sign_out_form_needs_its_csrf_token_and_leaves_a_flash_once() {
    let server = TestServer::start().await;
    let client = signed_in(&server, "bob").await;
    let page = client.get("/").await.text();
    assert!(
        page.contains(r#"<form id="logout-form" method="post" action="/auth/logout">"#),
        "{page}"
    );
    let token = csrf_of(&page).expect("the sign-out form's token");

    let refused = client.post_form("/auth/logout", "").await;
    assert_eq!(refused.expect_error(StatusCode::FORBIDDEN), "missing CSRF token");
    assert_eq!(client.get("/auth/me").await.json()["id"], "bob", "still signed in");

    let out = client.post_form("/auth/logout", &format!("_csrf={token}")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(client.get("/auth/me").await.status, StatusCode::UNAUTHORIZED);
    assert!(server.manager.list_user("bob").await.unwrap().is_empty());
    let page = client.get("/").await.text();
    assert_eq!(flashes(&page), ["Signed out"]);
    assert!(flashes(&client.get("/").await.text()).is_empty(), "shown once");
}

#[tokio::test]
async fn a_wrong_password_through_the_form_signs_nobody_in_and_says_so_once() {
    let server = TestServer::start().await;
    let client = server.client();
    let token = csrf_of(&client.get("/").await.text()).unwrap();
    let body = format!("username=alice&password=nope&_csrf={token}");
    assert_eq!(
        client.post_form("/auth/login", &body).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(client.get("/auth/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(flashes(&client.get("/").await.text()), ["Wrong user name or password"]);
}

#[tokio::test]
async fn page_shows_user_cart_checkout_and_devices_when_signed_in() {
    let server = TestServer::start().await;
    let client = signed_in(&server, "alice").await;
    client.post("/cart", json!({ "id": "<socks>", "qty": 2 })).await;
    let html = client.get("/").await.text();
    assert!(html.contains(r#"<strong id="whoami">alice</strong>"#), "{html}");
    assert!(html.contains(r#"<span id="role">admin</span>"#), "{html}");
    assert!(
        html.contains(r#"data-id="&lt;socks&gt;""#),
        "cart ids are escaped: {html}"
    );
    assert!(
        html.contains(r#"<strong id="checkout-step">shipping</strong>"#),
        "{html}"
    );
    assert!(html.contains(r#"data-current="true""#), "{html}");
    assert!(
        html.contains(r#"id="logout""#) && html.contains(r#"id="logout-all""#),
        "{html}"
    );
    assert!(!html.contains(r#"id="login-form""#), "{html}");
}

/// The text of the element with `id="{id}"` (up to its first `<`).
fn element_text(html: &str, id: &str) -> Option<String> {
    let (_, rest) = html.split_once(&format!(r#"id="{id}""#))?;
    let (_, rest) = rest.split_once('>')?;
    Some(rest.split('<').next()?.to_owned())
}

#[tokio::test]
async fn the_page_explains_the_new_id_at_sign_in_and_the_cart_that_came_along() {
    let server = TestServer::start().await;
    let client = server.client();
    let first = client.get("/").await.text();
    assert!(first.contains(r#"id="no-session""#), "{first}");
    client.post("/cart", json!({ "id": "socks", "qty": 1 })).await;
    client.post("/cart", json!({ "id": "hat", "qty": 1 })).await;
    let page = client.get("/").await.text();
    let before = element_text(&page, "fingerprint").expect("a fingerprint");
    assert_eq!(before.len(), 8, "{page}");
    assert!(!page.contains(r#"id="event""#), "nothing happened yet: {page}");

    let token = csrf_of(&page).unwrap();
    let body = format!("username=bob&password=bob-pass&_csrf={token}");
    client.post_form("/auth/login", &body).await;
    let page = client.get("/").await.text();
    let after = element_text(&page, "fingerprint").unwrap();
    assert_ne!(after, before, "a new ID, so a new fingerprint");
    assert_eq!(element_text(&page, "event-before").as_deref(), Some(before.as_str()));
    assert_eq!(element_text(&page, "event-after").as_deref(), Some(after.as_str()));
    assert_eq!(
        element_text(&page, "event-cart").as_deref(),
        Some("Your cart came along: 2 lines, under the new ID.")
    );
    for id in ["created", "last-seen", "idle-deadline", "absolute-deadline"] {
        let shown = element_text(&page, id).unwrap_or_default();
        assert!(shown.ends_with(" UTC"), "#{id}: {shown:?}");
    }
    let again = client.get("/").await.text();
    assert!(!again.contains(r#"id="event""#), "shown once: {again}");
    assert_eq!(element_text(&again, "fingerprint"), Some(after));

    // Signing out says which session went.
    let token = csrf_of(&again).unwrap();
    client.post_form("/auth/logout", &format!("_csrf={token}")).await;
    let out = client.get("/").await.text();
    assert!(out.contains("You signed out."), "{out}");
    assert_eq!(
        element_text(&out, "event-before").as_deref(),
        element_text(&again, "fingerprint").as_deref()
    );
}

#[tokio::test]
async fn the_page_style_and_icon_are_served_from_this_origin() {
    let server = TestServer::start().await;
    let client = server.client();
    let page = client.get("/").await;
    let csp = page.header("content-security-policy").unwrap();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = page.text();
    assert!(html.contains(r#"<link rel="stylesheet" href="/style.css">"#), "{html}");
    for attribute in ["src=\"", "href=\""] {
        for reference in html.split(attribute).skip(1) {
            assert!(
                reference.starts_with('/'),
                "nothing from elsewhere: {attribute}{reference}"
            );
        }
    }
    for (path, kind) in [
        ("/style.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
        ("/favicon.ico", "image/svg+xml"),
    ] {
        let asset = client.get(path).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert!(asset.header("content-type").unwrap().starts_with(kind), "{path}");
        assert!(asset.session_cookie().is_none(), "{path} makes no session");
    }
}

#[tokio::test]
async fn page_script_is_served() {
    let server = TestServer::start().await;
    let response = server.client().get("/app.js").await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.header("content-type").unwrap().starts_with("text/javascript"));
    assert!(response.text().contains("/auth/logout-all"));
}

// --- login, me, logout -----------------------------------------------------------

#[tokio::test]
async fn login_with_right_credentials_returns_the_user() {
    let server = TestServer::start().await;
    for (user, role) in [("alice", "admin"), ("bob", "user")] {
        let response = server.client().login(user).await;
        assert_eq!(
            response.json(),
            json!({ "message": "Logged in", "user": { "id": user, "role": role } })
        );
    }
}

#[tokio::test]
async fn login_with_wrong_credentials_is_401() {
    let server = TestServer::start().await;
    let client = server.client();
    for (username, password) in [("alice", "bob-pass"), ("alice", ""), ("mallory", "alice-pass")] {
        let response = client
            .post("/auth/login", json!({ "username": username, "password": password }))
            .await;
        response.expect_error(StatusCode::UNAUTHORIZED);
        assert!(response.session_cookie().is_none());
    }
    client.get("/auth/me").await.expect_error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_with_a_malformed_body_is_400_with_a_json_error() {
    let server = TestServer::start().await;
    let client = server.client();
    let cases = [
        (Some("application/json"), "{not json"),
        (Some("application/json"), r#"{"username":"alice"}"#),
        (Some("application/json"), r#"{"username":1,"password":2}"#),
        (Some("text/plain"), r#"{"username":"alice","password":"alice-pass"}"#),
        (None, r#"{"username":"alice","password":"alice-pass"}"#),
    ];
    for (content_type, body) in cases {
        let response = client.send_raw(Method::POST, "/auth/login", content_type, body).await;
        let message = response.expect_error(StatusCode::BAD_REQUEST);
        assert!(!message.is_empty(), "{content_type:?} {body}");
    }
}

#[tokio::test]
async fn me_is_401_when_anonymous() {
    let server = TestServer::start().await;
    let response = server.client().get("/auth/me").await;
    assert_eq!(response.expect_error(StatusCode::UNAUTHORIZED), "not signed in");
}

#[tokio::test]
async fn me_returns_the_signed_in_user() {
    let server = TestServer::start().await;
    let client = signed_in(&server, "bob").await;
    let response = client.get("/auth/me").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "id": "bob", "role": "user" }));
}

#[tokio::test]
async fn session_cookie_is_httponly_lax_path_root_with_max_age_and_not_secure() {
    let server = TestServer::start().await;
    let response = server.client().login("alice").await;
    let cookie = response.session_cookie().expect("login sets the session cookie");
    let attrs = cookie_attributes(&cookie);
    assert!(attrs.contains_key("httponly"), "{cookie}");
    assert_eq!(attrs.get("samesite").map(String::as_str), Some("Lax"), "{cookie}");
    assert_eq!(attrs.get("path").map(String::as_str), Some("/"), "{cookie}");
    let max_age: u64 = attrs.get("max-age").expect("Max-Age").parse().expect("numeric Max-Age");
    assert!(max_age > 0, "{cookie}");
    assert!(!attrs.contains_key("secure"), "no Secure outside production: {cookie}");
}

#[tokio::test]
async fn login_changes_the_session_id_and_keeps_the_cart() {
    let server = TestServer::start().await;
    let client = server.client();
    client.post("/cart", json!({ "id": "socks", "qty": 2 })).await;
    let anonymous = client.cookie("sid").expect("adding to the cart starts a session");
    client.login("alice").await;
    let signed_in = client.cookie("sid").expect("still a session");
    assert_ne!(anonymous, signed_in, "the ticket changes at login");
    assert_eq!(
        client.get("/cart").await.json(),
        json!({ "items": [{ "id": "socks", "qty": 2 }] })
    );

    // The anonymous ticket no longer opens anything.
    let replay = server.client();
    replay.set_cookie("sid", &anonymous);
    assert_eq!(replay.get("/cart").await.json(), json!({ "items": [] }));
}

#[tokio::test]
async fn logout_destroys_the_session_and_clears_the_cookie() {
    let server = TestServer::start().await;
    let client = signed_in(&server, "alice").await;
    let response = client.post_empty("/auth/logout").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "message": "Logged out" }));
    let cleared = response.session_cookie().expect("logout clears the cookie");
    assert_eq!(
        cookie_attributes(&cleared).get("max-age").map(String::as_str),
        Some("0")
    );
    assert!(client.cookie("sid").is_none());
    client.get("/auth/me").await.expect_error(StatusCode::UNAUTHORIZED);
    assert!(server.manager.list_user("alice").await.unwrap().is_empty());
}

#[tokio::test]
async fn replaying_the_cookie_after_logout_is_anonymous() {
    let server = TestServer::start().await;
    let client = signed_in(&server, "alice").await;
    let old = client.cookie("sid").unwrap();
    client.post_empty("/auth/logout").await;

    let replay = server.client();
    replay.set_cookie("sid", &old);
    let response = replay.get("/auth/me").await;
    assert_eq!(response.expect_error(StatusCode::UNAUTHORIZED), "not signed in");
}

// --- devices -------------------------------------------------------------------

#[tokio::test]
async fn sessions_require_sign_in() {
    let server = TestServer::start().await;
    let client = server.client();
    client
        .get("/auth/sessions")
        .await
        .expect_error(StatusCode::UNAUTHORIZED);
    client
        .delete("/auth/sessions/0123456789abcdef0123456789abcdef")
        .await
        .expect_error(StatusCode::UNAUTHORIZED);
    client
        .post_empty("/auth/logout-all")
        .await
        .expect_error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_lists_devices_newest_first_marking_the_current_one() {
    // Stores keep whole milliseconds: a clock moved by hand gives the two sign-ins
    // distinct creation times however fast the requests are.
    let clock = ManualClock::new();
    let server = with_clock(&clock).await;
    let laptop = signed_in(&server, "alice").await;
    clock.advance(Duration::from_secs(60));
    let phone = signed_in(&server, "alice").await;
    let _other_user = signed_in(&server, "bob").await;

    let from_phone = phone.get("/auth/sessions").await;
    assert_eq!(from_phone.status, StatusCode::OK);
    let from_phone = from_phone.json();
    let from_laptop = laptop.get("/auth/sessions").await.json();
    let phone_view = handles(&from_phone);
    let laptop_view = handles(&from_laptop);
    assert_eq!(phone_view.len(), 2, "only alice's sessions: {from_phone}");
    // Newest (the phone) first, whoever asks; `current` marks the asker.
    assert_eq!(
        phone_view.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        [true, false],
        "{from_phone}"
    );
    assert_eq!(
        laptop_view.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        [false, true],
        "{from_laptop}"
    );
    assert_eq!(phone_view[0].0, laptop_view[0].0);

    let created: Vec<&str> = from_phone["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["created_at"].as_str().unwrap())
        .collect();
    assert!(created[0] > created[1], "newest first: {created:?}");

    for session in from_phone["sessions"].as_array().unwrap() {
        let keys: Vec<&str> = session.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "created_at",
                "current",
                "handle",
                "ip",
                "last_seen",
                "signed_in_at",
                "user_agent"
            ]
        );
        for field in ["created_at", "signed_in_at", "last_seen"] {
            let time = session[field].as_str().unwrap();
            assert_eq!(time.len(), 20, "{time}");
            assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
        }
    }
}

#[tokio::test]
async fn a_device_shows_its_sign_in_time_apart_from_when_it_began_browsing() {
    let clock = ManualClock::new();
    let server = with_clock(&clock).await;
    let client = server.client();
    client.post("/cart", json!({ "id": "socks", "qty": 1 })).await;
    clock.advance(Duration::from_secs(90));
    client.login("alice").await;
    let listed = client.get("/auth/sessions").await.json();
    let device = &listed["sessions"][0];
    let created = device["created_at"].as_str().unwrap();
    let signed_in = device["signed_in_at"].as_str().unwrap();
    assert!(created < signed_in, "{device}");
    assert_eq!(device["last_seen"].as_str().unwrap(), signed_in, "{device}");
}

#[tokio::test]
async fn revoking_another_device_signs_it_out() {
    let server = TestServer::start().await;
    let laptop = signed_in(&server, "alice").await;
    let phone = signed_in(&server, "alice").await;
    let sessions = laptop.get("/auth/sessions").await.json();
    let (phone_handle, _) = handles(&sessions).into_iter().find(|(_, current)| !current).unwrap();

    let response = laptop.delete(&format!("/auth/sessions/{phone_handle}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json(), json!({ "message": "Session revoked" }));
    phone.get("/auth/me").await.expect_error(StatusCode::UNAUTHORIZED);
    assert_eq!(laptop.get("/auth/me").await.status, StatusCode::OK);
    assert_eq!(handles(&laptop.get("/auth/sessions").await.json()).len(), 1);
}

#[tokio::test]
async fn revoking_a_handle_that_is_not_yours_is_404() {
    let server = TestServer::start().await;
    let alice = signed_in(&server, "alice").await;
    let bob = signed_in(&server, "bob").await;
    let bobs = handles(&bob.get("/auth/sessions").await.json());

    let response = alice.delete(&format!("/auth/sessions/{}", bobs[0].0)).await;
    response.expect_error(StatusCode::NOT_FOUND);
    alice
        .delete("/auth/sessions/not-a-handle")
        .await
        .expect_error(StatusCode::NOT_FOUND);
    assert_eq!(
        bob.get("/auth/me").await.status,
        StatusCode::OK,
        "bob is still signed in"
    );
}

#[tokio::test]
async fn revoking_the_current_session_clears_its_cookie() {
    let server = TestServer::start().await;
    let client = signed_in(&server, "alice").await;
    let sessions = client.get("/auth/sessions").await.json();
    let (mine, _) = handles(&sessions).into_iter().find(|(_, current)| *current).unwrap();
    let response = client.delete(&format!("/auth/sessions/{mine}")).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(client.cookie("sid").is_none(), "{:?}", response.set_cookies());
    client.get("/auth/me").await.expect_error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_all_signs_out_every_device_of_the_user() {
    let server = TestServer::start().await;
    let first = signed_in(&server, "alice").await;
    let second = signed_in(&server, "alice").await;
    let bob = signed_in(&server, "bob").await;

    let response = first.post_empty("/auth/logout-all").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({ "message": "Logged out everywhere", "destroyed": 2 })
    );
    assert!(first.cookie("sid").is_none(), "the caller's cookie is cleared");
    first.get("/auth/me").await.expect_error(StatusCode::UNAUTHORIZED);
    second.get("/auth/me").await.expect_error(StatusCode::UNAUTHORIZED);
    assert_eq!(bob.get("/auth/me").await.status, StatusCode::OK, "other users stay");
}

// --- cart ----------------------------------------------------------------------

#[tokio::test]
async fn cart_is_empty_for_a_new_anonymous_visitor() {
    let server = TestServer::start().await;
    let response = server.client().get("/cart").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "items": [] }));
    assert!(response.session_cookie().is_none());
}

#[tokio::test]
async fn cart_add_returns_the_cart_and_sums_quantities_of_one_id() {
    let server = TestServer::start().await;
    let client = server.client();
    let first = client.post("/cart", json!({ "id": "socks", "qty": 2 })).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json(), json!({ "items": [{ "id": "socks", "qty": 2 }] }));
    client.post("/cart", json!({ "id": "hat", "qty": 1 })).await;
    let third = client.post("/cart", json!({ "id": "socks", "qty": 3 })).await;
    let expected = json!({ "items": [{ "id": "socks", "qty": 5 }, { "id": "hat", "qty": 1 }] });
    assert_eq!(third.json(), expected);
    assert_eq!(client.get("/cart").await.json(), expected);
}

#[tokio::test]
async fn cart_add_rejects_bad_quantities_and_ids() {
    let server = TestServer::start().await;
    let client = server.client();
    let long_id = "x".repeat(65);
    for body in [
        json!({ "id": "socks", "qty": 0 }),
        json!({ "id": "socks", "qty": 100 }),
        json!({ "id": "socks", "qty": -1 }),
        json!({ "id": "socks", "qty": 1.5 }),
        json!({ "id": "socks", "qty": "2" }),
        json!({ "id": "socks" }),
        json!({ "id": "", "qty": 1 }),
        json!({ "id": long_id, "qty": 1 }),
        json!({ "id": 7, "qty": 1 }),
    ] {
        let response = client.post("/cart", body.clone()).await;
        response.expect_error(StatusCode::BAD_REQUEST);
    }
    assert_eq!(client.get("/cart").await.json(), json!({ "items": [] }));
    let max_id = "y".repeat(64);
    let response = client.post("/cart", json!({ "id": max_id, "qty": 99 })).await;
    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn cart_add_refuses_more_than_99_of_one_item_in_total() {
    let server = TestServer::start().await;
    let client = server.client();
    client.post("/cart", json!({ "id": "socks", "qty": 60 })).await;
    client
        .post("/cart", json!({ "id": "socks", "qty": 40 }))
        .await
        .expect_error(StatusCode::BAD_REQUEST);
    assert_eq!(
        client.get("/cart").await.json(),
        json!({ "items": [{ "id": "socks", "qty": 60 }] })
    );
}

#[tokio::test]
async fn cart_delete_removes_the_item_and_returns_the_cart() {
    let server = TestServer::start().await;
    let client = server.client();
    client.post("/cart", json!({ "id": "socks", "qty": 2 })).await;
    client.post("/cart", json!({ "id": "a b/c", "qty": 1 })).await;
    let response = client.delete("/cart/a%20b%2Fc").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "items": [{ "id": "socks", "qty": 2 }] }));
    let response = client.delete("/cart/not-there").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "items": [{ "id": "socks", "qty": 2 }] }));
}

// --- checkout ------------------------------------------------------------------

#[tokio::test]
async fn checkout_starts_at_shipping() {
    let server = TestServer::start().await;
    let response = server.client().get("/checkout").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "step": "shipping" }));
}

#[tokio::test]
async fn checkout_advances_one_step_at_a_time_to_review() {
    let server = TestServer::start().await;
    let client = server.client();
    for step in ["payment", "review"] {
        let response = client.post("/checkout/advance", json!({ "step": step })).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(response.json(), json!({ "step": step }));
        assert_eq!(client.get("/checkout").await.json(), json!({ "step": step }));
    }
    client
        .post("/checkout/advance", json!({ "step": "review" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn checkout_rejects_skipped_repeated_backward_and_unknown_steps() {
    let server = TestServer::start().await;
    let client = server.client();
    for step in ["review", "shipping", "dessert", ""] {
        client
            .post("/checkout/advance", json!({ "step": step }))
            .await
            .expect_error(StatusCode::BAD_REQUEST);
    }
    client
        .post("/checkout/advance", json!({ "stage": "payment" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST);
    client.post("/checkout/advance", json!({ "step": "payment" })).await;
    client
        .post("/checkout/advance", json!({ "step": "shipping" }))
        .await
        .expect_error(StatusCode::BAD_REQUEST);
    assert_eq!(client.get("/checkout").await.json(), json!({ "step": "payment" }));
}

#[tokio::test]
async fn checkout_reset_goes_back_to_shipping() {
    let server = TestServer::start().await;
    let client = server.client();
    client.post("/checkout/advance", json!({ "step": "payment" })).await;
    let response = client.post_empty("/checkout/reset").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "step": "shipping" }));
    assert_eq!(client.get("/checkout").await.json(), json!({ "step": "shipping" }));
}

// --- prefs ---------------------------------------------------------------------

#[tokio::test]
async fn prefs_keep_any_json_value_and_list_as_one_object() {
    let server = TestServer::start().await;
    let client = server.client();
    assert_eq!(client.get("/prefs").await.json(), json!({}));
    let values = [
        ("theme", json!("dark")),
        ("font-size", json!(14)),
        ("beta_features", json!({ "a": [1, true, null] })),
        ("nothing", Value::Null),
    ];
    for (name, value) in &values {
        let response = client.put(&format!("/prefs/{name}"), value.clone()).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(response.json(), json!({ "name": name, "value": value }));
    }
    client.put("/prefs/theme", json!("light")).await;
    client.post("/cart", json!({ "id": "socks", "qty": 1 })).await;
    assert_eq!(
        client.get("/prefs").await.json(),
        json!({
            "theme": "light",
            "font-size": 14,
            "beta_features": { "a": [1, true, null] },
            "nothing": null,
        })
    );
}

#[tokio::test]
async fn prefs_reject_invalid_names() {
    let server = TestServer::start().await;
    let client = server.client();
    let too_long = "n".repeat(65);
    for name in ["a.b", "a%20b", "th%C3%A8me", "semi%3Bcolon", too_long.as_str()] {
        let response = client.put(&format!("/prefs/{name}"), json!(1)).await;
        response.expect_error(StatusCode::BAD_REQUEST);
    }
    let longest = "n".repeat(64);
    assert_eq!(
        client.put(&format!("/prefs/{longest}"), json!(1)).await.status,
        StatusCode::OK
    );
    assert_eq!(client.get("/prefs").await.json().as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn prefs_put_needs_a_json_body() {
    let server = TestServer::start().await;
    let client = server.client();
    client
        .send_raw(Method::PUT, "/prefs/theme", Some("application/json"), "dark")
        .await
        .expect_error(StatusCode::BAD_REQUEST);
    client
        .send_raw(Method::PUT, "/prefs/theme", None, "\"dark\"")
        .await
        .expect_error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn prefs_put_makes_one_store_call_and_no_load() {
    let store = ProbeStore::default();
    let probe = store.clone();
    let server = TestServer::start_with(|mut config| {
        config.session = config.session.store(store);
        config
    })
    .await;
    let client = server.client();
    client.post("/cart", json!({ "id": "socks", "qty": 1 })).await;
    probe.take_calls();

    let response = client.put("/prefs/theme", json!("dark")).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(probe.take_calls(), ["commit_or_create"]);
    assert_eq!(client.get("/prefs").await.json(), json!({ "theme": "dark" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_pref_writes_on_one_session_are_all_kept() {
    let server = TestServer::start().await;
    let client = server.client();
    client.post("/cart", json!({ "id": "socks", "qty": 1 })).await;
    let ticket = client.cookie("sid").expect("a session");

    let mut writes = JoinSet::new();
    for i in 0..100 {
        let writer = client.fork();
        writes.spawn(async move { writer.put(&format!("/prefs/p{i}"), json!(i)).await });
    }
    while let Some(done) = writes.join_next().await {
        let response = done.expect("the write task ran");
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        // The response may re-send the cookie (a fresh Max-Age), but only with the
        // same ticket: no write started a session of its own.
        if let Some(cookie) = response.session_cookie() {
            assert!(cookie.starts_with(&format!("sid={ticket};")), "{cookie}");
        }
    }

    assert_eq!(client.cookie("sid").as_deref(), Some(ticket.as_str()));
    let prefs = client.get("/prefs").await.json();
    let prefs = prefs.as_object().unwrap();
    assert_eq!(prefs.len(), 100);
    for i in 0..100 {
        assert_eq!(prefs[&format!("p{i}")], json!(i));
    }
    assert_eq!(
        client.get("/cart").await.json(),
        json!({ "items": [{ "id": "socks", "qty": 1 }] })
    );
}

// --- header transport ------------------------------------------------------------

#[tokio::test]
async fn header_transport_login_answers_with_a_ticket_header_and_no_cookie() {
    let server = TestServer::start().await;
    let client = server.client();
    let response = client
        .send(
            Method::POST,
            "/auth/login",
            Some(json!({ "username": "alice", "password": "alice-pass" })),
            &[("X-Session-Id", "")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let ticket = response.header("x-session-id").expect("a ticket in X-Session-Id");
    assert!(!ticket.is_empty());
    assert!(response.set_cookies().is_empty(), "{:?}", response.set_cookies());
}

#[tokio::test]
async fn header_transport_ticket_signs_in_later_requests() {
    let server = TestServer::start().await;
    let client = server.client();
    let login = client
        .send(
            Method::POST,
            "/auth/login",
            Some(json!({ "username": "bob", "password": "bob-pass" })),
            &[("X-Session-Id", "")],
        )
        .await;
    let ticket = login.header("x-session-id").unwrap();

    let me = client
        .send(Method::GET, "/auth/me", None, &[("X-Session-Id", ticket.as_str())])
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json(), json!({ "id": "bob", "role": "user" }));
    assert!(me.set_cookies().is_empty());

    let cart = client
        .send(
            Method::POST,
            "/cart",
            Some(json!({ "id": "socks", "qty": 1 })),
            &[("X-Session-Id", ticket.as_str())],
        )
        .await;
    assert_eq!(cart.status, StatusCode::OK);
    assert_eq!(cart.header("x-session-id").as_deref(), Some(ticket.as_str()));
    assert!(cart.set_cookies().is_empty());

    // Without the header the same client is anonymous: nothing was put in a cookie.
    client.get("/auth/me").await.expect_error(StatusCode::UNAUTHORIZED);
}

// --- no lost writes, no race that signs a user out, no shared caching ----------

#[tokio::test]
async fn fifty_concurrent_adds_of_different_items_are_all_in_the_cart() {
    let server = TestServer::start().await;
    let client = server.client();
    client.post("/cart", json!({ "id": "first", "qty": 1 })).await;
    let mut adds = JoinSet::new();
    for i in 0..50 {
        let client = client.fork();
        adds.spawn(async move {
            let response = client
                .post("/cart", json!({ "id": format!("item-{i:02}"), "qty": 1 }))
                .await;
            (i, response.status)
        });
    }
    let mut accepted = Vec::new();
    while let Some(done) = adds.join_next().await {
        let (i, status) = done.unwrap();
        match status {
            StatusCode::OK => accepted.push(i),
            StatusCode::CONFLICT => {}
            other => panic!("an add answered {other}"),
        }
    }
    let cart = client.get("/cart").await.json();
    let held: Vec<&str> = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    for i in &accepted {
        assert!(
            held.contains(&format!("item-{i:02}").as_str()),
            "item-{i:02} was acknowledged"
        );
    }
    println!("{} of 50 concurrent adds of different items accepted", accepted.len());
    assert_eq!(accepted.len(), 50, "adds of different items never conflict");
    assert_eq!(held.len(), 51);
}

#[tokio::test]
async fn concurrent_adds_of_one_item_add_up_and_never_pass_99() {
    let server = TestServer::start().await;
    let client = server.client();
    client.post("/cart", json!({ "id": "socks", "qty": 1 })).await;
    let mut adds = JoinSet::new();
    for _ in 0..20 {
        let client = client.fork();
        adds.spawn(async move { client.post("/cart", json!({ "id": "socks", "qty": 10 })).await.status });
    }
    let mut accepted = 0;
    while let Some(done) = adds.join_next().await {
        match done.unwrap() {
            StatusCode::OK => accepted += 1,
            StatusCode::CONFLICT | StatusCode::BAD_REQUEST => {}
            other => panic!("an add answered {other}"),
        }
    }
    assert_eq!(accepted, 9, "nine tens fit beside the first sock");
    assert_eq!(
        client.get("/cart").await.json(),
        json!({ "items": [{ "id": "socks", "qty": 91 }] })
    );
}

#[tokio::test]
async fn a_write_with_the_ticket_from_before_sign_in_answers_409_and_keeps_the_new_cookie() {
    let server = TestServer::start().await;
    let client = server.client();
    client.post("/cart", json!({ "id": "socks", "qty": 2 })).await;
    let anonymous = client.cookie("sid").unwrap();
    client.login("alice").await;

    // A tab that sent its request before the sign-in's cookie arrived.
    let late = server.client();
    late.set_cookie("sid", &anonymous);
    let response = late.post("/cart", json!({ "id": "hat", "qty": 1 })).await;
    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(
        response.json(),
        json!({ "error": "the session changed during this request; try again" })
    );
    assert!(
        response.set_cookies().is_empty(),
        "no removal cookie: {:?}",
        response.set_cookies()
    );
    let read = late.get("/cart").await;
    assert_eq!(
        read.json(),
        json!({ "items": [] }),
        "the stale ticket reads as a new visitor"
    );
    assert!(read.set_cookies().is_empty());

    assert_eq!(
        client.get("/auth/me").await.status,
        StatusCode::OK,
        "alice is still signed in"
    );
    assert_eq!(
        client.get("/cart").await.json(),
        json!({ "items": [{ "id": "socks", "qty": 2 }] }),
        "the late add went nowhere"
    );
}

#[tokio::test]
async fn two_concurrent_sign_ins_on_one_anonymous_ticket_never_answer_2xx_without_a_ticket() {
    for _round in 0..3 {
        let server = TestServer::start().await;
        let browser = server.client();
        browser.post("/cart", json!({ "id": "socks", "qty": 1 })).await;
        let (first, second) = (browser.fork(), browser.fork());
        let (a, b) = tokio::join!(first.login_attempt("alice"), second.login_attempt("bob"));
        let mut signed_in = 0;
        for (user, response, client) in [("alice", a, first), ("bob", b, second)] {
            match response.status {
                StatusCode::OK => {
                    let cookie = response.session_cookie().expect("a 2xx sign-in sets its ticket");
                    assert!(!cookie.contains("Max-Age=0"), "{cookie}");
                    let me = client.get("/auth/me").await;
                    assert_eq!(me.json()["id"], user, "bound to who signed in");
                    signed_in += 1;
                }
                StatusCode::CONFLICT => assert!(response.set_cookies().is_empty()),
                other => panic!("a sign-in answered {other}: {}", response.text()),
            }
        }
        assert!(signed_in >= 1);
    }
}

#[tokio::test]
async fn personalised_responses_vary_on_the_cookie_and_are_private() {
    let server = TestServer::start().await;
    let client = server.client();
    client.login("alice").await;
    for path in ["/auth/me", "/auth/sessions", "/cart", "/prefs", "/checkout"] {
        let response = client.get(path).await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert_eq!(response.header("vary").as_deref(), Some("cookie"), "{path}");
        assert_eq!(
            response.header("cache-control").as_deref(),
            Some("private, no-store"),
            "{path}"
        );
    }
    let page = client.get("/").await;
    assert_eq!(page.header("vary").as_deref(), Some("cookie"));
    let health = client.get("/healthz").await;
    assert_eq!(health.header("vary"), None, "no session read, nothing personal");
}

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_format_without_ids() {
    let server = TestServer::start().await;
    let client = signed_in(&server, "alice").await;
    client.post("/cart", json!({ "id": "socks", "qty": 1 })).await;
    client.get("/cart").await;
    let response = server.client().get("/metrics").await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.header("content-type").unwrap().starts_with("text/plain"));
    let text = response.text();
    for name in [
        "cloakroom_store_loads_total",
        "cloakroom_store_commits_total",
        "cloakroom_sessions_created_total",
        "cloakroom_store_call_seconds",
    ] {
        assert!(text.contains(name), "{name} in {text}");
    }
    assert!(text.contains(r#"store=""#), "labelled by store: {text}");
    assert!(
        text.contains("cloakroom_store_call_seconds_bucket{"),
        "call times are a histogram with buckets: {text}"
    );
    let ticket = client.cookie("sid").unwrap();
    assert!(
        !text.contains(&ticket) && !text.contains("alice"),
        "no ID, no user: {text}"
    );
}

#[tokio::test]
async fn sessions_list_their_browser_and_address() {
    let server = TestServer::start().await;
    let client = server.client();
    let credentials = json!({ "username": "alice", "password": "alice-pass" });
    let login = client
        .send(
            Method::POST,
            "/auth/login",
            Some(credentials),
            &[("user-agent", "DemoTest/1.0")],
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let sessions = client.get("/auth/sessions").await.json();
    let entry = &sessions["sessions"][0];
    assert_eq!(entry["user_agent"], "DemoTest/1.0", "{sessions}");
    assert_eq!(entry["ip"], "127.0.0.1", "{sessions}");
}

#[tokio::test]
async fn logout_others_ends_the_other_sessions_and_keeps_this_one() {
    let server = TestServer::start().await;
    let phone = signed_in(&server, "alice").await;
    let laptop = signed_in(&server, "alice").await;
    let tablet = signed_in(&server, "alice").await;
    let answer = laptop.post_empty("/auth/logout-others").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!({ "destroyed": 2 }));
    assert_eq!(laptop.get("/auth/me").await.status, StatusCode::OK);
    assert_eq!(phone.get("/auth/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(tablet.get("/auth/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        laptop.get("/auth/sessions").await.json()["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let anonymous = server.client().post_empty("/auth/logout-others").await;
    assert_eq!(anonymous.expect_error(StatusCode::UNAUTHORIZED), "not signed in");
}

#[tokio::test]
async fn a_write_past_the_64_kib_session_cap_is_413_and_the_session_keeps_working() {
    let server = TestServer::start().await;
    let client = server.client();
    client.post("/cart", json!({ "id": "socks", "qty": 1 })).await;
    // Preferences are written blind (no read): each request sees its own 15 kB only.
    for i in 0..5 {
        let put = client.put(&format!("/prefs/p{i}"), json!("x".repeat(15_000))).await;
        assert_eq!(put.status, StatusCode::OK);
    }
    // The next request that reads the session sees 75 kB: its write is refused.
    let refused = client.post("/cart", json!({ "id": "hat", "qty": 1 })).await;
    assert_eq!(refused.expect_error(StatusCode::PAYLOAD_TOO_LARGE), "session too large");
    let cart = client.get("/cart").await;
    assert_eq!(cart.status, StatusCode::OK);
    assert_eq!(
        cart.json(),
        json!({ "items": [{ "id": "socks", "qty": 1 }] }),
        "nothing of it applied"
    );
    assert_eq!(client.get("/prefs").await.status, StatusCode::OK);
}

#[tokio::test]
async fn signing_in_without_remember_gives_a_browser_session_cookie_that_stays_one() {
    let server = TestServer::start().await;
    let browser = server.client();
    let credentials = json!({ "username": "alice", "password": "alice-pass", "remember": false });
    let login = browser.post("/auth/login", credentials).await;
    assert_eq!(login.status, StatusCode::OK);
    let cookie = login.session_cookie().expect("a cookie");
    assert!(!cookie.contains("Max-Age"), "a browser-session cookie: {cookie}");
    assert_eq!(browser.get("/auth/me").await.json()["id"], "alice");
    let remembered = server.client();
    let cookie = remembered.login("bob").await.session_cookie().expect("a cookie");
    assert!(cookie.contains("Max-Age="), "remembered by default: {cookie}");
}
