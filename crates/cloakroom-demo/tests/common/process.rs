//! Child processes and temporary directories that clean up after themselves, even
//! when a test fails.

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A directory removed with everything in it on drop, under `$CLOAKROOM_TEST_DIR`
/// when set (scripts/test provides one).
#[allow(unused_imports)]
pub use cloakroom_testing::TempDir;

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

/// A child process started in its own process group; on drop the whole group
/// (the child and anything it started, such as browsers) is stopped and reaped.
/// While it runs, its pid is in `$CLOAKROOM_TEST_DIR/NAME-PID.pid` when that
/// directory is set, so scripts/test can stop it if the test process itself dies.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    pidfile: Option<PathBuf>,
}

impl ChildGuard {
    pub fn spawn(mut command: Command, name: &str) -> Self {
        command.process_group(0);
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name} ({command:?}): {err}"));
        let pidfile = std::env::var_os("CLOAKROOM_TEST_DIR").map(|dir| {
            let path = PathBuf::from(dir).join(format!("{name}-{}.pid", child.id()));
            let _ = fs::write(&path, child.id().to_string());
            path
        });
        Self { child, pidfile }
    }

    /// The exit status, if the child has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("query the child's status")
    }

    /// Waits up to `limit` for the child to exit on its own.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM to the child, as a service manager stopping it would.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    fn signal_group(&self, signal: &str) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args([signal, "--", &group])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            self.signal_group("-TERM");
            if self.wait_for_exit(Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        // Whatever the child left behind in its group goes too.
        self.signal_group("-KILL");
        if let Some(pidfile) = &self.pidfile {
            let _ = fs::remove_file(pidfile);
        }
    }
}

/// Starts the demo binary on `port` of 127.0.0.1 with only `vars` in its
/// environment, its output in `dir`; waits (bounded) until it listens.
#[allow(dead_code)]
pub async fn start_demo_with(dir: &TempDir, port: u16, vars: &[(&str, &str)]) -> ChildGuard {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cloakroom-demo"));
    command
        .env_clear()
        .env("PORT", port.to_string())
        .envs(vars.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(dir.path().join(format!("demo-{port}.log"))).expect("create the log"))
        .stderr(fs::File::create(dir.path().join("demo.err")).expect("create the error log"));
    let mut child = ChildGuard::spawn(command, "cloakroom-demo");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if let Some(status) = child.try_wait() {
            let stderr = fs::read_to_string(dir.path().join("demo.err")).unwrap_or_default();
            panic!("the demo exited with {status}: {stderr}");
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not listen on {addr} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}
