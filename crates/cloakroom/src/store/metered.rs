//! Metrics of the store calls (cargo feature `metrics`), through the `metrics`
//! facade: a decorator the layer and the manager call the store through.
//!
//! | metric | kind | labels | counts |
//! | --- | --- | --- | --- |
//! | `cloakroom_store_loads_total` | counter | `store` | sessions read (`load`) |
//! | `cloakroom_store_commits_total` | counter | `store`, `outcome` | commits, regenerates and write-only commits, by outcome: `applied`, `created`, `gone`, `moved`, `conflict` |
//! | `cloakroom_sessions_created_total` | counter | `store` | new sessions stored |
//! | `cloakroom_conflicts_total` | counter | `store` | commits refused by a compare-and-set or a cap (the layer answers 409) |
//! | `cloakroom_store_errors_total` | counter | `store`, `op` | calls that failed (the layer answers 503) |
//! | `cloakroom_sessions_purged_total` | counter | `store` | expired sessions deleted, by the purge tasks too |
//! | `cloakroom_store_call_seconds` | histogram | `store`, `op` | time of each call |
//!
//! Labels are constants (the store's [`kind`](SessionStore::kind) and the
//! operation's name): never a session ID, a user or a key.
//!
//! The handles of the metrics a request touches are registered with the recorder
//! at their first use and kept: install the recorder before the first request.

use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use metrics::{Counter, Histogram};

use super::{
    ChangeSet, CommitOutcome, FreshSession, Loaded, SessionRecord, SessionStore, StoreError, Touch, UserSession,
};
use crate::id::{SessionId, StoreKey};

/// The store calls, the `op` label.
#[derive(Debug, Clone, Copy)]
enum Op {
    Load,
    Create,
    Commit,
    Regenerate,
    Delete,
    Purge,
    ListUser,
    DeleteUser,
    Count,
    Ping,
}

impl Op {
    /// How many there are: `Ping` is the last.
    const ALL: usize = Op::Ping as usize + 1;

    fn as_str(self) -> &'static str {
        match self {
            Op::Load => "load",
            Op::Create => "create",
            Op::Commit => "commit",
            Op::Regenerate => "regenerate",
            Op::Delete => "delete",
            Op::Purge => "purge",
            Op::ListUser => "list_user",
            Op::DeleteUser => "delete_user",
            Op::Count => "count",
            Op::Ping => "ping",
        }
    }
}

/// How many `outcome` labels there are.
const OUTCOMES: usize = 5;

/// The `outcome` label of a commit, with its index below [`OUTCOMES`].
fn outcome_label(outcome: &CommitOutcome) -> (usize, &'static str) {
    match outcome {
        CommitOutcome::Applied(_) => (0, "applied"),
        CommitOutcome::Created => (1, "created"),
        CommitOutcome::Gone => (2, "gone"),
        CommitOutcome::Moved => (3, "moved"),
        CommitOutcome::Conflict => (4, "conflict"),
    }
}

/// The handles of the metrics every request may touch, each registered with the
/// recorder at its first use: after that, recording is an atomic update instead of
/// building the metric's key and looking it up in the recorder's registry (several
/// allocations per call). Errors, rare, are registered at each one.
#[derive(Default)]
struct Handles {
    call_seconds: [OnceLock<Histogram>; Op::ALL],
    commits: [OnceLock<Counter>; OUTCOMES],
    loads: OnceLock<Counter>,
    created: OnceLock<Counter>,
    conflicts: OnceLock<Counter>,
}

/// A store whose calls are counted and timed.
pub(crate) struct Metered {
    inner: Arc<dyn SessionStore>,
    kind: &'static str,
    handles: Handles,
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("inner", &self.inner)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Metered {
    pub(crate) fn new(inner: Arc<dyn SessionStore>) -> Self {
        let kind = inner.kind();
        Self {
            inner,
            kind,
            handles: Handles::default(),
        }
    }

    /// Times `call` as `op`, counting its failure.
    async fn timed<T>(&self, op: Op, call: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        let kind = self.kind;
        self.handles.call_seconds[op as usize]
            .get_or_init(|| metrics::histogram!("cloakroom_store_call_seconds", "store" => kind, "op" => op.as_str()))
            .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!("cloakroom_store_errors_total", "store" => kind, "op" => op.as_str()).increment(1);
        }
        result
    }

    /// Times a commit-like `call` as `op` and counts its outcome.
    async fn committed(
        &self,
        op: Op,
        call: impl Future<Output = Result<CommitOutcome, StoreError>>,
    ) -> Result<CommitOutcome, StoreError> {
        let outcome = self.timed(op, call).await?;
        self.outcome(&outcome);
        Ok(outcome)
    }

    fn outcome(&self, outcome: &CommitOutcome) {
        let (index, label) = outcome_label(outcome);
        let kind = self.kind;
        self.handles.commits[index]
            .get_or_init(|| metrics::counter!("cloakroom_store_commits_total", "store" => kind, "outcome" => label))
            .increment(1);
        match outcome {
            CommitOutcome::Created => self.created(),
            CommitOutcome::Conflict => {
                self.handles
                    .conflicts
                    .get_or_init(|| metrics::counter!("cloakroom_conflicts_total", "store" => kind))
                    .increment(1);
            }
            _ => {}
        }
    }

    fn created(&self) {
        let kind = self.kind;
        self.handles
            .created
            .get_or_init(|| metrics::counter!("cloakroom_sessions_created_total", "store" => kind))
            .increment(1);
    }
}

/// Counts sessions a purge deleted (`purged_sessions` of the store `kind`).
pub(crate) fn purged(kind: &'static str, sessions: usize) {
    metrics::counter!("cloakroom_sessions_purged_total", "store" => kind).increment(sessions as u64);
}

#[async_trait]
impl SessionStore for Metered {
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        let kind = self.kind;
        self.handles
            .loads
            .get_or_init(|| metrics::counter!("cloakroom_store_loads_total", "store" => kind))
            .increment(1);
        self.timed(Op::Load, self.inner.load(key, touch)).await
    }

    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        let created = self.timed(Op::Create, self.inner.create(key, record)).await?;
        if created {
            self.created();
        }
        Ok(created)
    }

    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        self.committed(Op::Commit, self.inner.commit(key, changes)).await
    }

    async fn commit_or_create(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        fresh: &FreshSession,
    ) -> Result<CommitOutcome, StoreError> {
        self.committed(Op::Commit, self.inner.commit_or_create(key, changes, fresh))
            .await
    }

    async fn regenerate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        self.committed(Op::Regenerate, self.inner.regenerate(old, new, changes))
            .await
    }

    fn successor_id(&self, old: &StoreKey) -> SessionId {
        self.inner.successor_id(old)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.timed(Op::Delete, self.inner.delete(key)).await
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        let purged_now = self.timed(Op::Purge, self.inner.purge_expired(now)).await?;
        purged(self.kind, purged_now);
        Ok(purged_now)
    }

    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        self.timed(Op::ListUser, self.inner.list_user(user, now)).await
    }

    async fn delete_user(&self, user: &str) -> Result<usize, StoreError> {
        self.timed(Op::DeleteUser, self.inner.delete_user(user)).await
    }

    async fn count(&self, now: SystemTime) -> Result<usize, StoreError> {
        self.timed(Op::Count, self.inner.count(now)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed(Op::Ping, self.inner.ping()).await
    }

    fn kind(&self) -> &'static str {
        self.kind
    }
}
