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

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;

use super::{
    ChangeSet, CommitOutcome, FreshSession, Loaded, SessionRecord, SessionStore, StoreError, Touch, UserSession,
};
use crate::id::{SessionId, StoreKey};

/// A store whose calls are counted and timed.
#[derive(Debug)]
pub(crate) struct Metered {
    inner: Arc<dyn SessionStore>,
    kind: &'static str,
}

impl Metered {
    pub(crate) fn new(inner: Arc<dyn SessionStore>) -> Self {
        let kind = inner.kind();
        Self { inner, kind }
    }

    /// Times `call` as `op`, counting its failure.
    async fn timed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        metrics::histogram!("cloakroom_store_call_seconds", "store" => self.kind, "op" => op)
            .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!("cloakroom_store_errors_total", "store" => self.kind, "op" => op).increment(1);
        }
        result
    }

    /// Times a commit-like `call` as `op` and counts its outcome.
    async fn committed(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<CommitOutcome, StoreError>>,
    ) -> Result<CommitOutcome, StoreError> {
        let outcome = self.timed(op, call).await?;
        self.outcome(&outcome);
        Ok(outcome)
    }

    fn outcome(&self, outcome: &CommitOutcome) {
        let label = match outcome {
            CommitOutcome::Applied(_) => "applied",
            CommitOutcome::Created => "created",
            CommitOutcome::Gone => "gone",
            CommitOutcome::Moved => "moved",
            CommitOutcome::Conflict => "conflict",
        };
        metrics::counter!("cloakroom_store_commits_total", "store" => self.kind, "outcome" => label).increment(1);
        match outcome {
            CommitOutcome::Created => self.created(),
            CommitOutcome::Conflict => {
                metrics::counter!("cloakroom_conflicts_total", "store" => self.kind).increment(1);
            }
            _ => {}
        }
    }

    fn created(&self) {
        metrics::counter!("cloakroom_sessions_created_total", "store" => self.kind).increment(1);
    }
}

/// Counts sessions a purge deleted (`purged_sessions` of the store `kind`).
pub(crate) fn purged(kind: &'static str, sessions: usize) {
    metrics::counter!("cloakroom_sessions_purged_total", "store" => kind).increment(sessions as u64);
}

#[async_trait]
impl SessionStore for Metered {
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        metrics::counter!("cloakroom_store_loads_total", "store" => self.kind).increment(1);
        self.timed("load", self.inner.load(key, touch)).await
    }

    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        let created = self.timed("create", self.inner.create(key, record)).await?;
        if created {
            self.created();
        }
        Ok(created)
    }

    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        self.committed("commit", self.inner.commit(key, changes)).await
    }

    async fn commit_or_create(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        fresh: &FreshSession,
    ) -> Result<CommitOutcome, StoreError> {
        self.committed("commit", self.inner.commit_or_create(key, changes, fresh))
            .await
    }

    async fn regenerate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        self.committed("regenerate", self.inner.regenerate(old, new, changes))
            .await
    }

    fn successor_id(&self, old: &StoreKey) -> SessionId {
        self.inner.successor_id(old)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.timed("delete", self.inner.delete(key)).await
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        let purged_now = self.timed("purge", self.inner.purge_expired(now)).await?;
        purged(self.kind, purged_now);
        Ok(purged_now)
    }

    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        self.timed("list_user", self.inner.list_user(user, now)).await
    }

    async fn delete_user(&self, user: &str) -> Result<usize, StoreError> {
        self.timed("delete_user", self.inner.delete_user(user)).await
    }

    async fn count(&self, now: SystemTime) -> Result<usize, StoreError> {
        self.timed("count", self.inner.count(now)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.inner.ping()).await
    }

    fn kind(&self) -> &'static str {
        self.kind
    }
}
