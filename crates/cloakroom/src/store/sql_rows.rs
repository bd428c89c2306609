//! Rows of the SQL stores (Postgres, SQLite) back into records: the `data`
//! document into a session's keys, millisecond columns into times, and times into
//! milliseconds. Both stores keep the same columns.

use std::collections::HashMap;

use crate::clock::duration_millis;
use crate::clock::{from_millis, to_millis};
use crate::id::StoreKey;
use crate::store::{SessionMeta, SessionRecord, StoreError, Touch, UserSession};

/// What the read statement returns: data (as JSON text), created, last seen, idle
/// deadline, absolute deadline, user, moved.
pub(crate) type LoadRow = (String, i64, i64, i64, i64, Option<String>, bool);

/// What the list-user statement returns: key, created, last seen, idle and
/// absolute deadlines.
pub(crate) type UserRow = (Vec<u8>, i64, i64, i64, i64);

/// A time as the statements' milliseconds since the epoch.
pub(crate) fn millis(time: std::time::SystemTime) -> i64 {
    i64::try_from(to_millis(time)).unwrap_or(i64::MAX)
}

/// A time from the statements' milliseconds (negative ones, which the store never
/// writes, read as the epoch).
pub(crate) fn time(ms: i64) -> std::time::SystemTime {
    from_millis(u64::try_from(ms).unwrap_or(0))
}

/// What a read found under a key.
#[derive(Debug)]
pub(crate) enum Found {
    /// No row.
    Absent,
    /// A row dead at the time of the read: a session past a deadline, or a moved
    /// marker past its time.
    Dead,
    /// A moved marker still standing.
    Moved,
    /// A live session.
    Live(SessionRecord),
}

/// What the read statement's row says at `now` in milliseconds.
pub(crate) fn found(row: Option<LoadRow>, now: i64) -> Result<Found, StoreError> {
    let Some((data, created, seen, idle, absolute, user, moved)) = row else {
        return Ok(Found::Absent);
    };
    if now >= idle.min(absolute) {
        return Ok(Found::Dead);
    }
    if moved {
        return Ok(Found::Moved);
    }
    Ok(Found::Live(SessionRecord {
        data: decode_data(&data)?,
        meta: SessionMeta {
            created_at: time(created),
            last_seen: time(seen),
            idle_deadline: time(idle),
            absolute_deadline: time(absolute),
            user,
        },
    }))
}

/// Whether a load at `now` asking for the idle deadline `wanted` must slide a
/// session whose deadline is `idle` and last use `seen` (all milliseconds): when
/// that moves the deadline by at least `step`, and back only while the session
/// is within the shorter timeout since it was last seen. The `slide` statement
/// checks the same again.
pub(crate) fn slide_due(now: i64, wanted: i64, step: i64, idle: i64, seen: i64) -> bool {
    if wanted > idle {
        wanted - idle >= step
    } else if wanted < idle {
        idle - wanted >= step && (now - seen).max(0) < (wanted - now).max(0)
    } else {
        false
    }
}

/// A slide a load owes a live session, in the statements' milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slide {
    pub(crate) now: i64,
    pub(crate) wanted: i64,
    pub(crate) step: i64,
}

impl Slide {
    /// The slide a load at `touch` owes the live session `meta`, if one is due
    /// ([`slide_due`]).
    pub(crate) fn due(touch: &Touch, meta: &SessionMeta) -> Option<Self> {
        let slide = Self {
            now: millis(touch.now),
            wanted: millis(touch.idle_deadline),
            step: i64::try_from(duration_millis(touch.min_step)).unwrap_or(i64::MAX),
        };
        slide_due(
            slide.now,
            slide.wanted,
            slide.step,
            millis(meta.idle_deadline),
            millis(meta.last_seen),
        )
        .then_some(slide)
    }

    /// `meta` after the slide statement answered `(last seen, idle deadline)`.
    pub(crate) fn applied(meta: &mut SessionMeta, (seen, idle): (i64, i64)) {
        meta.last_seen = time(seen);
        meta.idle_deadline = time(idle);
    }
}

/// A row of the user's sessions.
pub(crate) fn user_session(
    (key, created, seen, idle, absolute): UserRow,
    user: &str,
) -> Result<UserSession, StoreError> {
    let key: [u8; 32] = key
        .try_into()
        .map_err(|key: Vec<u8>| StoreError::Corrupt(format!("a session key of {} bytes, not 32", key.len())))?;
    Ok(UserSession {
        key: StoreKey(key),
        meta: SessionMeta {
            created_at: time(created),
            last_seen: time(seen),
            idle_deadline: time(idle),
            absolute_deadline: time(absolute),
            user: Some(user.to_owned()),
        },
    })
}

/// The session's keys from the `data` document. Each member is a JSON string
/// holding the value's text; a member some other program wrote as plain JSON
/// (a number, an object) reads as that JSON's text.
pub(crate) fn decode_data(text: &str) -> Result<HashMap<String, String>, StoreError> {
    if let Ok(data) = serde_json::from_str::<HashMap<String, String>>(text) {
        return Ok(data);
    }
    let data: HashMap<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|err| StoreError::Corrupt(format!("session data is not a JSON object: {err}")))?;
    Ok(data
        .into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => (key, text),
            other => (key, other.to_string()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_the_values_text() {
        let data = decode_data(r#"{"cart": "{\"n\": 1}", "user": "\"ada\""}"#).unwrap();
        assert_eq!(data["cart"], "{\"n\": 1}");
        assert_eq!(data["user"], "\"ada\"");
    }

    #[test]
    fn plain_json_members_read_as_their_text() {
        let data = decode_data(r#"{"n": 3, "s": "x", "o": {"a": [1, 2]}}"#).unwrap();
        assert_eq!(data["n"], "3");
        assert_eq!(data["s"], "x");
        assert_eq!(data["o"], r#"{"a":[1,2]}"#);
    }

    #[test]
    fn a_document_that_is_no_object_is_corrupt() {
        assert!(matches!(decode_data("[1]"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn dead_rows_and_markers() {
        let row = |moved, expires| Some((String::from("{}"), 0, 0, expires, expires, None, moved));
        assert!(matches!(found(None, 5).unwrap(), Found::Absent));
        assert!(matches!(found(row(false, 5), 5).unwrap(), Found::Dead));
        assert!(matches!(found(row(true, 6), 5).unwrap(), Found::Moved));
        assert!(matches!(found(row(true, 5), 5).unwrap(), Found::Dead));
        assert!(matches!(found(row(false, 6), 5).unwrap(), Found::Live(_)));
    }

    #[test]
    fn slides_are_due_by_big_enough_steps_only() {
        // Forward: by at least the step.
        assert!(slide_due(100, 1_100, 50, 1_000, 0));
        assert!(!slide_due(100, 1_040, 50, 1_000, 0));
        assert!(!slide_due(100, 1_000, 0, 1_000, 0), "no move, no slide");
        // Back (a shorter timeout): only while within it since the last use.
        assert!(slide_due(100, 500, 50, 1_000, 90));
        assert!(!slide_due(100, 500, 50, 1_000, -400));
    }
}
