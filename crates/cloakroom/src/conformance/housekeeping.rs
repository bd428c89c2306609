//! Deleting, purging and counting.

use super::*;

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
