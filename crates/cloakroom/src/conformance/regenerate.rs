//! Regenerate: moving a live session to a new key, atomically.

use super::*;

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
            .is_written()
    );
    assert!(peek(&*store, &old, now).await.is_none());
    let late = store.commit(&old, &changes(now, &[("late", "1")], &[])).await.unwrap();
    assert!(!late.is_written(), "the old key takes no writes: {late:?}");
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
    assert_eq!(
        store
            .regenerate(&old, &new, &changes(now, &[("a", "1")], &[]))
            .await
            .unwrap(),
        CommitOutcome::Gone
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
    assert_eq!(
        store.regenerate(&old, &new, &changes(now, &[], &[])).await.unwrap(),
        CommitOutcome::Conflict
    );
    assert_eq!(
        data(&peek(&*store, &old, now).await.unwrap()),
        HashMap::from([("who", "old")])
    );
    assert_eq!(
        data(&peek(&*store, &new, now).await.unwrap()),
        HashMap::from([("who", "new")])
    );
}

/// A regenerate whose change set the session does not admit (a key it expects
/// changed) moves nothing.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::regenerate_applies_only_what_the_session_admits);
/// ```
pub async fn regenerate_applies_only_what_the_session_admits<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let old = key();
    let new = store.successor_id(&old).store_key();
    store.create(&old, &record(now, &[("step", "2")])).await.unwrap();
    let stale = guarded(changes(now, &[("step", "3")], &[]), &[("step", Some("1"))]);
    assert_eq!(
        store.regenerate(&old, &new, &stale).await.unwrap(),
        CommitOutcome::Conflict
    );
    assert_eq!(peek(&*store, &old, now).await.unwrap().data["step"], "2");
    assert!(peek(&*store, &new, now).await.is_none());
}

/// After a regenerate the old key holds a moved marker and nothing else: loads see
/// `Moved`, writes of every kind apply nothing and answer `Moved` (the write-only
/// path creates no fresh session), creates are refused, and it is no session to
/// count or delete.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::regenerate_leaves_a_moved_marker_that_takes_nothing);
/// ```
pub async fn regenerate_leaves_a_moved_marker_that_takes_nothing<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let old = key();
    let new = store.successor_id(&old).store_key();
    store.create(&old, &record(now, &[("cart", "[1]")])).await.unwrap();
    assert!(
        store
            .regenerate(&old, &new, &ChangeSet::new(now))
            .await
            .unwrap()
            .is_written()
    );

    assert_eq!(store.load(&old, &touch(now)).await.unwrap(), Loaded::Moved);
    let late = changes(now, &[("late", "1")], &[]);
    assert_eq!(store.commit(&old, &late).await.unwrap(), CommitOutcome::Moved);
    let mut counted = ChangeSet::new(now);
    counted.add = vec![Addition::new("n", 1)];
    assert_eq!(store.commit(&old, &counted).await.unwrap(), CommitOutcome::Moved);
    let fresh = fresh_session(now);
    assert_eq!(
        store.commit_or_create(&old, &late, &fresh).await.unwrap(),
        CommitOutcome::Moved
    );
    if fresh.id().is_some() {
        assert!(peek(&*store, &fresh.key(), now).await.is_none(), "no fresh session");
    }
    let again = store.successor_id(&old).store_key();
    assert_eq!(
        store.regenerate(&old, &again, &late).await.unwrap(),
        CommitOutcome::Moved
    );
    assert!(
        !store.create(&old, &record(now, &[])).await.unwrap(),
        "the marker holds the key"
    );
    assert_eq!(
        store.load(&old, &touch(now)).await.unwrap(),
        Loaded::Moved,
        "still only a marker"
    );
    assert_eq!(store.count(now).await.unwrap(), 1, "the marker is no session");
    assert_eq!(
        data(&peek(&*store, &new, now).await.unwrap()),
        HashMap::from([("cart", "[1]")])
    );
    assert!(!store.delete(&old).await.unwrap(), "no live session went");
}

/// A moved marker stands for [`MOVED_MARKER_TTL`](crate::store::MOVED_MARKER_TTL);
/// after that the old key reads as gone.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::a_moved_marker_ends_after_its_time);
/// ```
pub async fn a_moved_marker_ends_after_its_time<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let old = key();
    let new = store.successor_id(&old).store_key();
    store.create(&old, &record(now, &[])).await.unwrap();
    store.regenerate(&old, &new, &ChangeSet::new(now)).await.unwrap();
    let before_end = now + crate::store::MOVED_MARKER_TTL - Duration::from_millis(1);
    assert_eq!(store.load(&old, &peek_touch(before_end)).await.unwrap(), Loaded::Moved);
    let at_end = now + crate::store::MOVED_MARKER_TTL;
    assert_eq!(store.load(&old, &peek_touch(at_end)).await.unwrap(), Loaded::Gone);
    assert_eq!(
        store.commit(&old, &changes(at_end, &[("a", "1")], &[])).await.unwrap(),
        CommitOutcome::Gone
    );
}
