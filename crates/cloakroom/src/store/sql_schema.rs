//! What the SQL stores' schemas share: quoting identifiers, and checking that a
//! table already there is a sessions table.

use crate::store::StoreError;

/// `name` as a quoted SQL identifier (the same rule in Postgres and SQLite).
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Checks the columns `found` (name, type) of the existing table `table` against
/// the `expected` ones; the error names `option`, the builder method that picks
/// another table.
pub(crate) fn check_columns(
    table: &str,
    expected: &[(&str, &str)],
    found: &[(String, String)],
    option: &str,
) -> Result<(), StoreError> {
    let missing: Vec<String> = expected
        .iter()
        .filter(|(column, kind)| !found.iter().any(|(c, k)| c == column && k == kind))
        .map(|(column, kind)| format!("{column} {kind}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::unavailable(format!(
        "the table {table} is not a cloakroom sessions table (it lacks {}): name another with \
         {option}, or drop it",
        missing.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_table_is_named_with_what_it_lacks() {
        let found = vec![("key".to_owned(), "BLOB".to_owned())];
        let err = check_columns("\"t\"", &[("key", "BLOB"), ("data", "TEXT")], &found, "B::table")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lacks data TEXT"), "{err}");
        assert!(err.contains("B::table"), "{err}");
        assert_eq!(quoted("we\"ird"), "\"we\"\"ird\"");
    }
}
