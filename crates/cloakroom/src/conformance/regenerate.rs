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
