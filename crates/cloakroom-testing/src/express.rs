//! A throwaway Express service (express-session with connect-redis, on Node) and a
//! plain HTTP/1.1 client to talk to it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{STARTUP_LIMIT, scratch_dir, wait_until};

/// How the Express service keeps its sessions.
///
/// ```no_run
/// use cloakroom_testing::{ExpressApp, ExpressOptions, RedisServer};
///
/// let redis = RedisServer::start();
/// let options = ExpressOptions { cookie_name: "sessionId".into(), ..ExpressOptions::new(&redis.url()) };
/// let app = ExpressApp::start(&options);
/// ```
#[derive(Debug, Clone)]
pub struct ExpressOptions {
    /// The Redis connect-redis writes to: one URL, or a Redis Cluster's node
    /// URLs comma-separated when `cluster`.
    pub redis_url: String,
    /// The Redis is a Redis Cluster.
    pub cluster: bool,
    /// express-session's secrets; the first signs.
    pub secrets: Vec<String>,
    /// express-session's `name`.
    pub cookie_name: String,
    /// connect-redis's `prefix`.
    pub prefix: String,
    /// The cookie's `maxAge`; `None` for a browser-session cookie.
    pub max_age: Option<Duration>,
}

impl ExpressOptions {
    /// express-session's defaults (`connect.sid`, `sess:`), the secret
    /// `keyboard cat`, cookies living an hour.
    pub fn new(redis_url: &str) -> Self {
        Self {
            redis_url: redis_url.to_owned(),
            cluster: false,
            secrets: vec!["keyboard cat".to_owned()],
            cookie_name: "connect.sid".to_owned(),
            prefix: "sess:".to_owned(),
            max_age: Some(Duration::from_secs(3600)),
        }
    }
}

/// The directory of the Express service (`app.js`, `package.json`).
pub fn express_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("express")
}

/// A running Express service, stopped on drop (or when the test process ends).
#[derive(Debug)]
pub struct ExpressApp {
    port: u16,
    dir: PathBuf,
    watchdog: Option<Child>,
}

impl ExpressApp {
    /// Starts `app.js` under Node on a free port. Panics with the way out when Node
    /// or the npm packages are missing.
    pub fn start(options: &ExpressOptions) -> Self {
        let app = express_dir();
        if Command::new("node").arg("--version").output().is_err() {
            panic!(
                "node is not installed: run scripts/test (it installs nodejs and npm) or `apt-get install nodejs npm`"
            );
        }
        if !app.join("node_modules/connect-redis").is_dir() {
            panic!(
                "the Express test service's npm packages are missing: run scripts/test, or `npm ci --prefix {}`",
                app.display()
            );
        }
        let dir = scratch_dir("express");
        let log = dir.join("app.log");
        let script = format!(
            "node '{app}' > '{log}' 2>&1 & child=$!; echo $child > '{pid}'; \
             while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.3; done; \
             kill $child 2>/dev/null; wait $child 2>/dev/null",
            app = app.join("app.js").display(),
            log = log.display(),
            pid = dir.join("express.pid").display(),
            parent = std::process::id(),
        );
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .env("PORT", "0")
            .env("REDIS_URL", &options.redis_url)
            .env("REDIS_CLUSTER", if options.cluster { "1" } else { "0" })
            .env("SESSION_SECRETS", options.secrets.join(","))
            .env("COOKIE_NAME", &options.cookie_name)
            .env("PREFIX", &options.prefix)
            .env_remove("MAX_AGE_MS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(max_age) = options.max_age {
            command.env("MAX_AGE_MS", max_age.as_millis().to_string());
        }
        let watchdog = command.spawn().expect("spawn node under sh");
        let read_port = || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.lines()
                .find_map(|line| line.strip_prefix("listening on "))
                .and_then(|port| port.trim().parse::<u16>().ok())
        };
        let mut port = None;
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(STARTUP_LIMIT, "the Express service listening", || {
                port = read_port();
                port.is_some()
            });
        }));
        let mut app = Self {
            port: port.unwrap_or(0),
            dir,
            watchdog: Some(watchdog),
        };
        if started.is_err() {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            app.stop();
            panic!("the Express service did not start within {STARTUP_LIMIT:?}; its output:\n{output}");
        }
        app
    }

    /// The port it serves on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends one request with `cookie` (a `Cookie` header value) and a JSON body.
    pub fn request(&self, method: &str, path: &str, cookie: Option<&str>, json: Option<&str>) -> HttpReply {
        http(self.port, method, path, cookie, json)
    }

    /// Signs `user` in (`userId`) with `fields` (a JSON object) added to the
    /// session; answers the `Cookie` header value that carries the session.
    pub fn sign_in(&self, user: &str, fields: &str) -> String {
        self.sign_in_at("/login", &format!("{user:?}"), fields)
    }

    /// Signs in through `path` (`/login` sets `userId`, `/passport` sets
    /// `passport.user`) with `user` as JSON (`"alice"`, `42`).
    pub fn sign_in_at(&self, path: &str, user_json: &str, fields: &str) -> String {
        let reply = self.request(
            "POST",
            path,
            None,
            Some(&format!(r#"{{"user":{user_json},"fields":{fields}}}"#)),
        );
        assert_eq!(reply.status, 200, "express sign-in failed: {}", reply.body);
        reply
            .cookie_pairs()
            .into_iter()
            .next()
            .expect("express set its session cookie")
    }

    /// Stops the service.
    pub fn stop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("express.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        if let Some(mut child) = self.watchdog.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for ExpressApp {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// Every header, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl HttpReply {
    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(name, _)| name == "set-cookie")
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The `name=value` part of every `Set-Cookie`.
    pub fn cookie_pairs(&self) -> Vec<String> {
        self.set_cookies()
            .into_iter()
            .map(|cookie| cookie.split(';').next().unwrap_or_default().to_owned())
            .collect()
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`, the connection closed after it.
pub fn http(port: u16, method: &str, path: &str, cookie: Option<&str>, json: Option<&str>) -> HttpReply {
    let mut stream = TcpStream::connect_timeout(
        &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_secs(2),
    )
    .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    let body = json.unwrap_or_default();
    if json.is_some() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send request");
    stream.write_all(body.as_bytes()).expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    HttpReply {
        status,
        headers,
        body: body.to_owned(),
    }
}
