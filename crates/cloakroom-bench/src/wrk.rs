//! Running `wrk` and reading its report.

use std::process::Command;
use std::time::Duration;

/// One `wrk` invocation: fixed connections and threads, a bounded duration.
#[derive(Debug, Clone)]
pub struct Load {
    /// The URL to request (loopback only).
    pub url: String,
    /// Open connections (`-c`).
    pub connections: u32,
    /// Client threads (`-t`).
    pub threads: u32,
    /// How long to run (`-d`), whole seconds.
    pub duration: Duration,
    /// Extra request headers (`-H`), e.g. `Cookie: sid=...`.
    pub headers: Vec<String>,
    /// A Lua script that makes the requests (`-s`), e.g. a `PUT` with a new
    /// body each time.
    pub script: Option<std::path::PathBuf>,
}

/// What `wrk --latency` reported.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Report {
    /// `Requests/sec`.
    pub rps: f64,
    /// Requests completed.
    pub requests: u64,
    /// Mean latency, milliseconds.
    pub avg_ms: f64,
    /// Largest latency, milliseconds.
    pub max_ms: f64,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 75th percentile.
    pub p75_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Responses with a status other than 2xx or 3xx.
    pub non_2xx: u64,
    /// Connect, read, write and timeout errors, added up.
    pub socket_errors: u64,
}

impl Report {
    /// True when every request got a 2xx/3xx answer and no socket failed.
    pub fn clean(&self) -> bool {
        self.non_2xx == 0 && self.socket_errors == 0 && self.requests > 0
    }
}

impl Load {
    /// The `wrk` command line for this load.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("wrk");
        cmd.arg("--latency")
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.duration.as_secs().max(1)))
            .arg("--timeout")
            .arg("10s");
        for header in &self.headers {
            cmd.arg("-H").arg(header);
        }
        if let Some(script) = &self.script {
            cmd.arg("-s").arg(script);
        }
        cmd.arg(&self.url);
        cmd
    }

    /// Runs `wrk` to completion and parses its report.
    pub fn run(&self) -> Result<Report, String> {
        let output = self
            .command()
            .output()
            .map_err(|e| format!("cannot run wrk (install it: apt-get install wrk): {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "wrk failed ({}): {}{}",
                output.status,
                stdout,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        parse(&stdout)
    }
}

/// Parses the report `wrk --latency` prints.
pub fn parse(text: &str) -> Result<Report, String> {
    let mut report = Report::default();
    let mut saw_rps = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Latency", avg, _stdev, max, ..] => {
                report.avg_ms = millis(avg)?;
                report.max_ms = millis(max)?;
            }
            [pct, value] if pct.ends_with('%') => {
                let slot = match *pct {
                    "50%" => &mut report.p50_ms,
                    "75%" => &mut report.p75_ms,
                    "90%" => &mut report.p90_ms,
                    "99%" => &mut report.p99_ms,
                    _ => continue,
                };
                *slot = millis(value)?;
            }
            [count, "requests", "in", ..] => {
                report.requests = count.parse().map_err(|_| format!("bad request count in {line:?}"))?;
            }
            ["Requests/sec:", rps] => {
                report.rps = rps.parse().map_err(|_| format!("bad Requests/sec in {line:?}"))?;
                saw_rps = true;
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                report.non_2xx = n.parse().map_err(|_| format!("bad Non-2xx count in {line:?}"))?;
            }
            ["Socket", "errors:", rest @ ..] => {
                // connect 0, read 0, write 0, timeout 0
                report.socket_errors = rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
            }
            _ => {}
        }
    }
    if !saw_rps {
        return Err(format!("no Requests/sec in wrk's output:\n{text}"));
    }
    Ok(report)
}

/// `452.18us`, `1.02ms`, `2.00s`, `1.50m` → milliseconds.
fn millis(text: &str) -> Result<f64, String> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("no unit in {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("bad number in {text:?}"))?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return Err(format!("unknown unit in {text:?}")),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Running 5s test @ http://127.0.0.1:40000/read
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   452.18us  120.33us   5.02ms   88.12%
    Req/Sec    71.00k     2.10k   74.56k    72.00%
  Latency Distribution
     50%  430.00us
     75%  490.00us
     90%  560.00us
     99%    1.02ms
  353281 requests in 5.00s, 43.46MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 12
Requests/sec:  70640.80
Transfer/sec:      8.69MB
";

    #[test]
    fn parses_a_latency_report() {
        let r = parse(SAMPLE).unwrap();
        assert_eq!(r.rps, 70640.80);
        assert_eq!(r.requests, 353281);
        assert!((r.avg_ms - 0.45218).abs() < 1e-9);
        assert_eq!(r.max_ms, 5.02);
        assert!((r.p50_ms - 0.43).abs() < 1e-9);
        assert_eq!(r.p99_ms, 1.02);
        assert_eq!(r.non_2xx, 12);
        assert_eq!(r.socket_errors, 3);
        assert!(!r.clean());
    }

    #[test]
    fn units_and_garbage() {
        assert_eq!(millis("2.00s").unwrap(), 2000.0);
        assert_eq!(millis("1.50m").unwrap(), 90_000.0);
        assert!(millis("12").is_err());
        assert!(parse("nothing here").is_err());
    }

    #[test]
    fn command_line_has_fixed_connections_and_a_bound() {
        let load = Load {
            url: "http://127.0.0.1:1/read".into(),
            connections: 32,
            threads: 1,
            duration: Duration::from_secs(5),
            headers: vec!["Cookie: sid=x".into()],
            script: None,
        };
        let cmd = load.command();
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            args,
            [
                "--latency",
                "-t1",
                "-c32",
                "-d5s",
                "--timeout",
                "10s",
                "-H",
                "Cookie: sid=x",
                "http://127.0.0.1:1/read"
            ]
        );
    }
}
