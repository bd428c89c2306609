//! The Redis store: standalone Redis or Redis Cluster, one round trip per load
//! (plain `HGETALL` unless a slide is due) and per commit (a plain pipeline for
//! writes that only set or only remove keys, else a script) (cargo feature `redis`).

mod connection;
mod layout;
mod plain_write;
mod scripts;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, ServerErrorKind, Value};

use self::connection::Connection;
use self::layout::{DataField, Layout, decode, from_millis, millis, record_fields};
use self::plain_write::Written;
use self::scripts::ScriptCall;
use super::{
    ChangeSet, CommitOutcome, FreshSession, SessionRecord, SessionStore, StoreError, Touch, UserChange, UserSession,
};
use crate::id::{SessionId, StoreKey};

/// Default prefix of every key the store writes.
pub const DEFAULT_PREFIX: &str = "cloakroom:";

/// Default limit on how long one store operation may take before it fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How many passes "log out everywhere" makes over a user's index at most.
const MAX_LOGOUT_PASSES: usize = 8;

/// Score of a user-index entry whose absolute deadline the committer did not know.
const UNKNOWN_DEADLINE: Duration = Duration::from_secs(400 * 24 * 3600);

/// Sessions in Redis, standalone or Cluster.
///
/// - Each session is one hash keyed by the SHA-256 of its ID (never the ID), with
///   one field per session key; its TTL follows the earlier of its two deadlines.
/// - A load is one `HGETALL`, checked by the client; only when the idle deadline
///   is due to slide (about once per touch step) or the session is dead does a
///   second round trip run the script that slides or drops it atomically.
/// - A commit that only sets or only removes keys is one pipeline of plain
///   commands (`HSET` or `HDEL`, a TTL guard, `HGET` of the metadata); the commit
///   script follows only when a slide is due or the session turned out to be gone.
///   Other commits are one script that applies the change set only if the session
///   still exists, and rewrites the deadline and TTL only when the change set's
///   minimum step is reached. Scripts are sent as EVALSHA and reloaded after
///   NOSCRIPT.
/// - The per-user index (a sorted set per user) is written before a binding is
///   applied, so "log out everywhere" cannot miss a session; dead entries are
///   pruned whenever the index is written or listed.
/// - Connections reconnect by themselves after a Redis restart; every operation
///   fails with [`StoreError::Unavailable`] after the timeout (default 2 s), which
///   the layer answers with a 503.
///
/// The key layout and the commands each operation sends are in `docs/REDIS.md`.
///
/// ```no_run
/// use cloakroom::{RedisStore, SessionLayer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder().prefix("myapp:sessions:").connect("redis://127.0.0.1:6379").await?;
/// let layer = SessionLayer::builder(b"a-secret-of-at-least-thirty-two-bytes!".to_vec()).store(store).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
    layout: Arc<Layout>,
    timeout: Duration,
    /// Stops the purge task when the last clone of the store is dropped.
    purger: Option<Arc<PurgeGuard>>,
}

/// Default time between two purges of the expiry sets.
pub const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);

struct PurgeGuard(Arc<tokio::sync::Notify>);

impl Drop for PurgeGuard {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

async fn purge_loop(store: RedisStore, every: Duration, stop: Arc<tokio::sync::Notify>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.notified() => return,
        }
        match store.purge_expired(SystemTime::now()).await {
            Ok(purged) => tracing::debug!(purged, "purged expired sessions from Redis"),
            Err(err) => tracing::warn!(error = %err, "purging expired sessions from Redis failed"),
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &self.conn.is_cluster())
            .field("layout", &self.layout)
            .field("timeout", &self.timeout)
            .field("purging", &self.purger.is_some())
            .finish()
    }
}

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
    /// use cloakroom::{RedisStore, SessionStore};
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

    async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(StoreError::unavailable(err)),
            Err(_) => Err(StoreError::unavailable(format!(
                "Redis did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// Runs a script call; when Redis does not know the script (a restart, `SCRIPT
    /// FLUSH`), loads it and tries once more.
    async fn invoke<T: FromRedisValue>(&self, call: ScriptCall) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        self.run(async move {
            match call.cmd.query_async(&mut conn).await {
                Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    call.script.script.load_async(&mut conn).await?;
                    call.cmd.query_async(&mut conn).await
                }
                other => other,
            }
        })
        .await
    }

    async fn query<T: FromRedisValue>(&self, cmd: Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        self.run(async move { cmd.query_async(&mut conn).await }).await
    }

    /// Runs independent commands: one pipeline on a single server, concurrent
    /// requests on a cluster (a pipeline there must stay in one slot).
    async fn batch<T: FromRedisValue>(&self, cmds: Vec<Cmd>) -> Result<Vec<T>, StoreError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.conn.clone();
        self.run(async move {
            if conn.is_cluster() {
                let calls = cmds.into_iter().map(|cmd| {
                    let mut conn = conn.clone();
                    async move { cmd.query_async::<T>(&mut conn).await }
                });
                futures_util::future::join_all(calls).await.into_iter().collect()
            } else {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                let mut conn = conn;
                pipe.query_async(&mut conn).await
            }
        })
        .await
    }

    /// Files `member` under `user`, pruning entries past their absolute deadline.
    async fn index_add(
        &self,
        user: &str,
        key: &StoreKey,
        absolute: SystemTime,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let index = self.layout.user(user);
        let mut pipe = pruning_pipe(&index, now);
        pipe.cmd("ZADD")
            .arg(&index)
            .arg(millis(absolute))
            .arg(key.to_hex())
            .ignore();
        let mut conn = self.conn.clone();
        self.run(async move { pipe.query_async::<()>(&mut conn).await }).await
    }

    async fn index_remove(&self, user: &str, members: &[String]) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.layout.user(user)).arg(members);
        self.query::<i64>(cmd).await.map(drop)
    }

    /// Files a binding the change set makes, before it is applied.
    async fn index_binding(&self, key: &StoreKey, changes: &ChangeSet) -> Result<(), StoreError> {
        if let Some(UserChange::Bind(user)) = &changes.user {
            let absolute = changes.absolute_deadline.unwrap_or(changes.now + UNKNOWN_DEADLINE);
            self.index_add(user, key, absolute, changes.now).await?;
        }
        Ok(())
    }

    /// Takes the session at `old_key` out of `previous` user's index when the change
    /// set moved it elsewhere (or to `new_key`).
    async fn index_moved(
        &self,
        old_key: &StoreKey,
        new_key: &StoreKey,
        previous: &str,
        changes: &ChangeSet,
    ) -> Result<(), StoreError> {
        if previous.is_empty() {
            return Ok(());
        }
        let rebound = match &changes.user {
            Some(UserChange::Bind(user)) => user != previous,
            Some(UserChange::Unbind) => true,
            None => false,
        };
        if old_key != new_key && changes.user.is_none() {
            // Still bound to `previous` under its new key: file it there.
            let absolute = changes.absolute_deadline.unwrap_or(changes.now + UNKNOWN_DEADLINE);
            self.index_add(previous, new_key, absolute, changes.now).await?;
        }
        if rebound || old_key != new_key {
            self.index_remove(previous, &[old_key.to_hex()]).await?;
        }
        Ok(())
    }
}

/// A pipeline that starts by dropping the user-index entries past their absolute
/// deadline at `now`; the caller adds what it came for.
fn pruning_pipe(index: &str, now: SystemTime) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(index)
        .arg("-inf")
        .arg(millis(now))
        .ignore();
    pipe
}

fn push_changes(invocation: &mut ScriptCall, changes: &ChangeSet) {
    invocation.arg(if changes.clear { "1" } else { "0" });
    match changes.idle_deadline {
        Some(deadline) => invocation.arg(millis(deadline)),
        None => invocation.arg(""),
    };
    invocation.arg(u64::try_from(changes.idle_min_step.as_millis()).unwrap_or(u64::MAX));
    match &changes.user {
        Some(UserChange::Bind(user)) => invocation.arg("b").arg(user.as_str()),
        Some(UserChange::Unbind) => invocation.arg("u").arg(""),
        None => invocation.arg("").arg(""),
    };
    invocation.arg(changes.set.len()).arg(changes.remove.len());
    for (key, value) in &changes.set {
        invocation.arg(DataField(key)).arg(value.as_str());
    }
    for key in &changes.remove {
        invocation.arg(DataField(key));
    }
}

impl RedisStore {
    /// Commits `changes` to the session at `key`, without a script when the change
    /// set allows it; returns `None` when the session is gone, else its expiry
    /// afterwards if the idle deadline moved.
    async fn commit_expiry(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<Option<Option<SystemTime>>, StoreError> {
        if plain_write::applies(changes) {
            return self.commit_plain(key, changes).await;
        }
        self.commit_by_script(key, changes).await
    }

    /// A commit without a script (see `plain_write`): one pipeline, and the commit
    /// script with nothing to write only when the session is not in steady use.
    async fn commit_plain(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<Option<Option<SystemTime>>, StoreError> {
        let pipe = plain_write::pipeline(&self.layout.session(key), changes);
        let mut conn = self.conn.clone();
        let replies = self.run(async move { pipe.query_async(&mut conn).await }).await?;
        match plain_write::outcome(replies, changes)? {
            Written::Done => Ok(Some(None)),
            Written::Settle => self.commit_by_script(key, &plain_write::settling(changes)).await,
        }
    }

    /// The commit script: files a new binding, applies the change set, fixes the
    /// user index; answers as [`commit_expiry`](Self::commit_expiry) does.
    async fn commit_by_script(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
    ) -> Result<Option<Option<SystemTime>>, StoreError> {
        self.index_binding(key, changes).await?;
        let mut invocation = scripts::COMMIT.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .arg(millis(changes.now))
            .arg(key.to_hex());
        push_changes(&mut invocation, changes);
        let reply: Option<(i64, String, String)> = self.invoke(invocation).await?;
        let Some((_, previous, expiry)) = reply else {
            return Ok(None);
        };
        self.index_moved(key, key, &previous, changes).await?;
        Ok(Some(expiry.parse().ok().map(from_millis)))
    }
}

impl RedisStore {
    /// Loads through the script: slides the idle deadline when due, drops a dead
    /// session (and its expiry entry), in one atomic step.
    async fn load_by_script(&self, key: &StoreKey, touch: &Touch) -> Result<Option<SessionRecord>, StoreError> {
        let mut invocation = scripts::LOAD.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .arg(millis(touch.now))
            .arg(millis(touch.idle_deadline))
            .arg(u64::try_from(touch.min_step.as_millis()).unwrap_or(u64::MAX))
            .arg(key.to_hex());
        let flat: Option<Vec<String>> = self.invoke(invocation).await?;
        Ok(flat.map(decode).transpose()?.flatten())
    }
}

/// Reads `{1, previous user}` or nil from a regenerate script.
fn applied(reply: Option<(i64, String)>) -> Option<String> {
    reply.map(|(_, previous)| previous)
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
            purger: None,
        };
        if let (Some(every), Ok(runtime)) = (self.purge_interval, tokio::runtime::Handle::try_current()) {
            let stop = Arc::new(tokio::sync::Notify::new());
            runtime.spawn(purge_loop(store.clone(), every, stop.clone()));
            store.purger = Some(Arc::new(PurgeGuard(stop)));
        }
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
        let client = redis::Client::open(url).map_err(StoreError::unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let manager = tokio::time::timeout(self.timeout, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| StoreError::unavailable(format!("could not connect to Redis at {url} in time")))?
            .map_err(StoreError::unavailable)?;
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
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
        let client = ClusterClientBuilder::new(nodes)
            .connection_timeout(self.timeout)
            .response_timeout(self.timeout)
            .retries(2)
            .build()
            .map_err(StoreError::unavailable)?;
        let conn = tokio::time::timeout(self.timeout, client.get_async_connection())
            .await
            .map_err(|_| StoreError::unavailable("could not connect to the Redis Cluster in time"))?
            .map_err(StoreError::unavailable)?;
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

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, key: &StoreKey, touch: &Touch) -> Result<Option<SessionRecord>, StoreError> {
        // Most loads change nothing: a plain HGETALL, checked here. The script (which
        // slides the deadline, or drops a dead session, atomically) runs only when
        // there is something to write: about once per touch step per session.
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.layout.session(key));
        let flat: Vec<String> = self.query(cmd).await?;
        if flat.is_empty() {
            return Ok(None);
        }
        let Some(record) = decode(flat)? else {
            return Ok(None);
        };
        if !record.meta.is_expired(touch.now) && !record.meta.touch_due(touch) {
            return Ok(Some(record));
        }
        self.load_by_script(key, touch).await
    }

    async fn create(&self, key: &StoreKey, record: &SessionRecord) -> Result<bool, StoreError> {
        if let Some(user) = &record.meta.user {
            self.index_add(user, key, record.meta.absolute_deadline, record.meta.created_at)
                .await?;
        }
        let mut invocation = scripts::CREATE.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .arg(millis(record.meta.created_at))
            .arg(key.to_hex())
            .arg(millis(record.meta.expires_at()))
            .arg(record_fields(record));
        Ok(self.invoke::<i64>(invocation).await? == 1)
    }

    async fn commit(&self, key: &StoreKey, changes: &ChangeSet) -> Result<bool, StoreError> {
        Ok(self.commit_expiry(key, changes).await?.is_some())
    }

    async fn commit_or_create(
        &self,
        key: &StoreKey,
        changes: &ChangeSet,
        fresh: &FreshSession,
    ) -> Result<CommitOutcome, StoreError> {
        // One round trip while the session lives; a second one creates the fresh
        // session in the rare case it is gone.
        if let Some(expiry) = self.commit_expiry(key, changes).await? {
            return Ok(CommitOutcome::Applied(expiry));
        }
        fresh.insert_into(self, changes).await
    }

    fn successor_id(&self, old: &StoreKey) -> SessionId {
        if !self.conn.is_cluster() {
            return SessionId::generate();
        }
        // A regenerate renames the hash, which Redis Cluster allows only within one
        // slot: draw until the new key has the old key's hash tag (1 in 256).
        loop {
            let id = SessionId::generate();
            if id.store_key().0[0] == old.0[0] {
                return id;
            }
        }
    }

    async fn regenerate(&self, old: &StoreKey, new: &StoreKey, changes: &ChangeSet) -> Result<bool, StoreError> {
        if self.conn.is_cluster() && Layout::tag(old) != Layout::tag(new) {
            return Err(StoreError::unavailable(
                "RedisStore::regenerate on a cluster needs a new key from successor_id (same hash slot)",
            ));
        }
        self.index_binding(new, changes).await?;
        let mut invocation = scripts::REGENERATE.call();
        invocation
            .key(self.layout.session(old))
            .key(self.layout.session(new))
            .key(self.layout.expiries(old))
            .key(self.layout.expiries(new))
            .arg(millis(changes.now))
            .arg(old.to_hex())
            .arg(new.to_hex());
        push_changes(&mut invocation, changes);
        let Some(previous) = applied(self.invoke(invocation).await?) else {
            return Ok(false);
        };
        self.index_moved(old, new, &previous, changes).await?;
        Ok(true)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let mut invocation = scripts::DELETE.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .arg(key.to_hex())
            .arg(millis(SystemTime::now()));
        let (live, user): (i64, String) = self.invoke(invocation).await?;
        if !user.is_empty() {
            self.index_remove(&user, &[key.to_hex()]).await?;
        }
        Ok(live == 1)
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<usize, StoreError> {
        let mut purged = 0;
        for tag in Layout::tags() {
            let mut invocation = scripts::PURGE.call();
            invocation
                .key(self.layout.expiries_of_tag(&tag))
                .arg(millis(now))
                .arg(self.layout.session_prefix_of_tag(&tag));
            purged += self.invoke::<usize>(invocation).await?;
        }
        Ok(purged)
    }

    async fn list_user(&self, user: &str, now: SystemTime) -> Result<Vec<UserSession>, StoreError> {
        let index = self.layout.user(user);
        let mut pipe = pruning_pipe(&index, now);
        pipe.cmd("ZRANGE").arg(&index).arg(0).arg(-1);
        let mut conn = self.conn.clone();
        let (members,): (Vec<String>,) = self.run(async move { pipe.query_async(&mut conn).await }).await?;
        let keys: Vec<StoreKey> = members.iter().filter_map(|m| StoreKey::from_hex(m)).collect();
        let reads = keys
            .iter()
            .map(|key| {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(self.layout.session(key)).arg(&["m", "m:u"]);
                cmd
            })
            .collect();
        let metas: Vec<Vec<Option<String>>> = self.batch(reads).await?;
        let mut sessions = Vec::new();
        let mut dead = Vec::new();
        for (key, fields) in keys.into_iter().zip(metas) {
            let flat: Vec<String> = ["m", "m:u"]
                .iter()
                .zip(fields)
                .filter_map(|(name, value)| value.map(|v| [(*name).to_owned(), v]))
                .flatten()
                .collect();
            match decode(flat) {
                Ok(Some(record)) if !record.meta.is_expired(now) && record.meta.user.as_deref() == Some(user) => {
                    sessions.push(UserSession { key, meta: record.meta });
                }
                _ => dead.push(key.to_hex()),
            }
        }
        self.index_remove(user, &dead).await?;
        Ok(sessions)
    }

    async fn delete_user(&self, user: &str) -> Result<usize, StoreError> {
        let started = millis(SystemTime::now());
        let mut deleted = 0;
        // A session regenerated meanwhile is re-filed under its new key: go round
        // until a pass finds nothing that existed when we started.
        for _ in 0..MAX_LOGOUT_PASSES {
            let mut cmd = redis::cmd("ZRANGE");
            cmd.arg(self.layout.user(user)).arg(0).arg(-1);
            let members: Vec<String> = self.query(cmd).await?;
            let mut handled = Vec::new();
            for member in members {
                let Some(key) = StoreKey::from_hex(&member) else {
                    continue;
                };
                let mut invocation = scripts::DELETE.call();
                invocation
                    .key(self.layout.session(&key))
                    .key(self.layout.expiries(&key))
                    .arg(&member)
                    .arg(started)
                    .arg(user)
                    .arg(started);
                let (outcome, _): (i64, String) = self.invoke(invocation).await?;
                if outcome == 1 {
                    deleted += 1;
                }
                if outcome != -2 {
                    handled.push(member);
                }
            }
            if handled.is_empty() {
                break;
            }
            // Only the members handled here: a session bound meanwhile stays filed.
            self.index_remove(user, &handled).await?;
        }
        Ok(deleted)
    }

    async fn count(&self, now: SystemTime) -> Result<usize, StoreError> {
        let cmds = Layout::tags()
            .map(|tag| {
                let mut cmd = redis::cmd("ZCOUNT");
                cmd.arg(self.layout.expiries_of_tag(&tag))
                    .arg(format!("({}", millis(now)))
                    .arg("+inf");
                cmd
            })
            .collect();
        let counts: Vec<usize> = self.batch(cmds).await?;
        Ok(counts.into_iter().sum())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let reply: Value = self.query(redis::cmd("PING")).await?;
        match reply {
            Value::SimpleString(_) | Value::BulkString(_) | Value::Okay => Ok(()),
            other => Err(StoreError::Corrupt(format!("unexpected PING reply: {other:?}"))),
        }
    }
}
