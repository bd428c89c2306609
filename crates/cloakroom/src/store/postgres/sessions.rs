//! Load, create, commit, regenerate and delete.

use std::time::SystemTime;

use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::commit_shape::{CHECKED_PARAMS, Shape};
use super::params::ChangeParams;
use crate::id::StoreKey;
use crate::store::sql_rows::{Found, LoadRow, Slide, found, millis, time};
use crate::store::{ChangeSet, CommitOutcome, Loaded, MOVED_MARKER_TTL, SessionRecord, StoreError, Touch};

impl PostgresStore {
    /// The `read` statement; only when the session turns out dead, `drop`; only
    /// when a slide is due (about once per 1/20 of the idle timeout), `slide`.
    pub(super) async fn load_session(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        let now = millis(touch.now);
        let row: Option<LoadRow> = self
            .run(|| {
                sqlx::query_as(self.sql.read.clone())
                    .bind(&key.0[..])
                    .fetch_optional(&self.pool)
            })
            .await?;
        match found(row, now)? {
            Found::Absent => Ok(Loaded::Gone),
            Found::Moved => Ok(Loaded::Moved),
            Found::Dead => {
                self.run(|| {
                    sqlx::query(self.sql.drop.clone())
                        .bind(&key.0[..])
                        .bind(now)
                        .execute(&self.pool)
                })
                .await?;
                Ok(Loaded::Gone)
            }
            Found::Live(mut record) => {
                if let Some(slide) = Slide::due(touch, &record.meta) {
                    let slid: Option<(i64, i64)> = self
                        .run(|| {
                            sqlx::query_as(self.sql.slide.clone())
                                .bind(&key.0[..])
                                .bind(slide.now)
                                .bind(slide.wanted)
                                .bind(slide.step)
                                .fetch_optional(&self.pool)
                        })
                        .await?;
                    // No row: a concurrent request slid it, or ended the session
                    // after the read; the read's record stands for this request.
                    if let Some(slid) = slid {
                        Slide::applied(&mut record.meta, slid);
                    }
                }
                Ok(Loaded::Live(record))
            }
        }
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

    /// The fast commit of the change set's shape; only when it updated no row
    /// (the session is gone or moved, a guard failed), the checked commit, which
    /// says which.
    pub(super) async fn commit_session(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        let params = ChangeParams::new(changes);
        let shape = Shape::of(changes);
        let fast = self.sql.fast.of(shape);
        let applied = if shape.returns_expiry() {
            let row: Option<Option<i64>> = self
                .run(|| {
                    let query = params.bind_all(key, &fast.params, sqlx::query(fast.sql.clone()));
                    query.fetch_optional(&self.pool)
                })
                .await?
                .map(|row| decoded::<(Option<i64>,)>(&row).map(|(expiry,)| expiry))
                .transpose()?;
            row.map(|expiry| expiry.map(time))
        } else {
            let done = self
                .run(|| {
                    let query = params.bind_all(key, &fast.params, sqlx::query(fast.sql.clone()));
                    query.execute(&self.pool)
                })
                .await?;
            (done.rows_affected() > 0).then_some(None)
        };
        if let Some(expiry) = applied {
            return Ok(CommitOutcome::Applied(expiry));
        }
        self.checked_commit(key, &params).await
    }

    async fn checked_commit(&self, key: &StoreKey, params: &ChangeParams<'_>) -> Result<CommitOutcome, StoreError> {
        let row = self
            .run(|| {
                let query = sqlx::query(self.sql.commit.clone());
                params.bind_all(key, &CHECKED_PARAMS, query).fetch_optional(&self.pool)
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
                let query = sqlx::query(self.sql.regenerate.clone());
                params
                    .bind_all(old, &CHECKED_PARAMS, query)
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
