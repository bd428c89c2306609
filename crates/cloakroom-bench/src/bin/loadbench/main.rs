//! Load benchmarks: the same axum routes with no session layer (the floor),
//! cloakroom and tower-sessions, over the memory store, Redis, Postgres and SQLite, driven by `wrk`
//! on loopback; resident memory of 1M sessions; throughput while 1M expired
//! sessions are purged. Run it through `scripts/bench` (installs wrk, builds in
//! release).
//!
//! ```text
//! loadbench [--quick] [--rounds N] [--duration SECS] [--connections N] [--threads N]
//!           [--sessions N] [--parts memory,redis,postgres,sqlite,rss,purge,demo] [--out FILE]
//! ```
//!
//! The server runs in this process on a tokio runtime with ONE worker thread, so
//! that on a 2-core machine wrk (and Redis) get the other core: the numbers are
//! per-core throughput of each library, not a race for both cores.

mod cli;
mod demo;
mod proc;
mod purge;
mod report;
mod rss;
mod scenarios;
mod servers;

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cli::Options;
use crate::purge::purge;
use crate::report::render;
use crate::rss::{memory, rss_child};
use crate::scenarios::throughput;
use crate::servers::server_runtime;

type Fallible<T> = Result<T, String>;

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

fn run(opts: &Options) -> Fallible<()> {
    if Command::new("wrk").arg("-v").output().is_err() {
        return Err("wrk is not installed (scripts/bench installs it: apt-get install wrk)".into());
    }
    let started = Instant::now();
    let rt = server_runtime();
    let mut csv = String::from(
        "round,store,route,variant,rps,p50_ms,p99_ms,avg_ms,max_ms,requests,server_cpu_us_per_req,store_cpu_us_per_req,store_us_in_commands_per_req,wrk_cpu_us_per_req,machine_busy\n",
    );
    let throughput = if opts.wants("memory") || opts.wants("redis") || opts.wants("postgres") || opts.wants("sqlite") {
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
    let demo = if opts.wants("demo") {
        Some(demo::demo_apps(opts, &mut csv)?)
    } else {
        None
    };
    let mut report = render(opts, throughput.as_ref(), rss.as_ref(), purge.as_deref());
    if let Some(demo) = demo {
        let _ = write!(report, "\n{demo}");
    }
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
