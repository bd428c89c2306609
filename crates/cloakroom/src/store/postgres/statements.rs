//! The SQL of every operation, written once per table when the store is built.
//!
//! Times are integer milliseconds since the Unix epoch. `data` holds one member
//! per session key whose value is a JSON string: the exact text the session
//! wrote, so what a load returns is byte for byte what was committed.
//!
//! Each statement starts with a comment naming it (`/* cloakroom commit */`), so
//! that it can be told apart in the server's log and in `pg_stat_statements`.
//!
//! Commit and regenerate share their first parameters, the change set:
//!
//! | parameter | meaning |
//! | --- | --- |
//! | `$1` | the session's key |
//! | `$2` | now |
//! | `$3` | clear every key first |
//! | `$4`, `$5` | keys set, and their values |
//! | `$6` | keys removed |
//! | `$7`, `$8`, `$9` | keys added to, the amounts, the caps (`NULL` for none) |
//! | `$10`, `$11` | keys read and written back, and the values read (`NULL`: absent) |
//! | `$12`, `$13` | `'bind'`, `'unbind'` or `''`, and the user bound |
//! | `$14`, `$15` | the idle deadline asked for (`NULL`: keep), the smallest move worth a write |

use std::sync::Arc;

use sqlx::{AssertSqlSafe, SqlSafeStr as _, SqlStr};

use super::commit_shape::FastCommits;
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
    pub(super) commit: SqlStr,
    pub(super) regenerate: SqlStr,
    pub(super) delete: SqlStr,
    pub(super) list_user: SqlStr,
    pub(super) delete_user: SqlStr,
    pub(super) count: SqlStr,
    pub(super) purge: SqlStr,
    /// The fast commits, one per shape of change set.
    pub(super) fast: FastCommits,
}

impl Statements {
    pub(super) fn new(name: TableName) -> Self {
        let table = name.qualified();
        let sql = |text: &str| AssertSqlSafe(Arc::<str>::from(text.replace("__TABLE__", &table))).into_sql_str();
        let verdict = VERDICT
            .replace("__SUM__", &sum("cur.data ->> a.k", "a.n"))
            .replace("__MAX__", MAX_COUNT);
        let shared = |text: &str| sql(&text.replace("__LOCKED__", LOCKED).replace("__VERDICT__", &verdict));
        Self {
            read: sql(READ),
            slide: sql(SLIDE),
            drop: sql(DROP),
            create: sql(CREATE),
            commit: shared(
                &COMMIT
                    .replace("__DATA__", &new_data("v"))
                    .replace("__USER__", &new_user("v")),
            ),
            regenerate: shared(
                &REGENERATE
                    .replace("__DATA__", &new_data("v"))
                    .replace("__USER__", &new_user("v")),
            ),
            delete: sql(DELETE),
            list_user: sql(LIST_USER),
            delete_user: sql(DELETE_USER),
            count: sql(COUNT),
            purge: sql(PURGE),
            fast: FastCommits::new(table.clone()),
            name,
        }
    }
}

/// Largest count a key added to may hold either way (2^53 - 1, as `MAX_COUNT`).
pub(super) const MAX_COUNT: &str = "9007199254740991";

/// The count the text `held` holds (0 when `NULL`) plus `by`, as `numeric`;
/// `NULL` when `held` is no integer of at most 16 digits.
pub(super) fn sum(held: &str, by: &str) -> String {
    format!("(CASE WHEN {held} IS NULL THEN 0 WHEN {held} ~ '^-?[0-9]{{1,16}}$' THEN ({held})::numeric END + {by})")
}

/// The data after the change set, from the row `row`: cleared or minus the keys
/// removed, then the keys set, then the additions (each on the value the keys set
/// left, skipped when that is no count in range).
fn new_data(row: &str) -> String {
    let total = sum("d.v ->> a.k", "a.n");
    format!(
        "(SELECT d.v || coalesce((
            SELECT jsonb_object_agg(a.k, ({total})::text)
            FROM unnest($7::text[], $8::bigint[]) AS a(k, n)
            WHERE abs({total}) <= {MAX_COUNT}), '{{}}'::jsonb)
          FROM (SELECT CASE WHEN $3::boolean THEN '{{}}'::jsonb ELSE {row}.data - $6::text[] END
                       || jsonb_object($4::text[], $5::text[])) AS d(v))"
    )
}

/// The user bound after the change set, from the row `row`.
fn new_user(row: &str) -> String {
    format!("CASE $12::text WHEN 'bind' THEN $13::text WHEN 'unbind' THEN NULL ELSE {row}.user_id END")
}

/// The row of `$1`, locked: under READ COMMITTED, the newest version once any
/// other writer of the row has committed.
const LOCKED: &str = "cur AS (
    SELECT key, data, created_at, last_seen, idle_deadline, absolute_deadline, expires_at, user_id, moved
    FROM __TABLE__ WHERE key = $1::bytea FOR UPDATE)";

/// The locked row with what the change set does to it: `moved` (a moved marker
/// still standing), `gone` (dead, or a marker past its time), `conflict` (a key
/// read holds another value now, or an addition would leave its range or pass its
/// cap) or `apply`; and whether the idle deadline moves. A row found dead is
/// deleted.
const VERDICT: &str = "v AS (
    SELECT cur.*,
        CASE WHEN cur.moved AND $2::bigint < cur.expires_at THEN 'moved'
             WHEN cur.moved OR $2::bigint >= cur.expires_at THEN 'gone'
             WHEN EXISTS (SELECT FROM unnest($10::text[], $11::text[]) AS e(k, v)
                          WHERE (cur.data ->> e.k) IS DISTINCT FROM e.v)
               OR EXISTS (SELECT FROM unnest($7::text[], $8::bigint[], $9::bigint[]) AS a(k, n, cap)
                          CROSS JOIN LATERAL (SELECT __SUM__ AS total) AS s
                          WHERE s.total IS NULL OR abs(s.total) > __MAX__ OR s.total > a.cap)
             THEN 'conflict'
             ELSE 'apply' END AS verdict,
        ($14::bigint IS NOT NULL AND $14::bigint <> cur.idle_deadline
            AND abs($14::bigint - cur.idle_deadline) >= $15::bigint) AS slides
    FROM cur),
dropped AS (
    DELETE FROM __TABLE__ AS t USING v WHERE t.key = v.key AND v.verdict = 'gone')";

/// Read: the row as it is (the expiry is the earlier deadline: not sent, as every
/// column costs the server its output). The store decides from it whether the
/// session is live, and whether to run `SLIDE` or `DROP` after it.
const READ: &str = "/* cloakroom read */ SELECT data::text, created_at, last_seen, idle_deadline, absolute_deadline,
    user_id, moved
FROM __TABLE__ WHERE key = $1::bytea";

/// Slide: the idle deadline to `$3` and the last use to `$2` (now), when that
/// still moves the deadline by at least `$4` (back only while the session is
/// within the shorter timeout since it was last seen) and the session is live.
const SLIDE: &str = "/* cloakroom slide */ UPDATE __TABLE__ SET idle_deadline = $3::bigint, last_seen = $2::bigint
WHERE key = $1::bytea AND NOT moved AND $2::bigint < expires_at
  AND (($3::bigint > idle_deadline AND $3::bigint - idle_deadline >= $4::bigint)
    OR ($3::bigint < idle_deadline AND idle_deadline - $3::bigint >= $4::bigint
        AND greatest($2::bigint - last_seen, 0) < greatest($3::bigint - $2::bigint, 0)))
RETURNING last_seen, idle_deadline";

/// Drop: the row, when it is dead at `$2`, so that a session found dead stays gone
/// whatever clock a later request reads.
const DROP: &str = "/* cloakroom drop */ DELETE FROM __TABLE__ WHERE key = $1::bytea AND $2::bigint >= expires_at";

/// Create: a new row, or one in place of a dead row or an expired marker; never
/// over a live session or a standing marker. Returns a row when it wrote.
const CREATE: &str = "/* cloakroom create */ INSERT INTO __TABLE__ AS t
    (key, data, created_at, last_seen, idle_deadline, absolute_deadline, user_id)
VALUES ($1::bytea, jsonb_object($2::text[], $3::text[]), $4::bigint, $5::bigint, $6::bigint, $7::bigint, $8::text)
ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, created_at = EXCLUDED.created_at,
    last_seen = EXCLUDED.last_seen, idle_deadline = EXCLUDED.idle_deadline,
    absolute_deadline = EXCLUDED.absolute_deadline, user_id = EXCLUDED.user_id, moved = false
WHERE t.expires_at <= EXCLUDED.created_at
RETURNING 1";

/// The checked commit, run when the fast commit (`commit_shape.rs`) updated no
/// row: the change set applied to the locked row when its verdict is `apply`.
/// Returns the verdict, and the new expiry when the idle deadline moved.
const COMMIT: &str = "/* cloakroom commit-checked */ WITH __LOCKED__, __VERDICT__,
upd AS (
    UPDATE __TABLE__ AS t SET data = __DATA__, user_id = __USER__,
        idle_deadline = CASE WHEN v.slides THEN $14::bigint ELSE v.idle_deadline END,
        last_seen = CASE WHEN v.slides THEN $2::bigint ELSE v.last_seen END
    FROM v WHERE t.key = v.key AND v.verdict = 'apply'
    RETURNING t.expires_at)
SELECT v.verdict, CASE WHEN v.slides THEN (SELECT expires_at FROM upd) END FROM v";

/// Regenerate: the locked row's session, with the change set applied, inserted
/// under `$16`; the old row becomes a moved marker standing until `$17`. Returns
/// the verdict and whether the new key was free.
const REGENERATE: &str = "/* cloakroom regenerate */ WITH __LOCKED__, __VERDICT__,
ins AS (
    INSERT INTO __TABLE__ (key, data, created_at, last_seen, idle_deadline, absolute_deadline, user_id)
    SELECT $16::bytea, __DATA__, v.created_at,
        CASE WHEN v.slides THEN $2::bigint ELSE v.last_seen END,
        CASE WHEN v.slides THEN $14::bigint ELSE v.idle_deadline END,
        v.absolute_deadline, __USER__
    FROM v WHERE v.verdict = 'apply'
    ON CONFLICT (key) DO NOTHING
    RETURNING 1),
mark AS (
    UPDATE __TABLE__ AS t SET data = '{}'::jsonb, user_id = NULL, moved = true, last_seen = $2::bigint,
        idle_deadline = $17::bigint, absolute_deadline = $17::bigint
    FROM v WHERE t.key = v.key AND EXISTS (SELECT FROM ins)
    RETURNING 1)
SELECT v.verdict, EXISTS (SELECT FROM mark) FROM v";

/// Delete: the row, whatever it holds. Returns whether it was a live session at `$2`.
const DELETE: &str = "/* cloakroom delete */ DELETE FROM __TABLE__ WHERE key = $1::bytea RETURNING NOT moved AND $2::bigint < expires_at";

/// The live sessions of user `$1` at `$2`, oldest first.
const LIST_USER: &str =
    "/* cloakroom list-user */ SELECT key, created_at, last_seen, idle_deadline, absolute_deadline FROM __TABLE__
WHERE user_id = $1::text AND NOT moved AND $2::bigint < expires_at
ORDER BY created_at, key";

/// Delete by user: every session of `$1` created no later than `$2`. Returns how
/// many of them were live, how many rows went, and how many rows the statement
/// saw bound to the user when it started: fewer gone than seen means a session
/// changed meanwhile (a regenerate files it under a new key), and the caller
/// runs the statement again.
const DELETE_USER: &str = "/* cloakroom delete-user */ WITH gone AS (
    DELETE FROM __TABLE__ WHERE user_id = $1::text AND created_at <= $2::bigint
    RETURNING $2::bigint < expires_at AS live)
SELECT (SELECT count(*) FROM gone WHERE live), (SELECT count(*) FROM gone),
       (SELECT count(*) FROM __TABLE__ WHERE user_id = $1::text AND created_at <= $2::bigint)";

/// The live sessions at `$1`.
const COUNT: &str = "/* cloakroom count */ SELECT count(*) FROM __TABLE__ WHERE NOT moved AND $1::bigint < expires_at";

/// Purge: at most `$2` rows dead at `$1`, skipping rows another statement holds.
/// Returns whether each was a session (not a moved marker).
const PURGE: &str = "/* cloakroom purge */ WITH doomed AS (
    SELECT key FROM __TABLE__ WHERE expires_at <= $1::bigint LIMIT $2::bigint FOR UPDATE SKIP LOCKED)
DELETE FROM __TABLE__ AS t USING doomed WHERE t.key = doomed.key
RETURNING NOT t.moved";
