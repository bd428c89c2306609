//! The per-user index: listing, revoking, logging out everywhere.

use super::*;

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
    assert!(
        store.commit(&a2, &bind).await.unwrap().is_written(),
        "binding by commit"
    );
    store.create(&b1, &bound(now, &bob)).await.unwrap();
    store.create(&anon, &record(now, &[])).await.unwrap();

    let listed = listed_keys(&*store, &alice, now).await;
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
    let listed = listed_keys(&*store, &alice, now).await;
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
    assert!(
        store
            .regenerate(&old, &new, &ChangeSet::new(now))
            .await
            .unwrap()
            .is_written()
    );
    let listed = listed_keys(&*store, &alice, now).await;
    assert_eq!(listed, vec![new], "regenerate re-files the session under its new key");

    let mut rebind = ChangeSet::new(now);
    rebind.user = Some(UserChange::Bind(bob.clone()));
    assert!(store.commit(&new, &rebind).await.unwrap().is_written());
    assert!(store.list_user(&alice, now).await.unwrap().is_empty());
    assert_eq!(store.list_user(&bob, now).await.unwrap().len(), 1);
    assert_eq!(store.delete_user(&alice).await.unwrap(), 0, "alice no longer owns it");

    let mut unbind = ChangeSet::new(now);
    unbind.user = Some(UserChange::Unbind);
    assert!(store.commit(&new, &unbind).await.unwrap().is_written());
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
    assert!(store.commit(&long, &slide).await.unwrap().is_written());

    let after_short = now + IDLE + Duration::from_secs(1);
    let listed = listed_keys(&*store, &alice, after_short).await;
    assert_eq!(listed, vec![long]);
    assert!(store.delete_user(&alice).await.unwrap() >= 1);
    assert!(peek(&*store, &long, later).await.is_none());
    assert!(store.list_user(&alice, now).await.unwrap().is_empty());
}

/// The keys of `user`'s live sessions at `now`, sorted.
async fn listed_keys<S: SessionStore>(store: &S, user: &str, now: SystemTime) -> Vec<StoreKey> {
    let mut keys: Vec<StoreKey> = store
        .list_user(user, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    keys.sort();
    keys
}
