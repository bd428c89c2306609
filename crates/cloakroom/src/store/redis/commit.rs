//! Writes: create, commit (plain or by script), regenerate, delete.

use std::time::SystemTime;

use super::RedisStore;
use super::layout::{DataField, Layout, record_fields};
use super::plain_write::{self, Written};
use super::scripts::{self, ScriptCall};
use crate::clock::{duration_millis, from_millis, to_millis};
use crate::id::{SessionId, StoreKey};
use crate::store::{Applied, ChangeSet, SessionRecord, StoreError, UserChange};

fn push_changes(invocation: &mut ScriptCall, changes: &ChangeSet) {
    invocation.arg(if changes.clear { "1" } else { "0" });
    match changes.idle_deadline {
        Some(deadline) => invocation.arg(to_millis(deadline)),
        None => invocation.arg(""),
    };
    invocation.arg(duration_millis(changes.idle_min_step));
    match &changes.user {
        Some(UserChange::Bind(user)) => invocation.arg("b").arg(user.as_str()),
        Some(UserChange::Unbind) => invocation.arg("u").arg(""),
        None => invocation.arg("").arg(""),
    };
    invocation.arg(changes.set.len()).arg(changes.remove.len());
    for (key, value) in &changes.set {
        invocation.arg(DataField(key)).arg(value.as_str());
    }
    for key in &changes.remove {
        invocation.arg(DataField(key));
    }
}

/// Reads `{1, previous user}` or nil from a regenerate script.
fn applied(reply: Option<(i64, String)>) -> Option<String> {
    reply.map(|(_, previous)| previous)
}

impl RedisStore {
    /// Commits `changes` to the session at `key`, without a script when the change
    /// set allows it.
    pub(super) async fn commit_session(&self, key: &StoreKey, changes: &ChangeSet) -> Result<Applied, StoreError> {
        if plain_write::applies(changes) {
            return self.commit_plain(key, changes).await;
        }
        self.commit_by_script(key, changes).await
    }

    /// A commit without a script (see `plain_write`): one pipeline, and the commit
    /// script with nothing to write only when the session is not in steady use.
    async fn commit_plain(&self, key: &StoreKey, changes: &ChangeSet) -> Result<Applied, StoreError> {
        let replies = self
            .pipeline(plain_write::pipeline(&self.layout.session(key), changes))
            .await?;
        match plain_write::outcome(replies, changes)? {
            Written::Done => Ok(Applied::Live { slid_to: None }),
            Written::Settle => self.commit_by_script(key, &plain_write::settling(changes)).await,
        }
    }

    /// The commit script: files a new binding, applies the change set, fixes the
    /// user index.
    async fn commit_by_script(&self, key: &StoreKey, changes: &ChangeSet) -> Result<Applied, StoreError> {
        self.index_binding(key, changes).await?;
        let mut invocation = scripts::COMMIT.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .arg(to_millis(changes.now))
            .arg(key.to_hex());
        push_changes(&mut invocation, changes);
        let reply: Option<(i64, String, String)> = self.invoke(invocation).await?;
        let Some((_, previous, expiry)) = reply else {
            return Ok(Applied::Gone);
        };
        self.index_moved(key, key, &previous, changes).await?;
        Ok(Applied::Live {
            slid_to: expiry.parse().ok().map(from_millis),
        })
    }

    /// Inserts a session unless a live one holds the key.
    pub(super) async fn create_session(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        if let Some(user) = &record.meta.user {
            self.index_add(user, key, record.meta.absolute_deadline, record.meta.created_at)
                .await?;
        }
        let mut invocation = scripts::CREATE.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .arg(to_millis(record.meta.created_at))
            .arg(key.to_hex())
            .arg(to_millis(record.meta.expires_at()))
            .arg(record_fields(record));
        Ok(self.invoke::<i64>(invocation).await? == 1)
    }

    /// A random ID; on a cluster, one whose key shares `old`'s hash slot.
    pub(super) fn successor_of(&self, old: &StoreKey) -> SessionId {
        if !self.conn.is_cluster() {
            return SessionId::generate();
        }
        // A regenerate renames the hash, which Redis Cluster allows only within one
        // slot: draw until the new key has the old key's hash tag (1 in 256).
        loop {
            let id = SessionId::generate();
            if id.store_key().0[0] == old.0[0] {
                return id;
            }
        }
    }

    /// Moves a live session to `new`, applying `changes`.
    pub(super) async fn regenerate_session(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<bool, StoreError> {
        if self.conn.is_cluster() && Layout::tag(old) != Layout::tag(new) {
            return Err(StoreError::unavailable(
                "RedisStore::regenerate on a cluster needs a new key from successor_id (same hash slot)",
            ));
        }
        self.index_binding(new, changes).await?;
        let mut invocation = scripts::REGENERATE.call();
        invocation
            .key(self.layout.session(old))
            .key(self.layout.session(new))
            .key(self.layout.expiries(old))
            .key(self.layout.expiries(new))
            .arg(to_millis(changes.now))
            .arg(old.to_hex())
            .arg(new.to_hex());
        push_changes(&mut invocation, changes);
        let Some(previous) = applied(self.invoke(invocation).await?) else {
            return Ok(false);
        };
        self.index_moved(old, new, &previous, changes).await?;
        Ok(true)
    }

    /// Deletes a session and its index entries; whether it was live.
    pub(super) async fn delete_session(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let mut invocation = scripts::DELETE.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .arg(key.to_hex())
            .arg(to_millis(SystemTime::now()));
        let (live, user): (i64, String) = self.invoke(invocation).await?;
        if !user.is_empty() {
            self.index_remove(&user, &[key.to_hex()]).await?;
        }
        Ok(live == 1)
    }
}
