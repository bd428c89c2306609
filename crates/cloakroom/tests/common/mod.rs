//! Shared helpers for the layer tests: a test app, a cookie-keeping client, and
//! stores that count or fail.
#![allow(dead_code)]

mod contract;
mod logs;
mod outage;

/// The layer's contracts every store passes (flash, CSRF, devices, the size cap,
/// per-session persistence), as one `#[test]` each in a module `contracts`.
/// `$setup` is an async block giving a guard that keeps the store's backend up
/// for the test, and a configuration over the store; it runs once per test.
#[macro_export]
macro_rules! cloakroom_layer_contracts {
    ($setup:expr) => {
        mod contracts {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn flash_messages_are_shown_once_and_never_lost() {
                let (_backend, config) = $setup.await;
                $crate::common::assert_flash_shown_once_and_never_lost($crate::common::app(config.build().unwrap()))
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn csrf_tokens_are_bound_to_the_visitor() {
                let (_backend, config) = $setup.await;
                $crate::common::assert_csrf_tokens_bound_to_the_visitor($crate::common::app(config.build().unwrap()))
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn devices_are_recorded_and_other_sessions_can_be_ended() {
                let (_backend, config) = $setup.await;
                $crate::common::assert_devices_recorded_and_others_ended(config).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_size_cap_applies_nothing_past_it() {
                let (_backend, config) = $setup.await;
                $crate::common::assert_the_size_cap_applies_nothing_past_it($crate::common::app(
                    config.build().unwrap(),
                ))
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn persistence_is_chosen_per_session_and_survives_regenerate() {
                let (_backend, config) = $setup.await;
                $crate::common::assert_persistence_per_session_survives_regenerate($crate::common::app(
                    config.build().unwrap(),
                ))
                .await;
            }
        }
    };
}

#[allow(unused_imports)]
pub use contract::{
    Peer, assert_concurrent_writes_kept_and_logout_final, assert_csrf_tokens_bound_to_the_visitor,
    assert_devices_recorded_and_others_ended, assert_flash_shown_once_and_never_lost,
    assert_persistence_per_session_survives_regenerate, assert_sessions_survive_a_restart,
    assert_the_size_cap_applies_nothing_past_it,
};
#[allow(unused_imports)]
pub use logs::{Buffer, capture_logs};
#[allow(unused_imports)]
pub use outage::{Traffic, assert_down, until_served};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::{get, post, put};
use cloakroom::store::{
    ChangeSet, CommitOutcome, FreshSession, Loaded, SessionRecord, SessionStore, StoreError, StoreKey, Touch,
    UserSession,
};
use cloakroom::{
    CsrfForm, CsrfGuard, CsrfToken, Flash, MemoryStore, Session, SessionConfig, SessionLayer, SessionWriter, SignedIn,
};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const SECRET: &[u8] = b"test-secret-of-at-least-thirty-two-bytes";
pub const OLD_SECRET: &[u8] = b"older-test-secret-of-at-least-thirty-two-bytes";

/// Routes exercising every part of the session API.
pub fn routes() -> Router {
    Router::new()
        .route("/noop", get(|| async { "no session here" }))
        .route("/peek", get(|_session: Session| async { "looked" }))
        .route("/get/{key}", get(get_key))
        .route("/set/{key}", put(set_key).delete(remove_key))
        .route("/write-only/{key}", put(write_only))
        .route("/keys", get(|s: Session| async move { axum::Json(s.keys()) }))
        .route("/regenerate", post(|s: Session| async move { s.regenerate() }))
        .route("/destroy", post(|s: Session| async move { s.destroy() }))
        .route("/touch", post(|s: Session| async move { s.touch() }))
        .route("/login/{user}", post(login))
        .route("/login-browser/{user}", post(login_browser))
        .route("/persistent/{persistent}", post(set_persistent))
        .route("/whoami", get(|SignedIn { user, .. }: SignedIn| async move { user }))
        .route("/fail", post(fail_after_write))
        .route("/store-fails", get(|| async { store_failure() }))
        .route("/save-then-store-fails", post(save_then_store_failure))
        .route("/is-new", get(|s: Session| async move { s.is_new().to_string() }))
        .route("/flash/{message}", post(push_flash))
        .route("/csrf", get(|csrf: CsrfToken| async move { csrf.token() }))
        .route(
            "/csrf/json",
            post(|_guard: CsrfGuard, s: Session| async move { s.insert("guarded", true) }),
        )
        .route("/csrf/form", post(csrf_form))
        .route("/flash", get(|flash: Flash| async move { axum::Json(flash.take()) }))
}

#[derive(serde::Deserialize)]
struct NameForm {
    name: String,
}

async fn csrf_form(session: Session, CsrfForm(form): CsrfForm<NameForm>) -> Result<(), cloakroom::Error> {
    session.insert("name", form.name)
}

async fn push_flash(flash: Flash, Path(message): Path<String>) -> Result<(), cloakroom::Error> {
    flash.push(message)
}

async fn get_key(session: Session, Path(key): Path<String>) -> Result<axum::Json<Value>, cloakroom::Error> {
    Ok(axum::Json(session.get::<Value>(&key)?.unwrap_or(Value::Null)))
}

async fn set_key(
    session: Session,
    Path(key): Path<String>,
    axum::Json(value): axum::Json<Value>,
) -> Result<(), cloakroom::Error> {
    session.insert(key, value)
}

async fn remove_key(session: Session, Path(key): Path<String>) -> Result<String, cloakroom::Error> {
    Ok(session.remove(&key)?.to_string())
}

async fn write_only(
    writer: SessionWriter,
    Path(key): Path<String>,
    axum::Json(value): axum::Json<Value>,
) -> Result<(), cloakroom::Error> {
    writer.insert(key, value)
}

async fn login(session: Session, Path(user): Path<String>) {
    session.regenerate();
    session.set_user(user);
}

/// A sign-in without "remember me": a browser-session cookie.
async fn login_browser(session: Session, Path(user): Path<String>) {
    session.regenerate();
    session.set_user(user);
    session.set_persistent(false);
}

async fn set_persistent(session: Session, Path(persistent): Path<bool>) {
    session.set_persistent(persistent);
}

/// What a handler answers when a store call of its own failed.
fn store_failure() -> Result<(), cloakroom::Error> {
    Err(StoreError::unavailable("the handler's own store call failed").into())
}

/// Stores `a = 1` with `save()`, then fails as a store call would.
async fn save_then_store_failure(session: Session) -> Result<(), cloakroom::Error> {
    session.insert("a", 1)?;
    session.save().await?;
    store_failure()
}

async fn fail_after_write(session: Session) -> StatusCode {
    session.insert("doomed", 1).unwrap();
    StatusCode::INTERNAL_SERVER_ERROR
}

/// The library defaults with the test secret.
pub fn config() -> SessionConfig {
    SessionLayer::builder(SECRET.to_vec())
}

pub fn app(layer: SessionLayer) -> Router {
    routes().layer(layer)
}

/// The test app with `POST /logout-all`: destroys every session of the signed-in
/// user through the manager, the current one too, and answers how many went.
pub fn app_with_logout_all(layer: SessionLayer) -> Router {
    let manager = layer.manager();
    Router::new()
        .route(
            "/logout-all",
            post(move |s: Session| {
                let manager = manager.clone();
                async move {
                    let user = s.user().unwrap();
                    let n = manager.destroy_user(&user).await.unwrap();
                    s.destroy();
                    n.to_string()
                }
            }),
        )
        .merge(routes())
        .layer(layer)
}

/// A response with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Set-Cookie` headers of the response.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The single `Set-Cookie` header, if any.
    pub fn set_cookie(&self) -> Option<String> {
        let all = self.set_cookies();
        assert!(all.len() <= 1, "more than one Set-Cookie: {all:?}");
        all.into_iter().next()
    }

    /// The ticket value set by the response (`None` if no cookie or a removal).
    pub fn ticket(&self) -> Option<String> {
        let cookie = self.session_cookie()?;
        let value = cookie.split(';').next()?.split_once('=')?.1.to_owned();
        (!value.is_empty()).then_some(value)
    }

    pub fn removes_cookie(&self) -> bool {
        self.session_cookie()
            .is_some_and(|c| c.starts_with("sid=;") && c.contains("Max-Age=0"))
    }

    /// The single `Set-Cookie` of the session cookie (`sid`), if any.
    pub fn session_cookie(&self) -> Option<String> {
        let all: Vec<String> = self
            .set_cookies()
            .into_iter()
            .filter(|c| c.starts_with("sid="))
            .collect();
        assert!(all.len() <= 1, "more than one session Set-Cookie: {all:?}");
        all.into_iter().next()
    }

    /// The value the pre-session CSRF cookie (`sid_csrf`) is set to, if it is.
    pub fn presession_cookie(&self) -> Option<String> {
        self.set_cookies().into_iter().find_map(|c| {
            c.strip_prefix("sid_csrf=")
                .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
        })
    }
}

/// Sends `n` concurrent `PUT /set/k{i}` requests on the client's session (each
/// must answer 200); returns the cookie pair they sent.
pub async fn write_keys_concurrently(client: &Client, n: usize) -> String {
    let cookie = format!("sid={}", client.ticket.clone().expect("a session"));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let app = client.app.clone();
            let cookie = cookie.clone();
            tokio::spawn(async move {
                send(&app, "PUT", &format!("/set/k{i}"), Some(&cookie), Some(Value::from(i)))
                    .await
                    .status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    cookie
}

/// Sends one request with an optional raw `Cookie` header.
pub async fn send(app: &Router, method: &str, uri: &str, cookie: Option<&str>, body: Option<Value>) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let request = match body {
        Some(json) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    send_request(app, request).await
}

pub async fn send_request(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A browser-like client that keeps the `sid` cookie between requests.
#[derive(Clone)]
pub struct Client {
    pub app: Router,
    pub ticket: Option<String>,
}

impl Client {
    pub fn new(app: Router) -> Self {
        Self { app, ticket: None }
    }

    pub async fn send(&mut self, method: &str, uri: &str, body: Option<Value>) -> Reply {
        let cookie = self.ticket.as_ref().map(|t| format!("sid={t}"));
        let reply = send(&self.app, method, uri, cookie.as_deref(), body).await;
        if reply.removes_cookie() {
            self.ticket = None;
        } else if let Some(ticket) = reply.ticket() {
            self.ticket = Some(ticket);
        }
        reply
    }

    pub async fn get(&mut self, uri: &str) -> Reply {
        self.send("GET", uri, None).await
    }

    pub async fn put(&mut self, uri: &str, body: Value) -> Reply {
        self.send("PUT", uri, Some(body)).await
    }

    pub async fn post(&mut self, uri: &str) -> Reply {
        self.send("POST", uri, None).await
    }
}

/// Counts the calls made to the store it wraps.
#[derive(Debug, Default)]
pub struct Calls {
    pub load: AtomicUsize,
    pub create: AtomicUsize,
    pub commit: AtomicUsize,
    pub commit_or_create: AtomicUsize,
    pub regenerate: AtomicUsize,
    pub delete: AtomicUsize,
}

impl Calls {
    pub fn total(&self) -> usize {
        [
            &self.load,
            &self.create,
            &self.commit,
            &self.commit_or_create,
            &self.regenerate,
            &self.delete,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }

    pub fn reset(&self) {
        for c in [
            &self.load,
            &self.create,
            &self.commit,
            &self.commit_or_create,
            &self.regenerate,
            &self.delete,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }
}

#[derive(Debug, Clone)]
pub struct CountingStore {
    pub inner: MemoryStore,
    pub calls: Arc<Calls>,
    /// When set, every call fails as if the backend were down.
    pub down: Arc<AtomicBool>,
}

impl CountingStore {
    pub fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            calls: Arc::default(),
            down: Arc::default(),
        }
    }

    fn call(&self, counter: &AtomicUsize) -> Result<(), StoreError> {
        counter.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(std::io::Error::other("connection refused")));
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for CountingStore {
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        self.call(&self.calls.load)?;
        self.inner.load(key, touch).await
    }
    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        self.call(&self.calls.create)?;
        self.inner.create(key, record).await
    }
    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        self.call(&self.calls.commit)?;
        self.inner.commit(key, changes).await
    }
    async fn commit_or_create(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        fresh: &FreshSession,
    ) -> Result<CommitOutcome, StoreError> {
        self.call(&self.calls.commit_or_create)?;
        self.inner.commit_or_create(key, changes, fresh).await
    }
    async fn regenerate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        self.call(&self.calls.regenerate)?;
        self.inner.regenerate(old, new, changes).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.call(&self.calls.delete)?;
        self.inner.delete(key).await
    }
    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        self.inner.purge_expired(now).await
    }
    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        self.inner.list_user(user, now).await
    }
    async fn delete_user(&self, user: &str) -> Result<usize, StoreError> {
        self.inner.delete_user(user).await
    }
    async fn count(&self, now: SystemTime) -> Result<usize, StoreError> {
        self.inner.count(now).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(std::io::Error::other("connection refused")));
        }
        Ok(())
    }
}

/// An express cookie for `sid`, signed with `secret` as cookie-signature does.
pub fn express_cookie(sid: &str, secret: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(sid.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD_NO_PAD.encode(mac.finalize().into_bytes());
    format!(
        "connect.sid=s%3A{sid}.{}",
        signature.replace('+', "%2B").replace('/', "%2F")
    )
}

/// Writes `json` under `key` in `redis` for `ttl`, as connect-redis does.
#[cfg(feature = "redis")]
pub async fn put_record(redis: &cloakroom_testing::RedisServer, key: &str, json: &str, ttl: std::time::Duration) {
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let () = redis::cmd("SET")
        .arg(key)
        .arg(json)
        .arg("PX")
        .arg(ttl.as_millis() as u64)
        .query_async(&mut conn)
        .await
        .unwrap();
}
