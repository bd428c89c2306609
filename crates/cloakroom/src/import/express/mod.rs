//! Importing express-session sessions from connect-redis (cargo feature `express`).
//!
//! | file | concern |
//! | --- | --- |
//! | `mod.rs` | the options ([`ExpressImport`]) and their checks |
//! | `importer.rs` | the validated importer: cookie, record, outcome, claim |
//! | `signed_cookie.rs` | finding and unsigning the express cookie |
//! | `record.rs` | reading a connect-redis record |
//! | `source.rs` | claiming records in Redis, settling and undoing claims |

mod importer;
mod record;
mod signed_cookie;
mod source;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use self::importer::{Claim, Found, Importer, Outcome};
pub(crate) use self::signed_cookie::ExpressSid;
use self::source::RecordSource;
use crate::error::Error;
use crate::store::StoreError;
use crate::store::redis::{Connection, DEFAULT_TIMEOUT, connect_manager, connect_nodes};

/// express-session's default cookie name.
const DEFAULT_COOKIE: &str = "connect.sid";
/// connect-redis's default key prefix.
const DEFAULT_PREFIX: &str = "sess:";

/// Maps the user an express session names to the user to bind (`None`: import
/// the session anonymously).
type MapUser = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How a layer takes over the sessions of an Express service that keeps them with
/// express-session in connect-redis (cargo feature `express`), so that moving a
/// service to Rust signs nobody out.
///
/// A request that carries no valid cloakroom ticket but a signed express cookie
/// has its express session turned into a cloakroom session before the handler
/// runs: every top-level field of the record but `cookie` becomes a session key
/// (the same JSON), the user is bound from the user fields, the record's remaining
/// life caps the new session's, and the response carries the cloakroom ticket and
/// removes the express cookie. The record is claimed in one atomic step, so
/// concurrent requests with one express cookie import it once, and consumed only
/// once the response carrying the new ticket is ready; an import that fails, or
/// whose request never answers, puts it back as it was.
///
/// Give it to [`SessionConfig::import_express`](crate::SessionConfig::import_express).
/// It reads the Redis of a [`RedisStore`](crate::RedisStore) given to the same
/// configuration unless told another one. `docs/MIGRATING-FROM-EXPRESS.md` tells the
/// whole migration.
///
/// ```no_run
/// use cloakroom::import::ExpressImport;
/// use cloakroom::{RedisStore, SessionLayer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let express = ExpressImport::new("the express-session secret")
///     .cookie_name("sessionId") // express-session's `name`
///     .user_fields(["passport.user"]);
/// let layer = SessionLayer::builder(std::env::var("SESSION_SECRET")?)
///     .store(store) // express records are read from this Redis too
///     .import_express(express)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ExpressImport {
    options: Options,
    source: Option<RecordSource>,
}

/// What an import reads and how, as given.
#[derive(Clone)]
struct Options {
    secrets: Vec<Vec<u8>>,
    cookie_name: String,
    prefix: String,
    user_fields: Vec<String>,
    map_user: Option<MapUser>,
    keep_records: bool,
}

impl fmt::Debug for ExpressImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpressImport")
            .field("secrets", &format_args!("[{} redacted]", self.options.secrets.len()))
            .field("cookie_name", &self.options.cookie_name)
            .field("prefix", &self.options.prefix)
            .field("user_fields", &self.options.user_fields)
            .field("map_user", &self.options.map_user.is_some())
            .field("keep_records", &self.options.keep_records)
            .field("source", &self.source)
            .finish()
    }
}

impl ExpressImport {
    /// Imports sessions signed with `secret` (express-session's `secret`), from
    /// the cookie `connect.sid`, records under `sess:`, the user from `userId`
    /// else `passport.user`.
    ///
    /// ```
    /// use cloakroom::import::ExpressImport;
    ///
    /// let express = ExpressImport::new("keyboard cat");
    /// assert_eq!(express.cookie(), "connect.sid");
    /// ```
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            options: Options {
                secrets: vec![secret.into()],
                cookie_name: DEFAULT_COOKIE.to_owned(),
                prefix: DEFAULT_PREFIX.to_owned(),
                user_fields: vec!["userId".to_owned(), "passport.user".to_owned()],
                map_user: None,
                keep_records: false,
            },
            source: None,
        }
    }

    /// Every secret express-session verifies with (its `secret` given as a list):
    /// a cookie signed with any of them is taken.
    ///
    /// ```
    /// use cloakroom::import::ExpressImport;
    ///
    /// let express = ExpressImport::new("unused").secrets(["current secret", "previous secret"]);
    /// ```
    pub fn secrets<S: Into<Vec<u8>>>(mut self, secrets: impl IntoIterator<Item = S>) -> Self {
        self.options.secrets = secrets.into_iter().map(Into::into).collect();
        self
    }

    /// The express cookie's name (express-session's `name`; default `connect.sid`).
    ///
    /// ```
    /// use cloakroom::import::ExpressImport;
    ///
    /// assert_eq!(ExpressImport::new("s").cookie_name("sessionId").cookie(), "sessionId");
    /// ```
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.options.cookie_name = name.into();
        self
    }

    /// The express cookie's name, as configured.
    ///
    /// ```
    /// use cloakroom::import::ExpressImport;
    ///
    /// assert_eq!(ExpressImport::new("s").cookie(), "connect.sid");
    /// ```
    pub fn cookie(&self) -> &str {
        &self.options.cookie_name
    }

    /// The key prefix of connect-redis's records (its `prefix`; default `sess:`).
    ///
    /// ```
    /// use cloakroom::import::ExpressImport;
    ///
    /// let express = ExpressImport::new("s").prefix("myapp:sess:");
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.options.prefix = prefix.into();
        self
    }

    /// Where the record names its user, tried in order: top-level fields or dotted
    /// paths into objects (default `userId`, then `passport.user`). A string is
    /// the user; a number becomes its decimal text; anything else names nobody.
    ///
    /// ```
    /// use cloakroom::import::ExpressImport;
    ///
    /// let express = ExpressImport::new("s").user_fields(["account.id", "userId"]);
    /// ```
    pub fn user_fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.options.user_fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Maps the user a record names to the user the cloakroom session is bound to,
    /// or `None` to import the session without a user (its data still comes).
    /// Without it the user is taken as it is.
    ///
    /// ```
    /// use cloakroom::import::ExpressImport;
    ///
    /// let known = ["alice", "bob"];
    /// let express = ExpressImport::new("s").map_user(move |user| known.contains(&user).then(|| user.to_owned()));
    /// ```
    pub fn map_user(mut self, map: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.options.map_user = Some(Arc::new(map));
        self
    }

    /// Leaves the express record and cookie in place instead of consuming them
    /// (default `false`), for running the Express and the Rust service side by
    /// side: both then know the user. Each request without a cloakroom ticket then
    /// imports its own copy, and signing out on the Express side does not end the
    /// imported session (signing out on the Rust side, in a request that carries
    /// the express cookie, deletes the express record too).
    ///
    /// ```
    /// use cloakroom::import::ExpressImport;
    ///
    /// let express = ExpressImport::new("s").keep_records(true);
    /// ```
    pub fn keep_records(mut self, keep: bool) -> Self {
        self.options.keep_records = keep;
        self
    }

    /// Reads records from the Redis of `store` (what
    /// [`SessionConfig::store`](crate::SessionConfig::store) with a `RedisStore`
    /// does by itself).
    ///
    /// ```no_run
    /// use cloakroom::import::ExpressImport;
    /// use cloakroom::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let express = ExpressImport::new("s").redis_store(&store);
    /// # Ok(()) }
    /// ```
    pub fn redis_store(mut self, store: &crate::store::redis::RedisStore) -> Self {
        let (conn, timeout) = store.connection();
        self.source = Some(RecordSource::new(conn, timeout));
        self
    }

    /// Reads records from the standalone Redis at `url`.
    ///
    /// ```no_run
    /// use cloakroom::import::ExpressImport;
    ///
    /// # async fn run() -> Result<(), cloakroom::store::StoreError> {
    /// let express = ExpressImport::new("s").connect("redis://10.0.0.5:6379").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(self, url: &str) -> Result<Self, StoreError> {
        let manager = connect_manager(url, DEFAULT_TIMEOUT).await?;
        Ok(self.with_manager(manager))
    }

    /// Reads records from the Redis Cluster reached through any of `nodes`.
    ///
    /// ```no_run
    /// use cloakroom::import::ExpressImport;
    ///
    /// # async fn run() -> Result<(), cloakroom::store::StoreError> {
    /// let nodes = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"];
    /// let express = ExpressImport::new("s").connect_cluster(nodes).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_cluster<S: AsRef<str>>(self, nodes: impl IntoIterator<Item = S>) -> Result<Self, StoreError> {
        let conn = connect_nodes(nodes, DEFAULT_TIMEOUT).await?;
        Ok(self.with_cluster(conn))
    }

    /// Reads records through a connection manager the application already has.
    ///
    /// ```no_run
    /// use cloakroom::import::ExpressImport;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let manager = redis::aio::ConnectionManager::new(redis::Client::open("redis://127.0.0.1:6379")?).await?;
    /// let express = ExpressImport::new("s").with_manager(manager);
    /// # Ok(()) }
    /// ```
    pub fn with_manager(mut self, manager: redis::aio::ConnectionManager) -> Self {
        self.source = Some(RecordSource::new(Connection::Single(manager), DEFAULT_TIMEOUT));
        self
    }

    /// Reads records through a cluster connection the application already has.
    ///
    /// ```no_run
    /// use cloakroom::import::ExpressImport;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::cluster::ClusterClient::new(["redis://10.0.0.1:7000"])?;
    /// let express = ExpressImport::new("s").with_cluster(client.get_async_connection().await?);
    /// # Ok(()) }
    /// ```
    pub fn with_cluster(mut self, conn: redis::cluster_async::ClusterConnection) -> Self {
        self.source = Some(RecordSource::new(Connection::Cluster(conn), DEFAULT_TIMEOUT));
        self
    }

    /// Checks the options and settles the Redis: the one given, else the session
    /// store's (`store_redis`).
    pub(crate) fn into_importer(
        self,
        session_cookie: &str,
        store_redis: Option<(Connection, Duration)>,
    ) -> Result<Importer, Error> {
        if self.options.secrets.is_empty() || self.options.secrets.iter().any(Vec::is_empty) {
            return Err(Error::config(
                "import_express",
                "ExpressImport::new and ExpressImport::secrets take express-session's secret(s); none may be empty",
            ));
        }
        if !crate::cookie::is_valid_cookie_name(&self.options.cookie_name) {
            return Err(Error::config(
                "import_express",
                format!(
                    "{:?} is not a valid cookie name for ExpressImport::cookie_name",
                    self.options.cookie_name
                ),
            ));
        }
        if self.options.cookie_name == session_cookie || self.options.cookie_name == format!("{session_cookie}_csrf") {
            return Err(Error::config(
                "import_express",
                format!(
                    "the express cookie {:?} is also a cookie of the session layer ({session_cookie:?}, or its \
                     {session_cookie}_csrf); give the session layer another cookie_name, so they can be told apart",
                    self.options.cookie_name
                ),
            ));
        }
        if self
            .options
            .user_fields
            .iter()
            .any(|field| field.split('.').any(str::is_empty))
        {
            return Err(Error::config(
                "import_express",
                "every ExpressImport::user_fields entry is a field name or a dotted path (passport.user)",
            ));
        }
        let source = match (self.source, store_redis) {
            (Some(source), _) => source,
            (None, Some((conn, timeout))) => RecordSource::new(conn, timeout),
            (None, None) => {
                return Err(Error::config(
                    "import_express",
                    "the session store is not a RedisStore, so ExpressImport does not know where connect-redis \
                     keeps its records; give it one with ExpressImport::connect(url) (or redis_store, with_manager)",
                ));
            }
        };
        Ok(Importer::new(self.options, source))
    }
}
