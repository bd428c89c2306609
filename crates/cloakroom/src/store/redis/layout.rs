//! Where a session lives in Redis, and how its hash maps to a record.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{prefix}{TT}:s:{KEY}` | hash | one session: `m` = `created:seen:idle:absolute` (ms since the epoch, one field so a read returns few elements), `m:u` user, and `d:{name}` per session key (JSON); or, after a regenerate, only `mv` = until when it answers "moved" |
//! | `{prefix}{TT}:n:{KEY}` | hash | a new session being inserted: written here, then renamed onto its session key only if that key is free (`RENAMENX`); it exists only within one create |
//! | `{prefix}{TT}:expiries` | sorted set | members `{KEY}` scored by their expiry (ms), for counting and purging |
//! | `{prefix}{TT}:users` | hash | the tag's bound sessions: `{KEY}` → `U` of its user, so the purge can prune a dead session's index entry |
//! | `{prefix}user:{U}` | sorted set | a user's sessions: members `{KEY}` scored by absolute deadline |
//!
//! `KEY` is the 64-hex-digit store key (SHA-256 of the session ID), `TT` its first
//! byte in hex: the hash tag that keeps a session and its expiry set in one Redis
//! Cluster slot (256 tags spread sessions over the cluster). `U` is 32 hex digits of
//! SHA-256 of the user name, so any user name makes a safe key.

use std::collections::HashMap;
use std::time::SystemTime;

use redis::{RedisWrite, ToRedisArgs};
use sha2::{Digest, Sha256};

use crate::clock::{from_millis, to_millis};
use crate::id::{StoreKey, hex, push_hex};
use crate::store::{Loaded, SessionMeta, SessionRecord, StoreError};

/// Key names for one prefix.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    prefix: String,
}

impl Layout {
    pub(super) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    pub(super) fn tag(key: &StoreKey) -> String {
        hex(&key.0[..1])
    }

    pub(super) fn session(&self, key: &StoreKey) -> String {
        let mut name = self.tagged(key, 68);
        name.push_str(":s:");
        push_hex(&mut name, &key.0);
        name
    }

    /// Where a new session is written before `RENAMENX` puts it in place.
    pub(super) fn staging(&self, key: &StoreKey) -> String {
        let mut name = self.tagged(key, 68);
        name.push_str(":n:");
        push_hex(&mut name, &key.0);
        name
    }

    pub(super) fn expiries(&self, key: &StoreKey) -> String {
        let mut name = self.tagged(key, 9);
        name.push_str(":expiries");
        name
    }

    /// `{prefix}{TT}` for `key`, with room for `more` bytes after it.
    fn tagged(&self, key: &StoreKey, more: usize) -> String {
        let mut name = String::with_capacity(self.prefix.len() + 4 + more);
        name.push_str(&self.prefix);
        name.push('{');
        push_hex(&mut name, &key.0[..1]);
        name.push('}');
        name
    }

    pub(super) fn expiries_of_tag(&self, tag: &str) -> String {
        format!("{}{{{tag}}}:expiries", self.prefix)
    }

    /// The session key prefix for one tag; a member appended makes a session key.
    pub(super) fn session_prefix_of_tag(&self, tag: &str) -> String {
        format!("{}{{{tag}}}:s:", self.prefix)
    }

    /// A tag's hash of bound sessions: member → the user hash of its binding, so
    /// the purge can take a dead session out of its user's index.
    pub(super) fn users(&self, key: &StoreKey) -> String {
        let mut name = self.tagged(key, 6);
        name.push_str(":users");
        name
    }

    pub(super) fn users_of_tag(&self, tag: &str) -> String {
        format!("{}{{{tag}}}:users", self.prefix)
    }

    /// The index of `user`'s sessions.
    pub(super) fn user(&self, user: &str) -> String {
        self.user_index(&user_hash(user))
    }

    /// The index of the user whose [`user_hash`] is `hash`.
    pub(super) fn user_index(&self, hash: &str) -> String {
        format!("{}user:{hash}", self.prefix)
    }

    /// Every hash tag in use.
    pub(super) fn tags() -> impl Iterator<Item = String> {
        (0u8..=255).map(|b| hex(&[b]))
    }
}

/// The `m` field: "created:seen:idle:absolute", each in ms since the epoch.
fn packed_meta(meta: &SessionMeta) -> String {
    format!(
        "{}:{}:{}:{}",
        to_millis(meta.created_at),
        to_millis(meta.last_seen),
        to_millis(meta.idle_deadline),
        to_millis(meta.absolute_deadline)
    )
}

/// Reads an `m` field back into (created, seen, idle, absolute).
/// 32 hex digits of SHA-256 of a user name: the part of its index key that names
/// it, safe whatever the name holds.
pub(super) fn user_hash(user: &str) -> String {
    hex(&Sha256::digest(user.as_bytes())[..16])
}

pub(super) fn unpack_meta(text: &str) -> Option<[SystemTime; 4]> {
    let mut parts = text.split(':').map(|part| part.parse::<u64>().ok().map(from_millis));
    let times = [parts.next()??, parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(times)
}

/// The hash fields of a new record, flattened as field, value, field, value...
pub(super) fn record_fields(record: &SessionRecord) -> Vec<String> {
    let meta = &record.meta;
    let mut fields = Vec::with_capacity(4 + record.data.len() * 2);
    fields.push("m".to_owned());
    fields.push(packed_meta(meta));
    if let Some(user) = &meta.user {
        fields.push("m:u".to_owned());
        fields.push(user.clone());
    }
    for (key, value) in &record.data {
        fields.push(data_field(key));
        fields.push(value.clone());
    }
    fields
}

fn data_field(key: &str) -> String {
    format!("d:{key}")
}

/// The hash field of a session key (`d:{key}`) as a command argument, written
/// straight into the command.
pub(super) struct DataField<'a>(pub(super) &'a str);

impl ToRedisArgs for DataField<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        let mut arg = out.writer_for_next_arg();
        // Writing into the command's buffer cannot fail.
        let _ = arg.write_all(b"d:");
        let _ = arg.write_all(self.0.as_bytes());
    }
}

/// Rebuilds a record from a flat field/value list (HGETALL, or HMGET of `m` and
/// `m:u` with the names put back). `None` when there is no `m` field: no session,
/// only data a late write left under a gone session's key (see `plain_write`).
/// What a session's hash holds.
#[derive(Debug, PartialEq)]
pub(super) enum Hash {
    /// A session.
    Session(SessionRecord),
    /// A moved marker, standing until then.
    Moved(SystemTime),
    /// No metadata: nothing, or data a late plain write left under a gone
    /// session's key. No session either way.
    Bare,
}

impl Hash {
    /// What the hash means at `now`.
    pub(super) fn at(self, now: SystemTime) -> Loaded {
        match self {
            Hash::Session(record) if !record.meta.is_expired(now) => Loaded::Live(record),
            Hash::Moved(until) if now < until => Loaded::Moved,
            _ => Loaded::Gone,
        }
    }
}

/// Reads a session hash from its flat field/value list.
pub(super) fn decode(flat: Vec<String>) -> Result<Hash, StoreError> {
    let mut data = HashMap::with_capacity(flat.len() / 2);
    let (mut times, mut user, mut has_meta, mut moved) = (None, None, false, None);
    let mut items = flat.into_iter();
    while let (Some(field), Some(value)) = (items.next(), items.next()) {
        if let Some(key) = field.strip_prefix("d:") {
            data.insert(key.to_owned(), value);
            continue;
        }
        match field.as_str() {
            "m" => {
                has_meta = true;
                times = unpack_meta(&value);
            }
            "m:u" => user = Some(value),
            "mv" => moved = value.parse::<u64>().ok().map(from_millis),
            _ => {}
        }
    }
    if !has_meta {
        return Ok(moved.map_or(Hash::Bare, Hash::Moved));
    }
    let Some([created_at, last_seen, idle_deadline, absolute_deadline]) = times else {
        return Err(StoreError::Corrupt(
            "a Redis session hash lacks readable metadata (field m)".to_owned(),
        ));
    };
    Ok(Hash::Session(SessionRecord {
        data,
        meta: SessionMeta {
            created_at,
            last_seen,
            idle_deadline,
            absolute_deadline,
            user,
        },
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn records_round_trip_through_their_hash_fields() {
        let now = from_millis(1_795_448_134_509);
        let mut record = SessionRecord::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
        record.meta.user = Some("alice".into());
        record.data.insert("cart".into(), r#"["apple"]"#.into());
        let fields = record_fields(&record);
        assert_eq!(
            fields[..2],
            [
                "m".to_owned(),
                "1795448134509:1795448134509:1795448194509:1795448734509".to_owned()
            ]
        );
        assert_eq!(decode(fields).unwrap(), Hash::Session(record));
    }

    #[test]
    fn key_names_carry_the_hash_tag() {
        let layout = Layout::new("app:".into());
        let key = StoreKey([0xab; 32]);
        assert_eq!(layout.session(&key), format!("app:{{ab}}:s:{}", "ab".repeat(32)));
        assert_eq!(layout.expiries(&key), "app:{ab}:expiries");
        assert_eq!(layout.staging(&key), format!("app:{{ab}}:n:{}", "ab".repeat(32)));
        assert_eq!(layout.expiries(&key), layout.expiries_of_tag(&Layout::tag(&key)));
    }

    #[test]
    fn data_fields_are_written_as_one_argument() {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(DataField("cart")).arg("1");
        let packed = cmd.get_packed_command();
        assert_eq!(packed, b"*3\r\n$4\r\nHSET\r\n$6\r\nd:cart\r\n$1\r\n1\r\n");
    }

    #[test]
    fn unreadable_metadata_is_a_corrupt_record_and_missing_metadata_no_record() {
        for bad in ["", "1:2:3", "1:2:3:4:5", "1:2:x:4", "-1:2:3:4"] {
            let flat = vec!["m".to_owned(), bad.to_owned()];
            assert!(matches!(decode(flat), Err(StoreError::Corrupt(_))), "{bad:?}");
        }
        assert_eq!(
            decode(vec!["d:a".into(), "1".into()]).unwrap(),
            Hash::Bare,
            "data without metadata is no session"
        );
        let marker = decode(vec!["mv".into(), "2000".into(), "d:late".into(), "1".into()]).unwrap();
        assert_eq!(marker, Hash::Moved(from_millis(2000)));
        assert_eq!(marker.at(from_millis(1999)), Loaded::Moved);
        assert_eq!(
            decode(vec!["mv".into(), "2000".into()]).unwrap().at(from_millis(2000)),
            Loaded::Gone,
            "a marker past its time is no session"
        );
    }
}
