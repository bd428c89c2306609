//! The server side: one tokio worker thread, a fresh server per run.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use cloakroom_bench::apps;
use tokio::runtime::Runtime;

use crate::Fallible;

pub(crate) fn server_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub(crate) fn start(rt: &Runtime, app: Router) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)
                .expect("a tokio listener")
                .tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.await;
                })
                .await
                .expect("serve");
        });
        Self { addr, shutdown, task }
    }

    pub(crate) fn stop(self, rt: &Runtime) {
        let _ = self.shutdown.send(());
        let task = self.task;
        let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await });
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// One GET over a fresh connection: status, the `name=value` of its `Set-Cookie`, body.
pub(crate) fn http_get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Fallible<(u16, Option<String>, String)> {
    http_request(addr, "GET", path, cookie, None)
}

/// One request over a fresh connection (a JSON `body`, if any): status, the
/// `name=value` of its `Set-Cookie`, body.
pub(crate) fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> Fallible<(u16, Option<String>, String)> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let body = body.map_or_else(String::new, |body| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    });
    let end = if body.is_empty() { "\r\n" } else { "" };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{cookie}{body}{end}"
    )
    .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let set_cookie = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .and_then(|(_, value)| apps::cookie_pair(value.trim()));
    Ok((status, set_cookie, body.to_owned()))
}
