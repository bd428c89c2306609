//! The table a store keeps its sessions in, and `migrate`, which creates it.

use sqlx::{AssertSqlSafe, Executor as _, PgPool};

use crate::store::StoreError;
use crate::store::sql_schema::{check_columns, quoted};

/// Default name of the sessions table.
pub(super) const DEFAULT_TABLE: &str = "cloakroom_sessions";

/// The version of the layout `migrate` creates, kept as the table's comment.
pub(super) const SCHEMA_VERSION: u32 = 1;

/// Longest table name: Postgres keeps 63 bytes of a name, and the index names
/// add `_user_id`.
const MAX_TABLE_NAME: usize = 63 - "_expires_at".len();

/// A table name, checked, with its optional schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TableName {
    pub(super) schema: Option<String>,
    pub(super) table: String,
}

impl TableName {
    pub(super) fn new(schema: Option<String>, table: String) -> Result<Self, StoreError> {
        check_name("PostgresStoreBuilder::table", &table, MAX_TABLE_NAME)?;
        if let Some(schema) = &schema {
            check_name("PostgresStoreBuilder::schema", schema, 63)?;
        }
        Ok(Self { schema, table })
    }

    /// The table as SQL: `"schema"."table"` or `"table"`.
    pub(super) fn qualified(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quoted(schema), quoted(&self.table)),
            None => quoted(&self.table),
        }
    }

    /// An index of the table, named after it, as SQL (indexes live in the table's schema).
    fn index(&self, suffix: &str) -> String {
        quoted(&format!("{}_{suffix}", self.table))
    }

    /// The statements that create the table and its indexes when they are missing.
    pub(super) fn create_statements(&self) -> Vec<String> {
        let table = self.qualified();
        let mut statements = Vec::new();
        if let Some(schema) = &self.schema {
            statements.push(format!("CREATE SCHEMA IF NOT EXISTS {}", quoted(schema)));
        }
        statements.push(format!(
            "CREATE TABLE IF NOT EXISTS {table} (
    key               bytea   PRIMARY KEY,
    data              jsonb   NOT NULL DEFAULT '{{}}',
    created_at        bigint  NOT NULL,
    last_seen         bigint  NOT NULL,
    idle_deadline     bigint  NOT NULL,
    absolute_deadline bigint  NOT NULL,
    expires_at        bigint  GENERATED ALWAYS AS (LEAST(idle_deadline, absolute_deadline)) STORED,
    user_id           text,
    moved             boolean NOT NULL DEFAULT false
)"
        ));
        statements.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {table} (expires_at)",
            self.index("expires_at")
        ));
        statements.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {table} (user_id) WHERE user_id IS NOT NULL",
            self.index("user_id")
        ));
        statements.push(format!(
            "COMMENT ON TABLE {table} IS 'cloakroom sessions, schema {SCHEMA_VERSION}'"
        ));
        statements
    }
}

/// The columns `migrate` expects of an existing table, with their types.
const COLUMNS: [(&str, &str); 9] = [
    ("key", "bytea"),
    ("data", "jsonb"),
    ("created_at", "bigint"),
    ("last_seen", "bigint"),
    ("idle_deadline", "bigint"),
    ("absolute_deadline", "bigint"),
    ("expires_at", "bigint"),
    ("user_id", "text"),
    ("moved", "boolean"),
];

/// Creates the table and its indexes when they are missing, under a transaction-level
/// advisory lock so that servers starting together do not race. A table that is
/// there already must have the columns the store uses.
pub(super) async fn migrate(pool: &PgPool, name: &TableName) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(StoreError::unavailable)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("cloakroom migrate {}", name.qualified()))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::unavailable)?;
    let found: Vec<(String, String)> = sqlx::query_as(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
    )
    .bind(name.qualified())
    .fetch_all(&mut *tx)
    .await
    .map_err(StoreError::unavailable)?;
    if !found.is_empty() {
        check_columns(&name.qualified(), &COLUMNS, &found, "PostgresStoreBuilder::table")?;
    }
    for statement in name.create_statements() {
        tx.execute(AssertSqlSafe(statement)).await.map_err(|err| {
            StoreError::unavailable(format!(
                "creating the sessions table {} failed: {err}",
                name.qualified()
            ))
        })?;
    }
    tx.commit().await.map_err(StoreError::unavailable)
}

fn check_name(option: &str, name: &str, max: usize) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > max || name.contains('\0') {
        return Err(StoreError::unavailable(format!(
            "{option} {name:?} must be 1 to {max} bytes without NUL characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_qualified() {
        let plain = TableName::new(None, DEFAULT_TABLE.into()).unwrap();
        assert_eq!(plain.qualified(), "\"cloakroom_sessions\"");
        let odd = TableName::new(Some("auth".into()), "we\"ird".into()).unwrap();
        assert_eq!(odd.qualified(), "\"auth\".\"we\"\"ird\"");
        assert_eq!(odd.index("user_id"), "\"we\"\"ird_user_id\"");
    }

    #[test]
    fn bad_names_fail_with_the_option() {
        let err = TableName::new(None, String::new()).unwrap_err().to_string();
        assert!(err.contains("PostgresStoreBuilder::table"), "{err}");
        let err = TableName::new(None, "x".repeat(60)).unwrap_err().to_string();
        assert!(err.contains("1 to 52 bytes"), "{err}");
        let err = TableName::new(Some("a\0b".into()), "t".into()).unwrap_err().to_string();
        assert!(err.contains("PostgresStoreBuilder::schema"), "{err}");
    }

    #[test]
    fn the_schema_is_created_first_and_commented_last() {
        let name = TableName::new(Some("auth".into()), "sessions".into()).unwrap();
        let statements = name.create_statements();
        assert_eq!(statements[0], "CREATE SCHEMA IF NOT EXISTS \"auth\"");
        assert!(statements[1].starts_with("CREATE TABLE IF NOT EXISTS \"auth\".\"sessions\""));
        assert!(statements.last().unwrap().contains("schema 1"));
    }
}
