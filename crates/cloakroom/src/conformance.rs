//! The store conformance suite: every rule of [`SessionStore`], as tests that run
//! unchanged against any store (cargo feature `conformance`).
//!
//! Each case is a public async function taking a fresh, empty store. The
//! [`store_conformance_tests!`](crate::store_conformance_tests) macro turns them all
//! into `#[test]`s for your store:
//!
//! ```
//! use cloakroom::MemoryStore;
//!
//! cloakroom::store_conformance_tests!(|| async { MemoryStore::new() });
//! ```
//!
//! A last-writer-wins store (one built on [`SimpleStoreAdapter`](crate::SimpleStoreAdapter))
//! makes no promise about concurrent commits: `store_conformance_tests!(sequential: make)`
//! runs every case but `concurrent_commits_of_different_keys_all_survive`.
//!
//! The cases pass explicit times (`now`, `now + 61 s`) to the store instead of
//! sleeping: a store must judge expiry by the time in the touch or change set it is
//! given, not only by its own clock. They only move time forward from the real
//! present, so stores that also expire keys by themselves (Redis TTLs) agree.
//! Times are whole milliseconds: a store may keep times at that precision.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::id::{SessionId, StoreKey};
use crate::store::{
    ChangeSet, CommitOutcome, FreshSession, SessionMeta, SessionRecord, SessionStore, Touch, UserChange,
};

const IDLE: Duration = Duration::from_secs(60);
const ABSOLUTE: Duration = Duration::from_secs(600);

/// Runs one case on a fresh store from `make`, on a multi-threaded runtime.
///
/// A case is any `FnOnce(Arc<S>) -> impl Future<Output = ()>`: one of this module's,
/// or a check of your own.
///
/// ```
/// use std::time::SystemTime;
/// use cloakroom::{MemoryStore, SessionStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::create_is_insert_if_absent);
/// conformance::run(|| async { MemoryStore::new() }, |store| async move {
///     assert_eq!(store.count(SystemTime::now()).await.unwrap(), 0);
/// });
/// ```
pub fn run<S, M, MF, C, CF>(make: M, case: C)
where
    S: SessionStore,
    M: FnOnce() -> MF,
    MF: Future<Output = S>,
    C: FnOnce(Arc<S>) -> CF,
    CF: Future<Output = ()>,
{
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance suite")
        .block_on(async move {
            let store = Arc::new(make().await);
            case(store).await;
        });
}

/// Generates one `#[test]` per conformance case for the store that `$make` (a
/// closure returning a future of a fresh, empty store) builds.
///
/// Put it at the top level of an integration test file (say `tests/my_store.rs`,
/// with cloakroom's `conformance` feature enabled in `[dev-dependencies]`):
///
/// ```
/// use cloakroom::MemoryStore;
///
/// cloakroom::store_conformance_tests!(|| async { MemoryStore::builder().max_sessions(10_000).build() });
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(sequential: $make);
        $crate::store_conformance_tests!(@cases $make; concurrent_commits_of_different_keys_all_survive);
    };
    // Every case but the concurrent one: for last-writer-wins stores such as the
    // `SimpleStoreAdapter`, which make no promise about concurrent commits.
    (sequential: $make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            load_of_an_unknown_key_is_none,
            create_then_load_returns_the_record,
            create_is_insert_if_absent,
            commit_changes_only_the_keys_it_names,
            commit_clear_removes_every_key_before_setting,
            commit_on_a_missing_session_does_not_create_it,
            commit_after_delete_does_not_resurrect_the_session,
            load_slides_the_idle_deadline_by_big_enough_steps_only,
            a_shorter_idle_timeout_moves_the_deadline_back_only_within_it,
            a_session_unused_past_its_idle_deadline_is_gone,
            touches_do_not_extend_a_session_past_its_absolute_deadline,
            commit_with_an_idle_deadline_slides_it,
            commit_slides_the_idle_deadline_by_its_minimum_step_only,
            touch_slides_a_live_session_and_reports_a_missing_one,
            regenerate_moves_the_data_and_kills_the_old_key,
            regenerate_of_a_missing_session_creates_nothing,
            regenerate_refuses_a_taken_key,
            delete_reports_whether_there_was_a_session,
            commit_or_create_applies_to_a_live_session,
            commit_or_create_creates_a_fresh_session_when_gone,
            users_sessions_are_listed_and_deleted_together,
            revoking_one_session_leaves_the_users_others,
            binding_follows_regenerate_rebind_and_unbind,
            the_user_index_forgets_deleted_and_expired_sessions,
            purge_deletes_expired_sessions_only,
            count_counts_live_sessions,
            values_round_trip_byte_for_byte,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::run($make, $crate::conformance::$case);
            }
        )*
    };
}

/// The present, in whole milliseconds: stores may keep times at that precision.
fn now() -> SystemTime {
    crate::whole_millis(SystemTime::now())
}

fn key() -> StoreKey {
    SessionId::generate().store_key()
}

fn fresh_session(now: SystemTime) -> FreshSession {
    FreshSession::new(SessionMeta::new(now, IDLE, ABSOLUTE))
}

/// A record created now, with the suite's timeouts, holding `data`.
///
/// ```
/// use std::time::SystemTime;
/// use cloakroom::conformance;
///
/// let now = SystemTime::now();
/// let record = conformance::record(now, &[("cart", r#"["apple"]"#)]);
/// assert_eq!(record.data["cart"], r#"["apple"]"#);
/// assert!(record.meta.expires_at() > now && record.meta.user.is_none());
/// ```
pub fn record(now: SystemTime, data: &[(&str, &str)]) -> SessionRecord {
    let mut record = SessionRecord::new(SessionMeta::new(now, IDLE, ABSOLUTE));
    record.data = data.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    record
}

fn touch(now: SystemTime) -> Touch {
    Touch::new(now, now + IDLE)
}

/// A touch that never moves the deadline: reads the record as it is.
fn peek_touch(now: SystemTime) -> Touch {
    Touch::new(now, now).min_step(Duration::MAX)
}

async fn peek<S: SessionStore>(store: &S, key: &StoreKey, now: SystemTime) -> Option<SessionRecord> {
    store.load(key, &peek_touch(now)).await.expect("load")
}

fn data(record: &SessionRecord) -> HashMap<&str, &str> {
    record.data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn changes(now: SystemTime, set: &[(&str, &str)], remove: &[&str]) -> ChangeSet {
    let mut changes = ChangeSet::new(now);
    changes.set = set.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    changes.remove = remove.iter().map(|k| (*k).to_owned()).collect();
    changes
}

fn bound(now: SystemTime, user: &str) -> SessionRecord {
    let mut record = record(now, &[("k", "1")]);
    record.meta.user = Some(user.to_owned());
    record
}

/// A user name no other case or run uses, so shared backends stay independent.
fn user(label: &str) -> String {
    format!("{label}-{}", &SessionId::generate().store_key().to_hex()[..12])
}

/// Loading a key nobody created gives `None`.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::load_of_an_unknown_key_is_none);
/// ```
pub async fn load_of_an_unknown_key_is_none<S: SessionStore>(store: Arc<S>) {
    assert!(store.load(&key(), &touch(now())).await.unwrap().is_none());
}

/// A created record loads back with its data and metadata.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::create_then_load_returns_the_record);
/// ```
pub async fn create_then_load_returns_the_record<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    let created = record(now, &[("cart", r#"["apple"]"#), ("n", "1")]);
    assert!(store.create(&k, &created).await.unwrap());
    let loaded = peek(&*store, &k, now).await.expect("created session loads");
    assert_eq!(data(&loaded), data(&created));
    assert_eq!(loaded.meta.user, None);
    assert_eq!(loaded.meta.expires_at(), created.meta.expires_at());
}

/// Creating over a live session changes nothing and says so.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::create_is_insert_if_absent);
/// ```
pub async fn create_is_insert_if_absent<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    assert!(store.create(&k, &record(now, &[("a", "1")])).await.unwrap());
    assert!(!store.create(&k, &record(now, &[("b", "2")])).await.unwrap());
    assert_eq!(
        data(&peek(&*store, &k, now).await.unwrap()),
        HashMap::from([("a", "1")])
    );
}

/// A commit sets and removes exactly the keys it names.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::commit_changes_only_the_keys_it_names);
/// ```
pub async fn commit_changes_only_the_keys_it_names<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store
        .create(&k, &record(now, &[("keep", "1"), ("drop", "2"), ("change", "3")]))
        .await
        .unwrap();
    assert!(
        store
            .commit(&k, &changes(now, &[("change", "30"), ("new", "4")], &["drop"]))
            .await
            .unwrap()
    );
    let loaded = peek(&*store, &k, now).await.unwrap();
    assert_eq!(
        data(&loaded),
        HashMap::from([("keep", "1"), ("change", "30"), ("new", "4")])
    );
}

/// `clear` empties the session, then the sets of the same change set apply.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::commit_clear_removes_every_key_before_setting);
/// ```
pub async fn commit_clear_removes_every_key_before_setting<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[("a", "1"), ("b", "2")])).await.unwrap();
    let mut clear = changes(now, &[("c", "3")], &[]);
    clear.clear = true;
    assert!(store.commit(&k, &clear).await.unwrap());
    assert_eq!(
        data(&peek(&*store, &k, now).await.unwrap()),
        HashMap::from([("c", "3")])
    );
}

/// A commit never creates a session.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::commit_on_a_missing_session_does_not_create_it);
/// ```
pub async fn commit_on_a_missing_session_does_not_create_it<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    assert!(!store.commit(&k, &changes(now, &[("a", "1")], &[])).await.unwrap());
    assert!(peek(&*store, &k, now).await.is_none());
}

/// A request that commits after another destroyed the session does not bring it back.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::commit_after_delete_does_not_resurrect_the_session);
/// ```
pub async fn commit_after_delete_does_not_resurrect_the_session<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[("a", "1")])).await.unwrap();
    assert!(store.delete(&k).await.unwrap());
    assert!(!store.commit(&k, &changes(now, &[("late", "1")], &[])).await.unwrap());
    assert!(peek(&*store, &k, now).await.is_none());
}

/// 100 concurrent commits, each setting a different key, all survive.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::concurrent_commits_of_different_keys_all_survive);
/// ```
pub async fn concurrent_commits_of_different_keys_all_survive<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[])).await.unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = format!("key{i}");
                let value = i.to_string();
                assert!(store.commit(&k, &changes(now, &[(&name, &value)], &[])).await.unwrap());
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("commit task");
    }
    let loaded = peek(&*store, &k, now).await.unwrap();
    assert_eq!(loaded.data.len(), 100);
    for i in 0..100 {
        assert_eq!(loaded.data.get(&format!("key{i}")), Some(&i.to_string()));
    }
}

/// A load slides the idle deadline, but only when it moves by `min_step` or more.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(
///     || async { MemoryStore::new() },
///     conformance::load_slides_the_idle_deadline_by_big_enough_steps_only,
/// );
/// ```
pub async fn load_slides_the_idle_deadline_by_big_enough_steps_only<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[])).await.unwrap();
    let step = Duration::from_secs(10);

    let small = now + Duration::from_secs(5);
    let loaded = store.load(&k, &touch(small).min_step(step)).await.unwrap().unwrap();
    assert_eq!(loaded.meta.idle_deadline, now + IDLE, "a 5 s move is below the step");

    let big = now + Duration::from_secs(30);
    let loaded = store.load(&k, &touch(big).min_step(step)).await.unwrap().unwrap();
    assert_eq!(loaded.meta.idle_deadline, big + IDLE);
    assert_eq!(loaded.meta.last_seen, big);
    let again = peek(&*store, &k, big).await.unwrap();
    assert_eq!(again.meta.idle_deadline, big + IDLE, "the slide was stored");

    // Still alive after the original deadline, because it slid.
    assert!(peek(&*store, &k, now + IDLE + Duration::from_secs(1)).await.is_some());
}

/// A touch asking for an earlier idle deadline (the idle timeout was shortened)
/// moves it back only when the session was used within the shorter timeout.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(
///     || async { MemoryStore::new() },
///     conformance::a_shorter_idle_timeout_moves_the_deadline_back_only_within_it,
/// );
/// ```
pub async fn a_shorter_idle_timeout_moves_the_deadline_back_only_within_it<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let (recent, stale) = (key(), key());
    store.create(&recent, &record(now, &[])).await.unwrap();
    store.create(&stale, &record(now, &[])).await.unwrap();
    let short = Duration::from_secs(20);

    let soon = now + Duration::from_secs(10);
    let loaded = store
        .load(&recent, &Touch::new(soon, soon + short))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        loaded.meta.idle_deadline,
        soon + short,
        "used 10 s ago, within 20 s: moved back"
    );
    assert_eq!(loaded.meta.last_seen, soon);

    let late = now + Duration::from_secs(30);
    let loaded = store
        .load(&stale, &Touch::new(late, late + short))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        loaded.meta.idle_deadline,
        now + IDLE,
        "unused for 30 s, past 20 s: left alone"
    );
    assert_eq!(loaded.meta.last_seen, now);
}

/// Past its idle deadline a session neither loads nor takes commits.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::a_session_unused_past_its_idle_deadline_is_gone);
/// ```
pub async fn a_session_unused_past_its_idle_deadline_is_gone<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[("a", "1")])).await.unwrap();
    let later = now + IDLE;
    assert!(!store.commit(&k, &changes(later, &[("b", "2")], &[])).await.unwrap());
    assert!(store.load(&k, &touch(later)).await.unwrap().is_none());
    assert!(
        store.load(&k, &touch(now)).await.unwrap().is_none(),
        "once gone, it stays gone"
    );
}

/// However often a session is used, it dies at its absolute deadline.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(
///     || async { MemoryStore::new() },
///     conformance::touches_do_not_extend_a_session_past_its_absolute_deadline,
/// );
/// ```
pub async fn touches_do_not_extend_a_session_past_its_absolute_deadline<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[])).await.unwrap();
    let mut at = now;
    while at + IDLE / 2 < now + ABSOLUTE {
        at += IDLE / 2;
        assert!(store.load(&k, &touch(at)).await.unwrap().is_some(), "alive while used");
    }
    assert!(store.load(&k, &touch(now + ABSOLUTE)).await.unwrap().is_none());
}

/// A commit carrying an idle deadline slides it.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::commit_with_an_idle_deadline_slides_it);
/// ```
pub async fn commit_with_an_idle_deadline_slides_it<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[])).await.unwrap();
    let later = now + Duration::from_secs(40);
    let mut slide = changes(later, &[("a", "1")], &[]);
    slide.idle_deadline = Some(later + IDLE);
    assert!(store.commit(&k, &slide).await.unwrap());
    let loaded = peek(&*store, &k, later).await.unwrap();
    assert_eq!(loaded.meta.idle_deadline, later + IDLE);
    assert_eq!(loaded.meta.last_seen, later);
}

/// A commit moves the idle deadline only when that moves it by at least the change
/// set's `idle_min_step`; its other changes apply either way. `commit_or_create`
/// reports the expiry only when the deadline moved (or `None`, if the store cannot
/// tell).
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(
///     || async { MemoryStore::new() },
///     conformance::commit_slides_the_idle_deadline_by_its_minimum_step_only,
/// );
/// ```
pub async fn commit_slides_the_idle_deadline_by_its_minimum_step_only<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[])).await.unwrap();
    let step = Duration::from_secs(30);

    let soon = now + Duration::from_secs(10);
    let mut small = changes(soon, &[("a", "1")], &[]);
    small.idle_deadline = Some(soon + IDLE);
    small.idle_min_step = step;
    let outcome = store.commit_or_create(&k, &small, &fresh_session(soon)).await.unwrap();
    assert_eq!(outcome, CommitOutcome::Applied(None), "a 10 s move is below the step");
    let loaded = peek(&*store, &k, soon).await.unwrap();
    assert_eq!(data(&loaded), HashMap::from([("a", "1")]));
    assert_eq!(loaded.meta.idle_deadline, now + IDLE, "the deadline stayed");
    assert_eq!(loaded.meta.last_seen, now);

    let later = now + Duration::from_secs(40);
    let mut big = changes(later, &[("b", "2")], &[]);
    big.idle_deadline = Some(later + IDLE);
    big.idle_min_step = step;
    let outcome = store.commit_or_create(&k, &big, &fresh_session(later)).await.unwrap();
    assert!(
        matches!(outcome, CommitOutcome::Applied(None) | CommitOutcome::Applied(Some(_))),
        "{outcome:?}"
    );
    if let CommitOutcome::Applied(Some(expiry)) = outcome {
        assert_eq!(expiry, later + IDLE);
    }
    let loaded = peek(&*store, &k, later).await.unwrap();
    assert_eq!(data(&loaded), HashMap::from([("a", "1"), ("b", "2")]));
    assert_eq!(loaded.meta.idle_deadline, later + IDLE, "a 40 s move is past the step");
    assert_eq!(loaded.meta.last_seen, later);

    let mut plain = changes(later + Duration::from_secs(5), &[], &["a"]);
    plain.idle_deadline = Some(later + Duration::from_secs(5) + IDLE);
    plain.idle_min_step = step;
    assert!(store.commit(&k, &plain).await.unwrap());
    let loaded = peek(&*store, &k, later).await.unwrap();
    assert_eq!(data(&loaded), HashMap::from([("b", "2")]));
    assert_eq!(loaded.meta.idle_deadline, later + IDLE, "commit keeps the step too");
}

/// `touch` slides a live session's idle deadline and reports a missing one.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(
///     || async { MemoryStore::new() },
///     conformance::touch_slides_a_live_session_and_reports_a_missing_one,
/// );
/// ```
pub async fn touch_slides_a_live_session_and_reports_a_missing_one<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[])).await.unwrap();
    let later = now + Duration::from_secs(30);
    assert!(store.touch(&k, &touch(later)).await.unwrap());
    assert_eq!(peek(&*store, &k, later).await.unwrap().meta.idle_deadline, later + IDLE);
    assert!(!store.touch(&key(), &touch(later)).await.unwrap());
}

/// Regenerate moves data (plus its change set) to the new key; the old key is dead.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::regenerate_moves_the_data_and_kills_the_old_key);
/// ```
pub async fn regenerate_moves_the_data_and_kills_the_old_key<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let old = key();
    let new = store.successor_id(&old).store_key();
    let created = record(now, &[("cart", "[1]")]);
    store.create(&old, &created).await.unwrap();
    assert!(
        store
            .regenerate(&old, &new, &changes(now, &[("user", "\"alice\"")], &[]))
            .await
            .unwrap()
    );
    assert!(peek(&*store, &old, now).await.is_none());
    assert!(!store.commit(&old, &changes(now, &[("late", "1")], &[])).await.unwrap());
    let moved = peek(&*store, &new, now).await.unwrap();
    assert_eq!(data(&moved), HashMap::from([("cart", "[1]"), ("user", "\"alice\"")]));
    assert_eq!(moved.meta.created_at, created.meta.created_at);
    assert_eq!(moved.meta.absolute_deadline, created.meta.absolute_deadline);
}

/// Regenerating a session that is gone fails and creates nothing.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::regenerate_of_a_missing_session_creates_nothing);
/// ```
pub async fn regenerate_of_a_missing_session_creates_nothing<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let old = key();
    let new = store.successor_id(&old).store_key();
    assert!(
        !store
            .regenerate(&old, &new, &changes(now, &[("a", "1")], &[]))
            .await
            .unwrap()
    );
    assert!(peek(&*store, &new, now).await.is_none());
}

/// Regenerating onto a key that holds a live session changes neither.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::regenerate_refuses_a_taken_key);
/// ```
pub async fn regenerate_refuses_a_taken_key<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let old = key();
    let new = store.successor_id(&old).store_key();
    store.create(&old, &record(now, &[("who", "old")])).await.unwrap();
    store.create(&new, &record(now, &[("who", "new")])).await.unwrap();
    assert!(!store.regenerate(&old, &new, &changes(now, &[], &[])).await.unwrap());
    assert_eq!(
        data(&peek(&*store, &old, now).await.unwrap()),
        HashMap::from([("who", "old")])
    );
    assert_eq!(
        data(&peek(&*store, &new, now).await.unwrap()),
        HashMap::from([("who", "new")])
    );
}

/// `delete` says whether there was a session, and the session is gone after it.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::delete_reports_whether_there_was_a_session);
/// ```
pub async fn delete_reports_whether_there_was_a_session<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[])).await.unwrap();
    assert!(store.delete(&k).await.unwrap());
    assert!(!store.delete(&k).await.unwrap());
    assert!(peek(&*store, &k, now).await.is_none());
}

/// The write-only path applies its change set to a live session.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::commit_or_create_applies_to_a_live_session);
/// ```
pub async fn commit_or_create_applies_to_a_live_session<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[("a", "1")])).await.unwrap();
    let before = store.count(now).await.unwrap();
    let fresh = fresh_session(now);
    let outcome = store
        .commit_or_create(&k, &changes(now, &[("b", "2")], &[]), &fresh)
        .await
        .unwrap();
    assert!(matches!(outcome, CommitOutcome::Applied(_)), "{outcome:?}");
    assert_eq!(
        data(&peek(&*store, &k, now).await.unwrap()),
        HashMap::from([("a", "1"), ("b", "2")])
    );
    assert_eq!(store.count(now).await.unwrap(), before, "no fresh session was created");
}

/// The write-only path creates a fresh session when the old one is gone.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::commit_or_create_creates_a_fresh_session_when_gone);
/// ```
pub async fn commit_or_create_creates_a_fresh_session_when_gone<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    let fresh = fresh_session(now);
    let outcome = store
        .commit_or_create(&k, &changes(now, &[("b", "2")], &[]), &fresh)
        .await
        .unwrap();
    assert_eq!(outcome, CommitOutcome::Created);
    assert!(fresh.id().is_some(), "the store drew the fresh key");
    assert!(peek(&*store, &k, now).await.is_none(), "the gone session stays gone");
    let created = peek(&*store, &fresh.key(), now).await.unwrap();
    assert_eq!(data(&created), HashMap::from([("b", "2")]));
    assert_eq!(created.meta.created_at, now);
    assert_eq!(created.meta.absolute_deadline, now + ABSOLUTE);
}

/// A user's sessions are listed together and deleted together; others are untouched.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::users_sessions_are_listed_and_deleted_together);
/// ```
pub async fn users_sessions_are_listed_and_deleted_together<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let (alice, bob) = (user("alice"), user("bob"));
    let (a1, a2, b1, anon) = (key(), key(), key(), key());
    store.create(&a1, &bound(now, &alice)).await.unwrap();
    store.create(&a2, &record(now, &[])).await.unwrap();
    let mut bind = ChangeSet::new(now);
    bind.user = Some(UserChange::Bind(alice.clone()));
    assert!(store.commit(&a2, &bind).await.unwrap(), "binding by commit");
    store.create(&b1, &bound(now, &bob)).await.unwrap();
    store.create(&anon, &record(now, &[])).await.unwrap();

    let mut listed: Vec<StoreKey> = store
        .list_user(&alice, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    listed.sort();
    let mut expected = vec![a1, a2];
    expected.sort();
    assert_eq!(listed, expected);
    let first = &store.list_user(&alice, now).await.unwrap()[0];
    assert_eq!(first.meta.user.as_deref(), Some(alice.as_str()));

    assert_eq!(store.delete_user(&alice).await.unwrap(), 2);
    assert!(peek(&*store, &a1, now).await.is_none());
    assert!(peek(&*store, &a2, now).await.is_none());
    assert!(store.list_user(&alice, now).await.unwrap().is_empty());
    assert!(peek(&*store, &b1, now).await.is_some());
    assert!(peek(&*store, &anon, now).await.is_some());
    assert_eq!(store.list_user(&bob, now).await.unwrap().len(), 1);
    assert_eq!(store.delete_user(&alice).await.unwrap(), 0);
}

/// Deleting one of a user's sessions leaves the others listed.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::revoking_one_session_leaves_the_users_others);
/// ```
pub async fn revoking_one_session_leaves_the_users_others<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let alice = user("alice");
    let (a1, a2) = (key(), key());
    store.create(&a1, &bound(now, &alice)).await.unwrap();
    store.create(&a2, &bound(now, &alice)).await.unwrap();
    assert!(store.delete(&a1).await.unwrap());
    let listed: Vec<StoreKey> = store
        .list_user(&alice, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(listed, vec![a2]);
}

/// The index follows the session through regenerate, rebinding and unbinding.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::binding_follows_regenerate_rebind_and_unbind);
/// ```
pub async fn binding_follows_regenerate_rebind_and_unbind<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let (alice, bob) = (user("alice"), user("bob"));
    let old = key();
    let new = store.successor_id(&old).store_key();
    store.create(&old, &bound(now, &alice)).await.unwrap();
    assert!(store.regenerate(&old, &new, &ChangeSet::new(now)).await.unwrap());
    let listed: Vec<StoreKey> = store
        .list_user(&alice, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(listed, vec![new], "regenerate re-files the session under its new key");

    let mut rebind = ChangeSet::new(now);
    rebind.user = Some(UserChange::Bind(bob.clone()));
    assert!(store.commit(&new, &rebind).await.unwrap());
    assert!(store.list_user(&alice, now).await.unwrap().is_empty());
    assert_eq!(store.list_user(&bob, now).await.unwrap().len(), 1);
    assert_eq!(store.delete_user(&alice).await.unwrap(), 0, "alice no longer owns it");

    let mut unbind = ChangeSet::new(now);
    unbind.user = Some(UserChange::Unbind);
    assert!(store.commit(&new, &unbind).await.unwrap());
    assert!(store.list_user(&bob, now).await.unwrap().is_empty());
    assert_eq!(peek(&*store, &new, now).await.unwrap().meta.user, None);
}

/// Deleted and expired sessions drop out of their user's listing.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::the_user_index_forgets_deleted_and_expired_sessions);
/// ```
pub async fn the_user_index_forgets_deleted_and_expired_sessions<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let alice = user("alice");
    let (short, long) = (key(), key());
    store.create(&short, &bound(now, &alice)).await.unwrap();
    store.create(&long, &bound(now, &alice)).await.unwrap();
    let later = now + Duration::from_secs(45);
    let mut slide = ChangeSet::new(later);
    slide.idle_deadline = Some(later + IDLE);
    assert!(store.commit(&long, &slide).await.unwrap());

    let after_short = now + IDLE + Duration::from_secs(1);
    let listed: Vec<StoreKey> = store
        .list_user(&alice, after_short)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(listed, vec![long]);
    assert!(store.delete_user(&alice).await.unwrap() >= 1);
    assert!(peek(&*store, &long, later).await.is_none());
    assert!(store.list_user(&alice, now).await.unwrap().is_empty());
}

/// Purging deletes the sessions dead at the given time and keeps the others.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::purge_deletes_expired_sessions_only);
/// ```
pub async fn purge_deletes_expired_sessions_only<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let (dead, alive) = (key(), key());
    store.create(&dead, &record(now, &[])).await.unwrap();
    store.create(&alive, &record(now, &[])).await.unwrap();
    let later = now + Duration::from_secs(45);
    let mut slide = ChangeSet::new(later);
    slide.idle_deadline = Some(later + IDLE);
    store.commit(&alive, &slide).await.unwrap();

    let purge_at = now + IDLE + Duration::from_secs(1);
    store.purge_expired(purge_at).await.unwrap();
    assert!(peek(&*store, &dead, purge_at).await.is_none());
    assert!(peek(&*store, &alive, purge_at).await.is_some());
}

/// `count` counts the sessions live at the given time.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::count_counts_live_sessions);
/// ```
pub async fn count_counts_live_sessions<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let before = store.count(now).await.unwrap();
    let keys: Vec<StoreKey> = (0..3).map(|_| key()).collect();
    for k in &keys {
        store.create(k, &record(now, &[])).await.unwrap();
    }
    assert_eq!(store.count(now).await.unwrap(), before + 3);
    store.delete(&keys[0]).await.unwrap();
    assert_eq!(store.count(now).await.unwrap(), before + 2);
}

/// Values come back exactly as stored: unicode, escapes, large strings.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::values_round_trip_byte_for_byte);
/// ```
pub async fn values_round_trip_byte_for_byte<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    let big = format!("\"{}\"", "x".repeat(64 * 1024));
    let values = [
        ("unicode", "\"h\u{e9}llo \u{1f600} \u{4e16}\u{754c}\""),
        ("escapes", r#""line\nbreak \"quoted\" \\ back""#),
        ("nested", r#"{"a":[1,2,{"b":null}],"c":true}"#),
        ("big", big.as_str()),
        ("key with spaces and :: colons", "1"),
    ];
    store.create(&k, &record(now, &values)).await.unwrap();
    assert_eq!(
        data(&peek(&*store, &k, now).await.unwrap()),
        values.iter().copied().collect()
    );
}
