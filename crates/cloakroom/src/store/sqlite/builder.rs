//! The options of a SQLite store, opening the file, and adopting a pool the
//! application already has.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::schema::{self, DEFAULT_TABLE, TableName};
use super::statements::Statements;
use super::{SqliteStore, Writes};
use crate::store::purge_task::spawn_purge_task;
use crate::store::{DEFAULT_PURGE_INTERVAL, StoreError};

/// Default limit on how long one store operation may take before it fails.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Default number of reader connections [`SqliteStoreBuilder::open`] keeps.
const DEFAULT_MAX_READERS: u32 = 10;

/// Options of a [`SqliteStore`], finished by [`open`](Self::open) or
/// [`with_pool`](Self::with_pool).
///
/// ```no_run
/// use std::time::Duration;
/// use cloakroom::SqliteStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqliteStore::builder()
///     .table("web_sessions")
///     .timeout(Duration::from_millis(500))
///     .open("/var/lib/shop/sessions.db")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStoreBuilder {
    table: String,
    timeout: Duration,
    purge_interval: Option<Duration>,
    migrate: bool,
    max_readers: u32,
    sync_every_commit: bool,
}

impl SqliteStore {
    /// Starts a store with non-default options.
    ///
    /// ```no_run
    /// use cloakroom::SqliteStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::builder().table("shop_sessions").open("shop.db").await?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            table: DEFAULT_TABLE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            purge_interval: Some(DEFAULT_PURGE_INTERVAL),
            migrate: true,
            max_readers: DEFAULT_MAX_READERS,
            sync_every_commit: true,
        }
    }

    /// Opens the file at `path` with the default options, creating it and the
    /// sessions table (`cloakroom_sessions`) when they are missing. The
    /// directory must exist.
    ///
    /// ```
    /// use cloakroom::SqliteStore;
    /// use cloakroom::store::SessionStore;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("cloakroom-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let store = SqliteStore::open(dir.join("sessions.db")).await?;
    /// store.ping().await?;
    /// assert_eq!(store.count(std::time::SystemTime::now()).await?, 0);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::builder().open(path).await
    }

    /// A store on the application's pool, with the default options. It does not
    /// touch the schema: call [`migrate`](Self::migrate), or create the table with
    /// your own migrations (the SQL is in [`SqliteStoreBuilder::schema_sql`]).
    /// Open the pool in WAL mode (`journal_mode(SqliteJournalMode::Wal)`) so that
    /// reads never wait on writes.
    ///
    /// ```
    /// use cloakroom::SqliteStore;
    /// use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("cloakroom-doc-new-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let options = SqliteConnectOptions::new()
    ///     .filename(dir.join("app.db"))
    ///     .create_if_missing(true)
    ///     .journal_mode(SqliteJournalMode::Wal);
    /// let pool = SqlitePool::connect_with(options).await?;
    /// let store = SqliteStore::new(pool.clone()); // one file for sessions and the app's tables
    /// store.migrate().await?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn new(pool: SqlitePool) -> Self {
        match Self::builder().finish(pool.clone(), pool) {
            Ok(store) => store,
            // The default table name always passes the checks.
            Err(_) => unreachable!("the default options are valid"),
        }
    }

    /// Creates the sessions table and its indexes when they are missing, then
    /// checks that the table has the columns the store uses. Safe to run on every
    /// start, and from several processes at once (it runs in a write transaction).
    ///
    /// ```no_run
    /// use cloakroom::SqliteStore;
    ///
    /// # async fn run(pool: sqlx::SqlitePool) -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::new(pool);
    /// store.migrate().await?; // idempotent
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrating = async {
            let mut conn = self.writes.pool.acquire().await.map_err(StoreError::unavailable)?;
            schema::migrate(&mut conn, &self.sql.name).await
        };
        tokio::time::timeout(self.timeout * 5, migrating)
            .await
            .map_err(|_| StoreError::unavailable("creating the sessions table took too long"))?
    }
}

impl SqliteStoreBuilder {
    /// The sessions table (default `cloakroom_sessions`).
    ///
    /// ```no_run
    /// use cloakroom::SqliteStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::builder().table("billing_sessions").open("app.db").await?;
    /// # Ok(()) }
    /// ```
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// How long one operation may take before it fails (default 2 s); the layer
    /// then answers 503. A write that the writer had not started by then is
    /// never applied. It is also how long a write waits for another process
    /// that holds the file's write lock.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use cloakroom::SqliteStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::builder().timeout(Duration::from_millis(300)).open("app.db").await?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a background task deletes dead rows, 1,000 per transaction
    /// (default 60 s; `None` turns it off). It runs while any clone of the store
    /// lives, on the tokio runtime the store was built in.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use cloakroom::SqliteStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::builder().purge_interval(Some(Duration::from_secs(300))).open("app.db").await?;
    /// # Ok(()) }
    /// ```
    pub fn purge_interval(mut self, every: Option<Duration>) -> Self {
        self.purge_interval = every.filter(|d| !d.is_zero());
        self
    }

    /// Whether `open` and `with_pool` create the table when it is missing
    /// (default `true`). Turn it off when your own migrations create it from
    /// [`schema_sql`](Self::schema_sql).
    ///
    /// ```no_run
    /// use cloakroom::SqliteStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::builder().migrate(false).open("app.db").await?;
    /// # Ok(()) }
    /// ```
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Most reader connections [`open`](Self::open) keeps (default 10, as many
    /// as sqlx's default pool: fewer make concurrent reads queue for a connection); writes
    /// use one connection of their own.
    ///
    /// ```no_run
    /// use cloakroom::SqliteStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::builder().max_readers(8).open("app.db").await?;
    /// # Ok(()) }
    /// ```
    pub fn max_readers(mut self, max: u32) -> Self {
        self.max_readers = max;
        self
    }

    /// Whether [`open`](Self::open) makes every commit durable on disk before it
    /// is acknowledged (default `true`: `synchronous = FULL`, one `fsync` per
    /// group of writes, so an acknowledged write survives a power cut). `false`
    /// (`synchronous = NORMAL`) skips that `fsync`: acknowledged writes still
    /// survive the process crashing or being killed, but a power cut or an OS
    /// crash may lose the last ones (never corrupt the file).
    ///
    /// ```no_run
    /// use cloakroom::SqliteStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// // A cache-like deployment that can afford losing a few seconds of sign-ins on power loss.
    /// let store = SqliteStore::builder().sync_every_commit(false).open("app.db").await?;
    /// # Ok(()) }
    /// ```
    pub fn sync_every_commit(mut self, sync: bool) -> Self {
        self.sync_every_commit = sync;
        self
    }

    /// The SQL that creates the table and its indexes, for migrations of your own.
    ///
    /// ```
    /// use cloakroom::SqliteStore;
    ///
    /// let sql = SqliteStore::builder().table("web_sessions").schema_sql().unwrap();
    /// assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS \"web_sessions\""));
    /// assert!(sql.contains("WITHOUT ROWID"));
    /// ```
    pub fn schema_sql(&self) -> Result<String, StoreError> {
        Ok(self
            .name()?
            .create_statements()
            .into_iter()
            .map(|statement| statement + ";\n")
            .collect())
    }

    fn name(&self) -> Result<TableName, StoreError> {
        TableName::new(self.table.clone())
    }

    fn check(&self) -> Result<TableName, StoreError> {
        if self.timeout.is_zero() {
            return Err(StoreError::unavailable(
                "SqliteStoreBuilder::timeout must be greater than zero",
            ));
        }
        if self.max_readers == 0 {
            return Err(StoreError::unavailable(
                "SqliteStoreBuilder::max_readers must be at least 1",
            ));
        }
        self.name()
    }

    /// Opens (creating when missing) the file at `path` in WAL mode, with one
    /// writer connection and up to [`max_readers`](Self::max_readers) read-only
    /// ones, then creates the table unless [`migrate(false)`](Self::migrate).
    ///
    /// ```no_run
    /// use cloakroom::SqliteStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = std::env::var("SESSIONS_DB").unwrap_or_else(|_| "sessions.db".into());
    /// let store = SqliteStore::builder().open(&path).await?;
    /// # Ok(()) }
    /// ```
    pub async fn open(self, path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        self.check()?;
        let path = path.as_ref();
        let failed = |err: sqlx::Error| {
            StoreError::unavailable(format!("opening the SQLite file {} failed: {err}", path.display()))
        };
        let synchronous = if self.sync_every_commit {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        };
        let writer_options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(self.timeout);
        // The writer's pool holds its one connection for good: a reconnect would
        // cost a request its latency.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(self.timeout * 5)
            .connect_with(writer_options)
            .await
            .map_err(failed)?;
        let store = {
            // The readers open the file the writer made (and set to WAL, which
            // the file keeps).
            let reader_options = SqliteConnectOptions::new()
                .filename(path)
                .read_only(true)
                .busy_timeout(self.timeout);
            let readers = SqlitePoolOptions::new()
                .max_connections(self.max_readers)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(self.timeout)
                .connect_lazy_with(reader_options);
            let migrate = self.migrate;
            let store = self.finish(readers, writer)?;
            if migrate {
                store.migrate().await?;
            }
            store
        };
        Ok(store)
    }

    /// A store on the application's pool (reads and writes on its connections,
    /// writes one at a time), creating the table unless
    /// [`migrate(false)`](Self::migrate).
    ///
    /// ```no_run
    /// use cloakroom::SqliteStore;
    ///
    /// # async fn run(pool: sqlx::SqlitePool) -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::builder().table("sessions").with_pool(pool).await?;
    /// # Ok(()) }
    /// ```
    pub async fn with_pool(self, pool: SqlitePool) -> Result<SqliteStore, StoreError> {
        self.check()?;
        let migrate = self.migrate;
        let store = self.finish(pool.clone(), pool)?;
        if migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    fn finish(self, readers: SqlitePool, writer: SqlitePool) -> Result<SqliteStore, StoreError> {
        let name = self.check()?;
        let mut store = SqliteStore {
            readers,
            writes: Arc::new(Writes {
                pool: writer,
                writer: OnceLock::new(),
            }),
            sql: Arc::new(Statements::new(name)),
            timeout: self.timeout,
            purger: None,
        };
        store.purger = spawn_purge_task(&store, self.purge_interval, "sqlite");
        Ok(store)
    }
}
