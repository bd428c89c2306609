//! Benchmarks of cloakroom side by side with tower-sessions.
//!
//! - `benches/micro.rs` (criterion, `cargo bench -p cloakroom-bench`): IDs, tickets,
//!   change sets, the memory store at 1k/100k/1M sessions, one request through each
//!   layer without HTTP.
//! - `src/bin/loadbench/` (`scripts/bench`): the same axum routes served on
//!   loopback with no session layer (the floor), cloakroom and tower-sessions, over
//!   the memory store and Redis, driven by `wrk`; resident memory of 1M sessions;
//!   throughput while 1M expired sessions are purged.
//!
//! This library holds what both share: the applications under test ([`apps`]), the
//! `wrk` runner and its output parser ([`wrk`]), and the statistics ([`stats`]).
#![forbid(unsafe_code)]

pub mod apps;
pub mod prefs_app;
pub mod stats;
pub mod wrk;

/// Resident memory of process `pid` (`"self"` for this one), in KiB, from
/// `/proc/PID/status` (`VmRSS`).
pub fn resident_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

/// CPU time process `pid` (`"self"` for this one) has used, user plus system,
/// in clock ticks (`getconf CLK_TCK`, 100 per second on Linux), from `/proc/PID/stat`.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat)
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // Fields 14 (utime) and 15 (stime).
    Some(stat_field(stat, 14)? + stat_field(stat, 15)?)
}

/// CPU time of process `root` and its children (Postgres: the postmaster and its
/// backends), in clock ticks, from every `/proc/PID/stat`: the live children's
/// own, and `root`'s own with that of the children it has reaped (`cutime +
/// cstime`), so a backend that exits during a run does not take its time along.
pub fn tree_cpu_ticks(root: u32) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if pid == root {
            total += parse_cpu_ticks(&stat).unwrap_or(0)
                + stat_field(&stat, 16).unwrap_or(0)
                + stat_field(&stat, 17).unwrap_or(0);
        } else if stat_field(&stat, 4) == Some(u64::from(root)) {
            total += parse_cpu_ticks(&stat).unwrap_or(0);
        }
    }
    Some(total)
}

/// CPU time of the children this process has waited for (`cutime + cstime`), in
/// clock ticks: after `wrk` exits and is waited for, its CPU time lands here.
pub fn children_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    Some(stat_field(&stat, 16)? + stat_field(&stat, 17)?)
}

/// Field `n` (1-based, as in proc(5)) of a `/proc/PID/stat` line.
fn stat_field(stat: &str, n: usize) -> Option<u64> {
    // The command name (field 2) may hold spaces: count fields after its `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

/// Busy and total clock ticks of the whole machine, from the `cpu` line of
/// `/proc/stat` (busy = total - idle - iowait).
pub fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_ticks(&stat)
}

fn parse_machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_from_proc_status() {
        let status = "Name:\tx\nVmPeak:\t  10 kB\nVmRSS:\t   12345 kB\nThreads: 1\n";
        assert_eq!(parse_vm_rss(status), Some(12345));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(resident_kib("self").is_some_and(|kib| kib > 0));
    }

    #[test]
    fn cpu_ticks_are_read_from_proc_stat() {
        let stat = "1234 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(280));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert_eq!(stat_field(stat, 16), Some(0));
        assert!(children_cpu_ticks().is_some());
        let machine = "cpu  100 5 50 800 20 1 2 3 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_machine_ticks(machine), Some((161, 981)));
        assert!(cpu_ticks("self").is_some());
    }
}
