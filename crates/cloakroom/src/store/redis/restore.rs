//! A new session's hash in the form `RESTORE` takes, so that creating a session
//! is one command: it writes the whole hash with its expiry, and refuses a key
//! that exists (`BUSYKEY`).
//!
//! The payload is Redis's serialization of one value, as `DUMP` makes it: a type
//! byte, the value, a 2-byte format version and the CRC-64 of everything before
//! it, both little-endian. The type is 4, a hash as its number of pairs and then
//! each field and each value as a length-prefixed string, which every Redis since
//! 2.6 reads; the server builds from it the hash that `HSET` of the same pairs
//! builds. The version is 9, Redis 5.0's: a server takes a payload of its own
//! version or an older one, and `RESTORE ... ABSTTL` came with 5.0.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::{ErrorKind, RedisError, RedisWrite, ServerErrorKind, ToRedisArgs};

use super::crc64::Crc64;
use super::layout::{META_MAX, pack_meta, record_pair_count, record_pairs};
use crate::store::SessionRecord;

/// The type byte of a hash stored as length-prefixed strings.
const TYPE_HASH: u8 = 4;

/// The serialization format's version: Redis 5.0's.
const FORMAT_VERSION: u16 = 9;

/// Whether a store still creates sessions with `RESTORE`. It stops, once and for
/// good, when the server refuses the command itself: not known, not permitted to
/// the connection's user (an ACL without `@dangerous`), or a payload it does not
/// read. From then on the create script inserts new sessions.
#[derive(Debug, Default)]
pub(super) struct RestoreSupport {
    refused: AtomicBool,
}

impl RestoreSupport {
    /// True until the server has refused `RESTORE`.
    pub(super) fn usable(&self) -> bool {
        !self.refused.load(Ordering::Relaxed)
    }

    /// Takes in an error answered to `RESTORE`: a refusal of the command itself
    /// stops its use, saying why the first time; any other error (a taken key,
    /// `BUSYKEY`) concerns that one call.
    pub(super) fn note_error(&self, err: &RedisError) {
        if refuses_the_command(err) && !self.refused.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %err,
                "Redis refused RESTORE: new sessions are created by the create script from now on \
                 (allow RESTORE to the store's Redis user for one-command creates)"
            );
        }
    }
}

/// True when `err`, an answer to `RESTORE`, refuses the command rather than one
/// call of it.
fn refuses_the_command(err: &RedisError) -> bool {
    if err.kind() == ErrorKind::Server(ServerErrorKind::NoPerm) {
        return true;
    }
    let text = err.to_string();
    ["unknown command", "DUMP payload", "Bad data format"]
        .iter()
        .any(|refusal| text.contains(refusal))
}

/// A record as the payload of `RESTORE`, written straight into the command.
pub(super) struct HashPayload<'a> {
    record: &'a SessionRecord,
    /// The `m` field's value, worked out once for the length and the writing.
    meta: [u8; META_MAX],
    meta_len: usize,
}

impl<'a> HashPayload<'a> {
    pub(super) fn new(record: &'a SessionRecord) -> Self {
        let mut meta = [0u8; META_MAX];
        let meta_len = pack_meta(&record.meta, &mut meta).len();
        Self { record, meta, meta_len }
    }

    fn meta(&self) -> &[u8] {
        &self.meta[..self.meta_len]
    }

    /// How long the payload is, in bytes.
    pub(super) fn len(&self) -> usize {
        let string = |len: usize| prefix_len(len) + len;
        let pairs: usize = record_pairs(self.record, self.meta())
            .map(|([head, name], value)| string(head.len() + name.len()) + string(value.len()))
            .sum();
        1 + prefix_len(record_pair_count(self.record)) + pairs + 2 + 8
    }

    fn write_to(&self, out: &mut Checksummed<impl Write>) {
        out.put(&[TYPE_HASH]);
        out.put_len(record_pair_count(self.record));
        for (field, value) in record_pairs(self.record, self.meta()) {
            out.put_string(&field);
            out.put_string(&[value]);
        }
        out.put(&FORMAT_VERSION.to_le_bytes());
        let crc = out.crc.value();
        // The checksum covers everything before it, not itself.
        let _ = out.out.write_all(&crc.to_le_bytes());
    }
}

impl ToRedisArgs for HashPayload<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        out.reserve_space_for_args([self.len()]);
        let mut arg = out.writer_for_next_arg();
        self.write_to(&mut Checksummed {
            out: &mut arg,
            crc: Crc64::default(),
        });
    }
}

/// How many bytes the length prefix of `len` takes: 6, 14, 32 or 64 bits after
/// a 2-bit tag.
fn prefix_len(len: usize) -> usize {
    match len {
        0..0x40 => 1,
        0x40..0x4000 => 2,
        _ if u32::try_from(len).is_ok() => 5,
        _ => 9,
    }
}

/// A writer that keeps the CRC-64 of what goes through it.
struct Checksummed<W> {
    out: W,
    crc: Crc64,
}

impl<W: Write> Checksummed<W> {
    fn put(&mut self, bytes: &[u8]) {
        self.crc.update(bytes);
        // Writing into the command's buffer cannot fail.
        let _ = self.out.write_all(bytes);
    }

    fn put_len(&mut self, len: usize) {
        // Each cast keeps exactly the bits the tag leaves room for.
        match prefix_len(len) {
            1 => self.put(&[len as u8]),
            2 => self.put(&[0x40 | (len >> 8) as u8, len as u8]),
            5 => {
                self.put(&[0x80]);
                self.put(&(len as u32).to_be_bytes());
            }
            _ => {
                self.put(&[0x81]);
                self.put(&(len as u64).to_be_bytes());
            }
        }
    }

    /// A string made of `parts`, after its length.
    fn put_string(&mut self, parts: &[&[u8]]) {
        self.put_len(parts.iter().map(|part| part.len()).sum());
        for part in parts {
            self.put(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::clock::from_millis;
    use crate::store::SessionMeta;

    fn payload(record: &SessionRecord) -> Vec<u8> {
        let payload = HashPayload::new(record);
        let mut out = Checksummed {
            out: Vec::new(),
            crc: Crc64::default(),
        };
        payload.write_to(&mut out);
        assert_eq!(out.out.len(), payload.len());
        out.out
    }

    fn record(data: &[(&str, String)], user: Option<&str>) -> SessionRecord {
        let mut meta = SessionMeta::new(
            from_millis(1_000),
            Duration::from_millis(500),
            Duration::from_millis(9_000),
        );
        meta.user = user.map(str::to_owned);
        let mut record = SessionRecord::new(meta);
        record.data = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<HashMap<_, _>>();
        record
    }

    #[test]
    fn only_a_refusal_of_the_command_stops_its_use() {
        let error = |kind, text: &'static str| RedisError::from((ErrorKind::Server(kind), text));
        let response = ServerErrorKind::ResponseError;
        for refusal in [
            error(
                ServerErrorKind::NoPerm,
                "this user has no permissions to run the 'restore' command",
            ),
            error(response, "unknown command 'RESTORE', with args beginning with: "),
            error(response, "DUMP payload version or checksum are wrong"),
            error(response, "Bad data format"),
        ] {
            let support = RestoreSupport::default();
            support.note_error(&refusal);
            assert!(!support.usable(), "{refusal}");
        }
        for passing in [
            RedisError::from((
                ErrorKind::Extension,
                "BUSYKEY",
                "Target key name already exists.".to_owned(),
            )),
            error(response, "OOM command not allowed when used memory > 'maxmemory'."),
            error(
                ServerErrorKind::ReadOnly,
                "You can't write against a read only replica.",
            ),
        ] {
            let support = RestoreSupport::default();
            support.note_error(&passing);
            assert!(support.usable(), "{passing}");
        }
    }

    #[test]
    fn a_session_with_one_key_is_laid_out_byte_for_byte() {
        let bytes = payload(&record(&[("k", "1".to_owned())], None));
        let meta = b"1000:1000:1500:10000";
        let mut expected = vec![4, 2, 1, b'm', meta.len() as u8];
        expected.extend_from_slice(meta);
        expected.extend_from_slice(&[3, b'd', b':', b'k', 1, b'1']);
        expected.extend_from_slice(&[9, 0]);
        let mut crc = Crc64::default();
        crc.update(&expected);
        expected.extend_from_slice(&crc.value().to_le_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn a_bound_session_carries_its_user() {
        let bytes = payload(&record(&[], Some("ada")));
        assert_eq!(bytes[1], 2);
        let tail = b"\x03m:u\x03ada\x09\x00";
        assert_eq!(&bytes[bytes.len() - 8 - tail.len()..bytes.len() - 8], tail);
    }

    #[test]
    fn lengths_take_the_prefix_their_size_needs() {
        for (len, prefix) in [
            (0, vec![0x00]),
            (63, vec![0x3f]),
            (64, vec![0x40, 0x40]),
            (16_383, vec![0x7f, 0xff]),
            (16_384, vec![0x80, 0, 0, 0x40, 0]),
            (70_000, vec![0x80, 0, 1, 0x11, 0x70]),
        ] {
            let bytes = payload(&record(&[("v", "x".repeat(len))], None));
            // After the type, the count, `m`, its value and the field `d:v`.
            let at = 5 + bytes[4] as usize + 4;
            assert_eq!(bytes[at..at + prefix.len()], prefix[..], "length {len}");
            assert_eq!(prefix.len(), prefix_len(len));
        }
        assert_eq!(prefix_len(u32::MAX as usize), 5);
        assert_eq!(prefix_len(u32::MAX as usize + 1), 9);
    }
}
