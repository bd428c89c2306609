//! What the driver reads off the machine: a command's first line of output, and
//! the CPU time of a process.

use std::process::Command;

pub(crate) fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_else(|_| "not found".into())
}

/// CPU time a process has used, in clock ticks (0 when it cannot be read).
pub(crate) fn ticks(pid: &str) -> u64 {
    cloakroom_bench::cpu_ticks(pid).unwrap_or(0)
}

/// `getconf CLK_TCK` (100 on Linux).
pub(crate) fn clock_ticks_per_second() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| command_line("getconf", &["CLK_TCK"]).parse().unwrap_or(100.0))
}
