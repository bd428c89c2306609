//! `SessionStore` for Postgres: each method is one of the files beside this one.

use std::time::SystemTime;

use async_trait::async_trait;

use super::PostgresStore;
use crate::id::StoreKey;
use crate::store::{ChangeSet, CommitOutcome, Loaded, SessionRecord, SessionStore, StoreError, Touch, UserSession};

#[async_trait]
impl SessionStore for PostgresStore {
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        self.load_session(key, touch).await
    }

    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        self.create_session(key, record).await
    }

    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        self.commit_session(key, changes).await
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
        let one: i32 = self
            .run(|| sqlx::query_scalar("SELECT 1").fetch_one(&self.pool))
            .await?;
        if one == 1 {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!("SELECT 1 answered {one}")))
        }
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}
