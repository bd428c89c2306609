//! The options of a Redis store, and connecting to standalone Redis or a Cluster.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;

use super::RedisStore;
use super::connection::Connection;
use super::layout::Layout;
use crate::store::purge_task::spawn_purge_task;
use crate::store::{DEFAULT_PURGE_INTERVAL, StoreError};

/// Default prefix of every key the store writes.
const DEFAULT_PREFIX: &str = "cloakroom:";

/// Default limit on how long one store operation may take before it fails.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Options of a [`RedisStore`], finished by one of the `connect`/`with_*` methods.
///
/// ```no_run
/// use std::time::Duration;
/// use cloakroom::RedisStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder()
///     .prefix("shop:sessions:")
///     .timeout(Duration::from_millis(500))
///     .purge_interval(Some(Duration::from_secs(300)))
///     .connect("redis://127.0.0.1:6379")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    prefix: String,
    timeout: Duration,
    purge_interval: Option<Duration>,
}

impl RedisStore {
    /// Starts a store with non-default options.
    ///
    /// ```no_run
    /// use cloakroom::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::builder().prefix("myapp:").connect("redis://127.0.0.1:6379").await?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder {
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            purge_interval: Some(DEFAULT_PURGE_INTERVAL),
        }
    }

    /// Connects to one Redis server with the default options.
    ///
    /// ```no_run
    /// use cloakroom::RedisStore;
    /// use cloakroom::store::SessionStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::connect("redis://:password@127.0.0.1:6379/0").await?;
    /// store.ping().await?; // e.g. in a health check
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// Connects to a Redis Cluster through any of its nodes, with the default options.
    ///
    /// ```no_run
    /// use cloakroom::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::connect_cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_cluster<S: AsRef<str>>(nodes: impl IntoIterator<Item = S>) -> Result<Self, StoreError> {
        Self::builder().connect_cluster(nodes).await
    }
}

impl RedisStoreBuilder {
    /// Prefix of every key (default `cloakroom:`). Must not contain `{` or `}`,
    /// which Redis Cluster reads as hash tags.
    ///
    /// ```no_run
    /// use cloakroom::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// // Two applications sharing one Redis keep apart by prefix.
    /// let store = RedisStore::builder().prefix("billing:sessions:").connect("redis://127.0.0.1:6379").await?;
    /// # Ok(()) }
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one operation may take before it fails (default 2 s).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use cloakroom::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::builder()
    ///     .timeout(Duration::from_millis(250)) // fail fast: the layer answers 503
    ///     .connect("redis://127.0.0.1:6379")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.prefix.contains(['{', '}']) {
            return Err(StoreError::unavailable(format!(
                "RedisStore prefix {:?} must not contain {{ or }} (Redis Cluster hash tags)",
                self.prefix
            )));
        }
        if self.timeout.is_zero() {
            return Err(StoreError::unavailable("RedisStore timeout must be greater than zero"));
        }
        Ok(())
    }

    /// How often a background task tidies the expiry sets (default 60 s; `None`
    /// turns it off). Redis expires the sessions themselves by TTL; the task drops
    /// their entries from the sets `count` reads. It runs while any clone of the
    /// store lives, on the tokio runtime the store was built in.
    ///
    /// ```no_run
    /// use cloakroom::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// // Another process already tidies the expiry sets: no task here.
    /// let store = RedisStore::builder().purge_interval(None).connect("redis://127.0.0.1:6379").await?;
    /// # Ok(()) }
    /// ```
    pub fn purge_interval(mut self, every: Option<Duration>) -> Self {
        self.purge_interval = every.filter(|d| !d.is_zero());
        self
    }

    fn finish(self, conn: Connection) -> RedisStore {
        let mut store = RedisStore {
            conn,
            layout: Arc::new(Layout::new(self.prefix)),
            timeout: self.timeout,
            restore: Arc::default(),
            purger: None,
        };
        store.purger = spawn_purge_task(&store, self.purge_interval, "Redis");
        store
    }

    /// Connects to one Redis server (`redis://[user:password@]host:port[/db]`). The
    /// first connection is made now, so a wrong URL fails at startup.
    ///
    /// ```no_run
    /// use cloakroom::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    /// let store = RedisStore::builder().connect(&url).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(self, url: &str) -> Result<RedisStore, StoreError> {
        self.check()?;
        let manager = connect_manager(url, self.timeout).await?;
        Ok(self.with_manager(manager))
    }

    /// Connects to a Redis Cluster through any of its nodes.
    ///
    /// ```no_run
    /// use cloakroom::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let nodes = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000", "redis://10.0.0.3:7000"];
    /// let store = RedisStore::builder().prefix("myapp:").connect_cluster(nodes).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_cluster<S: AsRef<str>>(
        self,
        nodes: impl IntoIterator<Item = S>,
    ) -> Result<RedisStore, StoreError> {
        self.check()?;
        let conn = connect_nodes(nodes, self.timeout).await?;
        Ok(self.with_cluster(conn))
    }

    /// Uses a connection manager the application already has.
    ///
    /// ```no_run
    /// use cloakroom::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let manager = redis::aio::ConnectionManager::new(client).await?;
    /// let store = RedisStore::builder().with_manager(manager.clone()); // the app keeps using `manager`
    /// # Ok(()) }
    /// ```
    pub fn with_manager(self, manager: ConnectionManager) -> RedisStore {
        self.finish(Connection::Single(manager))
    }

    /// Uses a cluster connection the application already has.
    ///
    /// ```no_run
    /// use cloakroom::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::cluster::ClusterClient::new(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?;
    /// let conn = client.get_async_connection().await?;
    /// let store = RedisStore::builder().with_cluster(conn.clone());
    /// # Ok(()) }
    /// ```
    pub fn with_cluster(self, conn: ClusterConnection) -> RedisStore {
        self.finish(Connection::Cluster(conn))
    }
}

/// Connects to standalone Redis at `url`, each call bounded by `timeout`.
pub(crate) async fn connect_manager(url: &str, timeout: Duration) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(url).map_err(StoreError::unavailable)?;
    // No response timeout of the manager's own: every call is already bounded by
    // `timeout` where it is made (`RedisStore::run`, the express source), and a
    // second timer per command costs a timer registration each.
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(None)
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
        .await
        .map_err(|_| StoreError::unavailable(format!("could not connect to Redis at {url} in time")))?
        .map_err(StoreError::unavailable)
}

/// Connects to a Redis Cluster through any of `nodes`, each call bounded by
/// `timeout`.
pub(crate) async fn connect_nodes<S: AsRef<str>>(
    nodes: impl IntoIterator<Item = S>,
    timeout: Duration,
) -> Result<ClusterConnection, StoreError> {
    let nodes: Vec<String> = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
    let client = ClusterClientBuilder::new(nodes)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(2)
        .build()
        .map_err(StoreError::unavailable)?;
    tokio::time::timeout(timeout, client.get_async_connection())
        .await
        .map_err(|_| StoreError::unavailable("could not connect to the Redis Cluster in time"))?
        .map_err(StoreError::unavailable)
}
