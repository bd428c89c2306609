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
//! A last-writer-wins store (one built on [`SimpleStoreAdapter`](crate::store::SimpleStoreAdapter))
//! makes no promise about concurrent commits and keeps no moved markers:
//! `store_conformance_tests!(sequential: make)` runs every case but the concurrent
//! ones and the markers'.
//!
//! The cases pass explicit times (`now`, `now + 61 s`) to the store instead of
//! sleeping: a store must judge expiry by the time in the touch or change set it is
//! given, not only by its own clock. They only move time forward from the real
//! present, so stores that also expire keys by themselves (Redis TTLs) agree.
//! Times are whole milliseconds: a store may keep times at that precision.

mod commits;
mod conflicts;
mod deadlines;
mod housekeeping;
mod records;
mod regenerate;
mod users;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use self::commits::*;
pub use self::conflicts::*;
pub use self::deadlines::*;
pub use self::housekeeping::*;
pub use self::records::*;
pub use self::regenerate::*;
pub use self::users::*;
use crate::id::{SessionId, StoreKey};
use crate::store::{
    Addition, ChangeSet, CommitOutcome, FreshSession, Loaded, SessionMeta, SessionRecord, SessionStore, Touch,
    UserChange,
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
/// use cloakroom::{MemoryStore, conformance};
/// use cloakroom::store::SessionStore;
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
        $crate::store_conformance_tests!(@cases $make;
            concurrent_commits_of_different_keys_all_survive,
            concurrent_updates_of_one_key_lose_nothing,
            concurrent_additions_to_one_key_all_count,
            regenerate_leaves_a_moved_marker_that_takes_nothing,
            a_moved_marker_ends_after_its_time,
        );
    };
    // Every case but the concurrent ones and the moved markers: for last-writer-wins
    // stores such as the `SimpleStoreAdapter`, which make no promise about concurrent
    // commits and keep no markers.
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
            a_deadline_only_commit_slides_a_live_session_and_reports_a_missing_one,
            regenerate_moves_the_data_and_kills_the_old_key,
            regenerate_of_a_missing_session_creates_nothing,
            regenerate_refuses_a_taken_key,
            regenerate_applies_only_what_the_session_admits,
            a_guarded_commit_applies_only_while_its_keys_hold_what_was_read,
            additions_add_to_what_the_store_holds,
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
    crate::clock::whole_millis(SystemTime::now())
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
    store.load(key, &peek_touch(now)).await.expect("load").live()
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

/// `changes`, expecting each of `read` to hold what it gives (`None`: absent).
fn guarded(mut changes: ChangeSet, read: &[(&str, Option<&str>)]) -> ChangeSet {
    changes.expect = read
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
        .collect();
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
