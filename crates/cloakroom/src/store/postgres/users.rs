//! The sessions of a user: the `user_id` column and its index.

use std::time::SystemTime;

use super::PostgresStore;
use crate::store::sql_rows::{UserRow, millis, user_session};
use crate::store::{MAX_LOGOUT_PASSES, StoreError, UserSession};

impl PostgresStore {
    pub(super) async fn sessions_of(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        let now = millis(now);
        let rows: Vec<UserRow> = self
            .run(|| {
                sqlx::query_as(self.sql.list_user.clone())
                    .bind(user)
                    .bind(now)
                    .fetch_all(&self.pool)
            })
            .await?;
        rows.into_iter().map(|row| user_session(row, user)).collect()
    }

    /// One statement, run again only while a pass finds that a session it saw
    /// changed under it (a regenerate moved it to a key the pass could not see).
    pub(super) async fn delete_sessions_of(&self, user: &str) -> Result<usize, StoreError> {
        let started = millis(SystemTime::now());
        let mut deleted = 0;
        for _ in 0..MAX_LOGOUT_PASSES {
            let (live, gone, seen): (i64, i64, i64) = self
                .run(|| {
                    sqlx::query_as(self.sql.delete_user.clone())
                        .bind(user)
                        .bind(started)
                        .fetch_one(&self.pool)
                })
                .await?;
            deleted += usize::try_from(live).unwrap_or(0);
            if gone >= seen {
                break;
            }
        }
        Ok(deleted)
    }
}
