//! The report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

use cloakroom_bench::apps::Lib;
use cloakroom_bench::stats::{Spread, kilo, ratios};

use crate::cli::Options;
use crate::proc::command_line;
use crate::purge::PurgeRound;
use crate::scenarios::{Results, Run, Scenario, StoreKind, store_time_us};

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

/// The throughput targets, reported in this order: store, route, variant, the
/// variant it is compared with, and the least ratio of requests/s that meets it.
const TARGETS: &[(StoreKind, &str, &str, &str, f64)] = &[
    (StoreKind::Memory, "read", "cloakroom", "floor", 0.85),
    (StoreKind::Memory, "read", "cloakroom", TOWER, 1.05),
    (StoreKind::Memory, "write", WRITER, TOWER, 1.3),
    (StoreKind::Memory, "new", "cloakroom", TOWER, 1.2),
    (StoreKind::Redis, "read", "cloakroom", TOWER, 1.05),
    (StoreKind::Redis, "write", WRITER, TOWER, 1.5),
    (StoreKind::Redis, "new", "cloakroom", TOWER, 1.1),
    (StoreKind::Postgres, "write", WRITER, TOWER, 1.2),
    (StoreKind::Postgres, "new", "cloakroom", TOWER, 1.2),
    (StoreKind::Postgres, "read", "cloakroom", TOWER, 1.0),
    (StoreKind::Sqlite, "write", WRITER, TOWER, 1.2),
    (StoreKind::Sqlite, "new", "cloakroom", TOWER, 1.2),
    (StoreKind::Sqlite, "read", "cloakroom", TOWER, 1.0),
];

const TOWER: &str = "tower-sessions";
const WRITER: &str = "cloakroom (SessionWriter)";

/// A store's name in the targets' names.
fn store_title(store: StoreKind) -> &'static str {
    match store {
        StoreKind::Memory => "memory",
        StoreKind::Redis => "Redis",
        StoreKind::Postgres => "Postgres",
        StoreKind::Sqlite => "SQLite",
    }
}

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
    let postgres = command_line("psql", &["--version"]);
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
         - wrk: {wrk}\n- Redis: {redis}\n- Postgres: {postgres} (server from the same package, fsync off)\n"
    )
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

pub(crate) fn render(
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
         1 worker thread (wrk and the store's server get the other core); a fresh server (and an empty Redis or \
         empty tables) per run; \
         variants alternate ABC/CBA per round.\n",
        opts.rounds,
        opts.duration.as_secs(),
        opts.connections,
        opts.threads
    );
    let mut targets: Vec<(String, Option<Spread>, f64, bool)> = Vec::new();
    if let Some((results, scenarios)) = throughput {
        for store in StoreKind::ALL {
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
            let server = match store {
                StoreKind::Memory | StoreKind::Sqlite => None,
                StoreKind::Redis => Some("Redis"),
                StoreKind::Postgres => Some("Postgres"),
            };
            let _ = writeln!(
                md,
                "| route | variant | vs tower-sessions | vs floor | req/s | p50 ms | p99 ms | server CPU µs/req |{}\n\
                 | --- | --- | --- | --- | ---: | ---: | ---: | ---: |{}",
                match store {
                    StoreKind::Memory | StoreKind::Sqlite => "",
                    StoreKind::Redis => " Redis CPU µs/req | µs inside Redis commands /req |",
                    StoreKind::Postgres => " Postgres CPU µs/req | µs inside statements /req |",
                },
                if server.is_some() { " ---: | ---: |" } else { "" }
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
                    // The floor sends the store nothing: its store columns stay empty.
                    let of_store = |f: &dyn Fn(&Run) -> Option<f64>| {
                        Spread::of(&column(runs, |r| f(r).unwrap_or(f64::NAN)))
                            .filter(|_| variant.lib != Lib::Floor)
                            .map_or("—".to_owned(), |s| s.display(1))
                    };
                    let store_cpu = of_store(&|r| r.store_cpu_us);
                    let in_commands = of_store(&|r| r.store_commands.as_deref().map(|c| store_time_us(store, c)));
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} ({}–{}) | {} | {} | {} |{}",
                        scenario.route,
                        variant.label,
                        if variant.lib == Lib::Floor {
                            "—".into()
                        } else {
                            vs(TOWER)
                        },
                        vs("floor"),
                        kilo(rps.median),
                        kilo(rps.min),
                        kilo(rps.max),
                        p50.display(3),
                        p99.display(3),
                        cpu.display(1),
                        if server.is_some() {
                            format!(" {store_cpu} | {in_commands} |")
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
                    server.map_or(String::new(), |name| format!(" and {name}"))
                );
            }
            let _ = writeln!(md);
            if server.is_some() {
                let _ = writeln!(
                    md,
                    "{}",
                    if store == StoreKind::Redis {
                        "Redis commands per request (`INFO commandstats`, last round): calls per request and µs inside \
                         Redis per call. Redis counts the commands a script runs as well as the script; ↳ marks the \
                         ones only cloakroom's scripts send here (their time is part of the script's), while a plain \
                         `HGETALL` is the client's own load.\n"
                    } else {
                        "Postgres statements per request (`pg_stat_statements`, last round; the first 60 characters \
                         of each): calls per request and µs of execution per call.\n"
                    }
                );
                let _ = writeln!(md, "| route | variant | commands |\n| --- | --- | --- |");
                for scenario in scenarios.iter().filter(|s| s.store == store) {
                    for variant in scenario.variants.iter().filter(|v| v.lib != Lib::Floor) {
                        let Some(commands) = results
                            .get(&(store, scenario.route, variant.label))
                            .and_then(|runs| runs.last())
                            .and_then(|run| run.store_commands.clone())
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
                                let name = if store == StoreKind::Redis {
                                    name.to_uppercase()
                                } else {
                                    name.replace('|', "\\|")
                                };
                                format!(
                                    "{}`{}` {:.2}× {:.1} µs",
                                    if inner { "↳ " } else { "" },
                                    name,
                                    calls,
                                    if *calls > 0.0 { us / calls } else { 0.0 }
                                )
                            })
                            .collect();
                        let total = if store == StoreKind::Postgres {
                            let per_request: f64 = commands.iter().map(|c| c.1).sum();
                            format!("{per_request:.2} statements: ")
                        } else {
                            String::new()
                        };
                        let _ = writeln!(
                            md,
                            "| {} | {} | {total}{} |",
                            scenario.route,
                            variant.label,
                            top.join(", ")
                        );
                    }
                }
                let _ = writeln!(md);
            }
        }
        for &(store, route, variant, against, bound) in TARGETS {
            if opts.wants(store.name()) {
                let route_label = if route == "new" { "new session" } else { route };
                targets.push((
                    format!(
                        "{}, {route_label}: {variant} / {against} ≥ {bound:?}",
                        store_title(store)
                    ),
                    ratio_of(results, store, route, variant, against),
                    bound,
                    true,
                ));
            }
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
