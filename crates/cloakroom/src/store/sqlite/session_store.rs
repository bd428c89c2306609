//! `SessionStore` for SQLite: reads on the reader connections, each write one
//! job for the writer (`writer.rs`).

use std::time::SystemTime;

use async_trait::async_trait;

use super::writes::{PURGE_BATCH, Write, Written};
use super::{SqliteStore, unexpected};
use crate::id::StoreKey;
use crate::store::sql_rows::{Found, LoadRow, Slide, UserRow, found, millis, user_session};
use crate::store::{ChangeSet, CommitOutcome, Loaded, SessionRecord, SessionStore, StoreError, Touch, UserSession};

#[async_trait]
impl SessionStore for SqliteStore {
    /// One `SELECT` on a reader; only when the session turns out dead, a drop,
    /// and only when a slide is due (about once per 1/20 of the idle timeout), a
    /// slide, each through the writer. A slide that fails (the writer waits on
    /// another process's lock past the timeout) does not fail the read.
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        let now = millis(touch.now);
        let row: Option<LoadRow> = self
            .read(
                sqlx::query_as(self.sql.read.clone())
                    .bind(&key.0[..])
                    .fetch_optional(&self.readers),
            )
            .await?;
        match found(row, now)? {
            Found::Absent => Ok(Loaded::Gone),
            Found::Moved => Ok(Loaded::Moved),
            Found::Dead => {
                self.write(Write::Drop { key: *key, now }).await?;
                Ok(Loaded::Gone)
            }
            Found::Live(mut record) => {
                if let Some(Slide { now, wanted, step }) = Slide::due(touch, &record.meta) {
                    match self
                        .write(Write::Slide {
                            key: *key,
                            now,
                            wanted,
                            step,
                        })
                        .await
                    {
                        Ok(Written::Slid(Some(slid))) => Slide::applied(&mut record.meta, slid),
                        // A concurrent request slid it, or ended the session after
                        // the read; the read's record stands for this request.
                        Ok(Written::Slid(None)) => {}
                        Ok(other) => return Err(unexpected(&other)),
                        // The writer is stuck (another process holds the write
                        // lock): the read still serves; a later request slides.
                        Err(err) => tracing::warn!(error = %err, "sliding a session's idle deadline failed"),
                    }
                }
                Ok(Loaded::Live(record))
            }
        }
    }

    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        let write = Write::Create {
            key: *key,
            record: record.clone(),
        };
        match self.write(write).await? {
            Written::Done(created) => Ok(created),
            other => Err(unexpected(&other)),
        }
    }

    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        let write = Write::Commit {
            key: *key,
            changes: changes.clone(),
        };
        match self.write(write).await? {
            Written::Outcome(outcome) => Ok(outcome),
            other => Err(unexpected(&other)),
        }
    }

    async fn regenerate(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        let write = Write::Regenerate {
            old: *old,
            new: *new,
            changes: changes.clone(),
        };
        match self.write(write).await? {
            Written::Outcome(outcome) => Ok(outcome),
            other => Err(unexpected(&other)),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let now = millis(SystemTime::now());
        match self.write(Write::Delete { key: *key, now }).await? {
            Written::Done(live) => Ok(live),
            other => Err(unexpected(&other)),
        }
    }

    /// A batch of at most 1,000 rows per transaction, so that the writes of
    /// requests go in between.
    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        let now = millis(now);
        let mut purged = 0;
        loop {
            match self.write(Write::Purge { now }).await? {
                Written::Purged { rows, sessions } => {
                    purged += sessions;
                    if (rows as i64) < PURGE_BATCH {
                        return Ok(purged);
                    }
                }
                other => return Err(unexpected(&other)),
            }
        }
    }

    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        let rows: Vec<UserRow> = self
            .read(
                sqlx::query_as(self.sql.list_user.clone())
                    .bind(user)
                    .bind(millis(now))
                    .fetch_all(&self.readers),
            )
            .await?;
        rows.into_iter().map(|row| user_session(row, user)).collect()
    }

    /// One statement: the writer runs nothing else meanwhile, so no regenerate
    /// can move a session of the user out of its sight.
    async fn delete_user(&self, user: &str) -> Result<usize, StoreError> {
        let write = Write::DeleteUser {
            user: user.to_owned(),
            now: millis(SystemTime::now()),
        };
        match self.write(write).await? {
            Written::Deleted(live) => Ok(live),
            other => Err(unexpected(&other)),
        }
    }

    async fn count(&self, now: SystemTime) -> Result<usize, StoreError> {
        let count: i64 = self
            .read(
                sqlx::query_scalar(self.sql.count.clone())
                    .bind(millis(now))
                    .fetch_one(&self.readers),
            )
            .await?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let one: i32 = self
            .read(sqlx::query_scalar("SELECT 1").fetch_one(&self.readers))
            .await?;
        if one == 1 {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!("SELECT 1 answered {one}")))
        }
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}
