//! The sessions table: its name, the SQL that creates it, and `migrate`.

use sqlx::{AssertSqlSafe, Executor as _, SqliteConnection};

use crate::store::StoreError;
use crate::store::sql_schema::{check_columns, quoted};

/// The table a store uses unless told otherwise.
pub(super) const DEFAULT_TABLE: &str = "cloakroom_sessions";

/// The columns the store reads and writes, with their declared types.
const COLUMNS: [(&str, &str); 9] = [
    ("key", "BLOB"),
    ("data", "TEXT"),
    ("created_at", "INTEGER"),
    ("last_seen", "INTEGER"),
    ("idle_deadline", "INTEGER"),
    ("absolute_deadline", "INTEGER"),
    ("expires_at", "INTEGER"),
    ("user_id", "TEXT"),
    ("moved", "INTEGER"),
];

/// A checked table name.
#[derive(Debug, Clone)]
pub(super) struct TableName(String);

impl TableName {
    pub(super) fn new(table: String) -> Result<Self, StoreError> {
        if table.is_empty() || table.len() > 64 || table.contains('\0') || table.starts_with("sqlite_") {
            return Err(StoreError::unavailable(format!(
                "SqliteStoreBuilder::table {table:?} must be 1 to 64 bytes without NUL characters, \
                 and not start with \"sqlite_\" (SQLite keeps those names)"
            )));
        }
        Ok(Self(table))
    }

    /// The name as written in the file.
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted SQL identifier.
    pub(super) fn quoted(&self) -> String {
        quoted(&self.0)
    }

    /// The quoted name of one of the table's indexes.
    fn index(&self, column: &str) -> String {
        quoted(&format!("{}_{column}", self.0))
    }

    /// The statements that create the table and its indexes when missing.
    pub(super) fn create_statements(&self) -> Vec<String> {
        let table = self.quoted();
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {table} (
    key               BLOB    PRIMARY KEY NOT NULL, -- SHA-256 of the session ID, never the ID
    data              TEXT    NOT NULL DEFAULT '{{}}', -- one JSON string member per session key
    created_at        INTEGER NOT NULL, -- milliseconds since the Unix epoch
    last_seen         INTEGER NOT NULL,
    idle_deadline     INTEGER NOT NULL,
    absolute_deadline INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL, -- the earlier deadline
    user_id           TEXT,
    moved             INTEGER NOT NULL DEFAULT 0 -- 1: a marker left by regenerate
) WITHOUT ROWID"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} (user_id) WHERE user_id IS NOT NULL",
                self.index("user_id")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} (expires_at)",
                self.index("expires_at")
            ),
        ]
    }
}

/// Creates the table and its indexes when they are missing, in one write
/// transaction, and checks the columns of a table that was already there.
pub(super) async fn migrate(conn: &mut SqliteConnection, name: &TableName) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(StoreError::unavailable)?;
    let found: Vec<(String, String)> = sqlx::query_as("SELECT name, upper(type) FROM pragma_table_info(?1)")
        .bind(name.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::unavailable)?;
    if !found.is_empty() {
        check_columns(&name.quoted(), &COLUMNS, &found, "SqliteStoreBuilder::table")?;
    }
    for statement in name.create_statements() {
        tx.execute(AssertSqlSafe(statement)).await.map_err(|err| {
            StoreError::unavailable(format!("creating the sessions table {} failed: {err}", name.quoted()))
        })?;
    }
    tx.commit().await.map_err(StoreError::unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted() {
        let odd = TableName::new("we\"ird".into()).unwrap();
        assert_eq!(odd.quoted(), "\"we\"\"ird\"");
        assert_eq!(odd.index("user_id"), "\"we\"\"ird_user_id\"");
    }

    #[test]
    fn bad_names_fail_with_the_option() {
        for bad in [String::new(), "x".repeat(65), "a\0b".into(), "sqlite_x".into()] {
            let err = TableName::new(bad).unwrap_err().to_string();
            assert!(err.contains("SqliteStoreBuilder::table"), "{err}");
        }
    }

    #[test]
    fn a_foreign_table_is_named_with_what_it_lacks() {
        let name = TableName::new("t".into()).unwrap();
        let found = vec![("key".to_owned(), "BLOB".to_owned())];
        let err = check_columns(&name.quoted(), &COLUMNS, &found, "SqliteStoreBuilder::table")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lacks data TEXT"), "{err}");
    }
}
