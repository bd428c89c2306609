//! Scenarios: a route, a store, and the variants that serve it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use axum::Router;
use cloakroom::MemoryStore;
use cloakroom_bench::apps::{self, Lib};
use cloakroom_bench::wrk::{Load, Report};
use cloakroom_testing::{PostgresServer, RedisServer, TempDir};
use tokio::runtime::Runtime;

use crate::Fallible;
use crate::cli::Options;
use crate::proc::{clock_ticks_per_second, ticks};
use crate::servers::{Server, http_get};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StoreKind {
    Memory,
    Redis,
    Postgres,
    Sqlite,
}

impl StoreKind {
    pub(crate) const ALL: [StoreKind; 4] = [
        StoreKind::Memory,
        StoreKind::Redis,
        StoreKind::Postgres,
        StoreKind::Sqlite,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Redis => "redis",
            StoreKind::Postgres => "postgres",
            StoreKind::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Variant {
    pub(crate) lib: Lib,
    path: &'static str,
    pub(crate) label: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub(crate) store: StoreKind,
    pub(crate) route: &'static str,
    /// Requests carry the cookie of a session created by `/setup` before the run.
    with_cookie: bool,
    pub(crate) variants: Vec<Variant>,
}

fn scenarios(opts: &Options) -> Vec<Scenario> {
    let v = |lib, path, label| Variant { lib, path, label };
    let mut out = Vec::new();
    for store in StoreKind::ALL {
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
pub(crate) struct RedisSide {
    server: RedisServer,
    pid: String,
    pub(crate) cloakroom: cloakroom::RedisStore,
    pub(crate) fred: tower_sessions_redis_store::fred::clients::Client,
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

    pub(crate) fn flush(&self) {
        self.server.command("FLUSHALL");
    }
}

/// Postgres for the Postgres scenarios: one server with `pg_stat_statements`, one
/// store of each library, each in its own table.
pub(crate) struct PostgresSide {
    server: PostgresServer,
    pid: u32,
    pub(crate) cloakroom: cloakroom::PostgresStore,
    pub(crate) tower: tower_sessions_sqlx_store::PostgresStore,
}

impl PostgresSide {
    fn start(rt: &Runtime) -> Fallible<Self> {
        // fsync off (the test helper's default): the benchmark measures the
        // libraries, not the disk. A transaction left open by a request that a
        // stopped server dropped half way (tower-sessions creates a session in
        // one) is ended after 1 s, so the next run's TRUNCATE does not wait for it.
        let server = PostgresServer::start_with(&[
            "shared_preload_libraries=pg_stat_statements",
            "pg_stat_statements.track_utility=on",
            "idle_in_transaction_session_timeout=1000",
        ]);
        server.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        let (cloakroom, tower) = rt.block_on(apps::postgres_stores(&server.url()))?;
        let pid = server.pid().ok_or("no Postgres pid file")?;
        Ok(Self {
            server,
            pid,
            cloakroom,
            tower,
        })
    }

    /// Empties both tables and the statement statistics.
    pub(crate) fn reset(&self) {
        self.server
            .sql("TRUNCATE cloakroom_sessions, tower_sessions.session; SELECT pg_stat_statements_reset()");
    }

    /// `(statement, calls, µs)` per statement run since the last reset, leaving out
    /// the benchmark's own.
    fn statements(&self) -> Vec<(String, u64, u64)> {
        let rows = self.server.sql(
            "SELECT calls, round(total_exec_time * 1000), left(regexp_replace(query, '\\s+', ' ', 'g'), 60)
             FROM pg_stat_statements
             WHERE query !~* 'pg_stat_statements|TRUNCATE'
             ORDER BY calls DESC, query",
        );
        parse_statements(&rows)
    }
}

/// Rows of `calls|µs|query` as psql prints them.
fn parse_statements(rows: &str) -> Vec<(String, u64, u64)> {
    rows.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '|');
            let calls = fields.next()?.trim().parse().ok()?;
            let usec = fields.next()?.trim().parse().ok()?;
            Some((fields.next()?.trim().to_owned(), calls, usec))
        })
        .collect()
}

/// SQLite for the SQLite scenarios: a file for each library in a directory of
/// its own (on the machine's disk: commits are `fsync`ed, as both stores are
/// opened with `synchronous = FULL`). The databases run in this process, so the
/// server CPU includes theirs.
pub(crate) struct SqliteSide {
    dir: TempDir,
    runtime: tokio::runtime::Handle,
    pub(crate) cloakroom: cloakroom::SqliteStore,
    pub(crate) tower: tower_sessions_sqlx_store::SqliteStore,
}

impl SqliteSide {
    fn start(rt: &Runtime) -> Fallible<Self> {
        let dir = TempDir::new("loadbench-sqlite");
        let (cloakroom, tower) = rt.block_on(apps::sqlite_stores(dir.path()))?;
        Ok(Self {
            dir,
            runtime: rt.handle().clone(),
            cloakroom,
            tower,
        })
    }

    /// Empties both tables, and folds each write-ahead log back into its file.
    pub(crate) fn reset(&self) -> Fallible<()> {
        use tower_sessions_sqlx_store::sqlx::{self, Connection as _};
        self.runtime.block_on(async {
            for (file, table) in [("cloakroom.db", "cloakroom_sessions"), ("tower.db", "tower_sessions")] {
                let url = format!("sqlite://{}", self.dir.path().join(file).display());
                let mut conn = sqlx::SqliteConnection::connect(&url)
                    .await
                    .map_err(|e| format!("{file}: {e}"))?;
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| format!("{file}: {e}"))?;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&mut conn)
                    .await
                    .map_err(|e| format!("{file}: {e}"))?;
                conn.close().await.map_err(|e| format!("{file}: {e}"))?;
            }
            Ok(())
        })
    }
}

/// The servers behind the Redis, Postgres and SQLite scenarios, when they run.
#[derive(Default)]
pub(crate) struct Backends {
    pub(crate) redis: Option<RedisSide>,
    pub(crate) postgres: Option<PostgresSide>,
    pub(crate) sqlite: Option<SqliteSide>,
}

/// The floor gets a cookie header as long as cloakroom's, so hyper reads the same bytes.
fn floor_cookie() -> String {
    format!("{}={}", apps::COOKIE_NAME, "x".repeat(87))
}

/// One measured run of one variant on a fresh server (and, for Redis and Postgres,
/// an empty database).
fn run_variant(
    rt: &Runtime,
    opts: &Options,
    scenario: &Scenario,
    variant: &Variant,
    backends: &Backends,
) -> Fallible<Run> {
    let app = build_app(variant, scenario.store, backends)?;
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
            script: None,
        };
        let redis = backends.redis.as_ref().filter(|_| scenario.store == StoreKind::Redis);
        let postgres = backends
            .postgres
            .as_ref()
            .filter(|_| scenario.store == StoreKind::Postgres);
        let store_ticks = || match (redis, postgres) {
            (Some(redis), _) => Some(ticks(&redis.pid)),
            (_, Some(postgres)) => cloakroom_bench::tree_cpu_ticks(postgres.pid),
            _ => None,
        };
        let cpu = || {
            (
                ticks("self"),
                store_ticks(),
                cloakroom_bench::children_cpu_ticks().unwrap_or(0),
                cloakroom_bench::machine_ticks().unwrap_or((0, 0)),
            )
        };
        if let Some(redis) = redis {
            redis.server.command("CONFIG RESETSTAT");
        }
        let (server_before, store_before, wrk_before, machine_before) = cpu();
        let report = load.run()?;
        let (server_after, store_after, wrk_after, machine_after) = cpu();
        let commands = match (redis, postgres) {
            (Some(redis), _) => Some(parse_commandstats(&redis.server.command("INFO commandstats"))),
            (_, Some(postgres)) => Some(postgres.statements()),
            _ => None,
        };
        let per_request = |ticks: u64| ticks as f64 / clock_ticks_per_second() * 1e6 / report.requests.max(1) as f64;
        Ok(Run {
            wrk: report,
            server_cpu_us: per_request(server_after - server_before),
            wrk_cpu_us: per_request(wrk_after - wrk_before),
            machine_busy: (machine_after.0 - machine_before.0) as f64
                / (machine_after.1 - machine_before.1).max(1) as f64,
            store_cpu_us: store_before
                .zip(store_after)
                .map(|(b, a)| per_request(a.saturating_sub(b))),
            store_commands: commands.map(|c| {
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
pub(crate) struct Run {
    pub(crate) wrk: Report,
    /// CPU time of this process (the server) per request, microseconds.
    pub(crate) server_cpu_us: f64,
    /// CPU time of wrk per request, microseconds.
    pub(crate) wrk_cpu_us: f64,
    /// Share of the machine's CPU time that was busy during the run (0..1).
    pub(crate) machine_busy: f64,
    /// CPU time of the store's server per request, microseconds: redis-server, or
    /// the postmaster and every backend.
    pub(crate) store_cpu_us: Option<f64>,
    /// Per command Redis ran (`INFO commandstats`) or statement Postgres ran
    /// (`pg_stat_statements`): calls per request and microseconds inside the
    /// server per request. Commands run by Redis scripts are listed too, and their
    /// time is also inside EVALSHA's.
    pub(crate) store_commands: Option<Vec<(String, f64, f64)>>,
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

/// Microseconds inside the store's server per request: on Redis see
/// [`redis_top_level_us`]; on Postgres, every statement's.
pub(crate) fn store_time_us(store: StoreKind, commands: &[(String, f64, f64)]) -> f64 {
    match store {
        StoreKind::Redis => redis_top_level_us(commands),
        _ => commands.iter().map(|c| c.2).fold(0.0, |a, b| a + b),
    }
}

/// Microseconds inside Redis per request for what the client sent: EVALSHA's time
/// (which includes the commands its script ran) when there is one, else every command.
pub(crate) fn redis_top_level_us(commands: &[(String, f64, f64)]) -> f64 {
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

/// Results of every round: (store, route, variant label) → one report per round.
pub(crate) type Results = BTreeMap<(StoreKind, &'static str, &'static str), Vec<Run>>;

pub(crate) fn throughput(rt: &Runtime, opts: &Options, csv: &mut String) -> Fallible<(Results, Vec<Scenario>)> {
    let scenarios = scenarios(opts);
    let backends = Backends {
        redis: opts.wants("redis").then(|| RedisSide::start(rt)).transpose()?,
        postgres: opts.wants("postgres").then(|| PostgresSide::start(rt)).transpose()?,
        sqlite: opts.wants("sqlite").then(|| SqliteSide::start(rt)).transpose()?,
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
        run_variant(rt, &quick, &warm, &variant, &Backends::default())?;
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
                let run = run_variant(rt, opts, scenario, variant, &backends)?;
                let report = run.wrk;
                let commands = run.store_commands.as_deref().map_or(String::new(), |c| {
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
                    run.store_cpu_us
                        .map_or(String::new(), |us| format!("  store {us:.1} us/req"))
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
                    run.store_cpu_us.map_or(String::new(), |us| format!("{us:.2}")),
                    run.store_commands
                        .as_deref()
                        .map_or(String::new(), |c| format!("{:.2}", store_time_us(scenario.store, c))),
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

pub(crate) fn build_app(variant: &Variant, store: StoreKind, backends: &Backends) -> Fallible<Router> {
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
            let redis = backends.redis.as_ref().ok_or("no Redis")?;
            redis.flush();
            apps::over_redis(lib, &redis.cloakroom, &redis.fred)
        }
        (lib, StoreKind::Postgres) => {
            let postgres = backends.postgres.as_ref().ok_or("no Postgres")?;
            postgres.reset();
            apps::over_stores(lib, &postgres.cloakroom, &postgres.tower)
        }
        (lib, StoreKind::Sqlite) => {
            let sqlite = backends.sqlite.as_ref().ok_or("no SQLite")?;
            sqlite.reset()?;
            apps::over_stores(lib, &sqlite.cloakroom, &sqlite.tower)
        }
    })
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
    fn statements_are_read_from_psql_rows() {
        let rows = "12|340|/* cloakroom load */ WITH cur AS ( SELECT data::text\n3|9|select 1 | 2";
        assert_eq!(
            parse_statements(rows),
            vec![
                ("/* cloakroom load */ WITH cur AS ( SELECT data::text".into(), 12, 340),
                ("select 1 | 2".into(), 3, 9)
            ]
        );
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
