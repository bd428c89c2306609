//! Test support for cloakroom: throwaway Redis servers, Redis Clusters, Postgres
//! servers and an Express service, each on free ports in its own temporary directory.
//!
//! Servers are started by the tests that need them and never depend on a server
//! already running on the machine. Each runs under a small shell watchdog that stops
//! it when the test process exits, even if the process never drops its handle (a
//! `static` shared by the tests of one binary). `scripts/test` also stops anything
//! left in `$CLOAKROOM_TEST_DIR`.
//!
//! ```no_run
//! let redis = cloakroom_testing::RedisServer::start();
//! println!("{}", redis.url());
//! let postgres = cloakroom_testing::PostgresServer::start();
//! println!("{}", postgres.url());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod express;
mod postgres;
mod redis;

pub use express::{ExpressApp, ExpressOptions, HttpReply, express_dir, http};
pub use postgres::PostgresServer;
pub use redis::{Monitor, RedisCluster, RedisServer};

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after starting.
pub(crate) const STARTUP_LIMIT: Duration = Duration::from_secs(20);

/// The directory for one server's files, under `$CLOAKROOM_TEST_DIR` when set.
pub(crate) fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = std::env::var_os("CLOAKROOM_TEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(
        "{label}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A TCP port that is free now, and (for cluster nodes) whose bus port
/// (`port + 10000`) is free too.
pub fn free_port(with_bus: bool) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id() as u32 * 7919 + NEXT.fetch_add(97, Ordering::Relaxed);
    for attempt in 0..2000u32 {
        let port = if with_bus {
            20_000 + ((seed + attempt * 131) % 25_000) as u16
        } else {
            let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
            return listener.local_addr().expect("local address").port();
        };
        let free = |p: u16| TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
    panic!("no free port pair found for a Redis Cluster node");
}

/// Polls `probe` until it returns true, for at most `limit`.
pub(crate) fn wait_until(limit: Duration, what: &str, mut probe: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if probe() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not happen within {limit:?}");
}

/// A directory of its own for a test's files (a SQLite database, say), under
/// `$CLOAKROOM_TEST_DIR` when set; removed with everything in it when dropped.
///
/// ```no_run
/// let dir = cloakroom_testing::TempDir::new("sqlite");
/// let db = dir.path().join("sessions.db");
/// # let _ = db;
/// ```
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates the directory; `label` starts its name.
    pub fn new(label: &str) -> Self {
        Self(scratch_dir(label))
    }

    /// Where it is.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A child (Chromium, say) may still be writing for a moment after it exits.
        for _ in 0..10 {
            if std::fs::remove_dir_all(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
