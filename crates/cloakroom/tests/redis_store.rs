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
