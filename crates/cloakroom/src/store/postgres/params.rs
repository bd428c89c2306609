//! A change set as statement parameters: `$1` to `$15` of the checked commit and
//! regenerate (`CHECKED_PARAMS`, see `statements.rs`), or those a fast commit's
//! shape takes (see `commit_shape.rs`).

use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

use super::commit_shape::Param;
use crate::clock::duration_millis;
use crate::id::StoreKey;
use crate::store::sql_rows::millis;
use crate::store::{ChangeSet, UserChange};

/// The change set's parts, laid out as the statements take them.
pub(super) struct ChangeParams<'a> {
    changes: &'a ChangeSet,
    set_keys: Vec<&'a str>,
    set_values: Vec<&'a str>,
    add_keys: Vec<&'a str>,
    add_by: Vec<i64>,
    add_caps: Vec<Option<i64>>,
    expect_keys: Vec<&'a str>,
    expect_values: Vec<Option<&'a str>>,
}

impl<'a> ChangeParams<'a> {
    pub(super) fn new(changes: &'a ChangeSet) -> Self {
        Self {
            changes,
            set_keys: changes.set.iter().map(|(k, _)| k.as_str()).collect(),
            set_values: changes.set.iter().map(|(_, v)| v.as_str()).collect(),
            add_keys: changes.add.iter().map(|a| a.key.as_str()).collect(),
            add_by: changes.add.iter().map(|a| a.by).collect(),
            add_caps: changes.add.iter().map(|a| a.cap).collect(),
            expect_keys: changes.expect.iter().map(|(k, _)| k.as_str()).collect(),
            expect_values: changes.expect.iter().map(|(_, v)| v.as_deref()).collect(),
        }
    }
}

impl ChangeParams<'_> {
    /// `query` with the parameters `params` bound in order, for the session `key`.
    pub(super) fn bind_all<'q>(
        &'q self,
        key: &'q StoreKey,
        params: &[Param],
        mut query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        let changes = self.changes;
        for param in params {
            query = match param {
                Param::Key => query.bind(&key.0[..]),
                Param::Now => query.bind(millis(changes.now)),
                Param::Clear => query.bind(changes.clear),
                Param::SetKeys => query.bind(&self.set_keys),
                Param::SetValues => query.bind(&self.set_values),
                Param::Removed => query.bind(&changes.remove),
                Param::AddKeys => query.bind(&self.add_keys),
                Param::AddBy => query.bind(&self.add_by),
                Param::AddCaps => query.bind(&self.add_caps),
                Param::ExpectKeys => query.bind(&self.expect_keys),
                Param::ExpectValues => query.bind(&self.expect_values),
                Param::UserOp => query.bind(match &changes.user {
                    Some(UserChange::Bind(_)) => "bind",
                    Some(UserChange::Unbind) => "unbind",
                    None => "",
                }),
                Param::User => query.bind(match &changes.user {
                    Some(UserChange::Bind(user)) => Some(user.as_str()),
                    _ => None,
                }),
                Param::Idle => query.bind(changes.idle_deadline.map(millis)),
                Param::MinStep => query.bind(millis_of_duration(changes)),
            };
        }
        query
    }
}

/// The smallest move worth a write, in milliseconds.
fn millis_of_duration(changes: &ChangeSet) -> i64 {
    i64::try_from(duration_millis(changes.idle_min_step)).unwrap_or(i64::MAX)
}
