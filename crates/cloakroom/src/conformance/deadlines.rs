//! Idle and absolute deadlines: sliding by big enough steps, and expiry.

use super::*;

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
    let loaded = store
        .load(&k, &touch(small).min_step(step))
        .await
        .unwrap()
        .live()
        .unwrap();
    assert_eq!(loaded.meta.idle_deadline, now + IDLE, "a 5 s move is below the step");

    let big = now + Duration::from_secs(30);
    let loaded = store
        .load(&k, &touch(big).min_step(step))
        .await
        .unwrap()
        .live()
        .unwrap();
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
        .live()
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
        .live()
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
    assert_eq!(
        store.commit(&k, &changes(later, &[("b", "2")], &[])).await.unwrap(),
        CommitOutcome::Gone
    );
    assert!(store.load(&k, &touch(later)).await.unwrap().live().is_none());
    assert!(
        store.load(&k, &touch(now)).await.unwrap().live().is_none(),
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
        assert!(
            store.load(&k, &touch(at)).await.unwrap().live().is_some(),
            "alive while used"
        );
    }
    assert!(store.load(&k, &touch(now + ABSOLUTE)).await.unwrap().live().is_none());
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
    assert!(store.commit(&k, &slide).await.unwrap().is_written());
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
    assert!(store.commit(&k, &plain).await.unwrap().is_written());
    let loaded = peek(&*store, &k, later).await.unwrap();
    assert_eq!(data(&loaded), HashMap::from([("b", "2")]));
    assert_eq!(loaded.meta.idle_deadline, later + IDLE, "commit keeps the step too");
}

/// A commit of nothing but an idle deadline slides a live session's deadline and
/// reports a missing session.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(
///     || async { MemoryStore::new() },
///     conformance::a_deadline_only_commit_slides_a_live_session_and_reports_a_missing_one,
/// );
/// ```
pub async fn a_deadline_only_commit_slides_a_live_session_and_reports_a_missing_one<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    store.create(&k, &record(now, &[])).await.unwrap();
    let later = now + Duration::from_secs(30);
    let mut slide = ChangeSet::new(later);
    slide.idle_deadline = Some(later + IDLE);
    assert!(store.commit(&k, &slide).await.unwrap().is_written());
    assert_eq!(peek(&*store, &k, later).await.unwrap().meta.idle_deadline, later + IDLE);
    assert_eq!(store.commit(&key(), &slide).await.unwrap(), CommitOutcome::Gone);
}
