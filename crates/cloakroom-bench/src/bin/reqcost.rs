//! Runs one route of one application in process (no HTTP) a given number of times,
//! for instruction counting under `valgrind --tool=callgrind` (repeatable where
//! wall time on a shared machine is not). `scripts/bench-instructions` runs it for
//! every route and library and prints instructions per request.
//!
//! ```text
//! reqcost [--redis] <read|write|write-load|new|untouched> <floor|cloakroom|tower-sessions> <requests>
//! ```
//!
//! With `--redis` the applications use their Redis stores, on a throwaway
//! `redis-server` this process starts (callgrind counts only this process: the
//! client side of each request, not Redis's work).

use cloakroom_bench::apps;
use cloakroom_testing::RedisServer;

const USAGE: &str =
    "usage: reqcost [--redis] <read|write|write-load|new|untouched> <floor|cloakroom|tower-sessions> <requests>";

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let redis = args.first().is_some_and(|a| a == "--redis");
    if redis {
        args.remove(0);
    }
    let [route, lib, count] = args.as_slice() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let count: usize = count.parse().unwrap_or_else(|_| {
        eprintln!("reqcost: <requests> must be a number, got {count:?}");
        std::process::exit(2);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let Some(lib) = apps::Lib::from_name(lib) else {
        eprintln!("reqcost: unknown library {lib:?}");
        std::process::exit(2);
    };
    // Kept until the end: dropping it stops the server.
    let server = redis.then(|| RedisServer::start_with(&["--appendonly", "no", "--appendfsync", "no"]));
    let app = match &server {
        None => apps::in_memory(lib),
        Some(server) => {
            let (cloakroom, fred) = runtime
                .block_on(apps::redis_clients(&server.url()))
                .unwrap_or_else(|e| {
                    eprintln!("reqcost: {e}");
                    std::process::exit(1);
                });
            apps::over_redis(lib, &cloakroom, &fred)
        }
    };
    let path = format!("/{route}");
    let cookie = match route.as_str() {
        "new" => None,
        _ => runtime.block_on(apps::session_cookie(lib, &app)),
    };
    runtime.block_on(async {
        for _ in 0..count {
            let answer = apps::call(&app, &path, cookie.as_deref()).await;
            assert!(answer.status.is_success(), "{path}: {}", answer.status);
        }
    });
}
