//! Throwaway Redis servers and clusters, and a MONITOR recorder.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::{STARTUP_LIMIT, free_port, scratch_dir, wait_until};

fn redis_server_binary() -> &'static str {
    if Command::new("redis-server").arg("--version").output().is_err() {
        panic!(
            "redis-server is not installed: run scripts/test (it installs it) or \
             `apt-get install redis-server`"
        );
    }
    "redis-server"
}

/// Sends one inline command and returns the first line of the reply.
fn command(port: u16, line: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(
        &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(format!("{line}\r\n").as_bytes())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        reply.extend_from_slice(&buf[..n]);
        if n == 0 || complete(&reply) {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// True once `reply` holds a whole simple reply or bulk string.
fn complete(reply: &[u8]) -> bool {
    let Some(header_end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    if reply[0] != b'$' {
        return true;
    }
    let len: i64 = String::from_utf8_lossy(&reply[1..header_end]).parse().unwrap_or(-1);
    len < 0 || reply.len() >= header_end + 2 + len as usize + 2
}

/// One `redis-server` process on a free port, persisting with an append-only file
/// (fsync on every write) in its own directory.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    watchdog: Option<Child>,
}

impl RedisServer {
    /// Starts a standalone server and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments.
    pub fn start_with(extra: &[&str]) -> Self {
        let mut server = Self {
            port: free_port(extra.contains(&"--cluster-enabled")),
            dir: scratch_dir("redis"),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            watchdog: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let binary = redis_server_binary();
        let mut args = vec![
            "--bind".to_owned(),
            "127.0.0.1".to_owned(),
            "--port".to_owned(),
            self.port.to_string(),
            "--dir".to_owned(),
            self.dir.display().to_string(),
            "--save".to_owned(),
            String::new(),
            "--appendonly".to_owned(),
            "yes".to_owned(),
            "--appendfsync".to_owned(),
            "always".to_owned(),
            "--logfile".to_owned(),
            "redis.log".to_owned(),
            "--protected-mode".to_owned(),
            "no".to_owned(),
        ];
        args.extend(self.extra.iter().cloned());
        // The watchdog stops the server when this test process goes away.
        let script = format!(
            "{binary} \"$@\" & child=$!; echo $child > '{pid}'; \
             while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.3; done; \
             kill $child 2>/dev/null; wait $child 2>/dev/null",
            pid = self.pid_file().display(),
            parent = std::process::id(),
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server under sh");
        self.watchdog = Some(child);
        let port = self.port;
        let log = self.dir.join("redis.log");
        let start = Instant::now();
        while start.elapsed() < STARTUP_LIMIT {
            if command(port, "PING").is_ok_and(|r| r.starts_with("+PONG")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("redis-server on port {port} did not start within {STARTUP_LIMIT:?}; its log:\n{log}");
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("redis.pid")
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory (its log and append-only file).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sends one inline command (e.g. `INFO commandstats`) and returns the raw reply.
    pub fn command(&self, line: &str) -> String {
        command(self.port, line).unwrap_or_else(|e| panic!("`{line}` to Redis on {}: {e}", self.port))
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.pid_file()) {
            let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.wait();
        }
        let port = self.port;
        wait_until(Duration::from_secs(10), "the killed Redis to stop answering", || {
            command(port, "PING").is_err()
        });
    }

    /// Starts the server again on the same port and directory (it reloads its
    /// append-only file).
    pub fn restart(&mut self) {
        self.launch();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            self.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A local Redis Cluster of three masters (no replicas), slots spread by
/// `redis-cli --cluster create`.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them and waits until the cluster
    /// reports `cluster_state:ok` on every node.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create (is redis-tools installed?)");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for node in &nodes {
            let port = node.port();
            wait_until(Duration::from_secs(30), "the cluster to report state ok", || {
                command(port, "CLUSTER INFO").is_ok_and(|info| info.contains("cluster_state:ok"))
            });
        }
        Self { nodes }
    }

    /// The nodes' URLs, for `RedisStore::connect_cluster`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}

/// A `MONITOR` connection that records every command a Redis server receives.
///
/// Lines of commands sent by clients look like `... [0 127.0.0.1:PORT] "EVALSHA" ...`;
/// commands run inside scripts are marked `[0 lua]`.
#[derive(Debug)]
pub struct Monitor {
    port: u16,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _reader: std::thread::JoinHandle<()>,
}

impl RedisServer {
    /// Starts recording the commands this server receives.
    pub fn monitor(&self) -> Monitor {
        let mut stream =
            TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port)).expect("connect for MONITOR");
        stream.write_all(b"MONITOR\r\n").expect("send MONITOR");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut reader = std::io::BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push(line.trim_end().to_owned());
                line.clear();
            }
        });
        let monitor = Monitor {
            port: self.port,
            lines,
            _reader: reader,
        };
        monitor.take();
        monitor
    }
}

impl Monitor {
    /// The commands received since the last call, client commands only (not those
    /// run inside scripts), each as its upper-case name followed by the first
    /// argument, e.g. `EVALSHA`, `ZADD`.
    pub fn take(&self) -> Vec<String> {
        static MARK: AtomicU32 = AtomicU32::new(0);
        let marker = format!("cloakroom-monitor-mark-{}", MARK.fetch_add(1, Ordering::Relaxed));
        command(self.port, &format!("ECHO {marker}")).expect("send the monitor marker");
        let start = Instant::now();
        loop {
            {
                let mut lines = self.lines.lock().unwrap();
                if let Some(at) = lines.iter().position(|l| l.contains(&marker)) {
                    let taken: Vec<String> = lines.drain(..=at).collect();
                    return taken[..taken.len() - 1]
                        .iter()
                        .filter(|l| !l.contains(" lua]") && l.starts_with('+'))
                        .filter_map(|l| l.split("] \"").nth(1))
                        .map(|rest| rest.split('"').next().unwrap_or_default().to_uppercase())
                        .collect();
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "MONITOR never saw its marker"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
