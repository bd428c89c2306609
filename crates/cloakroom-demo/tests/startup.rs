//! The demo binary itself: configuration errors exit with status 2 and a message
//! naming the variable; without SESSION_SECRET it starts with a random secret and
//! says so.

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
fn an_unreachable_redis_exits_2_naming_session_store() {
    let port = free_port();
    let url = format!("redis://demo:s3cret@127.0.0.1:{port}");
    let (code, stderr) = run_to_exit(&[("SESSION_STORE", &url)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("SESSION_STORE"), "{stderr}");
    assert!(stderr.contains("cannot be reached"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "the URL's password is not echoed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unavailable_stores_exit_2_saying_so() {
    for url in ["postgres://demo:s3cret@db/demo", "sqlite://demo.db"] {
        let (code, stderr) = run_to_exit(&[("SESSION_STORE", url)]);
        assert_eq!(code, Some(2), "{url}: {stderr}");
        assert!(stderr.contains("SESSION_STORE"), "{stderr}");
        assert!(stderr.contains("not available in this build"), "{stderr}");
        assert!(!stderr.contains("s3cret"), "the URL's password is not echoed: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
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

#[tokio::test]
async fn without_a_secret_it_starts_with_a_random_one_and_warns() {
    let dir = TempDir::new("startup");
    let port = free_port();
    let (command, log) = demo(&dir, &[("PORT", &port.to_string()), ("RUST_LOG", "info")]);
    let mut child = ChildGuard::spawn(command, "cloakroom-demo");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // Wait (bounded) for the server to answer.
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
    let health = exchange(addr, request(Method::GET, "/healthz").body(Full::default()).unwrap()).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json(), serde_json::json!({ "status": "ok" }));
    drop(child);

    let log = fs::read_to_string(log).expect("read the log");
    assert!(log.contains("SESSION_SECRET is not set"), "{log}");
    assert!(log.contains("will not survive a restart"), "{log}");
    assert!(log.contains(&format!("listening on http://127.0.0.1:{port}")), "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a log file: {log}");
}
