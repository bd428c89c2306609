//! The demo binary itself: configuration errors exit with status 2 and a message
//! naming the variable; without SESSION_SECRET it starts with a random secret and
//! says so; it stops within its grace period however slow its clients, and cuts off
//! clients that never finish their headers.

mod common;

use std::fs;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::process::{ChildGuard, TempDir, free_port};
use common::{exchange, request};
use http_body_util::Full;

const BINARY: &str = env!("CARGO_BIN_EXE_cloakroom-demo");

/// The demo binary with exactly these variables (and no others).
fn demo(dir: &TempDir, vars: &[(&str, &str)]) -> (Command, std::path::PathBuf) {
    let log = dir.path().join("demo.log");
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).expect("create the log"))
        .stderr(fs::File::create(dir.path().join("demo.err")).expect("create the error log"));
    (command, log)
}

/// Runs the demo until it exits (it must, within 20 s); returns its exit code and
/// standard error.
fn run_to_exit(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = TempDir::new("startup");
    let (command, _) = demo(&dir, vars);
    let mut child = ChildGuard::spawn(command, "cloakroom-demo");
    let status = child
        .wait_for_exit(Duration::from_secs(20))
        .expect("the demo should exit on a configuration error");
    let stderr = fs::read_to_string(dir.path().join("demo.err")).unwrap_or_default();
    (status.code(), stderr)
}

#[test]
fn an_unreachable_redis_or_postgres_exits_2_naming_session_store() {
    let port = free_port();
    for url in [
        format!("redis://demo:s3cret@127.0.0.1:{port}"),
        format!("postgres://demo:s3cret@127.0.0.1:{port}/demo"),
    ] {
        let (code, stderr) = run_to_exit(&[("SESSION_STORE", &url)]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("SESSION_STORE"), "{stderr}");
        assert!(stderr.contains("cannot be reached"), "{stderr}");
        assert!(!stderr.contains("s3cret"), "the URL's password is not echoed: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_sqlite_file_in_a_missing_directory_exits_2_naming_session_store_and_the_path() {
    let (code, stderr) = run_to_exit(&[("SESSION_STORE", "sqlite:///no-such-dir/cloakroom/demo.db")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("SESSION_STORE"), "{stderr}");
    assert!(stderr.contains("/no-such-dir/cloakroom/demo.db"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_unknown_store_exits_2_naming_session_store() {
    let (code, stderr) = run_to_exit(&[("SESSION_STORE", "files")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("SESSION_STORE"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_session_variables_exit_2_naming_the_variable() {
    for (name, value) in [
        ("SESSION_TTL", "an hour"),
        ("SESSION_ABSOLUTE_TTL", "0"),
        ("SESSION_SECRET", "too-short"),
        ("PORT", "eighty"),
    ] {
        let (code, stderr) = run_to_exit(&[(name, value)]);
        assert_eq!(code, Some(2), "{name}={value}: {stderr}");
        assert!(stderr.contains(name), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Starts the demo with `vars` on a free port and waits (bounded) until it answers.
async fn running_demo(dir: &TempDir, vars: &[(&str, &str)]) -> (ChildGuard, SocketAddr, std::path::PathBuf) {
    let port = free_port();
    let port_text = port.to_string();
    let mut all = vec![("PORT", port_text.as_str())];
    all.extend_from_slice(vars);
    let (command, log) = demo(dir, &all);
    let mut child = ChildGuard::spawn(command, "cloakroom-demo");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait() {
            let stderr = fs::read_to_string(dir.path().join("demo.err")).unwrap_or_default();
            panic!("the demo exited with {status}: {stderr}");
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not listen on {addr} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, addr, log)
}

/// A connection that has sent half of a request's headers.
async fn half_sent_request(addr: SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /cart HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .expect("send half the headers");
    stream
}

#[tokio::test]
async fn without_a_secret_it_starts_with_a_random_one_and_warns() {
    let dir = TempDir::new("startup");
    let (child, addr, log) = running_demo(&dir, &[("RUST_LOG", "info")]).await;
    let health = exchange(addr, request(Method::GET, "/healthz").body(Full::default()).unwrap()).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json(), serde_json::json!({ "status": "ok" }));
    drop(child);

    let log = fs::read_to_string(log).expect("read the log");
    assert!(log.contains("SESSION_SECRET is not set"), "{log}");
    assert!(log.contains("will not survive a restart"), "{log}");
    assert!(log.contains(&format!("listening on http://{addr}")), "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a log file: {log}");
}

#[tokio::test]
async fn sigterm_stops_the_demo_with_status_0_even_while_a_client_is_half_way_through_its_headers() {
    let dir = TempDir::new("shutdown");
    let (mut child, addr, log) = running_demo(&dir, &[("RUST_LOG", "info"), ("SHUTDOWN_TIMEOUT", "1")]).await;
    let _stuck = half_sent_request(addr).await;
    child.terminate();
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait_for_exit(Duration::from_secs(20));
        (status, child)
    })
    .await
    .unwrap()
    .0
    .expect("the demo exits after its grace period");
    assert_eq!(status.code(), Some(0));
    let log = fs::read_to_string(log).expect("read the log");
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::AsyncReadExt as _;
    let dir = TempDir::new("header-timeout");
    let (_child, addr, _log) = running_demo(&dir, &[("HEADER_READ_TIMEOUT", "1")]).await;
    let mut stuck = half_sent_request(addr).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stuck.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection was still open after 20 s");
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "no answer to half a request: {:?}",
        String::from_utf8_lossy(&rest)
    );
    let fine = exchange(addr, request(Method::GET, "/healthz").body(Full::default()).unwrap()).await;
    assert_eq!(fine.status, StatusCode::OK, "other clients are served meanwhile");
}
