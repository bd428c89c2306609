//! Where a session lives in Redis, and how its hash maps to a record.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{prefix}{TT}:s:{KEY}` | hash | one session: `m:c` created, `m:s` last seen, `m:i` idle deadline, `m:a` absolute deadline, `m:u` user (times in ms since the epoch), and `d:{name}` per session key (JSON) |
//! | `{prefix}{TT}:expiries` | sorted set | members `{KEY}` scored by their expiry (ms), for counting and purging |
//! | `{prefix}user:{U}` | sorted set | a user's sessions: members `{KEY}` scored by absolute deadline |
//!
//! `KEY` is the 64-hex-digit store key (SHA-256 of the session ID), `TT` its first
//! byte in hex: the hash tag that keeps a session and its expiry set in one Redis
//! Cluster slot (256 tags spread sessions over the cluster). `U` is 32 hex digits of
//! SHA-256 of the user name, so any user name makes a safe key.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::id::{StoreKey, hex};
use crate::store::{SessionMeta, SessionRecord, StoreError};

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
        format!("{}{{{}}}:s:{}", self.prefix, Self::tag(key), key.to_hex())
    }

    pub(super) fn expiries(&self, key: &StoreKey) -> String {
        self.expiries_of_tag(&Self::tag(key))
    }

    pub(super) fn expiries_of_tag(&self, tag: &str) -> String {
        format!("{}{{{tag}}}:expiries", self.prefix)
    }

    /// The session key prefix for one tag; a member appended makes a session key.
    pub(super) fn session_prefix_of_tag(&self, tag: &str) -> String {
        format!("{}{{{tag}}}:s:", self.prefix)
    }

    pub(super) fn user(&self, user: &str) -> String {
        format!("{}user:{}", self.prefix, hex(&Sha256::digest(user.as_bytes())[..16]))
    }

    /// Every hash tag in use.
    pub(super) fn tags() -> impl Iterator<Item = String> {
        (0u8..=255).map(|b| hex(&[b]))
    }
}

pub(super) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub(super) fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The hash fields of a new record, flattened as field, value, field, value...
pub(super) fn record_fields(record: &SessionRecord) -> Vec<String> {
    let meta = &record.meta;
    let mut fields = Vec::with_capacity(10 + record.data.len() * 2);
    for (field, time) in [
        ("m:c", meta.created_at),
        ("m:s", meta.last_seen),
        ("m:i", meta.idle_deadline),
        ("m:a", meta.absolute_deadline),
    ] {
        fields.push(field.to_owned());
        fields.push(millis(time).to_string());
    }
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

pub(super) fn data_field(key: &str) -> String {
    format!("d:{key}")
}

/// Rebuilds a record from a flat field/value list (HGETALL).
pub(super) fn decode(flat: Vec<String>) -> Result<SessionRecord, StoreError> {
    let mut data = HashMap::with_capacity(flat.len() / 2);
    let (mut created, mut seen, mut idle, mut absolute, mut user) = (None, None, None, None, None);
    let mut items = flat.into_iter();
    while let (Some(field), Some(value)) = (items.next(), items.next()) {
        if let Some(key) = field.strip_prefix("d:") {
            data.insert(key.to_owned(), value);
            continue;
        }
        let time = || value.parse::<u64>().map(from_millis).ok();
        match field.as_str() {
            "m:c" => created = time(),
            "m:s" => seen = time(),
            "m:i" => idle = time(),
            "m:a" => absolute = time(),
            "m:u" => user = Some(value),
            _ => {}
        }
    }
    let (Some(created_at), Some(idle_deadline), Some(absolute_deadline)) = (created, idle, absolute) else {
        return Err(StoreError::Corrupt(
            "a Redis session hash lacks its timestamps".to_owned(),
        ));
    };
    Ok(SessionRecord {
        data,
        meta: SessionMeta {
            created_at,
            last_seen: seen.unwrap_or(created_at),
            idle_deadline,
            absolute_deadline,
            user,
        },
    })
}
