//! The demo binary against a tower-sessions server of the same routes
//! (`towerprefs`), each its own process with its own runtime, on the demo's
//! `/prefs` routes: read (`GET /prefs` with a cookie), write (`PUT /prefs/theme`
//! with a cookie and a new value each request) and new session (`PUT
//! /prefs/theme` without a cookie), over the memory store and one Redis server.
//! Rounds alternate which server goes first; each run gets a fresh process (and
//! an empty Redis). CPU per request comes from `/proc` for the server process,
//! redis-server and wrk.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloakroom_bench::stats::{Spread, kilo, ratios};
use cloakroom_bench::wrk::{Load, Report};
use cloakroom_testing::{RedisServer, TempDir, free_port};

use crate::Fallible;
use crate::cli::Options;
use crate::proc::{clock_ticks_per_second, ticks};
use crate::servers::http_request;

/// The two servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum App {
    Demo,
    Tower,
}

impl App {
    fn name(self) -> &'static str {
        match self {
            App::Demo => "cloakroom-demo",
            App::Tower => "towerprefs (tower-sessions)",
        }
    }

    /// The binary, built beside this one (`scripts/bench` builds both).
    fn program(self) -> Fallible<PathBuf> {
        let dir = std::env::current_exe()
            .map_err(|e| e.to_string())?
            .parent()
            .map(Path::to_path_buf)
            .ok_or("no directory of the loadbench binary")?;
        let file = dir.join(match self {
            App::Demo => "cloakroom-demo",
            App::Tower => "towerprefs",
        });
        if !file.is_file() {
            return Err(format!(
                "{} is missing: cargo build --release -p cloakroom-demo, apart from cloakroom-bench (scripts/bench does)",
                file.display()
            ));
        }
        Ok(file)
    }
}

const KINDS: [&str; 3] = ["read", "write", "new"];

/// A running server process, killed on drop.
struct Process {
    child: Child,
    port: u16,
}

impl Process {
    fn start(app: App, store: &str) -> Fallible<Self> {
        let port = free_port(false);
        let mut command = Command::new(app.program()?);
        command
            .env("PORT", port.to_string())
            .env("SESSION_STORE", store)
            .env("SESSION_SECRET", "loadbench-demo-secret-of-at-least-32-bytes")
            // Logging off for the measured runs: the request log line is the
            // demo's own, not the session library's.
            .env("RUST_LOG", "error")
            .env_remove("APP_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().map_err(|e| format!("start {}: {e}", app.name()))?;
        let mut process = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                return Err(format!("{} exited at start: {status}", app.name()));
            }
            if let Ok((200, _, _)) = http_request(process.addr(), "GET", "/healthz", None, None) {
                return Ok(process);
            }
            if Instant::now() > deadline {
                let _ = process.child.kill();
                return Err(format!("{} did not answer /healthz within 30 s", app.name()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
struct Run {
    wrk: Report,
    server_cpu_us: f64,
    redis_cpu_us: Option<f64>,
    wrk_cpu_us: f64,
}

/// The Lua script wrk runs for the writes: `PUT /prefs/theme` with a new JSON
/// number each request (tower-sessions saves nothing for a value left as it was).
const PUT_SCRIPT: &str = r#"wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format("PUT", "/prefs/theme", nil, tostring(n))
end
"#;

fn run_one(
    opts: &Options,
    app: App,
    kind: &str,
    store: &str,
    redis: Option<&RedisServer>,
    script: &Path,
) -> Fallible<Run> {
    if let Some(redis) = redis {
        redis.command("FLUSHALL");
    }
    let process = Process::start(app, store)?;
    let cookie = if kind == "new" {
        None
    } else {
        let (status, cookie, body) = http_request(process.addr(), "PUT", "/prefs/theme", None, Some("\"dark\""))?;
        let cookie =
            cookie.ok_or_else(|| format!("{}: PUT /prefs/theme sent no cookie ({status} {body})", app.name()))?;
        let (status, _, body) = http_request(process.addr(), "GET", "/prefs", Some(&cookie), None)?;
        if status != 200 || !body.contains("dark") {
            return Err(format!(
                "{}: the cookie does not find the session ({status} {body})",
                app.name()
            ));
        }
        Some(cookie)
    };
    let load = Load {
        url: format!(
            "http://{}/prefs{}",
            process.addr(),
            if kind == "read" { "" } else { "/theme" }
        ),
        connections: opts.connections,
        threads: opts.threads,
        duration: opts.duration,
        headers: cookie.map(|c| format!("Cookie: {c}")).into_iter().collect(),
        script: (kind != "read").then(|| script.to_path_buf()),
    };
    let redis_pid = redis.map(redis_pid).transpose()?;
    let pid = process.pid();
    let cpu = || {
        (
            ticks(&pid),
            redis_pid.as_deref().map(ticks),
            cloakroom_bench::children_cpu_ticks().unwrap_or(0),
        )
    };
    let (server_before, redis_before, wrk_before) = cpu();
    let report = load.run()?;
    let (server_after, redis_after, wrk_after) = cpu();
    drop(process);
    if !report.clean() {
        return Err(format!(
            "{kind} {}: {} non-2xx responses, {} socket errors",
            app.name(),
            report.non_2xx,
            report.socket_errors
        ));
    }
    let per_request = |ticks: u64| ticks as f64 / clock_ticks_per_second() * 1e6 / report.requests.max(1) as f64;
    Ok(Run {
        wrk: report,
        server_cpu_us: per_request(server_after.saturating_sub(server_before)),
        redis_cpu_us: redis_before
            .zip(redis_after)
            .map(|(before, after)| per_request(after.saturating_sub(before))),
        wrk_cpu_us: per_request(wrk_after.saturating_sub(wrk_before)),
    })
}

fn redis_pid(redis: &RedisServer) -> Fallible<String> {
    std::fs::read_to_string(redis.dir().join("redis.pid"))
        .map(|pid| pid.trim().to_owned())
        .map_err(|e| format!("Redis pid file: {e}"))
}

/// Runs both servers on every kind over the memory store and Redis, `opts.rounds`
/// alternating rounds; the markdown section of the report, and CSV lines.
pub(crate) fn demo_apps(opts: &Options, csv: &mut String) -> Fallible<String> {
    let dir = TempDir::new("loadbench-demo");
    let script = dir.path().join("put.lua");
    std::fs::write(&script, PUT_SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;
    let redis = RedisServer::start_with(&["--appendonly", "no", "--appendfsync", "no"]);
    let mut out = String::from(
        "## The demo binary against tower-sessions\n\n\
         `cloakroom-demo` and `towerprefs` (the demo's `/prefs` routes on tower-sessions 0.14), each a process of its own \
         (`#[tokio::main]`, a worker per core) served the same way (`cloakroom-demo-serve`), logging off; read = `GET /prefs`, write = `PUT /prefs/theme` with a new \
         value each request, new = the same without a cookie. Medians over the rounds (min–max); ratios are per round.\n\n\
         | store | kind | server | requests/s | ratio | server CPU µs/req | redis-server CPU µs/req | wrk CPU µs/req |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (store_name, store) in [("memory", "memory".to_owned()), ("redis", redis.url())] {
        let redis = (store_name == "redis").then_some(&redis);
        let mut runs: BTreeMap<(&str, App), Vec<Run>> = BTreeMap::new();
        for round in 0..opts.rounds {
            for kind in KINDS {
                // `--filter` keeps the runs whose `store/kind` contains it (`redis/read`).
                if opts
                    .filter
                    .as_ref()
                    .is_some_and(|filter| !format!("{store_name}/{kind}").contains(filter.as_str()))
                {
                    continue;
                }
                let order = if round % 2 == 0 {
                    [App::Demo, App::Tower]
                } else {
                    [App::Tower, App::Demo]
                };
                for app in order {
                    let run = run_one(opts, app, kind, &store, redis, &script)?;
                    eprintln!(
                        "demo {store_name} round {} {kind} {}: {:.0} req/s, server {:.1} µs/req",
                        round + 1,
                        app.name(),
                        run.wrk.rps,
                        run.server_cpu_us
                    );
                    let _ = writeln!(
                        csv,
                        "{},demo-{store_name},{kind},{},{:.1},{:.3},{:.3},{:.3},{:.3},{},{:.2},{},,{:.2},",
                        round + 1,
                        app.name(),
                        run.wrk.rps,
                        run.wrk.p50_ms,
                        run.wrk.p99_ms,
                        run.wrk.avg_ms,
                        run.wrk.max_ms,
                        run.wrk.requests,
                        run.server_cpu_us,
                        run.redis_cpu_us.map(|us| format!("{us:.2}")).unwrap_or_default(),
                        run.wrk_cpu_us,
                    );
                    runs.entry((kind, app)).or_default().push(run);
                }
            }
        }
        for kind in KINDS {
            let of = |app: App| runs.get(&(kind, app)).map_or(&[][..], Vec::as_slice);
            let (demo, tower) = (of(App::Demo), of(App::Tower));
            if demo.is_empty() && tower.is_empty() {
                continue;
            }
            let rps = |runs: &[Run]| runs.iter().map(|r| r.wrk.rps).collect::<Vec<_>>();
            let ratio = Spread::of(&ratios(&rps(demo), &rps(tower)));
            for (app, runs) in [(App::Demo, demo), (App::Tower, tower)] {
                let spread = |f: fn(&Run) -> Option<f64>| {
                    Spread::of(&runs.iter().filter_map(f).collect::<Vec<_>>())
                        .map_or_else(|| "—".to_owned(), |s| s.display(1))
                };
                let _ = writeln!(
                    out,
                    "| {store_name} | {kind} | {} | {} | {} | {} | {} | {} |",
                    app.name(),
                    Spread::of(&rps(runs)).map_or_else(
                        || "—".to_owned(),
                        |s| format!("{} ({}–{})", kilo(s.median), kilo(s.min), kilo(s.max))
                    ),
                    match (app, ratio) {
                        (App::Demo, Some(ratio)) => ratio.ratio(),
                        _ => "—".to_owned(),
                    },
                    spread(|r| Some(r.server_cpu_us)),
                    spread(|r| r.redis_cpu_us),
                    spread(|r| Some(r.wrk_cpu_us)),
                );
            }
        }
    }
    Ok(out)
}
