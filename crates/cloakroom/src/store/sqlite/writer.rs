//! The one writer: every write of a store goes through a queue to one task,
//! which applies what is queued in one `BEGIN IMMEDIATE` transaction on one
//! connection and answers each caller once that transaction has committed.
//!
//! - No "database is locked": writes of this process never contend for SQLite's
//!   write lock (they take turns in the queue, not in SQLite's busy loop), and
//!   readers in WAL mode never wait on the writer. Only another process writing
//!   the same file can hold the lock; the writer waits for it up to the busy
//!   timeout.
//! - Group commit: the writes queued while one transaction ran go in the next one,
//!   so a burst of N writes costs one `fsync`, not N.
//! - Each write stands alone: one whose statement fails rolls back the
//!   transaction, and the writes of that batch are then run again one
//!   transaction each, so only the failing one fails. A write judged refused (a
//!   conflict, a gone session) wrote nothing and does not fail the others.
//! - A write the caller stopped waiting for before the writer took it is never
//!   applied: the caller and the writer race for it on one atomic, after the
//!   writer holds the write lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use sqlx::{Connection as _, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::statements::Statements;
use super::writes::{Answer, Write, Written};
use crate::store::StoreError;

/// Most writes one transaction applies.
const MAX_BATCH: usize = 128;

/// Writes that may wait in the queue; a caller past them waits for room (within
/// its timeout).
const QUEUE: usize = 4_096;

/// How long a caller waits, past its timeout, for a write the writer had already
/// taken: the write may apply, so the caller waits for the answer rather than
/// guess, unless the file stops answering altogether.
const TAKEN_GUARD: Duration = Duration::from_secs(30);

const PENDING: u8 = 0;
const TAKEN: u8 = 1;
const CANCELLED: u8 = 2;

/// One queued write and where its answer goes.
struct Job {
    write: Write,
    state: Arc<AtomicU8>,
    reply: oneshot::Sender<Answer>,
}

impl Job {
    /// The writer takes the job, unless its caller gave up on it first.
    fn take(&self) -> bool {
        self.state
            .compare_exchange(PENDING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn answer(self, answer: Answer) {
        // The caller may have stopped waiting (its request was dropped).
        let _ = self.reply.send(answer);
    }
}

/// The sending end of the queue; the writer task ends when the last one goes.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on the current tokio runtime; it takes its
    /// connection from `pool` for each transaction.
    pub(super) fn spawn(pool: SqlitePool, sql: Arc<Statements>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(serve(pool, sql, queue));
        Self { jobs }
    }

    /// Queues `write` and waits for its answer, or fails after `timeout` if the
    /// writer had not taken it by then (it then never applies).
    pub(super) async fn write(&self, write: Write, timeout: Duration) -> Result<Written, StoreError> {
        let state = Arc::new(AtomicU8::new(PENDING));
        // A caller that stops waiting (its request dropped) gives the write up
        // too, unless the writer took it already.
        let _give_up = GiveUpOnDrop(state.clone());
        let (reply, mut answer) = oneshot::channel();
        let job = Job {
            write,
            state: state.clone(),
            reply,
        };
        let queued = async {
            self.jobs.send(job).await.map_err(|_| stopped())?;
            (&mut answer).await.map_err(|_| stopped())?
        };
        match tokio::time::timeout(timeout, queued).await {
            Ok(answer) => answer,
            Err(_)
                if state
                    .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok() =>
            {
                Err(StoreError::unavailable(format!(
                    "SQLite did not take the write within {timeout:?} (another process holds the file's \
                     write lock, or the disk is slow); nothing was written"
                )))
            }
            Err(_) => match tokio::time::timeout(TAKEN_GUARD, answer).await {
                Ok(answer) => answer.map_err(|_| stopped())?,
                Err(_) => Err(StoreError::unavailable(format!(
                    "SQLite did not finish a write within {:?}; it may yet apply",
                    timeout + TAKEN_GUARD
                ))),
            },
        }
    }
}

/// Marks a write given up when its caller stops waiting before the writer took it.
struct GiveUpOnDrop(Arc<AtomicU8>);

impl Drop for GiveUpOnDrop {
    fn drop(&mut self) {
        let _ = self
            .0
            .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire);
    }
}

fn stopped() -> StoreError {
    StoreError::unavailable("the SQLite writer stopped (its runtime is shutting down)")
}

async fn serve(pool: SqlitePool, sql: Arc<Statements>, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        match pool.acquire().await {
            Ok(mut conn) => run(&mut conn, &sql, jobs).await,
            Err(err) => fail_all(jobs, &err),
        }
    }
}

/// Applies `jobs` in one transaction; should any statement fail, runs them
/// again one transaction each.
async fn run(conn: &mut SqliteConnection, sql: &Statements, jobs: Vec<Job>) {
    let jobs = match transaction(conn, sql, jobs).await {
        Ok(()) => return,
        Err((jobs, err)) if jobs.len() == 1 => return fail_all(jobs, &err),
        Err((jobs, _)) => jobs,
    };
    for job in jobs {
        if let Err((jobs, err)) = transaction(conn, sql, vec![job]).await {
            fail_all(jobs, &err);
        }
    }
}

/// One `BEGIN IMMEDIATE` … `COMMIT` over the jobs not given up on, answering
/// each after the commit. On a database error, nothing of the jobs applied; they
/// come back (already taken) with the error.
async fn transaction(
    conn: &mut SqliteConnection,
    sql: &Statements,
    jobs: Vec<Job>,
) -> Result<(), (Vec<Job>, sqlx::Error)> {
    let mut jobs = jobs;
    let mut tx = loop {
        match conn.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => break tx,
            // Another process held the write lock past the busy timeout: try
            // again for the writes whose callers still wait (they give up at
            // their own timeout, and their writes are dropped).
            Err(err) if is_busy(&err) => {
                jobs.retain(|job| job.state.load(Ordering::Acquire) != CANCELLED);
                if jobs.is_empty() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(err) => return Err((jobs, err)),
        }
    };
    // Taken only now that the write lock is held: a caller whose timeout passed
    // while another process held it has its write dropped, never applied.
    let jobs: Vec<Job> = jobs
        .into_iter()
        .filter(|job| job.state.load(Ordering::Acquire) == TAKEN || job.take())
        .collect();
    let mut answers = Vec::with_capacity(jobs.len());
    for job in &jobs {
        match job.write.apply(&mut tx, sql).await {
            Ok(answer) => answers.push(answer),
            Err(err) => {
                let _ = tx.rollback().await;
                return Err((jobs, err));
            }
        }
    }
    if let Err(err) = tx.commit().await {
        return Err((jobs, err));
    }
    for (job, answer) in jobs.into_iter().zip(answers) {
        job.answer(answer);
    }
    Ok(())
}

/// `SQLITE_BUSY` (and its extended codes): another connection holds the lock.
fn is_busy(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 5),
        _ => false,
    }
}

fn fail_all(jobs: Vec<Job>, err: &sqlx::Error) {
    for job in jobs {
        job.answer(Err(StoreError::unavailable(format!("SQLite failed the write: {err}"))));
    }
}
