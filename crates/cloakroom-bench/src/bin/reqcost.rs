//! Runs one route of one application in process (no HTTP) a given number of times,
//! for instruction counting under `valgrind --tool=callgrind` (repeatable where
//! wall time on a shared machine is not). `scripts/bench-instructions` runs it for
//! every route and library and prints instructions per request.
//!
//! ```text
//! reqcost <read|write|write-load|new|untouched> <floor|cloakroom|tower-sessions> <requests>
//! ```

use cloakroom_bench::apps;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [route, lib, count] = args.as_slice() else {
        eprintln!("usage: reqcost <read|write|write-load|new|untouched> <floor|cloakroom|tower-sessions> <requests>");
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
    let app = apps::in_memory(lib);
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
