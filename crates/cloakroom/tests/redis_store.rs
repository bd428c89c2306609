//! The store conformance suite against a real Redis server that this test binary
//! starts on a free port.

use std::sync::LazyLock;

use cloakroom::RedisStore;
use cloakroom_testing::RedisServer;

static REDIS: LazyLock<RedisServer> = LazyLock::new(RedisServer::start);

/// A store on the shared server, under a prefix of its own so cases stay independent.
async fn fresh_store() -> RedisStore {
    let prefix = format!("test:{}:", &cloakroom::SessionId::generate().store_key().to_hex()[..16]);
    RedisStore::builder()
        .prefix(prefix)
        .connect(&REDIS.url())
        .await
        .expect("connect to the test Redis")
}

cloakroom::store_conformance_tests!(fresh_store);

/// The keys of `redis` matching `pattern`, sorted.
fn keys_matching(redis: &RedisServer, pattern: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis
        .command(&format!("KEYS {pattern}"))
        .split("\r\n")
        .filter(|line| !line.is_empty() && !line.starts_with(['*', '$']))
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}

mod plain_writes {
    use std::time::SystemTime;

    use cloakroom::store::{ChangeSet, CommitOutcome, SessionStore};
    use cloakroom::{RedisStore, SessionId, conformance};
    use cloakroom_testing::RedisServer;

    fn write(now: SystemTime, key: &str, value: &str) -> ChangeSet {
        let mut changes = ChangeSet::new(now);
        changes.set.push((key.to_owned(), value.to_owned()));
        changes
    }

    /// Writes, then a late write after a delete, on `redis`: the first lands, the
    /// late one is refused and leaves nothing in Redis.
    async fn late_writes_leave_nothing(redis: &RedisServer) {
        let prefix = format!("late:{}:", &SessionId::generate().store_key().to_hex()[..16]);
        let store = RedisStore::builder()
            .prefix(prefix.as_str())
            .connect(&redis.url())
            .await
            .unwrap();
        let now = SystemTime::now();
        let key = SessionId::generate().store_key();
        store
            .create(&key, &conformance::record(now, &[("a", "1")]))
            .await
            .unwrap();
        assert!(store.commit(&key, &write(now, "b", "2")).await.unwrap().is_written());
        let loaded = store
            .load(&key, &cloakroom::store::Touch::new(now, now))
            .await
            .unwrap()
            .live()
            .unwrap();
        assert_eq!(loaded.data.get("b").map(String::as_str), Some("2"));

        assert!(store.delete(&key).await.unwrap());
        assert_eq!(
            store.commit(&key, &write(now, "late", "3")).await.unwrap(),
            CommitOutcome::Gone
        );
        let never = SessionId::generate().store_key();
        assert_eq!(
            store.commit(&never, &write(now, "late", "4")).await.unwrap(),
            CommitOutcome::Gone
        );
        assert_eq!(
            super::keys_matching(redis, &format!("{prefix}*:s:*")),
            Vec::<String>::new(),
            "no data left without a session"
        );
    }

    #[tokio::test]
    async fn a_late_write_to_a_gone_session_leaves_no_data_in_redis() {
        late_writes_leave_nothing(&super::REDIS).await;
    }

    /// Before Redis 7.0, `PEXPIRE` takes no `NX`: the guard's error is ignored and
    /// writes work the same. Here `PEXPIRE` is renamed away, so every call fails.
    #[tokio::test]
    async fn writes_work_on_a_server_that_rejects_the_ttl_guard() {
        let redis = RedisServer::start_with(&["--rename-command", "PEXPIRE", "PEXPIRE-RENAMED"]);
        assert!(redis.command("PEXPIRE x 1000 NX").starts_with("-ERR unknown command"));
        late_writes_leave_nothing(&redis).await;
    }
}

/// Creating a session is a pipeline of plain commands (`RESTORE` of the whole
/// hash, `ZADD NX` of its expiry entry); these are the cases where the key is not
/// free, the clock edge, and servers that refuse `RESTORE`.
mod creates {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use cloakroom::store::{Loaded, SessionRecord, SessionStore, StoreKey, Touch};
    use cloakroom::{RedisStore, SessionId, conformance};
    use cloakroom_testing::RedisServer;

    use super::{REDIS, keys_matching};

    /// A store under a prefix of its own, and that prefix.
    async fn store() -> (RedisStore, String) {
        let prefix = format!("create:{}:", &SessionId::generate().store_key().to_hex()[..16]);
        let store = RedisStore::builder()
            .prefix(prefix.as_str())
            .connect(&REDIS.url())
            .await
            .unwrap();
        (store, prefix)
    }

    /// `{prefix}{TT}:{kind}:{KEY}`, as docs/REDIS.md lays keys out.
    fn key_name(prefix: &str, kind: &str, key: &StoreKey) -> String {
        let hex = key.to_hex();
        format!("{prefix}{{{}}}:{kind}:{hex}", &hex[..2])
    }

    /// The score of `key` in its expiry set (ms), if it has an entry.
    fn expiry_entry(redis: &RedisServer, prefix: &str, key: &StoreKey) -> Option<u64> {
        let hex = key.to_hex();
        let reply = redis.command(&format!("ZSCORE {prefix}{{{}}}:expiries {hex}", &hex[..2]));
        reply.lines().nth(1).map(|score| score.parse().expect("a score"))
    }

    fn expiry_of(record: &SessionRecord) -> u64 {
        let ms = record.meta.expires_at().duration_since(UNIX_EPOCH).unwrap().as_millis();
        u64::try_from(ms).unwrap()
    }

    /// Nothing under `prefix` but sessions and expiry sets: no key a create
    /// wrote on the side.
    fn assert_only_sessions_and_expiries(redis: &RedisServer, prefix: &str) {
        let others: Vec<String> = keys_matching(redis, &format!("{prefix}*"))
            .into_iter()
            .filter(|name| !name.contains("}:s:") && !name.ends_with("}:expiries"))
            .collect();
        assert!(others.is_empty(), "keys left behind: {others:?}");
    }

    #[tokio::test]
    async fn a_create_over_a_live_session_changes_nothing() {
        let (store, prefix) = store().await;
        let now = SystemTime::now();
        let key = SessionId::generate().store_key();
        let first = conformance::record(now, &[("a", "1")]);
        assert!(store.create(&key, &first).await.unwrap());
        let before = keys_matching(&REDIS, &format!("{prefix}*"));

        let later = now + Duration::from_secs(30);
        assert!(
            !store
                .create(&key, &conformance::record(later, &[("b", "2")]))
                .await
                .unwrap()
        );
        assert_eq!(
            keys_matching(&REDIS, &format!("{prefix}*")),
            before,
            "no key added or removed"
        );
        assert_eq!(
            expiry_entry(&REDIS, &prefix, &key),
            Some(expiry_of(&first)),
            "the live session's expiry entry stands"
        );
        let live = store.load(&key, &Touch::new(now, now)).await.unwrap().live().unwrap();
        assert_eq!(live.data.get("a").map(String::as_str), Some("1"));
        assert!(!live.data.contains_key("b"));
    }

    #[tokio::test]
    async fn a_create_over_a_moved_marker_is_refused() {
        let (store, prefix) = store().await;
        let now = SystemTime::now();
        let old = SessionId::generate().store_key();
        assert!(
            store
                .create(&old, &conformance::record(now, &[("a", "1")]))
                .await
                .unwrap()
        );
        let new = store.successor_id(&old).store_key();
        let changes = cloakroom::store::ChangeSet::new(now);
        assert!(store.regenerate(&old, &new, &changes).await.unwrap().is_written());
        assert!(!store.create(&old, &conformance::record(now, &[])).await.unwrap());
        assert_eq!(store.load(&old, &Touch::new(now, now)).await.unwrap(), Loaded::Moved);
        assert_eq!(
            expiry_entry(&REDIS, &prefix, &old),
            None,
            "the refused create filed no entry"
        );
        assert_only_sessions_and_expiries(&REDIS, &prefix);
    }

    #[tokio::test]
    async fn a_create_replaces_data_left_without_a_session() {
        let (store, prefix) = store().await;
        let now = SystemTime::now();
        let key = SessionId::generate().store_key();
        REDIS.command(&format!("HSET {} d:stale 1", key_name(&prefix, "s", &key)));
        let record = conformance::record(now, &[("a", "1")]);
        assert!(store.create(&key, &record).await.unwrap());
        let live = store.load(&key, &Touch::new(now, now)).await.unwrap().live().unwrap();
        assert_eq!(live.data.len(), 1, "{:?}", live.data);
        assert_eq!(expiry_entry(&REDIS, &prefix, &key), Some(expiry_of(&record)));
        assert_only_sessions_and_expiries(&REDIS, &prefix);
    }

    #[tokio::test]
    async fn a_create_already_expired_by_the_servers_clock_is_no_session() {
        let (store, prefix) = store().await;
        let long_ago = SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
        let key = SessionId::generate().store_key();
        assert!(
            store
                .create(&key, &conformance::record(long_ago, &[("a", "1")]))
                .await
                .unwrap()
        );
        let now = SystemTime::now();
        assert_eq!(store.load(&key, &Touch::new(now, now)).await.unwrap(), Loaded::Gone);
        assert!(keys_matching(&REDIS, &format!("{prefix}*:s:*")).is_empty());
        assert_only_sessions_and_expiries(&REDIS, &prefix);
    }

    /// How many errors with `code` (`ERR`, `NOPERM`) `redis` has answered.
    fn errors(redis: &RedisServer, code: &str) -> u64 {
        let stats = redis.command("INFO errorstats");
        let line = format!("errorstat_{code}:count=");
        stats
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str())?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// What every store must still do when `RESTORE` is refused (with an error
    /// coded `code`): create, refuse a taken key, file the expiry entry, and ask
    /// the server only once.
    async fn creates_by_script(redis: &RedisServer, url: &str, code: &str) {
        let prefix = "refused:";
        let store = RedisStore::builder().prefix(prefix).connect(url).await.unwrap();
        // Connecting may be answered with errors too (`CLIENT SETINFO` before 7.2).
        let before = errors(redis, code);
        let now = SystemTime::now();
        let key = SessionId::generate().store_key();
        let record = conformance::record(now, &[("a", "1")]);
        assert!(store.create(&key, &record).await.unwrap(), "created by script");
        assert!(!store.create(&key, &conformance::record(now, &[])).await.unwrap());
        let other = SessionId::generate().store_key();
        assert!(
            store
                .create(&other, &conformance::record(now, &[("b", "2")]))
                .await
                .unwrap()
        );
        let live = store.load(&key, &Touch::new(now, now)).await.unwrap().live().unwrap();
        assert_eq!(live.data.get("a").map(String::as_str), Some("1"));
        assert_eq!(
            expiry_entry(redis, prefix, &key),
            Some(expiry_of(&record)),
            "one entry, the script's"
        );
        assert_eq!(store.count(now).await.unwrap(), 2);
        assert_eq!(
            errors(redis, code) - before,
            1,
            "RESTORE asked once, then the script only"
        );
        assert_only_sessions_and_expiries(redis, prefix);
    }

    #[tokio::test]
    async fn a_user_not_permitted_restore_creates_by_script() {
        let redis = RedisServer::start_with(&[]);
        let reply = redis.command("ACL SETUSER sessions on >secret ~* &* +@all -restore");
        assert!(reply.starts_with("+OK"), "{reply}");
        let url = format!("redis://sessions:secret@127.0.0.1:{}", redis.port());
        creates_by_script(&redis, &url, "NOPERM").await;
    }

    #[tokio::test]
    async fn a_server_without_restore_creates_by_script() {
        let redis = RedisServer::start_with(&["--rename-command", "RESTORE", "RESTORE-RENAMED"]);
        creates_by_script(&redis, &redis.url(), "ERR").await;
    }
}
