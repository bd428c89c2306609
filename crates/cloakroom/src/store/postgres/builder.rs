//! The options of a Postgres store, connecting, and adopting a pool the
//! application already has.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::PostgresStore;
use super::schema::{self, DEFAULT_TABLE, TableName};
use super::statements::Statements;
use crate::store::purge_task::spawn_purge_task;
use crate::store::{DEFAULT_PURGE_INTERVAL, StoreError};

/// Default limit on how long one store operation may take before it fails.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Default size of the pool [`PostgresStoreBuilder::connect`] opens.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// Options of a [`PostgresStore`], finished by [`connect`](Self::connect) or
/// [`with_pool`](Self::with_pool).
///
/// ```no_run
/// use std::time::Duration;
/// use cloakroom::PostgresStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::builder()
///     .schema("auth")
///     .table("web_sessions")
///     .timeout(Duration::from_millis(500))
///     .connect("postgres://app@127.0.0.1:5432/app")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStoreBuilder {
    schema: Option<String>,
    table: String,
    timeout: Duration,
    purge_interval: Option<Duration>,
    migrate: bool,
    max_connections: u32,
}

impl PostgresStore {
    /// Starts a store with non-default options.
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::builder().table("shop_sessions").connect("postgres://app@db/app").await?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            schema: None,
            table: DEFAULT_TABLE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            purge_interval: Some(DEFAULT_PURGE_INTERVAL),
            migrate: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// Connects with the default options and creates the sessions table
    /// (`cloakroom_sessions`) when it is missing. The URL is sqlx's:
    /// `postgres://user[:password]@host[:port]/database[?sslmode=...]`.
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    /// use cloakroom::store::SessionStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::connect("postgres://app:secret@127.0.0.1:5432/app").await?;
    /// store.ping().await?; // e.g. in a health check
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// A store on the application's pool, with the default options. It does not
    /// touch the schema: call [`migrate`](Self::migrate), or create the table with
    /// your own migrations (the SQL is in [`PostgresStoreBuilder::schema_sql`]).
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@127.0.0.1/app").await?;
    /// let store = PostgresStore::new(pool.clone());
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub fn new(pool: PgPool) -> Self {
        match Self::builder().finish(pool) {
            Ok(store) => store,
            // The default table name always passes the checks.
            Err(_) => unreachable!("the default options are valid"),
        }
    }

    /// Creates the sessions table and its indexes when they are missing, then
    /// checks that the table has the columns the store uses. Safe to run on every
    /// start, from many servers at once (it takes an advisory lock).
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::new(pool);
    /// store.migrate().await?; // idempotent
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<(), StoreError> {
        tokio::time::timeout(self.timeout * 5, schema::migrate(&self.pool, &self.sql.name))
            .await
            .map_err(|_| StoreError::unavailable("creating the sessions table took too long"))?
    }
}

impl PostgresStoreBuilder {
    /// The sessions table (default `cloakroom_sessions`; at most 52 bytes).
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// // Two applications sharing one database keep apart by table.
    /// let store = PostgresStore::builder().table("billing_sessions").connect("postgres://app@db/app").await?;
    /// # Ok(()) }
    /// ```
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The schema the table is in (default: the connection's `search_path`,
    /// usually `public`). `migrate` creates the schema when it is missing.
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::builder().schema("auth").connect("postgres://app@db/app").await?;
    /// # Ok(()) }
    /// ```
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// How long one operation may take before it fails (default 2 s); the layer
    /// then answers 503. It also bounds waiting for a pooled connection.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::builder()
    ///     .timeout(Duration::from_millis(300))
    ///     .connect("postgres://app@db/app")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a background task deletes dead rows, 1,000 per statement
    /// (default 60 s; `None` turns it off). It runs while any clone of the store
    /// lives, on the tokio runtime the store was built in.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// // One server of the fleet purges; the others only serve.
    /// let purges = std::env::var("PURGE_SESSIONS").is_ok();
    /// let store = PostgresStore::builder()
    ///     .purge_interval(purges.then_some(Duration::from_secs(300)))
    ///     .connect("postgres://app@db/app")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn purge_interval(mut self, every: Option<Duration>) -> Self {
        self.purge_interval = every.filter(|d| !d.is_zero());
        self
    }

    /// Whether `connect` and `with_pool` create the table when it is missing
    /// (default `true`). Turn it off when your own migrations create it from
    /// [`schema_sql`](Self::schema_sql).
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::builder().migrate(false).connect("postgres://app@db/app").await?;
    /// # Ok(()) }
    /// ```
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Most connections the pool [`connect`](Self::connect) opens holds (default 10).
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PostgresStore::builder().max_connections(32).connect("postgres://app@db/app").await?;
    /// # Ok(()) }
    /// ```
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// The SQL that creates the table and its indexes, for migrations of your own.
    ///
    /// ```
    /// use cloakroom::PostgresStore;
    ///
    /// let sql = PostgresStore::builder().table("web_sessions").schema_sql().unwrap();
    /// assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS \"web_sessions\""));
    /// assert!(sql.contains("key               bytea   PRIMARY KEY"));
    /// ```
    pub fn schema_sql(&self) -> Result<String, StoreError> {
        let name = self.name()?;
        Ok(name
            .create_statements()
            .into_iter()
            .map(|statement| statement + ";\n")
            .collect())
    }

    fn name(&self) -> Result<TableName, StoreError> {
        TableName::new(self.schema.clone(), self.table.clone())
    }

    fn check(&self) -> Result<TableName, StoreError> {
        if self.timeout.is_zero() {
            return Err(StoreError::unavailable(
                "PostgresStoreBuilder::timeout must be greater than zero",
            ));
        }
        if self.max_connections == 0 {
            return Err(StoreError::unavailable(
                "PostgresStoreBuilder::max_connections must be at least 1",
            ));
        }
        self.name()
    }

    /// Connects a pool of its own (the first connection now, so a wrong URL or
    /// password fails at startup), then creates the table unless
    /// [`migrate(false)`](Self::migrate). Its connections carry a
    /// `statement_timeout` of the store's [`timeout`](Self::timeout), so the server
    /// drops a statement the store stopped waiting for.
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://app@127.0.0.1/app".into());
    /// let store = PostgresStore::builder().connect(&url).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(self, url: &str) -> Result<PostgresStore, StoreError> {
        self.check()?;
        let options: PgConnectOptions = url
            .parse()
            .map_err(|err| StoreError::unavailable(format!("the Postgres URL is not valid: {err}")))?;
        // The server gives up on a statement when the store does, so a statement
        // the layer answered 503 for does not apply later (once a lock it waits
        // for is released, say).
        let options = options.options([("statement_timeout", self.timeout.as_millis().to_string())]);
        let connecting = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.timeout)
            // A statement the server refused because it closed the connection is
            // run again (see `PostgresStore::run`): no round trip before each one.
            .test_before_acquire(false)
            .connect_with(options);
        let pool = tokio::time::timeout(self.timeout, connecting)
            .await
            .map_err(|_| StoreError::unavailable(format!("could not connect to Postgres within {:?}", self.timeout)))?
            .map_err(|err| StoreError::unavailable(format!("could not connect to Postgres: {err}")))?;
        self.with_pool(pool).await
    }

    /// Uses a pool the application already has, then creates the table unless
    /// [`migrate(false)`](Self::migrate).
    ///
    /// ```no_run
    /// use cloakroom::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@127.0.0.1/app").await?;
    /// let store = PostgresStore::builder().table("web_sessions").with_pool(pool.clone()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn with_pool(self, pool: PgPool) -> Result<PostgresStore, StoreError> {
        let migrate = self.migrate;
        let store = self.finish(pool)?;
        if migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    fn finish(self, pool: PgPool) -> Result<PostgresStore, StoreError> {
        let name = self.check()?;
        let mut store = PostgresStore {
            pool,
            sql: Arc::new(Statements::new(name)),
            timeout: self.timeout,
            purger: None,
        };
        store.purger = spawn_purge_task(&store, self.purge_interval, "Postgres");
        Ok(store)
    }
}
