//! The store conformance suite against a real three-master Redis Cluster that this
//! test binary starts on free ports.

use std::sync::LazyLock;

use cloakroom::RedisStore;
use cloakroom_testing::RedisCluster;

static CLUSTER: LazyLock<RedisCluster> = LazyLock::new(RedisCluster::start);

async fn fresh_store() -> RedisStore {
    let prefix = format!("test:{}:", &cloakroom::SessionId::generate().store_key().to_hex()[..16]);
    RedisStore::builder()
        .prefix(prefix)
        .connect_cluster(CLUSTER.urls())
        .await
        .expect("connect to the test Redis Cluster")
}

cloakroom::store_conformance_tests!(fresh_store);
