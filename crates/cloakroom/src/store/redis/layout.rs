//! Where a session lives in Redis, and how its hash maps to a record.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{prefix}{TT}:s:{KEY}` | hash | one session: `m` = `created:seen:idle:absolute` (ms since the epoch, one field so a read returns few elements), `m:u` user, and `d:{name}` per session key (JSON); or, after a regenerate, only `mv` = until when it answers "moved" |
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

use redis::{RedisWrite, ToRedisArgs, Value};
use sha2::{Digest, Sha256};

use crate::clock::{from_millis, to_millis};
use crate::decimal;
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

    /// A session's key, as a command argument written straight into the command
    /// (no string of its own).
    pub(super) fn session(&self, key: &StoreKey) -> KeyName<'_> {
        KeyName {
            prefix: &self.prefix,
            digits: key.hex_digits(),
        }
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

/// The most bytes an `m` value takes: four times and three colons.
pub(super) const META_MAX: usize = 4 * decimal::MAX_DIGITS + 3;

/// The `m` field's value for `meta`: `created:seen:idle:absolute`, in ms since
/// the epoch, written into `buf`.
pub(super) fn pack_meta<'b>(meta: &SessionMeta, buf: &'b mut [u8; META_MAX]) -> &'b [u8] {
    let times = [
        meta.created_at,
        meta.last_seen,
        meta.idle_deadline,
        meta.absolute_deadline,
    ];
    let (mut len, mut digits) = (0, [0u8; decimal::MAX_DIGITS]);
    for (i, time) in times.into_iter().enumerate() {
        if i > 0 {
            buf[len] = b':';
            len += 1;
        }
        let digits = decimal::digits(to_millis(time), &mut digits);
        buf[len..len + digits.len()].copy_from_slice(digits);
        len += digits.len();
    }
    &buf[..len]
}

/// Reads an `m` field back into (created, seen, idle, absolute).
pub(super) fn unpack_meta(text: &str) -> Option<[SystemTime; 4]> {
    let mut parts = text.as_bytes().split(|&b| b == b':');
    let mut times = [SystemTime::UNIX_EPOCH; 4];
    for time in &mut times {
        *time = from_millis(decimal::parse(parts.next()?)?);
    }
    parts.next().is_none().then_some(times)
}

/// The name of a session's key (`{prefix}{TT}:s:{KEY}`) as a command argument,
/// written straight into the command.
pub(super) struct KeyName<'a> {
    prefix: &'a str,
    /// The store key's hex digits, worked out once however often the name is
    /// written.
    digits: [u8; 64],
}

impl KeyName<'_> {
    /// How long the name is, in bytes.
    pub(super) fn len(&self) -> usize {
        self.prefix.len() + 4 + ":s:".len() + 64
    }

    /// The store key's 64 hex digits, as the name holds them (the member of the
    /// key's expiry entry).
    pub(super) fn key_digits(&self) -> &[u8] {
        &self.digits
    }

    /// The name in its pieces, written one after the other with no formatting
    /// machinery.
    fn pieces(&self) -> [&[u8]; 6] {
        [
            self.prefix.as_bytes(),
            b"{",
            &self.digits[..2],
            b"}",
            b":s:",
            &self.digits,
        ]
    }
}

impl ToRedisArgs for KeyName<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        // The name is put together here and written in one go, so the command's
        // buffer grows once, not piece by piece; on the stack unless the prefix is
        // unusually long.
        const INLINE: usize = 128;
        if self.len() > INLINE {
            out.write_arg(&self.pieces().concat());
            return;
        }
        let (mut name, mut len) = ([0u8; INLINE], 0);
        for piece in self.pieces() {
            name[len..len + piece.len()].copy_from_slice(piece);
            len += piece.len();
        }
        out.write_arg(&name[..len]);
    }
}

/// A record's hash as field/value pairs, each field in two parts: `m` and the
/// packed times (`meta`, from [`pack_meta`]), `m:u` and the user when bound,
/// `d:{key}` and the JSON text of each session key. Both forms of a new session
/// (the create script's arguments, a `RESTORE` payload) are written from it.
pub(super) fn record_pairs<'r>(
    record: &'r SessionRecord,
    meta: &'r [u8],
) -> impl Iterator<Item = ([&'r [u8]; 2], &'r [u8])> + 'r {
    let user = record.meta.user.as_deref();
    std::iter::once(([&b"m"[..], b""], meta))
        .chain(user.map(|user| ([&b"m:u"[..], b""], user.as_bytes())))
        .chain(
            record
                .data
                .iter()
                .map(|(key, value)| ([&b"d:"[..], key.as_bytes()], value.as_bytes())),
        )
}

/// How many pairs [`record_pairs`] yields for `record`.
pub(super) fn record_pair_count(record: &SessionRecord) -> usize {
    1 + usize::from(record.meta.user.is_some()) + record.data.len()
}

/// The field/value pairs of `record`'s hash ([`record_pairs`]), written straight
/// into the command (no string per field).
pub(super) struct RecordFields<'a>(pub(super) &'a SessionRecord);

impl ToRedisArgs for RecordFields<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        let mut meta = [0u8; META_MAX];
        let meta = pack_meta(&self.0.meta, &mut meta);
        for ([head, name], value) in record_pairs(self.0, meta) {
            out.reserve_space_for_args([head.len() + name.len(), value.len()]);
            {
                let mut field = out.writer_for_next_arg();
                // Writing into the command's buffer cannot fail.
                let _ = field.write_all(head);
                let _ = field.write_all(name);
            }
            out.write_arg(value);
        }
    }

    fn num_of_args(&self) -> usize {
        2 * record_pair_count(self.0)
    }
}

/// The hash field of a session key (`d:{key}`) as a command argument, written
/// straight into the command.
pub(super) struct DataField<'a>(pub(super) &'a str);

impl ToRedisArgs for DataField<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        out.reserve_space_for_args([2 + self.0.len()]);
        let mut arg = out.writer_for_next_arg();
        // Writing into the command's buffer cannot fail.
        let _ = arg.write_all(b"d:");
        let _ = arg.write_all(self.0.as_bytes());
    }
}

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

/// Reads a session hash from Redis's reply: the flat field/value array of
/// `HGETALL` (or of the load script, or of `HMGET` with the names put back), or
/// nil. A field/value map, the RESP3 form of `HGETALL`, reads the same; the store
/// itself speaks RESP2. The reply's strings become the record's: nothing is
/// copied.
pub(super) fn decode(reply: Value) -> Result<Hash, StoreError> {
    match reply {
        Value::Nil => Ok(Hash::Bare),
        Value::Array(items) => {
            let len = items.len() / 2;
            let mut items = items.into_iter();
            decode_pairs(len, std::iter::from_fn(move || Some((items.next()?, items.next()?))))
        }
        Value::Map(pairs) => decode_pairs(pairs.len(), pairs.into_iter()),
        other => Err(StoreError::Corrupt(format!(
            "a Redis session hash read back as {other:?}, not fields and values"
        ))),
    }
}

/// The text of one element of a hash reply.
fn text(item: Value) -> Result<String, StoreError> {
    let bytes = match item {
        Value::BulkString(bytes) => bytes,
        Value::SimpleString(text) => return Ok(text),
        other => {
            return Err(StoreError::Corrupt(format!(
                "a Redis session hash holds {other:?} where text belongs"
            )));
        }
    };
    String::from_utf8(bytes)
        .map_err(|_| StoreError::Corrupt("a Redis session hash holds a field or value that is not UTF-8".to_owned()))
}

/// A session hash from its `len` field/value pairs: the metadata fields read,
/// each `d:{key}` field made a data key.
fn decode_pairs(len: usize, pairs: impl Iterator<Item = (Value, Value)>) -> Result<Hash, StoreError> {
    let mut data = HashMap::with_capacity(len);
    let (mut times, mut user, mut has_meta, mut moved) = (None, None, false, None);
    for (field, value) in pairs {
        let (mut field, value) = (text(field)?, text(value)?);
        if field.starts_with("d:") {
            // The key is the field without its prefix, moved down in place.
            field.drain(..2);
            data.insert(field, value);
            continue;
        }
        match field.as_str() {
            "m" => {
                has_meta = true;
                times = unpack_meta(&value);
            }
            "m:u" => user = Some(value),
            "mv" => moved = decimal::parse(value.as_bytes()).map(from_millis),
            _ => {}
        }
    }
    if !has_meta {
        return Ok(moved.map_or(Hash::Bare, Hash::Moved));
    }
    let Some(times) = times else {
        return Err(StoreError::Corrupt(
            "a Redis session hash lacks readable metadata (field m)".to_owned(),
        ));
    };
    Ok(Hash::Session(SessionRecord {
        data,
        meta: meta_of(times, user),
    }))
}

/// A session's metadata from its `m` field's times (see [`unpack_meta`]) and its
/// `m:u` user.
pub(super) fn meta_of(
    [created_at, last_seen, idle_deadline, absolute_deadline]: [SystemTime; 4],
    user: Option<String>,
) -> SessionMeta {
    SessionMeta {
        created_at,
        last_seen,
        idle_deadline,
        absolute_deadline,
        user,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A flat `HGETALL` reply of `items`.
    fn reply(items: &[&str]) -> Value {
        Value::Array(
            items
                .iter()
                .map(|item| Value::BulkString(item.as_bytes().to_vec()))
                .collect(),
        )
    }

    #[test]
    fn records_round_trip_through_their_hash_fields() {
        let now = from_millis(1_795_448_134_509);
        let mut record = SessionRecord::new(SessionMeta::new(now, Duration::from_secs(60), Duration::from_secs(600)));
        record.meta.user = Some("alice".into());
        record.data.insert("cart".into(), r#"["apple"]"#.into());
        let args = RecordFields(&record).to_redis_args();
        assert_eq!(args.len(), RecordFields(&record).num_of_args());
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
        let flat: Vec<&str> = fields.iter().map(String::as_str).collect();
        assert_eq!(decode(reply(&flat)).unwrap(), Hash::Session(record.clone()));
        let map = Value::Map(
            flat.chunks(2)
                .map(|pair| {
                    (
                        Value::SimpleString(pair[0].to_owned()),
                        Value::BulkString(pair[1].as_bytes().to_vec()),
                    )
                })
                .collect(),
        );
        assert_eq!(
            decode(map).unwrap(),
            Hash::Session(record),
            "a RESP3 map reads the same"
        );
    }

    #[test]
    fn key_names_carry_the_hash_tag() {
        let layout = Layout::new("app:".into());
        let key = StoreKey([0xab; 32]);
        let named = |name: KeyName<'_>| {
            let args = name.to_redis_args();
            assert_eq!(args.len(), 1, "one argument");
            assert_eq!(args[0].len(), name.len());
            String::from_utf8(args[0].clone()).unwrap()
        };
        assert_eq!(named(layout.session(&key)), format!("app:{{ab}}:s:{}", "ab".repeat(32)));
        assert_eq!(layout.expiries(&key), "app:{ab}:expiries");
        let key = StoreKey(std::array::from_fn(|i| i as u8 * 7));
        let hex = key.to_hex();
        assert_eq!(named(layout.session(&key)), format!("app:{{{}}}:s:{hex}", &hex[..2]));
        assert_eq!(layout.session(&key).key_digits(), hex.as_bytes());
        assert_eq!(layout.expiries(&key), layout.expiries_of_tag(&Layout::tag(&key)));
        // A prefix too long for the name to be put together on the stack.
        let long = "p".repeat(100);
        let layout = Layout::new(long.clone());
        assert_eq!(named(layout.session(&key)), format!("{long}{{{}}}:s:{hex}", &hex[..2]));
        let mut cmd = redis::cmd("HGET");
        cmd.arg(layout.session(&key)).arg("m");
        let name = format!("{long}{{{}}}:s:{hex}", &hex[..2]);
        let packed = format!("*3\r\n$4\r\nHGET\r\n${}\r\n{name}\r\n$1\r\nm\r\n", name.len());
        assert_eq!(cmd.get_packed_command(), packed.as_bytes());
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
            assert!(
                matches!(decode(reply(&["m", bad])), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
        for bad in [
            Value::Int(1),
            Value::Array(vec![Value::Int(1), Value::Int(2)]),
            Value::Array(vec![Value::BulkString(b"d:a".to_vec()), Value::BulkString(vec![0xff])]),
        ] {
            assert!(matches!(decode(bad.clone()), Err(StoreError::Corrupt(_))), "{bad:?}");
        }
        assert_eq!(decode(Value::Nil).unwrap(), Hash::Bare);
        assert_eq!(decode(reply(&[])).unwrap(), Hash::Bare);
        assert_eq!(
            decode(reply(&["d:a", "1"])).unwrap(),
            Hash::Bare,
            "data without metadata is no session"
        );
        let marker = decode(reply(&["mv", "2000", "d:late", "1"])).unwrap();
        assert_eq!(marker, Hash::Moved(from_millis(2000)));
        assert_eq!(marker.at(from_millis(1999)), Loaded::Moved);
        assert_eq!(
            decode(reply(&["mv", "2000"])).unwrap().at(from_millis(2000)),
            Loaded::Gone,
            "a marker past its time is no session"
        );
    }
}
