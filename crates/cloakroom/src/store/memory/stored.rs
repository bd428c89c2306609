//! How the memory store keeps a session: packed records in hash-map shards keyed
//! by the store key itself.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::SystemTime;

use crate::clock::{duration_millis, from_millis, to_millis};
use crate::id::StoreKey;
use crate::store::{ChangeSet, SessionMeta, SessionRecord, Touch, UserChange, added};

/// A map keyed by store keys, hashed by taking their bytes as they are.
type KeyMap<V> = HashMap<StoreKey, V, BuildHasherDefault<KeyHasher>>;

/// One shard of the store: sessions by store key, and the keys regenerated sessions
/// moved away from.
#[derive(Default)]
pub(super) struct Shard {
    pub(super) sessions: KeyMap<Stored>,
    /// Moved markers: the old key of a regenerated session, until when (ms) it
    /// answers "moved".
    pub(super) moved: KeyMap<u64>,
}

impl Shard {
    /// True when `key` holds a moved marker still standing at `now`; a marker past
    /// its time is dropped on sight.
    pub(super) fn is_moved(&mut self, key: &StoreKey, now: SystemTime) -> bool {
        match self.moved.get(key) {
            Some(&until) if to_millis(now) < until => true,
            Some(_) => {
                self.moved.remove(key);
                false
            }
            None => false,
        }
    }
}

/// A session as the memory store keeps it: like a [`SessionRecord`], but with its
/// keys in an exactly sized vector instead of a hash map (a small session's map
/// costs more than its data), turned into a record when loaded.
pub(super) struct Stored {
    pub(super) data: Vec<(String, String)>,
    pub(super) meta: StoredMeta,
}

/// [`SessionMeta`] in whole milliseconds since the epoch (the precision every store
/// keeps): half the size of four `SystemTime`s.
pub(super) struct StoredMeta {
    created: u64,
    seen: u64,
    idle: u64,
    absolute: u64,
    pub(super) user: Option<String>,
}

impl StoredMeta {
    pub(super) fn from_meta(meta: &SessionMeta) -> Self {
        Self {
            created: to_millis(meta.created_at),
            seen: to_millis(meta.last_seen),
            idle: to_millis(meta.idle_deadline),
            absolute: to_millis(meta.absolute_deadline),
            user: meta.user.clone(),
        }
    }

    pub(super) fn to_meta(&self) -> SessionMeta {
        SessionMeta {
            created_at: from_millis(self.created),
            last_seen: from_millis(self.seen),
            idle_deadline: from_millis(self.idle),
            absolute_deadline: from_millis(self.absolute),
            user: self.user.clone(),
        }
    }

    pub(super) fn created_at(&self) -> SystemTime {
        from_millis(self.created)
    }

    pub(super) fn expires_at(&self) -> SystemTime {
        from_millis(self.idle.min(self.absolute))
    }

    pub(super) fn is_expired(&self, now: SystemTime) -> bool {
        to_millis(now) >= self.idle.min(self.absolute)
    }

    /// [`SessionMeta::apply_touch`], in milliseconds.
    pub(super) fn apply_touch(&mut self, touch: &Touch) -> bool {
        let (now, wanted) = (to_millis(touch.now), to_millis(touch.idle_deadline));
        let step = if wanted >= self.idle {
            wanted - self.idle
        } else {
            let asked = wanted.saturating_sub(now);
            let unused = now.saturating_sub(self.seen);
            if unused >= asked {
                return false;
            }
            self.idle - wanted
        };
        let min_step = duration_millis(touch.min_step);
        let due = step != 0 && step >= min_step;
        if due {
            self.idle = wanted;
            self.seen = now;
        }
        due
    }
}

impl Stored {
    pub(super) fn from_record(record: &SessionRecord) -> Self {
        let mut data = Vec::with_capacity(record.data.len());
        data.extend(record.data.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self {
            data,
            meta: StoredMeta::from_meta(&record.meta),
        }
    }

    pub(super) fn to_record(&self) -> SessionRecord {
        SessionRecord {
            data: self.data.iter().cloned().collect(),
            meta: self.meta.to_meta(),
        }
    }

    /// The JSON text under `key`.
    fn value(&self, key: &str) -> Option<&str> {
        self.data.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Whether `changes` can be applied ([`ChangeSet::admits`]).
    pub(super) fn admits(&self, changes: &ChangeSet) -> bool {
        changes.admits(|key| self.value(key))
    }

    /// Applies a change set as [`SessionRecord::apply`] does; returns whether the
    /// idle deadline moved.
    pub(super) fn apply(&mut self, changes: &ChangeSet) -> bool {
        if changes.clear {
            self.data.clear();
        }
        if !changes.remove.is_empty() {
            self.data.retain(|(key, _)| !changes.remove.contains(key));
        }
        for (key, value) in &changes.set {
            self.put(key, value);
        }
        for addition in &changes.add {
            if let Some(sum) = added(self.value(&addition.key), addition.by) {
                self.put(&addition.key, &sum);
            }
        }
        match &changes.user {
            Some(UserChange::Bind(user)) => self.meta.user = Some(user.clone()),
            Some(UserChange::Unbind) => self.meta.user = None,
            None => {}
        }
        match changes.idle_deadline {
            Some(deadline) if changes.slides(from_millis(self.meta.idle)) => {
                self.meta.idle = to_millis(deadline);
                self.meta.seen = to_millis(changes.now);
                true
            }
            _ => false,
        }
    }
}

impl Stored {
    /// Sets `key` to `value`, reusing the old value's buffer.
    fn put(&mut self, key: &str, value: &str) {
        match self.data.iter_mut().find(|(k, _)| k == key) {
            Some((_, stored)) => value.clone_into(stored),
            None => {
                self.data.reserve_exact(1);
                self.data.push((key.to_owned(), value.to_owned()));
            }
        }
    }
}

/// Store keys are SHA-256 digests, already uniform: hash by taking 8 of their bytes.
#[derive(Default)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `StoreKey` hashes as its 32-byte array (a length prefix, then the bytes).
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _len: usize) {}
}
