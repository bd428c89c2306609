//! Writes: create, commit (plain or by script), regenerate, delete.

use std::time::SystemTime;

use redis::{RedisResult, Value};

use super::RedisStore;
use super::layout::{DataField, Layout, RecordFields, user_hash};
use super::plain_write::{self, Written};
use super::restore::HashPayload;
use super::scripts::{self, ScriptCall};
use crate::clock::{duration_millis, from_millis, to_millis};
use crate::decimal;
use crate::id::{SessionId, StoreKey};
use crate::store::{ChangeSet, CommitOutcome, MOVED_MARKER_TTL, SessionRecord, StoreError, UserChange};

/// A command `name` with room for `args` more arguments of `bytes` in all.
fn sized_cmd(name: &'static str, args: usize, bytes: usize) -> redis::Cmd {
    let mut cmd = redis::Cmd::with_capacity(1 + args, name.len() + bytes);
    cmd.arg(name);
    cmd
}

/// Appends a change set in the order `lua/lib/apply.lua` reads it.
fn push_changes(invocation: &mut ScriptCall, changes: &ChangeSet) {
    invocation.arg(if changes.clear { "1" } else { "0" });
    match changes.idle_deadline {
        Some(deadline) => invocation.arg(to_millis(deadline)),
        None => invocation.arg(""),
    };
    invocation.arg(duration_millis(changes.idle_min_step));
    match &changes.user {
        Some(UserChange::Bind(user)) => invocation.arg("b").arg(user.as_str()).arg(user_hash(user)),
        Some(UserChange::Unbind) => invocation.arg("u").arg("").arg(""),
        None => invocation.arg("").arg("").arg(""),
    };
    invocation
        .arg(changes.set.len())
        .arg(changes.remove.len())
        .arg(changes.add.len())
        .arg(changes.expect.len());
    for (key, value) in &changes.set {
        invocation.arg(DataField(key)).arg(value.as_str());
    }
    for key in &changes.remove {
        invocation.arg(DataField(key));
    }
    for addition in &changes.add {
        invocation.arg(DataField(&addition.key)).arg(addition.by);
        match addition.cap {
            Some(cap) => invocation.arg(cap),
            None => invocation.arg(""),
        };
    }
    for (key, expected) in &changes.expect {
        invocation.arg(DataField(key));
        match expected {
            Some(value) => invocation.arg(format!("={value}")),
            None => invocation.arg("!"),
        };
    }
}

/// What the commit and regenerate scripts answered.
enum Reply {
    /// `{1, previous user, expiry}`: applied.
    Applied {
        previous: String,
        expiry: Option<SystemTime>,
    },
    /// `{-1}`, `{-2}` or nil: nothing written.
    Not(CommitOutcome),
}

fn reply(value: Value) -> Result<Reply, StoreError> {
    let items = match value {
        Value::Nil => return Ok(Reply::Not(CommitOutcome::Gone)),
        Value::Array(items) => items,
        other => return Err(StoreError::Corrupt(format!("unexpected script reply: {other:?}"))),
    };
    let text = |item: Option<&Value>| match item {
        Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        Some(Value::Int(n)) => n.to_string(),
        _ => String::new(),
    };
    match items.first() {
        Some(Value::Int(1)) => Ok(Reply::Applied {
            previous: text(items.get(1)),
            expiry: text(items.get(2)).parse().ok().map(from_millis),
        }),
        Some(Value::Int(-1)) => Ok(Reply::Not(CommitOutcome::Moved)),
        Some(Value::Int(-2)) => Ok(Reply::Not(CommitOutcome::Conflict)),
        other => Err(StoreError::Corrupt(format!("unexpected script reply: {other:?}"))),
    }
}

impl RedisStore {
    /// Commits `changes` to the session at `key`, without a script when the change
    /// set allows it.
    pub(super) async fn commit_session(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        if plain_write::applies(changes) {
            return self.commit_plain(key, changes).await;
        }
        self.commit_by_script(key, changes).await
    }

    /// A commit without a script (see `plain_write`): one pipeline, and the commit
    /// script with nothing to write only when the session is not in steady use.
    async fn commit_plain(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        let replies = self
            .pipeline(plain_write::pipeline(&self.layout.session(key), changes))
            .await?;
        match plain_write::outcome(replies, changes)? {
            Written::Done => Ok(CommitOutcome::Applied(None)),
            Written::Settle => self.commit_by_script(key, &plain_write::settling(changes)).await,
        }
    }

    /// The commit script: files a new binding, applies the change set if the
    /// session admits it, fixes the user index.
    async fn commit_by_script(&self, key: &StoreKey, changes: &ChangeSet) -> Result<CommitOutcome, StoreError> {
        self.index_binding(key, changes).await?;
        let mut invocation = scripts::COMMIT.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .key(self.layout.users(key))
            .arg(to_millis(changes.now))
            .arg(key.to_hex());
        push_changes(&mut invocation, changes);
        match reply(self.invoke(invocation).await?)? {
            Reply::Applied { previous, expiry } => {
                self.index_moved(key, key, &previous, changes).await?;
                Ok(CommitOutcome::Applied(expiry))
            }
            Reply::Not(outcome) => Ok(outcome),
        }
    }

    /// Inserts a session unless a live one (or a moved marker) holds the key.
    pub(super) async fn create_session(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        if record.meta.user.is_none() && self.create_plain(key, record).await? {
            return Ok(true);
        }
        self.create_by_script(key, record).await
    }

    /// Inserts an unbound session without a script, in one pipeline on one hash
    /// slot: `RESTORE` writes the whole hash with its expiry and refuses a key
    /// that exists (`BUSYKEY`); `ZADD NX` files the expiry entry and leaves an
    /// existing one alone. False when the key was taken (never for a fresh ID in
    /// practice), or when `RESTORE` failed otherwise (a server that refuses it is
    /// not asked again): the entry, if this pipeline filed it, is taken back, and
    /// the create script decides (a live session or a moved marker keeps the
    /// key; a leftover without metadata is replaced).
    async fn create_plain(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        if !self.restore.usable() {
            return Ok(false);
        }
        let session = self.layout.session(key);
        let expiries = self.layout.expiries(key);
        let member = session.key_digits();
        let expiry = to_millis(record.meta.expires_at());
        // Each command sized up front: no buffer grows while it is written.
        let payload = HashPayload::new(record);
        let mut pipe = redis::Pipeline::with_capacity(2);
        let mut restore = sized_cmd(
            "RESTORE",
            4,
            session.len() + decimal::MAX_DIGITS + payload.len() + "ABSTTL".len(),
        );
        restore.arg(&session).arg(expiry).arg(payload).arg("ABSTTL");
        let mut zadd = sized_cmd(
            "ZADD",
            4,
            expiries.len() + "NX".len() + decimal::MAX_DIGITS + member.len(),
        );
        zadd.arg(&expiries).arg("NX").arg(expiry).arg(member);
        pipe.add_command(restore).add_command(zadd);
        pipe.ignore_errors();
        let replies: Vec<RedisResult<Value>> = self.pipeline(pipe).await?;
        // An expiry already past by Redis's clock (a layer clock behind it) is
        // answered OK with nothing written: the session is dead at birth, as the
        // script would leave it.
        let filed = match replies.as_slice() {
            [Ok(_), Ok(_)] => return Ok(true),
            // `BUSYKEY`: the key is taken. Any other error is the script's to
            // meet (a server that refuses the command itself, or some answer
            // not foreseen here): creating must not depend on `RESTORE`.
            [Err(err), Ok(filed)] => {
                self.restore.note_error(err);
                matches!(filed, Value::Int(1))
            }
            other => {
                let error = other.iter().find_map(|reply| reply.as_ref().err());
                return Err(StoreError::unavailable(match error {
                    Some(err) => err.to_string(),
                    None => format!("unexpected replies to a create pipeline: {other:?}"),
                }));
            }
        };
        if filed {
            let mut undo = redis::cmd("ZREM");
            undo.arg(&expiries).arg(member);
            self.query::<()>(undo).await?;
        }
        Ok(false)
    }

    /// The create script: inserts unless a live session or a moved marker holds
    /// the key, filing a binding in the user index first.
    async fn create_by_script(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        if let Some(user) = &record.meta.user {
            self.index_add(user, key, record.meta.absolute_deadline, record.meta.created_at)
                .await?;
        }
        let mut invocation = scripts::CREATE.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .key(self.layout.users(key))
            .arg(to_millis(record.meta.created_at))
            .arg(key.to_hex())
            .arg(to_millis(record.meta.expires_at()))
            .arg(record.meta.user.as_deref().map(user_hash).unwrap_or_default())
            .arg(RecordFields(record));
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

    /// Moves a live session to `new`, applying `changes`, and marks `old` as moved.
    pub(super) async fn regenerate_session(
        &self,
        old: &StoreKey,
        new: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
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
            .key(self.layout.users(old))
            .key(self.layout.users(new))
            .arg(to_millis(changes.now))
            .arg(old.to_hex())
            .arg(new.to_hex())
            .arg(to_millis(changes.now + MOVED_MARKER_TTL));
        push_changes(&mut invocation, changes);
        match reply(self.invoke(invocation).await?)? {
            Reply::Applied { previous, .. } => {
                self.index_moved(old, new, &previous, changes).await?;
                Ok(CommitOutcome::Applied(None))
            }
            Reply::Not(outcome) => Ok(outcome),
        }
    }

    /// Deletes a session (or a moved marker) and its index entries; whether a live
    /// session went.
    pub(super) async fn delete_session(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let mut invocation = scripts::DELETE.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .key(self.layout.users(key))
            .arg(key.to_hex())
            .arg(to_millis(SystemTime::now()));
        let (live, user): (i64, String) = self.invoke(invocation).await?;
        if !user.is_empty() {
            self.index_remove(&user, &[key.to_hex()]).await?;
        }
        Ok(live == 1)
    }
}
