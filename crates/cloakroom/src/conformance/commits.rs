//! Commits: per key, never creating, never resurrecting, concurrent; and the
//! write-only commit.

use super::*;

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
            .is_written()
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
    assert!(store.commit(&k, &clear).await.unwrap().is_written());
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
    assert_eq!(
        store.commit(&k, &changes(now, &[("a", "1")], &[])).await.unwrap(),
        CommitOutcome::Gone
    );
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
    assert_eq!(
        store.commit(&k, &changes(now, &[("late", "1")], &[])).await.unwrap(),
        CommitOutcome::Gone
    );
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
                assert!(
                    store
                        .commit(&k, &changes(now, &[(&name, &value)], &[]))
                        .await
                        .unwrap()
                        .is_written()
                );
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
