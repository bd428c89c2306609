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

mod plain_writes {
    use std::time::SystemTime;

    use cloakroom::store::{ChangeSet, CommitOutcome, SessionStore};
    use cloakroom::{RedisStore, SessionId, conformance};
    use cloakroom_testing::RedisServer;

    /// The session hashes under `prefix` in `redis`.
    fn session_hashes(redis: &RedisServer, prefix: &str) -> Vec<String> {
        redis
            .command(&format!("KEYS {prefix}*:s:*"))
            .split("\r\n")
            .filter(|line| !line.is_empty() && !line.starts_with(['*', '$']))
            .map(str::to_owned)
            .collect()
    }

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
            session_hashes(redis, &prefix),
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
