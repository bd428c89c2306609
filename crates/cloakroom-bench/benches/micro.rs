//! Micro-benchmarks: `cargo bench -p cloakroom-bench` (filter: `cargo bench -p cloakroom-bench -- store/`).
//!
//! - `id/*`: session ID generation and its store key (SHA-256).
//! - `ticket/*`: signing and verifying tickets with 1 and 3 secrets, through
//!   `SessionLayer::manager()` (the signer itself is internal).
//! - `changeset/*`: encoding a write into a change set (value to JSON text, the
//!   change set the commit sends) and applying one to a record.
//! - `store/*`: the memory stores' `load` and `commit` (tower-sessions: `load` and
//!   `save`) at 1k, 100k and 1M live sessions of ~100 bytes each, keys visited in
//!   random order.
//! - `layer/*`: one request through each application of `cloakroom_bench::apps`
//!   (no HTTP, current-thread runtime), floor vs cloakroom vs tower-sessions.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use cloakroom::store::{ChangeSet, SessionRecord, SessionStore, StoreKey, Touch};
use cloakroom::{MemoryStore, SessionId};
use cloakroom_bench::apps::{self, IDLE_TIMEOUT, PROFILE};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Sizes of the memory-store benchmarks.
const SIZES: [(usize, &str); 3] = [(1_000, "1k"), (100_000, "100k"), (1_000_000, "1M")];

/// Runs a future that never waits (the memory stores' operations) to completion
/// without a runtime: one poll must finish it.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a memory-store operation waited"),
    }
}

fn secret(n: u8) -> Vec<u8> {
    let mut s = apps::SECRET.to_vec();
    s.push(b'0' + n);
    s
}

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("id");
    group.bench_function("generate", |b| b.iter(SessionId::generate));
    let id = SessionId::generate();
    group.bench_function("store_key", |b| b.iter(|| black_box(&id).store_key()));
    group.finish();
}

fn tickets(c: &mut Criterion) {
    let mut group = c.benchmark_group("ticket");
    for secrets in [1u8, 3] {
        let mut config = apps::cloakroom_config();
        for n in 1..secrets {
            config = config.previous_secret(secret(n));
        }
        let manager = config.build().expect("valid configuration").manager();
        let id = SessionId::generate();
        let ticket = manager.ticket(&id);
        let label = format!("{secrets}_secret{}", if secrets > 1 { "s" } else { "" });
        group.bench_function(BenchmarkId::new("sign", &label), |b| {
            b.iter(|| manager.ticket(black_box(&id)))
        });
        group.bench_function(BenchmarkId::new("verify", &label), |b| {
            b.iter(|| manager.verify_ticket(black_box(&ticket)).expect("verifies"))
        });
        if secrets > 1 {
            // A ticket signed with the oldest secret: verification checks every
            // secret anyway (constant time), so this should cost the same.
            let old = apps::cloakroom_config().secrets([secret(secrets - 1)]).build().unwrap();
            let old_ticket = old.manager().ticket(&id);
            group.bench_function(BenchmarkId::new("verify_rotated", &label), |b| {
                b.iter(|| manager.verify_ticket(black_box(&old_ticket)).expect("verifies"))
            });
        }
    }
    group.finish();
}

fn now() -> SystemTime {
    cloakroom::clock::whole_millis(SystemTime::now())
}

/// A record holding the seed data every benchmarked session has (~100 bytes).
fn seeded_record(now: SystemTime) -> SessionRecord {
    apps::seeded_record(now, IDLE_TIMEOUT)
}

/// The change set the layer commits for a handler that set `last = 42`.
fn write_changes(now: SystemTime) -> ChangeSet {
    let mut changes = ChangeSet::new(now);
    changes
        .set
        .push(("last".to_owned(), serde_json::to_string(&42u64).unwrap()));
    changes.idle_deadline = Some(now + IDLE_TIMEOUT);
    changes
}

fn change_sets(c: &mut Criterion) {
    let mut group = c.benchmark_group("changeset");
    let now = now();
    group.bench_function("encode/1_key", |b| {
        b.iter(|| {
            let mut changes = ChangeSet::new(now);
            let json = serde_json::to_string(black_box(&42u64)).unwrap();
            changes.set.push(("last".to_owned(), json));
            changes.idle_deadline = Some(now + IDLE_TIMEOUT);
            changes
        })
    });
    group.bench_function("encode/profile", |b| {
        b.iter(|| {
            let mut changes = ChangeSet::new(now);
            let json = serde_json::to_string(black_box(PROFILE)).unwrap();
            changes.set.push(("profile".to_owned(), json));
            changes.idle_deadline = Some(now + IDLE_TIMEOUT);
            changes
        })
    });
    let changes = write_changes(now);
    let mut record = seeded_record(now);
    group.bench_function("apply/1_key", |b| b.iter(|| record.apply(black_box(&changes))));
    let record = seeded_record(now);
    group.bench_function("clone_record", |b| b.iter(|| black_box(&record).clone()));
    group.finish();
}

/// A memory store holding `n` seeded sessions, and their keys in random order.
fn filled_cloakroom(n: usize) -> (MemoryStore, Vec<StoreKey>) {
    let store = MemoryStore::new();
    let now = now();
    let record = seeded_record(now);
    let keys: Vec<StoreKey> = (0..n).map(|_| SessionId::generate().store_key()).collect();
    for key in &keys {
        assert!(ready(store.create(key, &record)).unwrap());
    }
    (store, keys)
}

fn filled_tower(n: usize) -> (tower_sessions::MemoryStore, Vec<tower_sessions::session::Record>) {
    use tower_sessions::SessionStore as _;
    let store = tower_sessions::MemoryStore::default();
    let expiry = tower_sessions::cookie::time::OffsetDateTime::now_utc()
        + tower_sessions::cookie::time::Duration::seconds(IDLE_TIMEOUT.as_secs() as i64);
    let mut records = Vec::with_capacity(n);
    for _ in 0..n {
        let mut record = apps::seeded_tower_record(expiry);
        ready(store.create(&mut record)).unwrap();
        // What `save` writes back: the record with one more key.
        record.data.insert("last".into(), 42u64.into());
        records.push(record);
    }
    (store, records)
}

fn stores(c: &mut Criterion) {
    use tower_sessions::SessionStore as _;
    let mut group = c.benchmark_group("store");
    for (n, label) in SIZES {
        // Filled on first use, so a filter that skips these benchmarks skips the fill.
        let mut cloakroom: Option<(MemoryStore, Vec<StoreKey>)> = None;
        let now = now();
        let touch = Touch::new(now, now + IDLE_TIMEOUT).min_step(IDLE_TIMEOUT / 20);
        let changes = write_changes(now);
        let mut i = 0;
        group.bench_function(BenchmarkId::new("cloakroom/load", label), |b| {
            let (store, keys) = cloakroom.get_or_insert_with(|| filled_cloakroom(n));
            b.iter(|| {
                i = (i + 1) % keys.len();
                ready(store.load(&keys[i], &touch)).unwrap().live().expect("live")
            })
        });
        group.bench_function(BenchmarkId::new("cloakroom/commit", label), |b| {
            let (store, keys) = cloakroom.get_or_insert_with(|| filled_cloakroom(n));
            b.iter(|| {
                i = (i + 1) % keys.len();
                assert!(ready(store.commit(&keys[i], &changes)).unwrap().is_written());
            })
        });
        drop(cloakroom);

        let mut tower: Option<(tower_sessions::MemoryStore, Vec<tower_sessions::session::Record>)> = None;
        group.bench_function(BenchmarkId::new("tower-sessions/load", label), |b| {
            let (store, records) = tower.get_or_insert_with(|| filled_tower(n));
            b.iter(|| {
                i = (i + 1) % records.len();
                ready(store.load(&records[i].id)).unwrap().expect("live")
            })
        });
        group.bench_function(BenchmarkId::new("tower-sessions/save", label), |b| {
            let (store, records) = tower.get_or_insert_with(|| filled_tower(n));
            b.iter(|| {
                i = (i + 1) % records.len();
                ready(store.save(&records[i])).unwrap()
            })
        });
    }
    group.finish();
}

fn layers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("layer");
    let apps = apps::Lib::ALL.map(|lib| (lib, apps::in_memory(lib)));
    for (route, fresh) in [
        ("/read", false),
        ("/write", false),
        ("/write-load", false),
        ("/new", true),
        ("/untouched", false),
    ] {
        for (lib, app) in &apps {
            if route == "/write-load" && *lib != apps::Lib::Cloakroom {
                continue;
            }
            let cookie = if fresh {
                None
            } else {
                rt.block_on(apps::session_cookie(*lib, app))
            };
            let name = format!("{}/{}", &route[1..], lib.name());
            group.bench_function(name, |b| {
                b.iter(|| {
                    let answer = rt.block_on(apps::call(app, route, cookie.as_deref()));
                    assert!(answer.status.is_success());
                    answer
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = ids, tickets, change_sets, stores, layers
}
criterion_main!(benches);
