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

/// A request with a raw `Cookie` header, a body and its content type, and extra
/// headers.
async fn raw(
    app: &Router,
    uri: &str,
    cookie: &str,
    body: &str,
    content_type: &str,
    headers: &[(&str, &str)],
) -> super::Reply {
    let mut request = axum::http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("cookie", cookie)
        .header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    super::send_request(app, request.body(axum::body::Body::from(body.to_owned())).unwrap()).await
}

/// `POST /csrf/form` with a raw `Cookie` header and an HTML form body.
async fn post_form(app: &Router, cookie: &str, body: &str) -> super::Reply {
    raw(
        app,
        "/csrf/form",
        cookie,
        body,
        "application/x-www-form-urlencoded",
        &[],
    )
    .await
}

/// CSRF tokens: an anonymous page view gets a token bound to a pre-session
/// cookie and stores no session; a form or script request passes with the right
/// token only (403 JSON otherwise, changing nothing); a stored session keeps its
/// own token, and `regenerate()` replaces it.
pub async fn assert_csrf_tokens_bound_to_the_visitor(app: Router) {
    // An anonymous page: a token, the pre-session cookie, no session.
    let page = send(&app, "GET", "/csrf", None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.session_cookie().is_none(), "a page view stores no session");
    let nonce = page.presession_cookie().expect("the pre-session cookie");
    let presession = format!("sid_csrf={nonce}");
    let token = page.text();
    assert_eq!(token.len(), 43);
    let again = send(&app, "GET", "/csrf", Some(&presession), None).await;
    assert_eq!(again.text(), token, "the same cookie, the same token");
    assert!(again.presession_cookie().is_none(), "the cookie stands");

    // A sign-in-like form post, anonymous: the right token passes.
    let form = post_form(&app, &presession, &format!("name=ada&_csrf={token}")).await;
    assert_eq!(form.status, StatusCode::OK);
    let session = format!("sid={}", form.ticket().expect("the form's write stores a session"));
    // Without a token, with another's, or without its cookie: 403, nothing written.
    for (cookie, body, error) in [
        (presession.clone(), "name=eve".to_owned(), "missing CSRF token"),
        (
            presession.clone(),
            format!("name=eve&_csrf={}", "A".repeat(43)),
            "invalid CSRF token",
        ),
        (
            String::from("sid_csrf=BBBBBBBBBBBBBBBBBBBBBB"),
            format!("name=eve&_csrf={token}"),
            "invalid CSRF token",
        ),
    ] {
        let refused = post_form(&app, &cookie, &body).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(refused.json(), json!({ "error": error }));
        assert!(refused.session_cookie().is_none(), "nothing stored");
    }
    let not_a_form = raw(
        &app,
        "/csrf/form",
        &presession,
        &format!("{{\"_csrf\":\"{token}\"}}"),
        "application/json",
        &[],
    )
    .await;
    assert_eq!(not_a_form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // The stored session has its own token, kept in the session.
    let both = format!("{session}; {presession}");
    let bound = send(&app, "GET", "/csrf", Some(&both), None).await.text();
    assert_ne!(bound, token);
    assert_eq!(
        send(&app, "GET", "/csrf", Some(&session), None).await.text(),
        bound,
        "kept in the session"
    );
    let keys = send(&app, "GET", "/keys", Some(&session), None).await.json();
    assert!(keys.as_array().unwrap().contains(&json!("scope::csrf")), "{keys}");
    // A script sends it in the header.
    let guarded = raw(
        &app,
        "/csrf/json",
        &session,
        "",
        "application/json",
        &[("x-csrf-token", &bound)],
    )
    .await;
    assert_eq!(guarded.status, StatusCode::OK);
    let unguarded = raw(&app, "/csrf/json", &session, "", "application/json", &[]).await;
    assert_eq!(unguarded.status, StatusCode::FORBIDDEN);
    assert_eq!(
        send(&app, "GET", "/get/name", Some(&session), None).await.json(),
        json!("ada")
    );

    // A sign-in regenerates: a new token, and the old one no longer passes.
    let login = send(&app, "POST", "/login/ada", Some(&session), None).await;
    let session = format!("sid={}", login.ticket().expect("a new ticket"));
    let rotated = send(&app, "GET", "/csrf", Some(&session), None).await.text();
    assert_ne!(rotated, bound, "regenerate draws a new token");
    let stale = raw(
        &app,
        "/csrf/json",
        &session,
        "",
        "application/json",
        &[("x-csrf-token", &bound)],
    )
    .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    let fresh = raw(
        &app,
        "/csrf/json",
        &session,
        "",
        "application/json",
        &[("x-csrf-token", &rotated)],
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK);
}

/// The peer address a test request comes from (what `ConnectInfo` is in an app).
#[derive(Clone, Copy)]
pub struct Peer(pub std::net::IpAddr);

/// `POST /login/{user}` from `peer` with `user_agent` (and an `X-Forwarded-For`);
/// returns the new session's cookie.
async fn sign_in_from(app: &Router, user: &str, peer: &str, user_agent: &str, forwarded: Option<&str>) -> String {
    let mut request = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/login/{user}"))
        .header("user-agent", user_agent);
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let mut request = request.body(axum::body::Body::empty()).unwrap();
    request.extensions_mut().insert(Peer(peer.parse().unwrap()));
    let reply = super::send_request(app, request).await;
    format!("sid={}", reply.ticket().expect("a session"))
}

/// Device details: each sign-in records its `User-Agent` and address (through a
/// trusted proxy, the forwarded client's), the manager lists them, and "sign out
/// my other devices" keeps the current one only.
pub async fn assert_devices_recorded_and_others_ended(config: cloakroom::SessionConfig) {
    let layer = config
        .record_devices(true)
        .client_addr(|ext| ext.get::<Peer>().map(|peer| peer.0))
        .trusted_proxies(["10.0.0.1".parse().unwrap()])
        .build()
        .unwrap();
    let manager = layer.manager();
    let others = layer.manager();
    let app = axum::Router::new()
        .route(
            "/logout-others",
            axum::routing::post(move |session: cloakroom::Session| {
                let manager = others.clone();
                async move {
                    let user = session.user().unwrap();
                    manager
                        .destroy_user_except(&user, &session.id().unwrap())
                        .await
                        .unwrap()
                        .to_string()
                }
            }),
        )
        .merge(super::routes())
        .layer(layer);
    let phone = sign_in_from(&app, "alice", "203.0.113.5", "Phone/1", Some("192.0.2.1")).await;
    let laptop = sign_in_from(&app, "alice", "10.0.0.1", "Laptop/2", Some("198.51.100.9")).await;
    let listed = manager.list_user("alice").await.unwrap();
    for device in &listed {
        let signed_in = device.signed_in_at.expect("a sign-in records its time");
        assert!(
            device.created_at <= signed_in && signed_in <= device.last_seen,
            "{device:?}"
        );
    }
    let mut devices: Vec<(Option<String>, Option<String>)> = listed
        .into_iter()
        .map(|device| (device.user_agent, device.ip))
        .collect();
    devices.sort();
    assert_eq!(
        devices,
        [
            (Some("Laptop/2".to_owned()), Some("198.51.100.9".to_owned())),
            (Some("Phone/1".to_owned()), Some("203.0.113.5".to_owned())),
        ],
        "a direct client's forwarding header is ignored; a trusted proxy's is believed"
    );
    assert_eq!(
        send(&app, "POST", "/logout-others", Some(&laptop), None).await.text(),
        "1"
    );
    assert_eq!(
        send(&app, "GET", "/whoami", Some(&phone), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(send(&app, "GET", "/whoami", Some(&laptop), None).await.text(), "alice");
    assert_eq!(manager.list_user("alice").await.unwrap().len(), 1);
}

/// The size cap (the default 64 KiB): a write that would take the session past it
/// answers 413 JSON and applies nothing of the request, through `Session` and the
/// write-only handle alike; the session keeps working, and removals always pass.
pub async fn assert_the_size_cap_applies_nothing_past_it(app: Router) {
    let mut client = Client::new(app);
    client.put("/set/a", json!(1)).await;
    let too_big = json!("x".repeat(70_000));
    let refused = client.put("/set/big", too_big.clone()).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refused.json(), json!({ "error": "session too large" }));
    let blind = client.put("/write-only/big", too_big).await;
    assert_eq!(blind.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        client.get("/keys").await.json(),
        json!(["a"]),
        "nothing of either was applied"
    );
    assert_eq!(client.get("/get/a").await.json(), json!(1));

    // Under the cap, then past it together.
    assert_eq!(
        client.put("/set/half", json!("y".repeat(40_000))).await.status,
        StatusCode::OK
    );
    let second = client.put("/set/more", json!("z".repeat(30_000))).await;
    assert_eq!(
        second.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "40 000 + 30 000 bytes pass 64 KiB"
    );
    assert_eq!(client.get("/get/more").await.json(), json!(null));
    // A removal shrinks it; then the write fits.
    assert_eq!(
        send(
            &client.app,
            "DELETE",
            "/set/half",
            Some(&format!("sid={}", client.ticket.clone().unwrap())),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        client.put("/set/more", json!("z".repeat(30_000))).await.status,
        StatusCode::OK
    );
}

/// "Remember me" per session: a sign-in that asks for a browser-session cookie
/// gets one (no `Max-Age`) on every later re-send (each regenerate re-sends it),
/// while other sessions keep the layer's persistent cookie.
pub async fn assert_persistence_per_session_survives_regenerate(app: Router) {
    let max_age = |reply: &super::Reply| reply.session_cookie().expect("a cookie").contains("Max-Age=");
    let mut remembered = Client::new(app.clone());
    remembered.put("/set/cart", json!([])).await;
    assert!(
        max_age(&remembered.post("/login/alice").await),
        "the layer's default: persistent"
    );

    let mut browser = Client::new(app);
    browser.put("/set/cart", json!(["apple"])).await;
    let login = browser.post("/login-browser/bob").await;
    assert!(!max_age(&login), "no Max-Age: {:?}", login.session_cookie());
    assert!(!max_age(&browser.post("/regenerate").await), "a regenerate keeps it");
    assert!(!max_age(&browser.post("/regenerate").await), "and the next");
    assert_eq!(browser.get("/whoami").await.text(), "bob");
    assert_eq!(browser.get("/get/cart").await.json(), json!(["apple"]));
    // Changing one's mind: persistent again, sent at once.
    assert!(max_age(&browser.post("/persistent/true").await));
    assert!(max_age(&remembered.post("/regenerate").await));
}
