//! Resident memory of 1M sessions, each store in its own child process.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::SystemTime;

use cloakroom::store::SessionStore;
use cloakroom::{MemoryStore, SessionId};
use cloakroom_bench::apps;

use crate::Fallible;
use crate::cli::{Options, number};

pub(crate) fn rss_child(args: &[String]) -> Fallible<()> {
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
pub(crate) fn memory(opts: &Options) -> Fallible<BTreeMap<&'static str, Vec<f64>>> {
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
