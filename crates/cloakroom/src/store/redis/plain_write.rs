//! Commits that need no script: a change set that only sets keys, or only removes
//! keys, of a session in steady use.
//!
//! Such a commit is one pipeline of plain commands, no Lua:
//!
//! 1. `HSET session d:k v ...` (or `HDEL session d:k ...`): one command, so the
//!    change set lands whole or not at all;
//! 2. `PEXPIRE session <HUSK_TTL> NX`: gives a TTL to the hash only if it had none,
//!    which is the case only when step 1 made a new hash because the session was
//!    gone (a live session's hash always has its deadline as TTL);
//! 3. `HGET session m`: the metadata after the write.
//!
//! The client then reads `m`. When it is there, readable, alive at the change set's
//! `now` and no slide of the idle deadline is due, the commit is done: the session
//! existed when the write landed (`m` is written only by `create`, for a key never
//! used before, so it cannot appear between steps 1 and 3). Anything else (no `m`:
//! the write made a bare hash of data under a gone session's key; dead at `now`; a
//! slide due) is settled by the commit script with an empty change set: it drops
//! the bare hash or the dead session, or slides the deadline, atomically, and says
//! whether the session lives. That second round trip comes about once per touch
//! step per session, or when a late request writes to a gone session.
//!
//! The bare hash never reads as a session: it has no `m`, and loads treat a hash
//! without `m` as absent. Were the settling step lost (the process dies between the
//! two round trips), the TTL from step 2 removes it. Servers older than Redis 7.0
//! reject `PEXPIRE ... NX`; that reply is ignored there, and the settling step still
//! removes the bare hash.

use std::time::Duration;

use redis::{Pipeline, RedisResult, ToRedisArgs, Value};

use super::layout::{DataField, unpack_meta};
use crate::clock::duration_millis;
use crate::store::{ChangeSet, StoreError};

/// TTL given to a hash that a write made under the key of a gone session, in case
/// nothing else removes it.
const HUSK_TTL: Duration = Duration::from_secs(60);

/// True when `changes` can be committed without a script: only sets or only
/// removals of session keys, no clear, no user binding, and no slide that must
/// happen whatever its size (`idle_min_step` zero with a deadline asked for).
pub(super) fn applies(changes: &ChangeSet) -> bool {
    !changes.clear
        && changes.user.is_none()
        && changes.add.is_empty()
        && changes.expect.is_empty()
        && changes.set.is_empty() != changes.remove.is_empty()
        && (changes.idle_deadline.is_none() || !changes.idle_min_step.is_zero())
}

/// The pipeline for a change set that [`applies`]: the write, the TTL guard, and
/// the read of `m`.
pub(super) fn pipeline(session: impl ToRedisArgs + Copy, changes: &ChangeSet) -> Pipeline {
    let mut pipe = redis::pipe();
    if changes.set.is_empty() {
        let cmd = pipe.cmd("HDEL").arg(session);
        for key in &changes.remove {
            cmd.arg(DataField(key));
        }
    } else {
        let cmd = pipe.cmd("HSET").arg(session);
        for (key, value) in &changes.set {
            cmd.arg(DataField(key)).arg(value.as_str());
        }
    }
    pipe.cmd("PEXPIRE")
        .arg(session)
        .arg(duration_millis(HUSK_TTL))
        .arg("NX")
        .ignore();
    pipe.cmd("HGET").arg(session).arg("m");
    // Errors come back per command: the guard's error on an old server is dropped
    // (it is ignored), the write's and the read's are looked at below.
    pipe.ignore_errors();
    pipe
}

/// What the pipeline's replies (the write's, then the read's) say.
#[derive(Debug, PartialEq)]
pub(super) enum Written {
    /// Applied to a live session; its deadline stays.
    Done,
    /// Applied, or not, to something that is not a session in steady use: the
    /// commit script must settle it.
    Settle,
}

/// Reads the replies of [`pipeline`]: an error of the write or the read is the
/// commit's error; otherwise whether the session is live at `changes.now` with no
/// slide due.
pub(super) fn outcome(replies: Vec<RedisResult<Value>>, changes: &ChangeSet) -> Result<Written, StoreError> {
    let mut replies = replies.into_iter();
    let (Some(write), Some(read), None) = (replies.next(), replies.next(), replies.next()) else {
        return Err(StoreError::unavailable(
            "Redis answered a commit pipeline with the wrong number of replies",
        ));
    };
    write.map_err(StoreError::unavailable)?;
    let meta = match read.map_err(StoreError::unavailable)? {
        Value::BulkString(bytes) => std::str::from_utf8(&bytes).ok().and_then(unpack_meta),
        _ => None,
    };
    let Some([_, _, idle, absolute]) = meta else {
        return Ok(Written::Settle);
    };
    if changes.now >= idle || changes.now >= absolute || changes.slides(idle) {
        return Ok(Written::Settle);
    }
    Ok(Written::Done)
}

/// The change set the settling script call takes: nothing to write, the same
/// time and idle deadline rule as `changes`.
pub(super) fn settling(changes: &ChangeSet) -> ChangeSet {
    let mut settle = ChangeSet::new(changes.now);
    settle.idle_deadline = changes.idle_deadline;
    settle.idle_min_step = changes.idle_min_step;
    settle
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::clock::from_millis;
    use crate::store::UserChange;

    fn at(ms: u64) -> SystemTime {
        from_millis(ms)
    }

    fn server_error(text: &'static str) -> redis::RedisError {
        redis::RedisError::from((redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError), text))
    }

    fn write(set: &[(&str, &str)], remove: &[&str]) -> ChangeSet {
        let mut changes = ChangeSet::new(at(1_000_000));
        changes.set = set.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        changes.remove = remove.iter().map(|k| (*k).to_owned()).collect();
        changes
    }

    fn meta(idle: u64, absolute: u64) -> RedisResult<Value> {
        Ok(Value::BulkString(format!("1:1:{idle}:{absolute}").into_bytes()))
    }

    #[test]
    fn only_single_command_writes_without_binding_or_forced_slide_go_plain() {
        assert!(applies(&write(&[("a", "1")], &[])));
        assert!(applies(&write(&[], &["a"])));
        assert!(!applies(&write(&[], &[])), "nothing to write: a touch");
        assert!(
            !applies(&write(&[("a", "1")], &["b"])),
            "two commands would not be atomic"
        );
        let mut clear = write(&[("a", "1")], &[]);
        clear.clear = true;
        assert!(!applies(&clear));
        let mut bind = write(&[("a", "1")], &[]);
        bind.user = Some(UserChange::Unbind);
        assert!(!applies(&bind));
        let mut forced = write(&[("a", "1")], &[]);
        forced.idle_deadline = Some(at(2_000_000));
        assert!(!applies(&forced), "a zero step slides on every commit");
        forced.idle_min_step = Duration::from_secs(30);
        assert!(applies(&forced));
    }

    #[test]
    fn the_pipeline_writes_then_guards_then_reads() {
        let pipe = pipeline("s", &write(&[("cart", "[1]")], &[]));
        let packed = String::from_utf8(pipe.get_packed_pipeline()).unwrap();
        assert_eq!(
            packed,
            "*4\r\n$4\r\nHSET\r\n$1\r\ns\r\n$6\r\nd:cart\r\n$3\r\n[1]\r\n\
             *4\r\n$7\r\nPEXPIRE\r\n$1\r\ns\r\n$5\r\n60000\r\n$2\r\nNX\r\n\
             *3\r\n$4\r\nHGET\r\n$1\r\ns\r\n$1\r\nm\r\n"
        );
        let pipe = pipeline("s", &write(&[], &["a", "b"]));
        assert!(
            String::from_utf8(pipe.get_packed_pipeline())
                .unwrap()
                .starts_with("*4\r\n$4\r\nHDEL\r\n$1\r\ns\r\n$3\r\nd:a\r\n$3\r\nd:b\r\n")
        );
    }

    #[test]
    fn a_live_session_with_no_slide_due_is_done() {
        let changes = write(&[("a", "1")], &[]);
        assert_eq!(
            outcome(vec![Ok(Value::Int(1)), meta(2_000_000, 9_000_000)], &changes).unwrap(),
            Written::Done
        );
    }

    #[test]
    fn gone_dead_unreadable_or_due_sessions_are_settled_by_the_script() {
        let mut changes = write(&[("a", "1")], &[]);
        let settle = |replies, changes: &ChangeSet| outcome(replies, changes).unwrap();
        assert_eq!(
            settle(vec![Ok(Value::Int(1)), Ok(Value::Nil)], &changes),
            Written::Settle,
            "no m: gone"
        );
        assert_eq!(
            settle(vec![Ok(Value::Int(1)), meta(1_000_000, 9_000_000)], &changes),
            Written::Settle,
            "idle"
        );
        assert_eq!(
            settle(vec![Ok(Value::Int(1)), meta(2_000_000, 1_000_000)], &changes),
            Written::Settle,
            "absolute"
        );
        let unreadable = Ok(Value::BulkString(b"1:2:x:4".to_vec()));
        assert_eq!(settle(vec![Ok(Value::Int(1)), unreadable], &changes), Written::Settle);
        changes.idle_deadline = Some(at(2_000_000 + 40_000));
        changes.idle_min_step = Duration::from_secs(30);
        assert_eq!(
            settle(vec![Ok(Value::Int(0)), meta(2_000_000, 9_000_000)], &changes),
            Written::Settle,
            "slide due"
        );
        changes.idle_deadline = Some(at(2_000_000 + 10_000));
        assert_eq!(
            settle(vec![Ok(Value::Int(0)), meta(2_000_000, 9_000_000)], &changes),
            Written::Done,
            "below the step"
        );
    }

    #[test]
    fn errors_of_the_write_or_the_read_fail_the_commit() {
        let changes = write(&[("a", "1")], &[]);
        let oom = server_error("OOM command not allowed");
        assert!(
            outcome(vec![Err(oom), meta(2_000_000, 9_000_000)], &changes).is_err(),
            "a write that failed is not done"
        );
        let wrongtype = server_error("WRONGTYPE");
        assert!(outcome(vec![Ok(Value::Int(1)), Err(wrongtype)], &changes).is_err());
        assert!(outcome(vec![Ok(Value::Int(1))], &changes).is_err());
    }

    #[test]
    fn the_settling_change_set_writes_nothing_and_keeps_the_slide_rule() {
        let mut changes = write(&[("a", "1")], &[]);
        changes.idle_deadline = Some(at(2_000_000));
        changes.idle_min_step = Duration::from_secs(30);
        let settle = settling(&changes);
        assert!(settle.set.is_empty() && settle.remove.is_empty() && settle.user.is_none() && !settle.clear);
        assert_eq!(
            (settle.now, settle.idle_deadline, settle.idle_min_step),
            (changes.now, changes.idle_deadline, changes.idle_min_step)
        );
    }

    /// The pipeline against a real server: a write under a gone key makes a bare
    /// hash that gets the guard's TTL; a live session's TTL is left alone.
    #[tokio::test]
    async fn the_guard_gives_a_ttl_only_to_a_hash_the_write_made() {
        let redis = cloakroom_testing::RedisServer::start();
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let changes = write(&[("late", "1")], &[]);

        let replies = pipeline("gone", &changes).query_async(&mut conn).await.unwrap();
        assert_eq!(outcome(replies, &changes).unwrap(), Written::Settle);
        let ttl: i64 = redis::cmd("PTTL").arg("gone").query_async(&mut conn).await.unwrap();
        assert!(ttl > 0 && ttl <= 60_000, "the bare hash expires by itself: PTTL {ttl}");

        let live = "1:1:9000000000000:9000000000000";
        let () = redis::cmd("HSET")
            .arg("live")
            .arg("m")
            .arg(live)
            .query_async(&mut conn)
            .await
            .unwrap();
        let () = redis::cmd("PEXPIRE")
            .arg("live")
            .arg(3_600_000)
            .query_async(&mut conn)
            .await
            .unwrap();
        let replies = pipeline("live", &changes).query_async(&mut conn).await.unwrap();
        assert_eq!(outcome(replies, &changes).unwrap(), Written::Done);
        let ttl: i64 = redis::cmd("PTTL").arg("live").query_async(&mut conn).await.unwrap();
        assert!(ttl > 60_000, "the session keeps its own TTL: PTTL {ttl}");
    }
}
