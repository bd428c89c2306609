//! `SessionStore` for Redis: each method is one of the files beside this one.

use std::time::SystemTime;

use async_trait::async_trait;
use redis::Value;

use super::RedisStore;
use crate::id::{SessionId, StoreKey};
use crate::store::{ChangeSet, CommitOutcome, Loaded, SessionRecord, SessionStore, StoreError, Touch, UserSession};

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        self.load_session(key, touch).await
    }

    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        self.create_session(key, record).await
    }

    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        self.commit_session(key, changes).await
    }

    fn successor_id(&self, old: &StoreKey) -> SessionId {
        self.successor_of(old)
    }

    async fn regenerate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        self.regenerate_session(old, new, changes).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.delete_session(key).await
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        self.purge(now).await
    }

    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        self.sessions_of(user, now).await
    }

    async fn delete_user(&self, user: &str) -> Result<usize, StoreError> {
        self.delete_sessions_of(user).await
    }

    async fn count(&self, now: SystemTime) -> Result<usize, StoreError> {
        self.count_live(now).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let reply: Value = self.query(redis::cmd("PING")).await?;
        match reply {
            Value::SimpleString(_) | Value::BulkString(_) | Value::Okay => Ok(()),
            other => Err(StoreError::Corrupt(format!("unexpected PING reply: {other:?}"))),
        }
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
