//! Load, create, commit, regenerate and delete: one statement each.

use std::time::SystemTime;

use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::params::{ChangeParams, millis};
use super::rows::{LoadRow, loaded, time};
use crate::clock::duration_millis;
use crate::id::StoreKey;
use crate::store::{ChangeSet, CommitOutcome, Loaded, MOVED_MARKER_TTL, SessionRecord, StoreError, Touch};

impl PostgresStore {
    pub(super) async fn load_session(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        let now = millis(touch.now);
        let min_step = i64::try_from(duration_millis(touch.min_step)).unwrap_or(i64::MAX);
        let row: Option<LoadRow> = self
            .run(|| {
                sqlx::query_as(self.sql.load.clone())
                    .bind(&key.0[..])
                    .bind(now)
                    .bind(millis(touch.idle_deadline))
                    .bind(min_step)
                    .fetch_optional(&self.pool)
            })
            .await?;
        loaded(row, now)
    }

    pub(super) async fn create_session(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        let keys: Vec<&str> = record.data.keys().map(String::as_str).collect();
        let values: Vec<&str> = record.data.values().map(String::as_str).collect();
        let meta = &record.meta;
        let written: Option<i32> = self
            .run(|| {
                sqlx::query_scalar(self.sql.create.clone())
                    .bind(&key.0[..])
                    .bind(&keys)
                    .bind(&values)
                    .bind(millis(meta.created_at))
                    .bind(millis(meta.last_seen))
                    .bind(millis(meta.idle_deadline))
                    .bind(millis(meta.absolute_deadline))
                    .bind(meta.user.as_deref())
                    .fetch_optional(&self.pool)
            })
            .await?;
        Ok(written.is_some())
    }

    pub(super) async fn commit_session(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        let params = ChangeParams::new(changes);
        let row = self
            .run(|| {
                let query = sqlx::query(self.sql.commit.clone())
                    .bind(&key.0[..])
                    .bind(millis(changes.now));
                params.bind(query).fetch_optional(&self.pool)
            })
            .await?;
        let row: Option<(String, Option<i64>)> = row.map(|row| decoded(&row)).transpose()?;
        Ok(match row {
            None => CommitOutcome::Gone,
            Some((verdict, slid_to)) => match verdict.as_str() {
                "apply" => CommitOutcome::Applied(slid_to.map(time)),
                other => refusal(other)?,
            },
        })
    }

    pub(super) async fn regenerate_session(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        let params = ChangeParams::new(changes);
        let until = millis(changes.now + MOVED_MARKER_TTL);
        let row = self
            .run(|| {
                let query = sqlx::query(self.sql.regenerate.clone())
                    .bind(&old.0[..])
                    .bind(millis(changes.now));
                params
                    .bind(query)
                    .bind(&new.0[..])
                    .bind(until)
                    .fetch_optional(&self.pool)
            })
            .await?;
        let row: Option<(String, bool)> = row.map(|row| decoded(&row)).transpose()?;
        Ok(match row {
            None => CommitOutcome::Gone,
            Some((verdict, moved)) => match verdict.as_str() {
                "apply" if moved => CommitOutcome::Applied(None),
                // The new key is taken.
                "apply" => CommitOutcome::Conflict,
                other => refusal(other)?,
            },
        })
    }

    pub(super) async fn delete_session(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let now = millis(SystemTime::now());
        let live: Option<bool> = self
            .run(|| {
                sqlx::query_scalar(self.sql.delete.clone())
                    .bind(&key.0[..])
                    .bind(now)
                    .fetch_optional(&self.pool)
            })
            .await?;
        Ok(live == Some(true))
    }
}

/// A row as a tuple of its columns.
fn decoded<T: for<'r> sqlx::FromRow<'r, PgRow>>(row: &PgRow) -> Result<T, StoreError> {
    T::from_row(row).map_err(|err| StoreError::Corrupt(format!("unexpected reply from Postgres: {err}")))
}

/// The outcome of a verdict other than `apply`.
fn refusal(verdict: &str) -> Result<CommitOutcome, StoreError> {
    match verdict {
        "moved" => Ok(CommitOutcome::Moved),
        "gone" => Ok(CommitOutcome::Gone),
        "conflict" => Ok(CommitOutcome::Conflict),
        other => Err(StoreError::Corrupt(format!("unexpected commit verdict {other:?}"))),
    }
}
