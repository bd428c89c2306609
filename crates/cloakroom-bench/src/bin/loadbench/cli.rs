//! The command line: the options, their parsing and the usage text.

use std::path::PathBuf;
use std::time::Duration;

use crate::Fallible;

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) rounds: usize,
    pub(crate) duration: Duration,
    pub(crate) connections: u32,
    pub(crate) threads: u32,
    pub(crate) sessions: usize,
    pub(crate) repeats: usize,
    pub(crate) parts: Vec<String>,
    pub(crate) out: PathBuf,
    pub(crate) quick: bool,
    /// Keep only the variants whose `store/route/label` contains this (for profiling).
    pub(crate) filter: Option<String>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Fallible<Self> {
        let mut opts = Options {
            rounds: 5,
            duration: Duration::from_secs(5),
            connections: 32,
            threads: 1,
            sessions: 1_000_000,
            repeats: 3,
            parts: ["memory", "redis", "postgres", "sqlite", "rss", "purge", "demo"]
                .map(String::from)
                .to_vec(),
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
            if !["memory", "redis", "postgres", "sqlite", "rss", "purge", "demo"].contains(&part.as_str()) {
                return Err(format!(
                    "unknown part {part:?}; parts are memory,redis,postgres,sqlite,rss,purge,demo"
                ));
            }
        }
        Ok(opts)
    }

    pub(crate) fn wants(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

const USAGE: &str = "usage: loadbench [--quick] [--rounds N] [--duration SECS] [--connections N] [--threads N] \
[--sessions N] [--repeats N] [--parts memory,redis,postgres,sqlite,rss,purge,demo] [--out FILE] [--filter TEXT]
  --parts demo runs the demo binary against towerprefs (tower-sessions) on the demo's /prefs routes.
  --filter keeps the runs whose store/route/variant contains TEXT (e.g. redis/read/cloakroom), for profiling;
              in the demo part, whose store/kind does (e.g. redis/read).
  defaults: 5 rounds of 5 s runs, 32 connections, 1 wrk thread, 1M sessions for the memory
  and purge parts, 3 repeats of those; --quick: 2 rounds of 2 s, 1 repeat.";

pub(crate) fn number(text: &str) -> Fallible<usize> {
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
