//! Throughput of the read route while 1M expired sessions are purged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cloakroom::clock::Clock as _;
use cloakroom::clock::ManualClock;
use cloakroom::store::SessionStore;
use cloakroom::{MemoryStore, SessionId};
use cloakroom_bench::apps;
use cloakroom_bench::wrk::{Load, Report};
use tokio::runtime::Runtime;

use crate::Fallible;
use crate::cli::Options;
use crate::servers::{Server, http_get};

/// Counts responses and the longest gap between two of them.
#[derive(Default)]
struct Ticker {
    base: std::sync::OnceLock<Instant>,
    count: AtomicU64,
    last: AtomicU64,
    max_gap: AtomicU64,
}

impl Ticker {
    fn now(&self) -> u64 {
        self.base.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    fn tick(&self) {
        let now = self.now();
        self.count.fetch_add(1, Ordering::Relaxed);
        let previous = self.last.swap(now, Ordering::Relaxed);
        if previous != 0 {
            self.max_gap.fetch_max(now.saturating_sub(previous), Ordering::Relaxed);
        }
    }

    /// Clears the longest gap and returns the count so far.
    fn restart(&self) -> u64 {
        self.last.store(0, Ordering::Relaxed);
        self.max_gap.store(0, Ordering::Relaxed);
        self.count.load(Ordering::Relaxed)
    }

    fn max_gap_ms(&self) -> f64 {
        self.max_gap.load(Ordering::Relaxed) as f64 / 1e6
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct PurgeRound {
    pub(crate) baseline: Report,
    pub(crate) baseline_gap_ms: f64,
    pub(crate) during: Report,
    purged: usize,
    pub(crate) purge_ms: f64,
    pub(crate) window_rps: f64,
    pub(crate) window_gap_ms: f64,
}

pub(crate) fn purge(rt: &Runtime, opts: &Options) -> Fallible<Vec<PurgeRound>> {
    let mut rounds = Vec::new();
    for repeat in 0..opts.repeats {
        let clock = ManualClock::new();
        let store = MemoryStore::builder()
            .clock(clock.clone())
            // Only the purge this benchmark triggers runs.
            .purge_interval(Duration::from_secs(24 * 3600))
            .build();
        let layer = apps::cloakroom_config()
            .store(store.clone())
            .clock(clock.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let manager = layer.manager();
        let ticker = Arc::new(Ticker::default());
        let tick = ticker.clone();
        let app = apps::cloakroom(layer).layer(tower::util::MapResponseLayer::new(
            move |response: axum::response::Response| {
                tick.tick();
                response
            },
        ));
        let server = Server::start(rt, app);
        let result = (|| {
            let (_, cookie, _) = http_get(server.addr, "/setup", None)?;
            let cookie = cookie.ok_or("/setup sent no cookie")?;
            // 1M sessions that expire after 60 s of the manual clock.
            let now = cloakroom::clock::whole_millis(clock.now());
            let record = apps::seeded_record(now, Duration::from_secs(60));
            let started = Instant::now();
            rt.block_on(async {
                for _ in 0..opts.sessions {
                    let key = SessionId::generate().store_key();
                    store.create(&key, &record).await.expect("create");
                }
            });
            eprintln!(
                "[purge {}/{}] created {} sessions in {:.1} s",
                repeat + 1,
                opts.repeats,
                opts.sessions,
                started.elapsed().as_secs_f64()
            );
            clock.advance(Duration::from_secs(120));
            let load = Load {
                url: server.url("/read"),
                connections: opts.connections,
                threads: opts.threads,
                duration: opts.duration,
                headers: vec![format!("Cookie: {cookie}")],
                script: None,
            };
            // Without purge (1M expired sessions still held).
            ticker.restart();
            let baseline = load.run()?;
            let baseline_gap_ms = ticker.max_gap_ms();
            // With purge: start it 1 s into the run, on the server's worker thread.
            let wrk = RunningWrk::start(&load)?;
            std::thread::sleep(Duration::from_secs(1));
            let tick = ticker.clone();
            let manager = manager.clone();
            let purge = rt.spawn(async move {
                let count_before = tick.restart();
                let started = Instant::now();
                let purged = manager.purge_expired().await;
                let elapsed = started.elapsed();
                let count_after = tick.count.load(Ordering::Relaxed);
                (purged, elapsed, count_after - count_before, tick.max_gap_ms())
            });
            let (purged, elapsed, served, window_gap_ms) = rt.block_on(purge).map_err(|e| e.to_string())?;
            let purged = purged.map_err(|e| e.to_string())?;
            let during = wrk.finish()?;
            if !baseline.clean() || !during.clean() {
                return Err("purge runs had errors".to_owned());
            }
            if purged != opts.sessions {
                return Err(format!("purged {purged} sessions, expected {}", opts.sessions));
            }
            let round = PurgeRound {
                baseline,
                baseline_gap_ms,
                during,
                purged,
                purge_ms: elapsed.as_secs_f64() * 1000.0,
                window_rps: served as f64 / elapsed.as_secs_f64(),
                window_gap_ms,
            };
            eprintln!(
                "[purge {}/{}] purged {} in {:.0} ms; read route {:.0} req/s without, {:.0} req/s during \
                 (whole run {:.0}); max latency {:.1} ms without, {:.1} ms with; longest gap {:.2} ms without, \
                 {:.2} ms during",
                repeat + 1,
                opts.repeats,
                round.purged,
                round.purge_ms,
                round.baseline.rps,
                round.window_rps,
                round.during.rps,
                round.baseline.max_ms,
                round.during.max_ms,
                round.baseline_gap_ms,
                round.window_gap_ms
            );
            Ok(round)
        })();
        server.stop(rt);
        drop(store);
        rounds.push(result?);
    }
    Ok(rounds)
}

/// A `wrk` started in the background.
struct RunningWrk(std::process::Child);

impl RunningWrk {
    fn start(load: &Load) -> Fallible<Self> {
        load.command()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map(Self)
            .map_err(|e| format!("cannot run wrk: {e}"))
    }

    fn finish(self) -> Fallible<Report> {
        let output = self.0.wait_with_output().map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "wrk failed: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        cloakroom_bench::wrk::parse(&stdout)
    }
}
