//! Importing express-session sessions from connect-redis (cargo feature `express`).
//!
//! | file | concern |
//! | --- | --- |
//! | `mod.rs` | the options ([`ExpressImport`]) and the validated importer |
//! | `signed_cookie.rs` | finding and unsigning the express cookie |
//! | `record.rs` | reading a connect-redis record |
//! | `source.rs` | taking records from Redis, putting one back, deleting one |

mod record;
mod signed_cookie;
mod source;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue};

use self::record::{ExpressCookie, ExpressRecord};
pub(crate) use self::signed_cookie::ExpressSid;
use self::source::{RecordSource, Taken};
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
/// removes the express cookie. The record is read and deleted in one atomic step,
/// so concurrent requests with one express cookie import it once.
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
    /// imported session (signing out on the Rust side deletes the express record
    /// too).
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
    pub fn redis_store(mut self, store: &crate::RedisStore) -> Self {
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
                "ExpressImport needs express-session's secret(s), none of them empty",
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
        if self.options.cookie_name == session_cookie {
            return Err(Error::config(
                "import_express",
                format!(
                    "the express cookie and the session cookie are both named {session_cookie:?}; give the \
                     session layer another cookie_name, so the two can be told apart"
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
        Ok(Importer {
            options: self.options,
            source,
        })
    }
}

/// An express session found live, ready to become a cloakroom session.
#[derive(Debug)]
pub(crate) struct Found {
    /// Its fields (JSON texts by key) and user (mapped).
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) user: Option<String>,
    /// When it would have ended; `None` when neither Redis nor its cookie says.
    pub(crate) ends_at: Option<SystemTime>,
    /// Its cookie was persistent (had an expiry), not a browser-session cookie.
    pub(crate) persistent: bool,
    /// The `Set-Cookie` that removes the express cookie, unless records are kept.
    pub(crate) removal: Option<HeaderValue>,
    taken: Taken,
    key: String,
}

/// What looking up an express session came to, when it did not find one live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missed {
    /// No record (never there, consumed, logged out, expired in Redis).
    Unknown,
    /// A record whose cookie had expired.
    Expired,
    /// A record that is not a session's JSON.
    Unreadable,
}

/// The validated importer a layer runs.
pub(crate) struct Importer {
    options: Options,
    source: RecordSource,
}

impl fmt::Debug for Importer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Importer")
            .field("cookie_name", &self.options.cookie_name)
            .field("prefix", &self.options.prefix)
            .field("keep_records", &self.options.keep_records)
            .finish_non_exhaustive()
    }
}

impl Importer {
    /// The express cookie's value in the request, URL-decoded, if it carries one.
    pub(crate) fn cookie(&self, headers: &HeaderMap) -> Option<String> {
        signed_cookie::find(headers, &self.options.cookie_name)
    }

    /// The sid of a cookie value signed with one of the express secrets.
    pub(crate) fn verify(&self, value: &str) -> Option<ExpressSid> {
        signed_cookie::unsign(value, &self.options.secrets)
    }

    fn key(&self, sid: &ExpressSid) -> String {
        format!("{}{}", self.options.prefix, sid.expose())
    }

    /// Takes the express session of `sid` (consuming its record unless records
    /// are kept), judged at `now`. Keys starting with `reserved` are not carried.
    pub(crate) async fn take(
        &self,
        sid: &ExpressSid,
        now: SystemTime,
        reserved: &str,
    ) -> Result<Result<Found, Missed>, StoreError> {
        let key = self.key(sid);
        let Some(taken) = self.source.take(&key, !self.options.keep_records).await? else {
            return Ok(Err(Missed::Unknown));
        };
        let Ok(record) = record::parse(&taken.json, &self.options.user_fields, reserved) else {
            // Consumed (unless records are kept) all the same: it could never be
            // imported, and express would not read it either.
            return Ok(Err(Missed::Unreadable));
        };
        let ExpressRecord { fields, user, cookie } = record;
        let ends_at = match (taken.ttl.map(|ttl| now + ttl), cookie.expires) {
            (Some(redis), Some(cookie)) => Some(redis.min(cookie)),
            (redis, cookie) => redis.or(cookie),
        };
        if ends_at.is_some_and(|end| end <= now) {
            return Ok(Err(Missed::Expired));
        }
        let user = match (&self.options.map_user, user) {
            (Some(map), Some(user)) => map(&user),
            (None, user) => user,
            (Some(_), None) => None,
        };
        Ok(Ok(Found {
            fields,
            user,
            ends_at,
            persistent: cookie.expires.is_some(),
            removal: (!self.options.keep_records).then(|| self.removal(&cookie)),
            taken,
            key,
        }))
    }

    /// Puts the record of a session that could not be imported back where it was
    /// (records that are kept were never taken).
    pub(crate) async fn put_back(&self, found: &Found) -> Result<bool, StoreError> {
        if self.options.keep_records {
            return Ok(true);
        }
        self.source.put_back(&found.key, &found.taken).await
    }

    /// Ends the express session of `sid` (a sign-out on the Rust side): deletes its
    /// record and answers the `Set-Cookie` that removes its cookie.
    pub(crate) async fn end(&self, sid: &ExpressSid) -> Result<HeaderValue, StoreError> {
        self.source.delete(&self.key(sid)).await?;
        Ok(self.removal(&ExpressCookie::default()))
    }

    /// `Set-Cookie` removing the express cookie, with the attributes it was set
    /// with (a cookie is only replaced by one of the same name, path and domain).
    fn removal(&self, cookie: &ExpressCookie) -> HeaderValue {
        let mut out = format!("{}=; Path={}", self.options.cookie_name, cookie.path);
        if let Some(domain) = &cookie.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        out.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0");
        if cookie.secure || cookie.same_site == Some("None") {
            out.push_str("; Secure");
        }
        if cookie.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(same_site) = cookie.same_site {
            out.push_str("; SameSite=");
            out.push_str(same_site);
        }
        HeaderValue::from_str(&out).expect("names and attributes are checked tokens")
    }
}

/// Counts an import's outcome (`imported`, `unknown`, `expired`, `unreadable`,
/// `too_large`, `failed`) when metrics are on.
pub(crate) fn count(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("cloakroom_express_imports_total", "outcome" => outcome).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = outcome;
}
