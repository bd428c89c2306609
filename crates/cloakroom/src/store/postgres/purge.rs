//! Deleting dead rows in bounded batches in the background, and counting live
//! sessions.

use std::time::SystemTime;

use super::PostgresStore;
use crate::store::StoreError;
use crate::store::sql_rows::millis;

/// Most rows one purge statement deletes, so that it never holds many locks long.
pub(super) const PURGE_BATCH: i64 = 1_000;

impl PostgresStore {
    /// Deletes every row dead at `now`, a batch per statement; returns how many
    /// were sessions (the rest were moved markers past their time).
    pub(super) async fn purge(&self, now: SystemTime) -> Result<usize, StoreError> {
        let now = millis(now);
        let mut purged = 0;
        loop {
            let batch: Vec<bool> = self
                .run(|| {
                    sqlx::query_scalar(self.sql.purge.clone())
                        .bind(now)
                        .bind(PURGE_BATCH)
                        .fetch_all(&self.pool)
                })
                .await?;
            purged += batch.iter().filter(|session| **session).count();
            if (batch.len() as i64) < PURGE_BATCH {
                return Ok(purged);
            }
        }
    }

    pub(super) async fn count_live(&self, now: SystemTime) -> Result<usize, StoreError> {
        let now = millis(now);
        let count: i64 = self
            .run(|| {
                sqlx::query_scalar(self.sql.count.clone())
                    .bind(now)
                    .fetch_one(&self.pool)
            })
            .await?;
        Ok(usize::try_from(count).unwrap_or(0))
    }
}
