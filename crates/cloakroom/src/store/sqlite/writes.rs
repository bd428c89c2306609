//! The operations that write, each run by the writer inside its transaction:
//! what a change set does to a row is judged here, in Rust, on the row as the
//! writer reads it, and applied by one statement (two for a regenerate). Nothing
//! else writes the file between the read and the write.

use sqlx::SqliteConnection;

use super::statements::Statements;
use crate::id::StoreKey;
use crate::store::sql_rows::{Found, LoadRow, found, millis};
use crate::store::{ChangeSet, CommitOutcome, MOVED_MARKER_TTL, SessionRecord, StoreError};

/// Most rows one purge batch deletes, so that other writes wait on it little.
pub(super) const PURGE_BATCH: i64 = 1_000;

/// One operation that writes.
#[derive(Debug)]
pub(super) enum Write {
    /// Slide a live session's idle deadline (milliseconds: now, wanted, step).
    Slide {
        key: StoreKey,
        now: i64,
        wanted: i64,
        step: i64,
    },
    /// Delete a row dead at `now`.
    Drop { key: StoreKey, now: i64 },
    /// Insert a new session, insert-if-absent.
    Create { key: StoreKey, record: SessionRecord },
    /// Apply a change set to a live session.
    Commit { key: StoreKey, changes: ChangeSet },
    /// Move a live session to a new key, applying a change set on the way.
    Regenerate {
        old: StoreKey,
        new: StoreKey,
        changes: ChangeSet,
    },
    /// Delete a row; `now` tells whether it was live.
    Delete { key: StoreKey, now: i64 },
    /// Delete every session of a user.
    DeleteUser { user: String, now: i64 },
    /// Delete one batch of rows dead at `now`.
    Purge { now: i64 },
}

/// What a write answered.
#[derive(Debug)]
pub(super) enum Written {
    /// A slide: the new last use and idle deadline, or `None` when the row was
    /// no longer one to slide.
    Slid(Option<(i64, i64)>),
    /// A create or delete: whether it wrote (created / deleted a live session).
    Done(bool),
    /// A commit or regenerate.
    Outcome(CommitOutcome),
    /// A delete by user: how many live sessions went.
    Deleted(usize),
    /// A purge batch: how many rows went, and how many of them were sessions.
    Purged { rows: usize, sessions: usize },
}

/// A write's own answer (`Err`: the row holds no session record, and nothing was
/// written), or the database's error, which fails the whole transaction.
pub(super) type Answer = Result<Written, StoreError>;

impl Write {
    pub(super) async fn apply(&self, conn: &mut SqliteConnection, sql: &Statements) -> Result<Answer, sqlx::Error> {
        Ok(match self {
            Self::Slide { key, now, wanted, step } => Ok(Written::Slid(
                sqlx::query_as(sql.slide.clone())
                    .bind(&key.0[..])
                    .bind(now)
                    .bind(wanted)
                    .bind(step)
                    .fetch_optional(&mut *conn)
                    .await?,
            )),
            Self::Drop { key, now } => {
                drop_dead(conn, sql, key, *now).await?;
                Ok(Written::Done(true))
            }
            Self::Create { key, record } => Ok(Written::Done(create(conn, sql, key, record).await?)),
            Self::Commit { key, changes } => commit(conn, sql, key, changes).await?.map(Written::Outcome),
            Self::Regenerate { old, new, changes } => {
                regenerate(conn, sql, old, new, changes).await?.map(Written::Outcome)
            }
            Self::Delete { key, now } => {
                let live: Option<bool> = sqlx::query_scalar(sql.delete.clone())
                    .bind(&key.0[..])
                    .bind(now)
                    .fetch_optional(&mut *conn)
                    .await?;
                Ok(Written::Done(live == Some(true)))
            }
            Self::DeleteUser { user, now } => {
                let gone: Vec<bool> = sqlx::query_scalar(sql.delete_user.clone())
                    .bind(user)
                    .bind(now)
                    .fetch_all(&mut *conn)
                    .await?;
                Ok(Written::Deleted(gone.iter().filter(|live| **live).count()))
            }
            Self::Purge { now } => {
                let gone: Vec<bool> = sqlx::query_scalar(sql.purge.clone())
                    .bind(now)
                    .bind(PURGE_BATCH)
                    .fetch_all(&mut *conn)
                    .await?;
                Ok(Written::Purged {
                    rows: gone.len(),
                    sessions: gone.iter().filter(|session| **session).count(),
                })
            }
        })
    }
}

async fn drop_dead(conn: &mut SqliteConnection, sql: &Statements, key: &StoreKey, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(sql.drop.clone())
        .bind(&key.0[..])
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn create(
    conn: &mut SqliteConnection,
    sql: &Statements,
    key: &StoreKey,
    record: &SessionRecord,
) -> Result<bool, sqlx::Error> {
    let meta = &record.meta;
    let done = sqlx::query(sql.create.clone())
        .bind(&key.0[..])
        .bind(encode_data(record))
        .bind(millis(meta.created_at))
        .bind(millis(meta.last_seen))
        .bind(millis(meta.idle_deadline))
        .bind(millis(meta.absolute_deadline))
        .bind(meta.user.as_deref())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// What a change set does to the row the writer read.
enum Judged {
    /// The live session with the change set applied, and whether that slid its
    /// idle deadline: write it.
    Apply(SessionRecord, bool),
    /// The write's answer without writing: gone (a dead row was deleted on the
    /// way), moved, a conflict, or a row that holds no session record.
    Refused(Result<CommitOutcome, StoreError>),
}

/// Reads the row at `key` and judges `changes` on it.
async fn judged(
    conn: &mut SqliteConnection,
    sql: &Statements,
    key: &StoreKey,
    changes: &ChangeSet,
) -> Result<Judged, sqlx::Error> {
    let now = millis(changes.now);
    let row: Option<LoadRow> = sqlx::query_as(sql.read.clone())
        .bind(&key.0[..])
        .fetch_optional(&mut *conn)
        .await?;
    let refused = |outcome| Ok(Judged::Refused(Ok(outcome)));
    let mut record = match found(row, now) {
        Err(corrupt) => return Ok(Judged::Refused(Err(corrupt))),
        Ok(Found::Absent) => return refused(CommitOutcome::Gone),
        Ok(Found::Moved) => return refused(CommitOutcome::Moved),
        Ok(Found::Dead) => {
            drop_dead(conn, sql, key, now).await?;
            return refused(CommitOutcome::Gone);
        }
        Ok(Found::Live(record)) => record,
    };
    if !record.admits(changes) {
        return refused(CommitOutcome::Conflict);
    }
    let slides = changes.slides(record.meta.idle_deadline);
    record.apply(changes);
    Ok(Judged::Apply(record, slides))
}

async fn commit(
    conn: &mut SqliteConnection,
    sql: &Statements,
    key: &StoreKey,
    changes: &ChangeSet,
) -> Result<Result<CommitOutcome, StoreError>, sqlx::Error> {
    let (record, slides) = match judged(conn, sql, key, changes).await? {
        Judged::Apply(record, slides) => (record, slides),
        Judged::Refused(answer) => return Ok(answer),
    };
    let meta = &record.meta;
    sqlx::query(sql.update.clone())
        .bind(&key.0[..])
        .bind(encode_data(&record))
        .bind(meta.user.as_deref())
        .bind(millis(meta.last_seen))
        .bind(millis(meta.idle_deadline))
        .execute(&mut *conn)
        .await?;
    Ok(Ok(CommitOutcome::Applied(slides.then(|| meta.expires_at()))))
}

async fn regenerate(
    conn: &mut SqliteConnection,
    sql: &Statements,
    old: &StoreKey,
    new: &StoreKey,
    changes: &ChangeSet,
) -> Result<Result<CommitOutcome, StoreError>, sqlx::Error> {
    let record = match judged(conn, sql, old, changes).await? {
        Judged::Apply(record, _) => record,
        Judged::Refused(answer) => return Ok(answer),
    };
    let taken: bool = sqlx::query_scalar(sql.taken.clone())
        .bind(&new.0[..])
        .fetch_one(&mut *conn)
        .await?;
    if taken {
        return Ok(Ok(CommitOutcome::Conflict));
    }
    let meta = &record.meta;
    sqlx::query(sql.insert.clone())
        .bind(&new.0[..])
        .bind(encode_data(&record))
        .bind(millis(meta.created_at))
        .bind(millis(meta.last_seen))
        .bind(millis(meta.idle_deadline))
        .bind(millis(meta.absolute_deadline))
        .bind(meta.user.as_deref())
        .execute(&mut *conn)
        .await?;
    sqlx::query(sql.mark.clone())
        .bind(&old.0[..])
        .bind(millis(changes.now))
        .bind(millis(changes.now + MOVED_MARKER_TTL))
        .execute(&mut *conn)
        .await?;
    Ok(Ok(CommitOutcome::Applied(None)))
}

/// The `data` document of a record: one JSON string member per key.
fn encode_data(record: &SessionRecord) -> String {
    match serde_json::to_string(&record.data) {
        Ok(text) => text,
        // A map of strings always serializes.
        Err(_) => unreachable!("a map of strings serializes"),
    }
}
