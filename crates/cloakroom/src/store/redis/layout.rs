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
use std::fmt::{self, Write as _};
use std::time::SystemTime;

use redis::{RedisWrite, ToRedisArgs};
use sha2::{Digest, Sha256};

use crate::clock::{from_millis, to_millis};
use crate::id::{StoreKey, hex, push_hex};
use crate::store::{Loaded, SessionMeta, SessionRecord, StoreError, data_bytes};

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

    /// [`session`](Self::session) as a command argument, written straight into
    /// the command (no string of its own).
    pub(super) fn session_arg<'a>(&'a self, key: &'a StoreKey) -> KeyName<'a> {
        KeyName {
            prefix: &self.prefix,
            key,
            part: ":s:",
        }
    }

    /// [`staging`](Self::staging) as a command argument.
    pub(super) fn staging_arg<'a>(&'a self, key: &'a StoreKey) -> KeyName<'a> {
        KeyName {
            prefix: &self.prefix,
            key,
            part: ":n:",
        }
    }

    pub(super) fn session(&self, key: &StoreKey) -> String {
        self.session_arg(key).to_owned_name()
    }

    /// Where a new session is written before `RENAMENX` puts it in place.
    pub(super) fn staging(&self, key: &StoreKey) -> String {
        self.staging_arg(key).to_owned_name()
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

/// 32 hex digits of SHA-256 of a user name: the part of its index key that names
/// it, safe whatever the name holds.
pub(super) fn user_hash(user: &str) -> String {
    hex(&Sha256::digest(user.as_bytes())[..16])
}

/// Reads an `m` field back into (created, seen, idle, absolute).
pub(super) fn unpack_meta(text: &str) -> Option<[SystemTime; 4]> {
    let mut parts = text.split(':').map(|part| part.parse::<u64>().ok().map(from_millis));
    let times = [parts.next()??, parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(times)
}

/// The name of a session's key (`{prefix}{TT}{part}{KEY}`) as a command
/// argument, written straight into the command.
pub(super) struct KeyName<'a> {
    prefix: &'a str,
    key: &'a StoreKey,
    part: &'static str,
}

impl KeyName<'_> {
    /// How long the name is, in bytes.
    pub(super) fn len(&self) -> usize {
        self.prefix.len() + 4 + self.part.len() + 64
    }

    /// The name as a string of its own.
    fn to_owned_name(&self) -> String {
        let mut name = String::with_capacity(self.len());
        // Writing into a string cannot fail.
        let _ = write!(name, "{self}");
        name
    }
}

impl fmt::Display for KeyName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.key.hex_digits();
        // Hex digits are ASCII.
        let hex = std::str::from_utf8(&digits).unwrap_or_default();
        write!(f, "{}{{{}}}{}{hex}", self.prefix, &hex[..2], self.part)
    }
}

impl ToRedisArgs for KeyName<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        // Writing into the command's buffer cannot fail.
        let _ = write!(out.writer_for_next_arg(), "{self}");
    }
}

/// The field/value pairs of `record`'s hash, written straight into the command
/// (no string per field): `m` = `created:seen:idle:absolute` (ms since the epoch),
/// `m:u` = the user when bound, `d:{key}` = the JSON text of each session key.
pub(super) struct RecordFields<'a>(pub(super) &'a SessionRecord);

impl RecordFields<'_> {
    /// At most how many bytes the fields and values take.
    pub(super) fn len(&self) -> usize {
        let (data, user) = (&self.0.data, &self.0.meta.user);
        1 + 4 * MILLIS_DIGITS + 3 + user.as_ref().map_or(0, |user| 3 + user.len()) + 2 * data.len() + data_bytes(data)
    }
}

/// The most digits a time in ms since the epoch takes (a `u64`).
pub(super) const MILLIS_DIGITS: usize = 20;

impl ToRedisArgs for RecordFields<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        let meta = &self.0.meta;
        out.write_arg(b"m");
        {
            let mut arg = out.writer_for_next_arg();
            // Writing into the command's buffer cannot fail.
            let _ = write!(
                arg,
                "{}:{}:{}:{}",
                to_millis(meta.created_at),
                to_millis(meta.last_seen),
                to_millis(meta.idle_deadline),
                to_millis(meta.absolute_deadline)
            );
        }
        if let Some(user) = &meta.user {
            out.write_arg(b"m:u");
            out.write_arg(user.as_bytes());
        }
        for (key, value) in &self.0.data {
            DataField(key).write_redis_args(out);
            out.write_arg(value.as_bytes());
        }
    }

    fn num_of_args(&self) -> usize {
        2 + 2 * usize::from(self.0.meta.user.is_some()) + 2 * self.0.data.len()
    }
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
        let args = RecordFields(&record).to_redis_args();
        assert_eq!(args.len(), RecordFields(&record).num_of_args());
        assert!(args.iter().map(Vec::len).sum::<usize>() <= RecordFields(&record).len());
        let fields: Vec<String> = args.into_iter().map(|arg| String::from_utf8(arg).unwrap()).collect();
        assert_eq!(
            fields[..4],
            [
                "m".to_owned(),
                "1795448134509:1795448134509:1795448194509:1795448734509".to_owned(),
                "m:u".to_owned(),
                "alice".to_owned(),
            ]
        );
        assert_eq!(fields[4..], ["d:cart".to_owned(), r#"["apple"]"#.to_owned()]);
        assert_eq!(decode(fields).unwrap(), Hash::Session(record));
    }

    #[test]
    fn key_names_carry_the_hash_tag() {
        let layout = Layout::new("app:".into());
        let key = StoreKey([0xab; 32]);
        assert_eq!(layout.session(&key), format!("app:{{ab}}:s:{}", "ab".repeat(32)));
        assert_eq!(layout.expiries(&key), "app:{ab}:expiries");
        assert_eq!(layout.staging(&key), format!("app:{{ab}}:n:{}", "ab".repeat(32)));
        let key = StoreKey(std::array::from_fn(|i| i as u8 * 7));
        for (arg, name) in [
            (layout.session_arg(&key), layout.session(&key)),
            (layout.staging_arg(&key), layout.staging(&key)),
        ] {
            assert_eq!(arg.len(), name.len());
            assert_eq!(arg.to_redis_args(), [name.into_bytes()]);
        }
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
