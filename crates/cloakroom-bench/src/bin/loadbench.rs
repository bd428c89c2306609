//! Load benchmarks: the same axum routes with no session layer (the floor),
//! cloakroom and tower-sessions, over the memory store and Redis, driven by `wrk`
//! on loopback; resident memory of 1M sessions; throughput while 1M expired
//! sessions are purged. Run it through `scripts/bench` (installs wrk, builds in
//! release).
//!
//! ```text
//! loadbench [--quick] [--rounds N] [--duration SECS] [--connections N] [--threads N]
//!           [--sessions N] [--parts memory,redis,rss,purge] [--out FILE]
//! ```
//!
//! The server runs in this process on a tokio runtime with ONE worker thread, so
//! that on a 2-core machine wrk (and Redis) get the other core: the numbers are
//! per-core throughput of each library, not a race for both cores.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::serve::ListenerExt as _;
use cloakroom::clock::Clock as _;
use cloakroom::clock::ManualClock;
use cloakroom::store::SessionStore;
use cloakroom::{MemoryStore, SessionId};
use cloakroom_bench::apps::{self, Lib};
use cloakroom_bench::stats::{Spread, kilo, ratios};
use cloakroom_bench::wrk::{Load, Report};
use cloakroom_testing::RedisServer;
use tokio::runtime::Runtime;

type Fallible<T> = Result<T, String>;

#[derive(Debug, Clone)]
struct Options {
    rounds: usize,
    duration: Duration,
    connections: u32,
    threads: u32,
    sessions: usize,
    repeats: usize,
    parts: Vec<String>,
    out: PathBuf,
    quick: bool,
    /// Keep only the variants whose `store/route/label` contains this (for profiling).
    filter: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Fallible<Self> {
        let mut opts = Options {
            rounds: 5,
            duration: Duration::from_secs(5),
            connections: 32,
            threads: 1,
            sessions: 1_000_000,
            repeats: 3,
            parts: ["memory", "redis", "rss", "purge"].map(String::from).to_vec(),
            out: PathBuf::from("target/loadbench/report.md"),
            quick: false,
            filter: None,
        };
        let mut explicit_rounds = None;
        let mut explicit_duration = None;
        let mut i = 0;
        let value = |i: usize| {
            args.get(i + 1)
                .cloned()
                .ok_or_else(|| format!("{} needs a value", args[i]))
        };
        while i < args.len() {
            match args[i].as_str() {
                "--quick" => opts.quick = true,
                "--rounds" => explicit_rounds = Some(number(&value(i)?)?),
                "--duration" => explicit_duration = Some(Duration::from_secs(number(&value(i)?)? as u64)),
                "--connections" => opts.connections = number(&value(i)?)? as u32,
                "--threads" => opts.threads = number(&value(i)?)? as u32,
                "--sessions" => opts.sessions = number(&value(i)?)?,
                "--repeats" => opts.repeats = number(&value(i)?)?,
                "--parts" => opts.parts = value(i)?.split(',').map(str::to_owned).collect(),
                "--out" => opts.out = PathBuf::from(value(i)?),
                "--filter" => opts.filter = Some(value(i)?),
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
            i += if matches!(args[i].as_str(), "--quick" | "-h" | "--help") {
                1
            } else {
                2
            };
        }
        if opts.quick {
            opts.rounds = 2;
            opts.duration = Duration::from_secs(2);
            opts.repeats = 1;
        }
        opts.rounds = explicit_rounds.unwrap_or(opts.rounds).max(1);
        opts.duration = explicit_duration.unwrap_or(opts.duration).max(Duration::from_secs(1));
        opts.repeats = opts.repeats.max(1);
        for part in &opts.parts {
            if !["memory", "redis", "rss", "purge"].contains(&part.as_str()) {
                return Err(format!("unknown part {part:?}; parts are memory,redis,rss,purge"));
            }
        }
        Ok(opts)
    }

    fn wants(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

const USAGE: &str = "usage: loadbench [--quick] [--rounds N] [--duration SECS] [--connections N] [--threads N] \
[--sessions N] [--repeats N] [--parts memory,redis,rss,purge] [--out FILE] [--filter TEXT]
  --filter keeps the runs whose store/route/variant contains TEXT (e.g. redis/read/cloakroom), for profiling.
  defaults: 5 rounds of 5 s runs, 32 connections, 1 wrk thread, 1M sessions for the memory
  and purge parts, 3 repeats of those; --quick: 2 rounds of 2 s, 1 repeat.";

fn number(text: &str) -> Fallible<usize> {
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))
}

/// Commands cloakroom sends only from inside its Lua scripts on the benchmarked
/// routes (its plain load is `HGETALL`).
const SCRIPT_ONLY_COMMANDS: &[&str] = &[
    "hmget",
    "hset",
    "hdel",
    "pexpireat",
    "zadd",
    "zrem",
    "exists",
    "del",
    "rename",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("rss-child") {
        if let Err(err) = rss_child(&args[1..]) {
            eprintln!("rss-child: {err}");
            std::process::exit(1);
        }
        return;
    }
    let opts = match Options::parse(&args) {
        Ok(opts) => opts,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    if let Err(err) = run(&opts) {
        eprintln!("loadbench: {err}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------
// The server side: one tokio worker thread, a fresh server per run.

fn server_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

struct Server {
    addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    fn start(rt: &Runtime, app: Router) -> Self {
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

    fn stop(self, rt: &Runtime) {
        let _ = self.shutdown.send(());
        let task = self.task;
        let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await });
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// One GET over a fresh connection: status, the `name=value` of its `Set-Cookie`, body.
fn http_get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Fallible<(u16, Option<String>, String)> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{cookie}\r\n"
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

// ---------------------------------------------------------------------------
// Scenarios: a route, a store, and the variants that serve it.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StoreKind {
    Memory,
    Redis,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Redis => "redis",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Variant {
    lib: Lib,
    path: &'static str,
    label: &'static str,
}

#[derive(Debug, Clone)]
struct Scenario {
    store: StoreKind,
    route: &'static str,
    /// Requests carry the cookie of a session created by `/setup` before the run.
    with_cookie: bool,
    variants: Vec<Variant>,
}

fn scenarios(opts: &Options) -> Vec<Scenario> {
    let v = |lib, path, label| Variant { lib, path, label };
    let mut out = Vec::new();
    for store in [StoreKind::Memory, StoreKind::Redis] {
        if !opts.wants(store.name()) {
            continue;
        }
        out.push(Scenario {
            store,
            route: "read",
            with_cookie: true,
            variants: vec![
                v(Lib::Floor, "/read", "floor"),
                v(Lib::Cloakroom, "/read", "cloakroom"),
                v(Lib::TowerSessions, "/read", "tower-sessions"),
            ],
        });
        out.push(Scenario {
            store,
            route: "write",
            with_cookie: true,
            variants: vec![
                v(Lib::Floor, "/write", "floor"),
                v(Lib::Cloakroom, "/write", "cloakroom (SessionWriter)"),
                v(Lib::Cloakroom, "/write-load", "cloakroom (Session: load + insert)"),
                v(Lib::TowerSessions, "/write", "tower-sessions"),
            ],
        });
        out.push(Scenario {
            store,
            route: "new",
            with_cookie: false,
            variants: vec![
                v(Lib::Floor, "/new", "floor"),
                v(Lib::Cloakroom, "/new", "cloakroom"),
                v(Lib::TowerSessions, "/new", "tower-sessions"),
            ],
        });
        if store == StoreKind::Memory {
            out.push(Scenario {
                store,
                route: "untouched",
                with_cookie: true,
                variants: vec![
                    v(Lib::Floor, "/untouched", "floor"),
                    v(Lib::Cloakroom, "/untouched", "cloakroom"),
                    v(Lib::TowerSessions, "/untouched", "tower-sessions"),
                ],
            });
        }
    }
    if let Some(filter) = &opts.filter {
        for scenario in &mut out {
            let prefix = format!("{}/{}/", scenario.store.name(), scenario.route);
            scenario
                .variants
                .retain(|v| format!("{prefix}{}", v.label).contains(filter.as_str()));
        }
        out.retain(|s| !s.variants.is_empty());
    }
    out
}

/// Redis for the Redis scenarios: one server, one client of each library.
struct RedisSide {
    server: RedisServer,
    pid: String,
    cloakroom: cloakroom::RedisStore,
    fred: tower_sessions_redis_store::fred::clients::Client,
}

impl RedisSide {
    fn start(rt: &Runtime) -> Fallible<Self> {
        // No persistence: the benchmark measures the libraries, not the disk (the
        // test helper defaults to an fsync on every write).
        let server = RedisServer::start_with(&["--appendonly", "no", "--appendfsync", "no"]);
        let url = server.url();
        let config = server.command("CONFIG GET appendonly");
        if !config.contains("no") {
            return Err(format!("Redis kept its append-only file: {config}"));
        }
        let (cloakroom, fred) = rt.block_on(apps::redis_clients(&url))?;
        let pid = std::fs::read_to_string(server.dir().join("redis.pid"))
            .map_err(|e| format!("Redis pid file: {e}"))?
            .trim()
            .to_owned();
        Ok(Self {
            server,
            pid,
            cloakroom,
            fred,
        })
    }

    fn flush(&self) {
        self.server.command("FLUSHALL");
    }
}

fn build_app(variant: &Variant, store: StoreKind, redis: Option<&RedisSide>) -> Fallible<Router> {
    Ok(match (variant.lib, store) {
        (Lib::Floor, _) => apps::floor(),
        (Lib::Cloakroom, StoreKind::Memory) => apps::cloakroom(
            apps::cloakroom_config()
                .store(MemoryStore::new())
                .build()
                .map_err(|e| e.to_string())?,
        ),
        (Lib::TowerSessions, StoreKind::Memory) => apps::tower(tower_sessions::MemoryStore::default()),
        (lib, StoreKind::Redis) => {
            let redis = redis.ok_or("no Redis")?;
            redis.flush();
            apps::over_redis(lib, &redis.cloakroom, &redis.fred)
        }
    })
}

/// The floor gets a cookie header as long as cloakroom's, so hyper reads the same bytes.
fn floor_cookie() -> String {
    format!("{}={}", apps::COOKIE_NAME, "x".repeat(87))
}

/// One measured run of one variant on a fresh server (and, for Redis, an empty database).
fn run_variant(
    rt: &Runtime,
    opts: &Options,
    scenario: &Scenario,
    variant: &Variant,
    redis: Option<&RedisSide>,
) -> Fallible<Run> {
    let app = build_app(variant, scenario.store, redis)?;
    let server = Server::start(rt, app);
    let result = (|| {
        let cookie = match (scenario.with_cookie, variant.lib) {
            (false, _) => None,
            (true, Lib::Floor) => Some(floor_cookie()),
            (true, _) => {
                let (status, cookie, _) = http_get(server.addr, "/setup", None)?;
                let cookie = cookie.ok_or_else(|| format!("{}: /setup sent no cookie ({status})", variant.label))?;
                // The cookie must find the session, or the run measures something else.
                let (status, _, body) = http_get(server.addr, "/read", Some(&cookie))?;
                if status != 200 || body != "1" {
                    return Err(format!(
                        "{}: the session cookie does not work ({status} {body})",
                        variant.label
                    ));
                }
                Some(cookie)
            }
        };
        let load = Load {
            url: server.url(variant.path),
            connections: opts.connections,
            threads: opts.threads,
            duration: opts.duration,
            headers: cookie.map(|c| format!("Cookie: {c}")).into_iter().collect(),
        };
        let redis_pid = redis
            .filter(|_| scenario.store == StoreKind::Redis)
            .map(|r| r.pid.as_str());
        let cpu = || {
            (
                ticks("self"),
                redis_pid.map(ticks),
                cloakroom_bench::children_cpu_ticks().unwrap_or(0),
                cloakroom_bench::machine_ticks().unwrap_or((0, 0)),
            )
        };
        let redis = redis.filter(|_| scenario.store == StoreKind::Redis);
        if let Some(redis) = redis {
            redis.server.command("CONFIG RESETSTAT");
        }
        let (server_before, redis_before, wrk_before, machine_before) = cpu();
        let report = load.run()?;
        let (server_after, redis_after, wrk_after, machine_after) = cpu();
        let commands = redis.map(|r| parse_commandstats(&r.server.command("INFO commandstats")));
        let per_request = |ticks: u64| ticks as f64 / clock_ticks_per_second() * 1e6 / report.requests.max(1) as f64;
        Ok(Run {
            wrk: report,
            server_cpu_us: per_request(server_after - server_before),
            wrk_cpu_us: per_request(wrk_after - wrk_before),
            machine_busy: (machine_after.0 - machine_before.0) as f64
                / (machine_after.1 - machine_before.1).max(1) as f64,
            redis_cpu_us: redis_before.zip(redis_after).map(|(b, a)| per_request(a - b)),
            redis_commands: commands.map(|c| {
                c.into_iter()
                    .map(|(name, calls, usec)| {
                        let n = report.requests.max(1) as f64;
                        (name, calls as f64 / n, usec as f64 / n)
                    })
                    .collect()
            }),
        })
    })();
    server.stop(rt);
    let run = result?;
    if !run.wrk.clean() {
        return Err(format!(
            "{} {}: {} non-2xx responses, {} socket errors",
            scenario.route, variant.label, run.wrk.non_2xx, run.wrk.socket_errors
        ));
    }
    Ok(run)
}

/// One measured run: wrk's report and the CPU time spent per request.
#[derive(Debug, Clone)]
struct Run {
    wrk: Report,
    /// CPU time of this process (the server) per request, microseconds.
    server_cpu_us: f64,
    /// CPU time of wrk per request, microseconds.
    wrk_cpu_us: f64,
    /// Share of the machine's CPU time that was busy during the run (0..1).
    machine_busy: f64,
    /// CPU time of redis-server per request, microseconds (Redis scenarios).
    redis_cpu_us: Option<f64>,
    /// Per command Redis ran (`INFO commandstats`): calls per request and
    /// microseconds inside Redis per request. Commands run by scripts are listed
    /// too, and their time is also inside EVALSHA's.
    redis_commands: Option<Vec<(String, f64, f64)>>,
}

/// `(command, calls, usec)` out of `INFO commandstats`, leaving out the benchmark's
/// own CONFIG and INFO.
fn parse_commandstats(info: &str) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((name, stats)) = line.trim().strip_prefix("cmdstat_").and_then(|l| l.split_once(':')) else {
            continue;
        };
        if ["config", "info", "ping"].iter().any(|own| name.starts_with(own)) {
            continue;
        }
        let field = |key: &str| {
            stats
                .split(',')
                .find_map(|kv| kv.strip_prefix(key))
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let (Some(calls), Some(usec)) = (field("calls="), field("usec=")) {
            out.push((name.to_owned(), calls, usec));
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// Microseconds inside Redis per request for what the client sent: EVALSHA's time
/// (which includes the commands its script ran) when there is one, else every command.
fn redis_top_level_us(commands: &[(String, f64, f64)]) -> f64 {
    let script: f64 = commands
        .iter()
        .filter(|(n, ..)| n == "evalsha" || n == "eval")
        .map(|c| c.2)
        .fold(0.0, |a, b| a + b);
    if script > 0.0 {
        script
    } else {
        commands.iter().map(|c| c.2).fold(0.0, |a, b| a + b)
    }
}

fn ticks(pid: &str) -> u64 {
    cloakroom_bench::cpu_ticks(pid).unwrap_or(0)
}

/// `getconf CLK_TCK` (100 on Linux).
fn clock_ticks_per_second() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| command_line("getconf", &["CLK_TCK"]).parse().unwrap_or(100.0))
}

/// Results of every round: (store, route, variant label) → one report per round.
type Results = BTreeMap<(StoreKind, &'static str, &'static str), Vec<Run>>;

fn throughput(rt: &Runtime, opts: &Options, csv: &mut String) -> Fallible<(Results, Vec<Scenario>)> {
    let scenarios = scenarios(opts);
    let redis = if opts.wants("redis") {
        Some(RedisSide::start(rt)?)
    } else {
        None
    };
    // Warm up: caches, CPU frequency, the allocator.
    for lib in [Lib::Floor, Lib::Cloakroom, Lib::TowerSessions] {
        let warm = Scenario {
            store: StoreKind::Memory,
            route: "read",
            with_cookie: true,
            variants: vec![],
        };
        let variant = Variant {
            lib,
            path: "/read",
            label: lib.name(),
        };
        let mut quick = opts.clone();
        quick.duration = Duration::from_secs(1);
        run_variant(rt, &quick, &warm, &variant, None)?;
    }
    let mut results = Results::new();
    for round in 0..opts.rounds {
        for scenario in &scenarios {
            // ABC, then CBA: a linear drift over a round weighs on every variant alike.
            let mut order: Vec<&Variant> = scenario.variants.iter().collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for variant in order {
                let run = run_variant(rt, opts, scenario, variant, redis.as_ref())?;
                let report = run.wrk;
                let commands = run.redis_commands.as_deref().map_or(String::new(), |c| {
                    let list: Vec<String> = c
                        .iter()
                        .map(|(n, calls, us)| format!("{n} {calls:.2}x {us:.1}us"))
                        .collect();
                    format!("  [{}]", list.join(", "))
                });
                eprintln!(
                    "[round {}/{}] {:<6} {:<9} {:<36} {:>9.0} req/s  p50 {:.3} ms  p99 {:.3} ms  max {:.1} ms  \
                     machine {:.0}% busy  wrk {:.1} us/req  server {:.1} us/req{}",
                    round + 1,
                    opts.rounds,
                    scenario.store.name(),
                    scenario.route,
                    variant.label,
                    report.rps,
                    report.p50_ms,
                    report.p99_ms,
                    report.max_ms,
                    run.machine_busy * 100.0,
                    run.wrk_cpu_us,
                    run.server_cpu_us,
                    run.redis_cpu_us
                        .map_or(String::new(), |us| format!("  redis {us:.1} us/req"))
                        + &commands
                );
                let _ = writeln!(
                    csv,
                    "{},{},{},{},{:.1},{:.4},{:.4},{:.4},{:.3},{},{:.2},{},{},{:.2},{:.3}",
                    round + 1,
                    scenario.store.name(),
                    scenario.route,
                    variant.label,
                    report.rps,
                    report.p50_ms,
                    report.p99_ms,
                    report.avg_ms,
                    report.max_ms,
                    report.requests,
                    run.server_cpu_us,
                    run.redis_cpu_us.map_or(String::new(), |us| format!("{us:.2}")),
                    run.redis_commands
                        .as_deref()
                        .map_or(String::new(), |c| format!("{:.2}", redis_top_level_us(c))),
                    run.wrk_cpu_us,
                    run.machine_busy
                );
                results
                    .entry((scenario.store, scenario.route, variant.label))
                    .or_default()
                    .push(run);
            }
        }
    }
    Ok((results, scenarios))
}

// ---------------------------------------------------------------------------
// Resident memory of 1M sessions, each store in its own child process.

fn rss_child(args: &[String]) -> Fallible<()> {
    let lib = args.first().ok_or("which store?")?.as_str();
    let n = number(args.get(1).ok_or("how many sessions?")?)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let before;
    let after;
    match lib {
        "cloakroom" => {
            let store = MemoryStore::new();
            let now = cloakroom::clock::whole_millis(SystemTime::now());
            let record = apps::seeded_record(now, apps::IDLE_TIMEOUT);
            before = resident()?;
            rt.block_on(async {
                for _ in 0..n {
                    let key = SessionId::generate().store_key();
                    assert!(store.create(&key, &record).await.expect("create"));
                }
            });
            after = resident()?;
            assert_eq!(store.len(), n);
            drop(store);
        }
        "tower-sessions" => {
            use tower_sessions::SessionStore as _;
            use tower_sessions::cookie::time::{Duration as TimeDuration, OffsetDateTime};
            let store = tower_sessions::MemoryStore::default();
            let expiry = OffsetDateTime::now_utc() + TimeDuration::seconds(apps::IDLE_TIMEOUT.as_secs() as i64);
            before = resident()?;
            rt.block_on(async {
                for _ in 0..n {
                    let mut record = apps::seeded_tower_record(expiry);
                    store.create(&mut record).await.expect("create");
                }
            });
            after = resident()?;
            drop(store);
        }
        other => return Err(format!("unknown store {other:?}")),
    }
    println!("before_kib={before} after_kib={after}");
    Ok(())
}

fn resident() -> Fallible<u64> {
    cloakroom_bench::resident_kib("self").ok_or_else(|| "no VmRSS in /proc/self/status".to_owned())
}

/// RSS growth (KiB) of each store holding `opts.sessions` sessions, per repeat.
fn memory(opts: &Options) -> Fallible<BTreeMap<&'static str, Vec<f64>>> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut out: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for repeat in 0..opts.repeats {
        let mut libs = ["cloakroom", "tower-sessions"];
        if repeat % 2 == 1 {
            libs.reverse();
        }
        for lib in libs {
            let output = Command::new(&exe)
                .args(["rss-child", lib, &opts.sessions.to_string()])
                .output()
                .map_err(|e| e.to_string())?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                return Err(format!(
                    "rss-child {lib} failed: {stdout}{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            let field = |name: &str| -> Fallible<f64> {
                stdout
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("rss-child {lib}: no {name} in {stdout:?}"))
            };
            let delta = field("after_kib=")? - field("before_kib=")?;
            eprintln!(
                "[memory {}/{}] {lib}: +{:.0} MiB for {} sessions",
                repeat + 1,
                opts.repeats,
                delta / 1024.0,
                opts.sessions
            );
            out.entry(lib).or_default().push(delta);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Throughput of the read route while 1M expired sessions are purged.

/// Counts responses and the longest gap between two of them.
#[derive(Default)]
struct Ticker {
    base: std::sync::OnceLock<Instant>,
    count: AtomicU64,
    last: AtomicU64,
    max_gap: AtomicU64,
}

impl Ticker {
    fn now(&self) -> u64 {
        self.base.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    fn tick(&self) {
        let now = self.now();
        self.count.fetch_add(1, Ordering::Relaxed);
        let previous = self.last.swap(now, Ordering::Relaxed);
        if previous != 0 {
            self.max_gap.fetch_max(now.saturating_sub(previous), Ordering::Relaxed);
        }
    }

    /// Clears the longest gap and returns the count so far.
    fn restart(&self) -> u64 {
        self.last.store(0, Ordering::Relaxed);
        self.max_gap.store(0, Ordering::Relaxed);
        self.count.load(Ordering::Relaxed)
    }

    fn max_gap_ms(&self) -> f64 {
        self.max_gap.load(Ordering::Relaxed) as f64 / 1e6
    }
}

#[derive(Debug, Default, Clone)]
struct PurgeRound {
    baseline: Report,
    baseline_gap_ms: f64,
    during: Report,
    purged: usize,
    purge_ms: f64,
    window_rps: f64,
    window_gap_ms: f64,
}

fn purge(rt: &Runtime, opts: &Options) -> Fallible<Vec<PurgeRound>> {
    let mut rounds = Vec::new();
    for repeat in 0..opts.repeats {
        let clock = ManualClock::new();
        let store = MemoryStore::builder()
            .clock(clock.clone())
            // Only the purge this benchmark triggers runs.
            .purge_interval(Duration::from_secs(24 * 3600))
            .build();
        let layer = apps::cloakroom_config()
            .store(store.clone())
            .clock(clock.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let manager = layer.manager();
        let ticker = Arc::new(Ticker::default());
        let tick = ticker.clone();
        let app = apps::cloakroom(layer).layer(tower::util::MapResponseLayer::new(
            move |response: axum::response::Response| {
                tick.tick();
                response
            },
        ));
        let server = Server::start(rt, app);
        let result = (|| {
            let (_, cookie, _) = http_get(server.addr, "/setup", None)?;
            let cookie = cookie.ok_or("/setup sent no cookie")?;
            // 1M sessions that expire after 60 s of the manual clock.
            let now = cloakroom::clock::whole_millis(clock.now());
            let record = apps::seeded_record(now, Duration::from_secs(60));
            let started = Instant::now();
            rt.block_on(async {
                for _ in 0..opts.sessions {
                    let key = SessionId::generate().store_key();
                    store.create(&key, &record).await.expect("create");
                }
            });
            eprintln!(
                "[purge {}/{}] created {} sessions in {:.1} s",
                repeat + 1,
                opts.repeats,
                opts.sessions,
                started.elapsed().as_secs_f64()
            );
            clock.advance(Duration::from_secs(120));
            let load = Load {
                url: server.url("/read"),
                connections: opts.connections,
                threads: opts.threads,
                duration: opts.duration,
                headers: vec![format!("Cookie: {cookie}")],
            };
            // Without purge (1M expired sessions still held).
            ticker.restart();
            let baseline = load.run()?;
            let baseline_gap_ms = ticker.max_gap_ms();
            // With purge: start it 1 s into the run, on the server's worker thread.
            let wrk = RunningWrk::start(&load)?;
            std::thread::sleep(Duration::from_secs(1));
            let tick = ticker.clone();
            let manager = manager.clone();
            let purge = rt.spawn(async move {
                let count_before = tick.restart();
                let started = Instant::now();
                let purged = manager.purge_expired().await;
                let elapsed = started.elapsed();
                let count_after = tick.count.load(Ordering::Relaxed);
                (purged, elapsed, count_after - count_before, tick.max_gap_ms())
            });
            let (purged, elapsed, served, window_gap_ms) = rt.block_on(purge).map_err(|e| e.to_string())?;
            let purged = purged.map_err(|e| e.to_string())?;
            let during = wrk.finish()?;
            if !baseline.clean() || !during.clean() {
                return Err("purge runs had errors".to_owned());
            }
            if purged != opts.sessions {
                return Err(format!("purged {purged} sessions, expected {}", opts.sessions));
            }
            let round = PurgeRound {
                baseline,
                baseline_gap_ms,
                during,
                purged,
                purge_ms: elapsed.as_secs_f64() * 1000.0,
                window_rps: served as f64 / elapsed.as_secs_f64(),
                window_gap_ms,
            };
            eprintln!(
                "[purge {}/{}] purged {} in {:.0} ms; read route {:.0} req/s without, {:.0} req/s during \
                 (whole run {:.0}); max latency {:.1} ms without, {:.1} ms with; longest gap {:.2} ms without, \
                 {:.2} ms during",
                repeat + 1,
                opts.repeats,
                round.purged,
                round.purge_ms,
                round.baseline.rps,
                round.window_rps,
                round.during.rps,
                round.baseline.max_ms,
                round.during.max_ms,
                round.baseline_gap_ms,
                round.window_gap_ms
            );
            Ok(round)
        })();
        server.stop(rt);
        drop(store);
        rounds.push(result?);
    }
    Ok(rounds)
}

/// A `wrk` started in the background.
struct RunningWrk(std::process::Child);

impl RunningWrk {
    fn start(load: &Load) -> Fallible<Self> {
        load.command()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map(Self)
            .map_err(|e| format!("cannot run wrk: {e}"))
    }

    fn finish(self) -> Fallible<Report> {
        let output = self.0.wait_with_output().map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "wrk failed: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        cloakroom_bench::wrk::parse(&stdout)
    }
}

// ---------------------------------------------------------------------------
// The report.

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or("unknown".into(), |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0));
    let kernel = command_line("uname", &["-r"]);
    let wrk = command_line("wrk", &["-v"]);
    let redis = command_line("redis-server", &["--version"]);
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let commit = command_line("git", &["-C", repo, "rev-parse", "--short", "HEAD"]);
    let changed = Command::new("git")
        .args(["-C", repo, "status", "--porcelain", "--", "crates/cloakroom"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0);
    let tree = if changed == 0 {
        String::new()
    } else {
        format!(" with {changed} uncommitted change(s) under crates/cloakroom")
    };
    format!(
        "- cloakroom: commit {commit}{tree}\n- CPU: {cpu}, {cores} cores (nproc)\n- memory: {mem}\n- kernel: {kernel}\n\
         - wrk: {wrk}\n- Redis: {redis}\n"
    )
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_else(|_| "not found".into())
}

fn column(runs: &[Run], f: impl Fn(&Run) -> f64) -> Vec<f64> {
    runs.iter().map(f).collect()
}

/// Per-round ratio of `label`'s requests/s to `other`'s.
fn ratio_of(results: &Results, store: StoreKind, route: &str, label: &str, other: &str) -> Option<Spread> {
    let find = |l: &str| {
        results
            .iter()
            .find(|((s, r, v), _)| *s == store && *r == route && *v == l)
            .map(|(_, runs)| column(runs, |r| r.wrk.rps))
    };
    Spread::of(&ratios(&find(label)?, &find(other)?))
}

fn render(
    opts: &Options,
    throughput: Option<&(Results, Vec<Scenario>)>,
    rss: Option<&BTreeMap<&'static str, Vec<f64>>>,
    purge: Option<&[PurgeRound]>,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# loadbench report\n");
    let _ = writeln!(md, "{}", machine());
    let _ = writeln!(
        md,
        "Settings: {} rounds, {} s per run, wrk -c{} -t{} --latency on loopback; server on a tokio runtime with \
         1 worker thread (wrk and Redis get the other core); a fresh server (and an empty Redis) per run; \
         variants alternate ABC/CBA per round.\n",
        opts.rounds,
        opts.duration.as_secs(),
        opts.connections,
        opts.threads
    );
    let tower = "tower-sessions";
    let mut targets: Vec<(String, Option<Spread>, f64, bool)> = Vec::new();
    if let Some((results, scenarios)) = throughput {
        for store in [StoreKind::Memory, StoreKind::Redis] {
            let of_store: Vec<&Scenario> = scenarios.iter().filter(|s| s.store == store).collect();
            if of_store.is_empty() {
                continue;
            }
            let _ = writeln!(md, "## {} store\n", store.name());
            let _ = writeln!(
                md,
                "Ratios are per round (same round, back to back), shown as median (min–max) over {} rounds; \
                 absolute figures are medians (min–max) over the rounds.\n",
                opts.rounds
            );
            let redis = store == StoreKind::Redis;
            let _ = writeln!(
                md,
                "| route | variant | vs tower-sessions | vs floor | req/s | p50 ms | p99 ms | server CPU µs/req |{}\n\
                 | --- | --- | --- | --- | ---: | ---: | ---: | ---: |{}",
                if redis {
                    " Redis CPU µs/req | µs inside Redis commands /req |"
                } else {
                    ""
                },
                if redis { " ---: | ---: |" } else { "" }
            );
            for scenario in of_store {
                for variant in &scenario.variants {
                    let Some(runs) = results.get(&(store, scenario.route, variant.label)) else {
                        continue;
                    };
                    let vs = |other: &str| {
                        if variant.label == other {
                            "—".to_owned()
                        } else {
                            ratio_of(results, store, scenario.route, variant.label, other)
                                .map_or("—".into(), |s| s.ratio())
                        }
                    };
                    let rps = Spread::of(&column(runs, |r| r.wrk.rps)).expect("rounds");
                    let p50 = Spread::of(&column(runs, |r| r.wrk.p50_ms)).expect("rounds");
                    let p99 = Spread::of(&column(runs, |r| r.wrk.p99_ms)).expect("rounds");
                    let cpu = Spread::of(&column(runs, |r| r.server_cpu_us)).expect("rounds");
                    // The floor sends Redis nothing: its Redis columns stay empty.
                    let of_redis = |f: &dyn Fn(&Run) -> Option<f64>| {
                        Spread::of(&column(runs, |r| f(r).unwrap_or(f64::NAN)))
                            .filter(|_| variant.lib != Lib::Floor)
                            .map_or("—".to_owned(), |s| s.display(1))
                    };
                    let redis_cpu = of_redis(&|r| r.redis_cpu_us);
                    let in_commands = of_redis(&|r| r.redis_commands.as_deref().map(redis_top_level_us));
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} ({}–{}) | {} | {} | {} |{}",
                        scenario.route,
                        variant.label,
                        if variant.lib == Lib::Floor {
                            "—".into()
                        } else {
                            vs(tower)
                        },
                        vs("floor"),
                        kilo(rps.median),
                        kilo(rps.min),
                        kilo(rps.max),
                        p50.display(3),
                        p99.display(3),
                        cpu.display(1),
                        if redis {
                            format!(" {redis_cpu} | {in_commands} |")
                        } else {
                            String::new()
                        }
                    );
                }
            }
            let runs_of_store: Vec<&Run> = results
                .iter()
                .filter(|((s, ..), _)| *s == store)
                .flat_map(|(_, runs)| runs)
                .collect();
            let busy = Spread::of(&runs_of_store.iter().map(|r| r.machine_busy * 100.0).collect::<Vec<_>>());
            let wrk = Spread::of(&runs_of_store.iter().map(|r| r.wrk_cpu_us).collect::<Vec<_>>());
            if let (Some(busy), Some(wrk)) = (busy, wrk) {
                let _ = writeln!(
                    md,
                    "\nDuring these runs the machine was {:.0}–{:.0}% busy (median {:.0}%) and wrk used {:.1}–{:.1} µs \
                     of CPU per request: server, wrk{} share the two cores, so requests/s measure the whole \
                     request's CPU cost; \"server CPU µs/req\" is this process's alone (1 worker thread).",
                    busy.min,
                    busy.max,
                    busy.median,
                    wrk.min,
                    wrk.max,
                    if redis { " and Redis" } else { "" }
                );
            }
            let _ = writeln!(md);
            if redis {
                let _ = writeln!(
                    md,
                    "Redis commands per request (`INFO commandstats`, last round): calls per request and µs inside \
                     Redis per call. Redis counts the commands a script runs as well as the script; ↳ marks the \
                     ones only cloakroom's scripts send here (their time is part of the script's), while a plain \
                     `HGETALL` is the client's own load.\n"
                );
                let _ = writeln!(md, "| route | variant | commands |\n| --- | --- | --- |");
                for scenario in scenarios.iter().filter(|s| s.store == store) {
                    for variant in scenario.variants.iter().filter(|v| v.lib != Lib::Floor) {
                        let Some(commands) = results
                            .get(&(store, scenario.route, variant.label))
                            .and_then(|runs| runs.last())
                            .and_then(|run| run.redis_commands.clone())
                        else {
                            continue;
                        };
                        let top: Vec<String> = commands
                            .iter()
                            // Leave out what ran once (a SCRIPT LOAD after a flush), not per request.
                            .filter(|(_, calls, _)| *calls >= 0.01)
                            .map(|(name, calls, us)| {
                                let scripted = commands.iter().any(|(n, calls, _)| n == "evalsha" && *calls >= 0.01);
                                let inner = scripted && SCRIPT_ONLY_COMMANDS.contains(&name.as_str());
                                format!(
                                    "{}`{}` {:.2}× {:.1} µs",
                                    if inner { "↳ " } else { "" },
                                    name.to_uppercase(),
                                    calls,
                                    if *calls > 0.0 { us / calls } else { 0.0 }
                                )
                            })
                            .collect();
                        let _ = writeln!(md, "| {} | {} | {} |", scenario.route, variant.label, top.join(", "));
                    }
                }
                let _ = writeln!(md);
            }
        }
        let mut target = |name: &str, spread: Option<Spread>, bound: f64| {
            targets.push((name.to_owned(), spread, bound, true));
        };
        let writer = "cloakroom (SessionWriter)";
        if opts.wants("memory") {
            let m = StoreKind::Memory;
            target(
                "memory, read: cloakroom / floor ≥ 0.85",
                ratio_of(results, m, "read", "cloakroom", "floor"),
                0.85,
            );
            target(
                "memory, read: cloakroom / tower-sessions ≥ 1.2",
                ratio_of(results, m, "read", "cloakroom", tower),
                1.2,
            );
            target(
                "memory, write: cloakroom (SessionWriter) / tower-sessions ≥ 1.2",
                ratio_of(results, m, "write", writer, tower),
                1.2,
            );
            target(
                "memory, new session: cloakroom / tower-sessions ≥ 1.2",
                ratio_of(results, m, "new", "cloakroom", tower),
                1.2,
            );
        }
        if opts.wants("redis") {
            let r = StoreKind::Redis;
            target(
                "Redis, write: cloakroom (SessionWriter) / tower-sessions ≥ 1.5",
                ratio_of(results, r, "write", writer, tower),
                1.5,
            );
            target(
                "Redis, read: cloakroom / tower-sessions ≥ 1.1",
                ratio_of(results, r, "read", "cloakroom", tower),
                1.1,
            );
        }
    }
    if let Some(rss) = rss {
        let _ = writeln!(md, "## Resident memory: {} sessions of ~100 bytes\n", opts.sessions);
        let _ = writeln!(
            md,
            "Each store filled in its own child process; growth of VmRSS from just before the first insert to after \
             the last, median (min–max) over {} repeats.\n",
            opts.repeats
        );
        let _ = writeln!(
            md,
            "| store | RSS growth MiB | bytes per session |\n| --- | ---: | ---: |"
        );
        for (lib, deltas) in rss {
            let spread = Spread::of(deltas).expect("repeats");
            let _ = writeln!(
                md,
                "| {lib} MemoryStore | {} | {:.0} |",
                spread.map(|k| k / 1024.0).display(0),
                spread.median * 1024.0 / opts.sessions as f64
            );
        }
        if let (Some(c), Some(t)) = (rss.get("cloakroom"), rss.get("tower-sessions")) {
            let ratio = Spread::of(&ratios(c, t));
            let _ = writeln!(
                md,
                "\ncloakroom / tower-sessions: {}\n",
                ratio.map_or("—".into(), |r| r.ratio())
            );
            // Lower is better: met when cloakroom's is at most tower-sessions'.
            targets.push((
                "1M sessions: cloakroom RSS / tower-sessions RSS ≤ 1.0".into(),
                ratio,
                1.0,
                false,
            ));
        }
    }
    if let Some(purge) = purge {
        let _ = writeln!(md, "## Purging {} expired sessions under load\n", opts.sessions);
        let _ = writeln!(
            md,
            "cloakroom's MemoryStore with a manual clock: {} sessions created, the clock moved past their expiry, then \
             wrk drives `/read` (a live session) for {} s twice: once without purging, once with \
             `SessionManager::purge_expired` started 1 s in, on the server's only worker thread. \"During purge\" \
             counts responses served between the purge's start and end. The longest gap is the longest time between \
             two responses the server sent.\n",
            opts.sessions,
            opts.duration.as_secs()
        );
        let _ = writeln!(
            md,
            "| repeat | purge took | req/s without | req/s during purge | ratio | max latency without / with | p99 without / with | longest gap without / during |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for (i, r) in purge.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {} | {:.0} ms | {} | {} | {:.2}x | {:.1} / {:.1} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms |",
                i + 1,
                r.purge_ms,
                kilo(r.baseline.rps),
                kilo(r.window_rps),
                r.window_rps / r.baseline.rps,
                r.baseline.max_ms,
                r.during.max_ms,
                r.baseline.p99_ms,
                r.during.p99_ms,
                r.baseline_gap_ms,
                r.window_gap_ms
            );
        }
        let _ = writeln!(md);
    }
    if !targets.is_empty() {
        let _ = writeln!(md, "## Targets\n");
        let _ = writeln!(
            md,
            "Met when the median over the rounds meets the bound; \"every round\" when the worst round does too.\n"
        );
        let _ = writeln!(
            md,
            "| target | measured: median (min–max) | verdict |\n| --- | --- | --- |"
        );
        for (name, spread, bound, higher_is_better) in targets {
            let verdict = match spread {
                None => "not measured".to_owned(),
                Some(s) => {
                    let meets = |v: f64| if higher_is_better { v >= bound } else { v <= bound };
                    let worst = if higher_is_better { s.min } else { s.max };
                    match (meets(s.median), meets(worst)) {
                        (true, true) => "**met** (every round)".to_owned(),
                        (true, false) => "**met** on the median, not in every round".to_owned(),
                        (false, _) => "**missed**".to_owned(),
                    }
                }
            };
            let _ = writeln!(
                md,
                "| {name} | {} | {verdict} |",
                spread.map_or("—".into(), |s| s.ratio())
            );
        }
    }
    md
}

fn run(opts: &Options) -> Fallible<()> {
    if Command::new("wrk").arg("-v").output().is_err() {
        return Err("wrk is not installed (scripts/bench installs it: apt-get install wrk)".into());
    }
    let started = Instant::now();
    let rt = server_runtime();
    let mut csv = String::from(
        "round,store,route,variant,rps,p50_ms,p99_ms,avg_ms,max_ms,requests,server_cpu_us_per_req,redis_cpu_us_per_req,redis_us_in_commands_per_req,wrk_cpu_us_per_req,machine_busy\n",
    );
    let throughput = if opts.wants("memory") || opts.wants("redis") {
        Some(throughput(&rt, opts, &mut csv)?)
    } else {
        None
    };
    let rss = if opts.wants("rss") { Some(memory(opts)?) } else { None };
    let purge = if opts.wants("purge") {
        Some(purge(&rt, opts)?)
    } else {
        None
    };
    let mut report = render(opts, throughput.as_ref(), rss.as_ref(), purge.as_deref());
    let _ = writeln!(report, "\nTotal time: {:.0} s.", started.elapsed().as_secs_f64());
    println!("{report}");
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&opts.out, &report).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let csv_path = opts.out.with_extension("csv");
    std::fs::write(&csv_path, csv).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    eprintln!(
        "report written to {} (per-run figures in {})",
        opts.out.display(),
        csv_path.display()
    );
    rt.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commandstats_are_read_without_the_benchmarks_own_commands() {
        let info = "# Commandstats\r\n\
            cmdstat_evalsha:calls=10,usec=80,usec_per_call=8.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_hgetall:calls=10,usec=9,usec_per_call=0.90,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_config|resetstat:calls=1,usec=30,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n";
        let stats = parse_commandstats(info);
        assert_eq!(stats, vec![("evalsha".into(), 10, 80), ("hgetall".into(), 10, 9)]);
        let per_request: Vec<(String, f64, f64)> = stats
            .into_iter()
            .map(|(n, c, u)| (n, c as f64 / 10.0, u as f64 / 10.0))
            .collect();
        // The script's time already holds the commands it ran.
        assert_eq!(redis_top_level_us(&per_request), 8.0);
        assert_eq!(
            redis_top_level_us(&[("get".into(), 1.0, 0.2), ("set".into(), 1.0, 0.5)]),
            0.7
        );
        assert_eq!(redis_top_level_us(&[]).to_string(), "0");
    }

    #[test]
    fn options_defaults_quick_and_errors() {
        let parse = |args: &[&str]| Options::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let default = parse(&[]).unwrap();
        assert_eq!(
            (default.rounds, default.duration.as_secs(), default.connections),
            (5, 5, 32)
        );
        let quick = parse(&["--quick", "--rounds", "3"]).unwrap();
        assert_eq!((quick.rounds, quick.duration.as_secs(), quick.repeats), (3, 2, 1));
        assert!(parse(&["--parts", "memory,disk"]).is_err());
        assert!(parse(&["--rounds"]).is_err());
    }

    #[test]
    fn filters_keep_matching_variants_only() {
        let mut opts = Options::parse(&[]).unwrap();
        opts.filter = Some("redis/write/cloakroom".into());
        let kept = scenarios(&opts);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].variants.len(), 2, "SessionWriter and Session");
    }
}
