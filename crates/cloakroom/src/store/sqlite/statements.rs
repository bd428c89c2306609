//! The SQL of every operation, written once per table when the store is built.
//!
//! Times are integer milliseconds since the Unix epoch. `data` holds one member
//! per session key whose value is a JSON string: the exact text the session
//! wrote (as in the Postgres store), so what a load returns is byte for byte what
//! was committed, and `json_extract(data, '$.cart')` reads one key in the
//! `sqlite3` shell.
//!
//! Reads run on the reader connections; every statement that writes runs on the
//! one writer, inside its `BEGIN IMMEDIATE` transaction (`writer.rs`), so a
//! change set is judged in Rust on the row as the writer reads it and nothing can
//! change the row between that read and the write.

use std::sync::Arc;

use sqlx::{AssertSqlSafe, SqlSafeStr as _, SqlStr};

use super::schema::TableName;

/// Statements for one table.
#[derive(Debug)]
pub(super) struct Statements {
    /// The table.
    pub(super) name: TableName,
    pub(super) read: SqlStr,
    pub(super) slide: SqlStr,
    pub(super) drop: SqlStr,
    pub(super) create: SqlStr,
    pub(super) update: SqlStr,
    pub(super) taken: SqlStr,
    pub(super) insert: SqlStr,
    pub(super) mark: SqlStr,
    pub(super) delete: SqlStr,
    pub(super) list_user: SqlStr,
    pub(super) delete_user: SqlStr,
    pub(super) count: SqlStr,
    pub(super) purge: SqlStr,
}

impl Statements {
    pub(super) fn new(name: TableName) -> Self {
        let table = name.quoted();
        let sql = |text: &str| AssertSqlSafe(Arc::<str>::from(text.replace("__TABLE__", &table))).into_sql_str();
        Self {
            read: sql(READ),
            slide: sql(SLIDE),
            drop: sql(DROP),
            create: sql(CREATE),
            update: sql(UPDATE),
            taken: sql(TAKEN),
            insert: sql(INSERT),
            mark: sql(MARK),
            delete: sql(DELETE),
            list_user: sql(LIST_USER),
            delete_user: sql(DELETE_USER),
            count: sql(COUNT),
            purge: sql(PURGE),
            name,
        }
    }
}

/// Read: the row as it is. The store decides from it whether the session is
/// live, and whether to slide it or drop it.
const READ: &str = "SELECT data, created_at, last_seen, idle_deadline, absolute_deadline, user_id, moved
FROM __TABLE__ WHERE key = ?1";

/// Slide: the idle deadline to `?3` and the last use to `?2` (now), when that
/// still moves the deadline by at least `?4` (back only while the session is
/// within the shorter timeout since it was last seen) and the session is live.
const SLIDE: &str = "UPDATE __TABLE__ SET idle_deadline = ?3, last_seen = ?2, expires_at = min(?3, absolute_deadline)
WHERE key = ?1 AND moved = 0 AND ?2 < expires_at
  AND ((?3 > idle_deadline AND ?3 - idle_deadline >= ?4)
    OR (?3 < idle_deadline AND idle_deadline - ?3 >= ?4 AND max(?2 - last_seen, 0) < max(?3 - ?2, 0)))
RETURNING last_seen, idle_deadline";

/// Drop: the row, when it is dead at `?2`, so that a session found dead stays
/// gone whatever clock a later request reads.
const DROP: &str = "DELETE FROM __TABLE__ WHERE key = ?1 AND ?2 >= expires_at";

/// Create: a new row, or one in place of a dead row or an expired marker; never
/// over a live session or a standing marker.
const CREATE: &str = "INSERT INTO __TABLE__
    (key, data, created_at, last_seen, idle_deadline, absolute_deadline, expires_at, user_id, moved)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, min(?5, ?6), ?7, 0)
ON CONFLICT (key) DO UPDATE SET data = excluded.data, created_at = excluded.created_at,
    last_seen = excluded.last_seen, idle_deadline = excluded.idle_deadline,
    absolute_deadline = excluded.absolute_deadline, expires_at = excluded.expires_at,
    user_id = excluded.user_id, moved = 0
WHERE expires_at <= excluded.created_at";

/// Update: a live session's row after its change set, judged and applied by the
/// writer on the row it read in the same transaction.
const UPDATE: &str = "UPDATE __TABLE__ SET data = ?2, user_id = ?3, last_seen = ?4, idle_deadline = ?5,
    expires_at = min(?5, absolute_deadline)
WHERE key = ?1";

/// Whether any row (a session, dead or live, or a marker) holds the key `?1`.
const TAKEN: &str = "SELECT EXISTS (SELECT 1 FROM __TABLE__ WHERE key = ?1)";

/// Insert: a regenerated session under its new key.
const INSERT: &str = "INSERT INTO __TABLE__
    (key, data, created_at, last_seen, idle_deadline, absolute_deadline, expires_at, user_id, moved)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, min(?5, ?6), ?7, 0)";

/// Mark: the old row of a regenerated session, emptied into a moved marker
/// standing until `?3`.
const MARK: &str = "UPDATE __TABLE__ SET data = '{}', user_id = NULL, moved = 1, last_seen = ?2,
    idle_deadline = ?3, absolute_deadline = ?3, expires_at = ?3
WHERE key = ?1";

/// Delete: the row, whatever it holds. Returns whether it was a live session at `?2`.
const DELETE: &str = "DELETE FROM __TABLE__ WHERE key = ?1 RETURNING moved = 0 AND ?2 < expires_at";

/// The live sessions of user `?1` at `?2`, oldest first.
const LIST_USER: &str = "SELECT key, created_at, last_seen, idle_deadline, absolute_deadline FROM __TABLE__
WHERE user_id = ?1 AND moved = 0 AND ?2 < expires_at
ORDER BY created_at, key";

/// Delete by user: every session of `?1`. Returns whether each was live at `?2`.
const DELETE_USER: &str = "DELETE FROM __TABLE__ WHERE user_id = ?1 RETURNING ?2 < expires_at";

/// The live sessions at `?1`.
const COUNT: &str = "SELECT count(*) FROM __TABLE__ WHERE moved = 0 AND ?1 < expires_at";

/// Purge: at most `?2` rows dead at `?1`. Returns whether each was a session
/// (not a moved marker).
const PURGE: &str = "DELETE FROM __TABLE__ WHERE key IN (
    SELECT key FROM __TABLE__ WHERE expires_at <= ?1 LIMIT ?2)
RETURNING moved = 0";
