//! Throwaway Postgres servers: `initdb` into a temporary directory, `postgres` on a
//! free port of 127.0.0.1 with its socket in that directory, trust authentication.
//!
//! Postgres refuses to run as root: when the tests do, the server (and `initdb`)
//! run as the `postgres` user through `setpriv`, and the directories are handed to
//! it. A server already running on the machine is never used or touched.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{STARTUP_LIMIT, free_port, scratch_dir, wait_until};

/// The user the server runs as when the tests run as root.
const SERVER_USER: &str = "postgres";

/// Where the Postgres programs are: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian's layout), else the `PATH`.
fn bindir() -> PathBuf {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(newest) = versions.pop() {
        return newest;
    }
    match Command::new("sh").args(["-c", "command -v initdb"]).output() {
        Ok(output) if output.status.success() => PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        _ => panic!(
            "Postgres is not installed (no initdb): run scripts/test (it installs it) or \
             `apt-get install postgresql`"
        ),
    }
}

/// `word` in single quotes for `sh`.
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `program` from the Postgres bindir, as the server user when running as root.
fn pg_command(program: &str) -> Command {
    let path = bindir().join(program);
    if running_as_root() {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid", SERVER_USER, "--regid", SERVER_USER, "--init-groups", "--"])
            .arg(path);
        command
    } else {
        Command::new(path)
    }
}

/// Hands `dir` to the server user (when running as root) and lets it reach `dir`
/// through its parents.
fn hand_over(dir: &Path) {
    if !running_as_root() {
        return;
    }
    let status = Command::new("chown")
        .args(["-R", &format!("{SERVER_USER}:{SERVER_USER}")])
        .arg(dir)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown of {} failed", dir.display());
    let mut parent = dir.parent();
    while let Some(path) = parent {
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o001 == 0 {
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o001));
            }
        }
        parent = path.parent();
    }
}

/// One Postgres server on a free port, its data and socket in its own directory.
/// Stopped (and its directory removed) when dropped, or when the test process goes
/// away.
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    dir: PathBuf,
    settings: Vec<String>,
    watchdog: Option<Child>,
}

impl PostgresServer {
    /// Creates a cluster and starts a server on it; waits until it accepts
    /// connections.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts with extra server settings, e.g. `["log_statement=all"]`.
    pub fn start_with(settings: &[&str]) -> Self {
        let mut server = Self {
            port: free_port(false),
            dir: scratch_dir("postgres"),
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            watchdog: None,
        };
        hand_over(&server.dir);
        let output = pg_command("initdb")
            .arg("-D")
            .arg(server.data())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ])
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        server.launch();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("postgres.pid")
    }

    /// The server's log (standard error), with every statement when started with
    /// `log_statement=all`.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    /// The names of the statements the server logged after byte `from` of its
    /// log (a server started with `log_statement=all`): `NAME` for a statement
    /// that starts with `/* cloakroom NAME */`, else the statement's text.
    ///
    /// ```no_run
    /// let server = cloakroom_testing::PostgresServer::start_with(&["log_statement=all"]);
    /// let from = server.log().len();
    /// server.sql("SELECT 1");
    /// assert_eq!(server.statements_since(from), ["SELECT 1"]);
    /// ```
    pub fn statements_since(&self, from: usize) -> Vec<String> {
        let log = self.log();
        log.get(from..)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("LOG:  execute") || line.contains("LOG:  statement:"))
            .map(|line| match line.split_once("/* cloakroom ") {
                Some((_, rest)) => rest.split(' ').next().unwrap_or_default().to_owned(),
                None => line.rsplit(": ").next().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    fn launch(&mut self) {
        let mut words: Vec<String> = Vec::new();
        if running_as_root() {
            words.extend(
                [
                    "setpriv",
                    "--reuid",
                    SERVER_USER,
                    "--regid",
                    SERVER_USER,
                    "--init-groups",
                    "--",
                ]
                .map(String::from),
            );
        }
        words.push(bindir().join("postgres").display().to_string());
        words.extend(["-D".to_owned(), self.data().display().to_string()]);
        words.extend([
            "-p".to_owned(),
            self.port.to_string(),
            "-k".to_owned(),
            self.dir.display().to_string(),
        ]);
        for setting in ["listen_addresses=127.0.0.1", "fsync=off", "full_page_writes=off"]
            .iter()
            .map(|s| (*s).to_owned())
            .chain(self.settings.iter().cloned())
        {
            words.extend(["-c".to_owned(), setting]);
        }
        let program: Vec<String> = words.iter().map(|w| quoted(w)).collect();
        // The watchdog stops the server (fast shutdown) when this test process goes
        // away; setpriv execs, so $child is the server's own pid.
        let script = format!(
            "exec 2>>{log}; {program} & child=$!; echo $child > {pid}; \
             while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.3; done; \
             kill -INT $child 2>/dev/null; wait $child 2>/dev/null",
            log = quoted(&self.dir.join("postgres.log").display().to_string()),
            program = program.join(" "),
            pid = quoted(&self.pid_file().display().to_string()),
            parent = std::process::id(),
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn postgres under sh");
        self.watchdog = Some(child);
        let start = Instant::now();
        while start.elapsed() < STARTUP_LIMIT {
            if self.ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "postgres on port {} did not start within {STARTUP_LIMIT:?}; its log:\n{}",
            self.port,
            self.log()
        );
    }

    fn ready(&self) -> bool {
        Command::new(bindir().join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-q"])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process ID (its backends are its children).
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_file()).ok()?.trim().parse().ok()
    }

    /// Runs `sql` with `psql` and returns its unaligned output, panicking on an error.
    pub fn sql(&self, sql: &str) -> String {
        let output = Command::new(bindir().join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql -c {sql:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Stops the server (fast shutdown: open connections are cut); the data stays
    /// for [`start_again`](Self::start_again).
    pub fn stop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.pid_file()) {
            let _ = Command::new("kill").arg("-INT").arg(pid.trim()).status();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.wait();
        }
        wait_until(Duration::from_secs(20), "Postgres to stop", || !self.ready());
    }

    /// Starts the server again on the same port and data.
    pub fn start_again(&mut self) {
        self.launch();
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            self.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_starts_answers_stops_and_starts_again_with_its_data() {
        let mut server = PostgresServer::start_with(&["log_statement=all"]);
        assert_eq!(server.sql("SELECT 1 + 1"), "2");
        server.sql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)");
        server.stop();
        server.start_again();
        assert_eq!(server.sql("SELECT n FROM kept"), "7");
        assert!(
            server.log().contains("statement: SELECT n FROM kept"),
            "{}",
            server.log()
        );
        assert!(!server.url().contains(":5432/"), "never the machine's own server");
    }
}
