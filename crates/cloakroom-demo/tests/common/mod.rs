//! Shared helpers for the demo's tests: the demo served on a free port, a small
//! HTTP/1.1 client over hyper with a cookie jar, and a store that records its calls
//! and can fail its health check.
#![allow(dead_code)]

pub mod process;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use cloakroom::store::{
    ChangeSet, CommitOutcome, FreshSession, Loaded, SessionRecord, SessionStore, StoreError, StoreKey, Touch,
    UserSession,
};
use cloakroom::{MemoryStore, SessionManager};
use cloakroom_demo::{DemoConfig, app, serve};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The signing secret of test servers.
pub const SECRET: &str = "a-test-secret-of-at-least-thirty-two-bytes";

/// The most any single HTTP exchange may take before the test fails (a guard
/// against hangs, not a performance assertion).
const EXCHANGE_LIMIT: Duration = Duration::from_secs(60);

/// A store on this test binary's Redis, under a prefix of its own.
pub async fn redis_store() -> cloakroom::RedisStore {
    static REDIS: std::sync::LazyLock<cloakroom_testing::RedisServer> =
        std::sync::LazyLock::new(cloakroom_testing::RedisServer::start);
    let url = tokio::task::spawn_blocking(|| REDIS.url())
        .await
        .expect("start the test Redis");
    let prefix = format!("demo:{}:", &cloakroom::SessionId::generate().store_key().to_hex()[..12]);
    eprintln!("sessions in Redis at {url} under {prefix}");
    cloakroom::RedisStore::builder()
        .prefix(prefix)
        .connect(&url)
        .await
        .expect("connect to the test Redis")
}

/// A store on this test binary's three-master Redis Cluster, under a prefix of
/// its own.
pub async fn redis_cluster_store() -> cloakroom::RedisStore {
    static CLUSTER: std::sync::LazyLock<cloakroom_testing::RedisCluster> =
        std::sync::LazyLock::new(cloakroom_testing::RedisCluster::start);
    let urls = tokio::task::spawn_blocking(|| CLUSTER.urls())
        .await
        .expect("start the test Redis Cluster");
    let prefix = format!("demo:{}:", &cloakroom::SessionId::generate().store_key().to_hex()[..12]);
    eprintln!("sessions in the Redis Cluster at {urls:?} under {prefix}");
    cloakroom::RedisStore::builder()
        .prefix(prefix)
        .connect_cluster(&urls)
        .await
        .expect("connect to the test Redis Cluster")
}

/// A store on this test binary's Postgres, in a table of its own.
pub async fn postgres_store() -> cloakroom::PostgresStore {
    static POSTGRES: std::sync::LazyLock<cloakroom_testing::PostgresServer> =
        std::sync::LazyLock::new(cloakroom_testing::PostgresServer::start);
    let url = tokio::task::spawn_blocking(|| POSTGRES.url())
        .await
        .expect("start the test Postgres");
    let table = format!("demo_{}", &cloakroom::SessionId::generate().store_key().to_hex()[..12]);
    eprintln!("sessions in Postgres at {url} in table {table}");
    cloakroom::PostgresStore::builder()
        .table(table)
        .connect(&url)
        .await
        .expect("connect to the test Postgres")
}

/// A store in a SQLite file of its own, in this test binary's directory.
pub async fn sqlite_store() -> cloakroom::SqliteStore {
    static FILES: std::sync::LazyLock<cloakroom_testing::TempDir> =
        std::sync::LazyLock::new(|| cloakroom_testing::TempDir::new("demo-sqlite"));
    let path = FILES.path().join(format!(
        "{}.db",
        &cloakroom::SessionId::generate().store_key().to_hex()[..12]
    ));
    eprintln!("sessions in the SQLite file {}", path.display());
    cloakroom::SqliteStore::open(&path)
        .await
        .expect("open the test SQLite file")
}

/// The demo served in this process on 127.0.0.1 and a free port; stops on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub manager: SessionManager,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Serves the demo configured as in development (no `Secure`), with `SECRET`.
    pub async fn start() -> Self {
        Self::start_with(|config| config).await
    }

    /// Serves the demo with its configuration changed by `adjust` first.
    ///
    /// With `DEMO_TEST_STORE=redis` (`redis-cluster`, `postgres`, `sqlite`) in the
    /// environment, sessions live in a real Redis (Redis Cluster, Postgres) that
    /// this test binary starts, each server under its own key prefix (table), or in
    /// a SQLite file of its own;
    /// `scripts/test` runs the HTTP contract on each.
    pub async fn start_with(adjust: impl FnOnce(DemoConfig) -> DemoConfig) -> Self {
        let mut config = DemoConfig::from_lookup(|name| (name == "SESSION_SECRET").then(|| SECRET.to_owned()))
            .expect("the test configuration is valid");
        match std::env::var("DEMO_TEST_STORE").as_deref() {
            Ok("redis") => config.session = config.session.store(redis_store().await),
            Ok("redis-cluster") => config.session = config.session.store(redis_cluster_store().await),
            Ok("postgres") => config.session = config.session.store(postgres_store().await),
            Ok("sqlite") => config.session = config.session.store(sqlite_store().await),
            Ok("memory") | Err(_) => {}
            Ok(other) => panic!("DEMO_TEST_STORE={other:?}: use memory, redis, redis-cluster, postgres or sqlite"),
        }
        let config = adjust(config);
        let options = config.serve;
        let (router, manager) = app(config).expect("the demo builds");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            serve(listener, router, options, std::future::pending())
                .await
                .expect("the demo serves");
        });
        Self { addr, manager, task }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A new client with an empty cookie jar.
    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON; panics (showing the body) when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// One header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|value| value.to_str().expect("ASCII header").to_owned())
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| value.to_str().expect("ASCII Set-Cookie").to_owned())
            .collect()
    }

    /// The `Set-Cookie` for the session cookie `sid`, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookies().into_iter().find(|cookie| cookie.starts_with("sid="))
    }

    /// Asserts the status and that the body is `{"error": ...}`; returns the message.
    pub fn expect_error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        assert_eq!(
            body.as_object().map(|o| o.len()),
            Some(1),
            "an error body holds only `error`: {body}"
        );
        body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("`error` is a string: {body}"))
            .to_owned()
    }
}

/// Sends one request on a fresh connection to `addr` and reads the whole response.
pub async fn exchange(addr: SocketAddr, mut request: Request<Full<Bytes>>) -> TestResponse {
    let host = addr.to_string();
    request
        .headers_mut()
        .insert(header::HOST, host.parse().expect("valid Host"));
    let what = format!("{} {}", request.method(), request.uri());
    let work = async move {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
        tokio::spawn(connection);
        let response = sender.send_request(request).await.expect("send the request");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("read the body").to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    };
    tokio::time::timeout(EXCHANGE_LIMIT, work)
        .await
        .unwrap_or_else(|_| panic!("{what} got no answer within {EXCHANGE_LIMIT:?}"))
}

/// A request builder on `path` of `addr`.
pub fn request(method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path)
}

/// A client keeping cookies like a browser would (name to value, for one host),
/// plus optional extra headers on every request.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    jar: Mutex<BTreeMap<String, String>>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            jar: Mutex::new(BTreeMap::new()),
        }
    }

    /// The value of cookie `name` in the jar.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    /// Puts a cookie into the jar by hand (to replay an old ticket).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.lock().unwrap().insert(name.to_owned(), value.to_owned());
    }

    /// A client with the same cookies, for requests sent concurrently.
    pub fn fork(&self) -> Self {
        Self {
            addr: self.addr,
            jar: Mutex::new(self.jar.lock().unwrap().clone()),
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    /// POST without a body.
    pub async fn post_empty(&self, path: &str) -> TestResponse {
        self.send(Method::POST, path, None, &[]).await
    }

    pub async fn put(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::PUT, path, Some(body), &[]).await
    }

    /// Signs in as `user` (password `USER-pass`), asserting success.
    pub async fn login(&self, user: &str) -> TestResponse {
        let response = self.login_attempt(user).await;
        assert_eq!(response.status, StatusCode::OK, "login: {}", response.text());
        response
    }

    /// Tries to sign in as `user` (password `USER-pass`), whatever the outcome.
    pub async fn login_attempt(&self, user: &str) -> TestResponse {
        self.post(
            "/auth/login",
            serde_json::json!({ "username": user, "password": format!("{user}-pass") }),
        )
        .await
    }

    /// Sends a request with the jar's cookies, a JSON body if given, and `headers`;
    /// takes the response's `Set-Cookie` into the jar.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        match body {
            Some(json) => {
                let body = Bytes::from(json.to_string());
                self.send_body(method, path, Some("application/json"), body, headers)
                    .await
            }
            None => self.send_body(method, path, None, Bytes::new(), headers).await,
        }
    }

    /// POSTs an HTML form (`application/x-www-form-urlencoded`, `body` already
    /// encoded) with the jar's cookies, as a browser submits one.
    pub async fn post_form(&self, path: &str, body: &str) -> TestResponse {
        let body = Bytes::from(body.to_owned());
        self.send_body(Method::POST, path, Some("application/x-www-form-urlencoded"), body, &[])
            .await
    }

    async fn send_body(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = request(method, path);
        let cookies = self
            .jar
            .lock()
            .unwrap()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        if !cookies.is_empty() {
            builder = builder.header(header::COOKIE, cookies);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let response = exchange(self.addr, builder.body(Full::new(body)).expect("valid request")).await;
        self.take_cookies(&response);
        response
    }

    /// Sends raw bytes with the given content type (or none).
    pub async fn send_raw(&self, method: Method, path: &str, content_type: Option<&str>, body: &str) -> TestResponse {
        let mut builder = request(method, path);
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let request = builder
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("valid request");
        exchange(self.addr, request).await
    }

    fn take_cookies(&self, response: &TestResponse) {
        let mut jar = self.jar.lock().unwrap();
        for cookie in response.set_cookies() {
            let pair = cookie.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let expired = cookie
                .split(';')
                .any(|attr| attr.trim().eq_ignore_ascii_case("Max-Age=0"));
            if expired || value.is_empty() {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }
}

/// The attributes of a `Set-Cookie` value, lower-cased names to values (flags map
/// to an empty string).
pub fn cookie_attributes(set_cookie: &str) -> BTreeMap<String, String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|attr| match attr.split_once('=') {
            Some((name, value)) => (name.trim().to_ascii_lowercase(), value.trim().to_owned()),
            None => (attr.trim().to_ascii_lowercase(), String::new()),
        })
        .collect()
}

/// A [`MemoryStore`] that records which methods were called and whose health check
/// can be made to fail.
#[derive(Debug, Clone, Default)]
pub struct ProbeStore {
    inner: MemoryStore,
    calls: Arc<Mutex<Vec<&'static str>>>,
    down: Arc<AtomicBool>,
}

impl ProbeStore {
    /// The calls made so far, in order, and forgets them.
    pub fn take_calls(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// Makes `ping` fail (true) or succeed (false).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn record(&self, call: &'static str) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait]
impl SessionStore for ProbeStore {
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        self.record("load");
        self.inner.load(key, touch).await
    }

    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        self.record("create");
        self.inner.create(key, record).await
    }

    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        self.record("commit");
        self.inner.commit(key, changes).await
    }

    async fn commit_or_create(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        fresh: &FreshSession,
    ) -> Result<CommitOutcome, StoreError> {
        self.record("commit_or_create");
        self.inner.commit_or_create(key, changes, fresh).await
    }

    async fn regenerate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        self.record("regenerate");
        self.inner.regenerate(old, new, changes).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.record("delete");
        self.inner.delete(key).await
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        self.inner.purge_expired(now).await
    }

    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        self.record("list_user");
        self.inner.list_user(user, now).await
    }

    async fn delete_user(&self, user: &str) -> Result<usize, StoreError> {
        self.record("delete_user");
        self.inner.delete_user(user).await
    }

    async fn count(&self, now: SystemTime) -> Result<usize, StoreError> {
        self.inner.count(now).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(std::io::Error::other("probe store is down")));
        }
        self.inner.ping().await
    }
}
