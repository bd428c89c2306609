//! Compare-and-set and additions: a key read and written back is applied only while
//! it holds what was read; additions add up and never conflict.

use super::*;

/// A change set that expects keys to hold what the request read is applied whole
/// while they do, and not at all (its blind writes included) once one changed.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(
///     || async { MemoryStore::new() },
///     conformance::a_guarded_commit_applies_only_while_its_keys_hold_what_was_read,
/// );
/// ```
pub async fn a_guarded_commit_applies_only_while_its_keys_hold_what_was_read<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[("n", "1")])).await.unwrap();
    let read_one = guarded(
        changes(now, &[("n", "2"), ("note", "\"first\"")], &[]),
        &[("n", Some("1"))],
    );
    assert_eq!(store.commit(&k, &read_one).await.unwrap(), CommitOutcome::Applied(None));
    let stale = guarded(
        changes(now, &[("n", "2"), ("note", "\"late\"")], &[]),
        &[("n", Some("1"))],
    );
    assert_eq!(store.commit(&k, &stale).await.unwrap(), CommitOutcome::Conflict);
    assert_eq!(
        data(&peek(&*store, &k, now).await.unwrap()),
        HashMap::from([("n", "2"), ("note", "\"first\"")]),
        "nothing of the stale change set landed"
    );

    let first = guarded(changes(now, &[("coupon", "\"A\"")], &[]), &[("coupon", None)]);
    assert!(store.commit(&k, &first).await.unwrap().is_written(), "absent as read");
    let second = guarded(changes(now, &[("coupon", "\"B\"")], &[]), &[("coupon", None)]);
    assert_eq!(store.commit(&k, &second).await.unwrap(), CommitOutcome::Conflict);
    let removal = guarded(changes(now, &[], &["coupon"]), &[("coupon", Some("\"A\""))]);
    assert!(
        store.commit(&k, &removal).await.unwrap().is_written(),
        "a guarded removal"
    );
    assert!(!peek(&*store, &k, now).await.unwrap().data.contains_key("coupon"));
}

/// Additions add to what the store holds (absent counts as 0); one that meets no
/// integer, would leave ±`MAX_COUNT` or would pass its cap applies nothing of its
/// change set.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::additions_add_to_what_the_store_holds);
/// ```
pub async fn additions_add_to_what_the_store_holds<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store
        .create(&k, &record(now, &[("n", "5"), ("name", "\"x\"")]))
        .await
        .unwrap();
    let mut add = changes(now, &[("seen", "true")], &[]);
    add.add = vec![Addition::new("n", -2).at_most(3), Addition::new("fresh", 7)];
    assert!(store.commit(&k, &add).await.unwrap().is_written());
    let loaded = peek(&*store, &k, now).await.unwrap();
    assert_eq!(
        data(&loaded),
        HashMap::from([("n", "3"), ("fresh", "7"), ("name", "\"x\""), ("seen", "true")])
    );

    let mut on_text = changes(now, &[("other", "1")], &[]);
    on_text.add = vec![Addition::new("name", 1)];
    assert_eq!(store.commit(&k, &on_text).await.unwrap(), CommitOutcome::Conflict);
    let mut too_far = ChangeSet::new(now);
    too_far.add = vec![Addition::new("n", crate::store::MAX_COUNT)];
    assert_eq!(store.commit(&k, &too_far).await.unwrap(), CommitOutcome::Conflict);
    let mut over_cap = ChangeSet::new(now);
    over_cap.add = vec![Addition::new("n", 5).at_most(7)];
    assert_eq!(
        store.commit(&k, &over_cap).await.unwrap(),
        CommitOutcome::Conflict,
        "3 + 5 > 7"
    );
    assert_eq!(data(&peek(&*store, &k, now).await.unwrap()), data(&loaded), "unchanged");
}

/// 100 concurrent read-modify-writes of one counter (read it, commit +1 expecting
/// what was read): the counter ends equal to the number that were applied, and
/// some were.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::concurrent_updates_of_one_key_lose_nothing);
/// ```
pub async fn concurrent_updates_of_one_key_lose_nothing<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[("n", "0")])).await.unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let read = peek(&*store, &k, now).await.unwrap().data["n"].clone();
                let next = (read.parse::<u64>().unwrap() + 1).to_string();
                let update = guarded(changes(now, &[("n", &next)], &[]), &[("n", Some(&read))]);
                store.commit(&k, &update).await.unwrap()
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.expect("update task") {
            CommitOutcome::Applied(_) => applied += 1,
            CommitOutcome::Conflict => {}
            other => panic!("a live session answered {other:?}"),
        }
    }
    assert!(applied > 0);
    let n: u64 = peek(&*store, &k, now).await.unwrap().data["n"].parse().unwrap();
    assert_eq!(n, applied, "every applied update counted, none was lost");
}

/// 100 concurrent additions of 1 to one key all apply, and all count.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::concurrent_additions_to_one_key_all_count);
/// ```
pub async fn concurrent_additions_to_one_key_all_count<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[])).await.unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut add = ChangeSet::new(now);
                add.add = vec![Addition::new("qty", 1)];
                store.commit(&k, &add).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert!(
            task.await.expect("addition task").is_written(),
            "additions never conflict"
        );
    }
    assert_eq!(peek(&*store, &k, now).await.unwrap().data["qty"], "100");
}
