//! The demo's configuration, read from the environment.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `PORT` | port on 127.0.0.1 (default 3000) |
//! | `SESSION_SECRET` | comma-separated secrets, the first signs; random when unset |
//! | `SESSION_STORE` | `memory` (default); `redis://HOST:PORT[/DB]`; `redis+cluster://HOST:PORT,HOST:PORT,…` for a Redis Cluster; `postgres://USER[:PASSWORD]@HOST:PORT/DB` (the table `cloakroom_sessions` is created when missing); `sqlite://PATH` for a SQLite file (`sqlite:///abs/path.db` for an absolute path; the file is created when missing, its directory must exist) |
//! | `SESSION_TTL`, `SESSION_ABSOLUTE_TTL` | idle and absolute timeouts in seconds |
//! | `SESSION_COOKIE_NAME` | cookie name (default `sid`) |
//! | `APP_ENV` | `production` for `Secure` cookies |
//! | `SHUTDOWN_TIMEOUT` | seconds open requests may take to finish after SIGTERM or Ctrl-C (default 10) |
//! | `HEADER_READ_TIMEOUT` | seconds a client has to send a request's headers before its connection is closed (default 30) |
//! | `EXPRESS_SESSION_SECRET` | express-session's secret(s), comma-separated; setting it turns on the import of express sessions |
//! | `EXPRESS_SESSION_COOKIE` | the express cookie's name (default `connect.sid`) |
//! | `EXPRESS_SESSION_REDIS` | the Redis holding connect-redis records, `redis://…` or `redis+cluster://…` (default: `SESSION_STORE` when it is Redis) |
//! | `EXPRESS_SESSION_PREFIX` | connect-redis's key prefix (default `sess:`) |

use std::fmt;
use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use cloakroom::{SessionConfig, SessionId};

use crate::server::ServeOptions;

/// The port the demo listens on when `PORT` is unset.
pub const DEFAULT_PORT: u16 = 3000;

/// The header API clients carry their ticket in instead of the cookie.
pub const SESSION_HEADER: &str = "x-session-id";

/// Everything the demo needs to start.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Port to listen on, on 127.0.0.1.
    pub port: u16,
    /// The session layer's configuration, not yet built.
    pub session: SessionConfig,
    /// `SESSION_SECRET` was unset and a random secret is in use: sessions will not
    /// survive a restart.
    pub secret_generated: bool,
    /// `APP_ENV=production`: cookies are `Secure`.
    pub production: bool,
    /// Where sessions are kept (`SESSION_STORE`).
    pub store: StoreChoice,
    /// The shutdown and header timeouts (`SHUTDOWN_TIMEOUT`, `HEADER_READ_TIMEOUT`).
    pub serve: ServeOptions,
    /// The import of express sessions, when `EXPRESS_SESSION_SECRET` is set.
    pub express: Option<ExpressChoice>,
}

/// Where and how the demo imports express-session sessions.
#[derive(Clone, PartialEq, Eq)]
pub struct ExpressChoice {
    /// express-session's secrets (`EXPRESS_SESSION_SECRET`).
    pub secrets: Vec<String>,
    /// The express cookie's name (`EXPRESS_SESSION_COOKIE`).
    pub cookie: String,
    /// connect-redis's key prefix (`EXPRESS_SESSION_PREFIX`).
    pub prefix: String,
    /// The Redis of the records, when it is not the session store's.
    pub redis: Option<StoreChoice>,
}

impl fmt::Debug for ExpressChoice {
    // Secrets and URLs stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpressChoice")
            .field("cookie", &self.cookie)
            .field("prefix", &self.prefix)
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

/// The store `SESSION_STORE` names.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// The in-memory store (the default).
    Memory,
    /// One Redis server, by URL.
    Redis(String),
    /// A Redis Cluster, by the URLs of some of its nodes.
    RedisCluster(Vec<String>),
    /// A Postgres database, by URL.
    Postgres(String),
    /// A SQLite file, by path.
    Sqlite(std::path::PathBuf),
}

impl fmt::Debug for StoreChoice {
    // URLs may hold passwords: show the kind only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Memory => "Memory",
            Self::Redis(_) => "Redis",
            Self::RedisCluster(_) => "RedisCluster",
            Self::Postgres(_) => "Postgres",
            Self::Sqlite(_) => "Sqlite",
        })
    }
}

/// A configuration problem; its message names the variable.
#[derive(Debug)]
pub enum ConfigError {
    /// A demo variable has a value that cannot work.
    Variable {
        /// The environment variable.
        name: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// cloakroom refused the session configuration.
    Session(cloakroom::Error),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Variable { name, problem } => write!(f, "invalid configuration: {name} {problem}"),
            Self::Session(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Variable { .. } => None,
            Self::Session(err) => Some(err),
        }
    }
}

impl From<cloakroom::Error> for ConfigError {
    fn from(err: cloakroom::Error) -> Self {
        Self::Session(err)
    }
}

impl DemoConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (variable name to value).
    ///
    /// ```
    /// use cloakroom_demo::DemoConfig;
    ///
    /// let config = DemoConfig::from_lookup(|name| (name == "PORT").then(|| "8080".to_owned())).unwrap();
    /// assert_eq!(config.port, 8080);
    /// assert!(config.secret_generated);
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let port = match lookup("PORT") {
            None => DEFAULT_PORT,
            Some(value) => value.trim().parse().map_err(|_| ConfigError::Variable {
                name: "PORT",
                problem: format!("{value:?} is not a port number (0-65535)"),
            })?,
        };
        let store = parse_store(lookup("SESSION_STORE").as_deref())?;
        let defaults = ServeOptions::default();
        let serve = ServeOptions {
            shutdown_grace: seconds(&lookup, "SHUTDOWN_TIMEOUT")?.unwrap_or(defaults.shutdown_grace),
            header_read_timeout: seconds(&lookup, "HEADER_READ_TIMEOUT")?.unwrap_or(defaults.header_read_timeout),
        };

        let express = parse_express(&lookup, &store)?;
        let generated = lookup("SESSION_SECRET").is_none().then(random_secret);
        let session = SessionConfig::from_lookup(|name| match (name, &generated) {
            ("SESSION_SECRET", Some(secret)) => Some(secret.clone()),
            _ => lookup(name),
        })?
        .header(SESSION_HEADER)
        // "Your devices" shows each session's browser and address (the demo listens
        // on 127.0.0.1: no proxy in front of it to trust).
        .record_devices(true)
        .client_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()));
        let production = session.is_production();
        let session = if production { session } else { session.secure(false) };
        Ok(Self {
            port,
            session,
            secret_generated: generated.is_some(),
            production,
            store,
            serve,
            express,
        })
    }

    /// Connects to the store `SESSION_STORE` names and puts it into the session
    /// configuration. Fails, naming `SESSION_STORE`, when the store cannot be
    /// reached (the URL itself is not repeated: it may hold a password).
    pub async fn connect_store(mut self) -> Result<Self, ConfigError> {
        let unreachable = |err: cloakroom::store::StoreError| ConfigError::Variable {
            name: "SESSION_STORE",
            problem: format!("names a store that cannot be reached: {}", redact(&err.to_string())),
        };
        match &self.store {
            StoreChoice::Memory => {}
            StoreChoice::Redis(url) => {
                let store = cloakroom::RedisStore::connect(url).await.map_err(unreachable)?;
                self.session = self.session.store(store);
            }
            StoreChoice::RedisCluster(urls) => {
                let store = cloakroom::RedisStore::connect_cluster(urls)
                    .await
                    .map_err(unreachable)?;
                self.session = self.session.store(store);
            }
            StoreChoice::Postgres(url) => {
                let store = cloakroom::PostgresStore::connect(url).await.map_err(unreachable)?;
                self.session = self.session.store(store);
            }
            StoreChoice::Sqlite(path) => {
                let store = cloakroom::SqliteStore::open(path).await.map_err(unreachable)?;
                self.session = self.session.store(store);
            }
        }
        if let Some(express) = &self.express {
            self.session = self.session.import_express(express_import(express).await?);
        }
        Ok(self)
    }
}

/// The import of express sessions the environment asks for: none without
/// `EXPRESS_SESSION_SECRET`; its Redis must be known.
fn parse_express(
    lookup: &impl Fn(&str) -> Option<String>,
    store: &StoreChoice,
) -> Result<Option<ExpressChoice>, ConfigError> {
    let Some(secrets) = lookup("EXPRESS_SESSION_SECRET") else {
        return Ok(None);
    };
    let secrets: Vec<String> = secrets
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if secrets.is_empty() {
        return Err(ConfigError::Variable {
            name: "EXPRESS_SESSION_SECRET",
            problem: "is empty; give express-session's secret (several comma-separated), or unset it".to_owned(),
        });
    }
    let redis = match lookup("EXPRESS_SESSION_REDIS") {
        Some(url) => match parse_store(Some(&url)) {
            Ok(redis @ (StoreChoice::Redis(_) | StoreChoice::RedisCluster(_))) => Some(redis),
            _ => {
                return Err(ConfigError::Variable {
                    name: "EXPRESS_SESSION_REDIS",
                    problem: "must be redis://HOST:PORT or redis+cluster://HOST:PORT,HOST:PORT".to_owned(),
                });
            }
        },
        None if matches!(store, StoreChoice::Redis(_) | StoreChoice::RedisCluster(_)) => None,
        None => {
            return Err(ConfigError::Variable {
                name: "EXPRESS_SESSION_REDIS",
                problem: "is needed when SESSION_STORE is not Redis: name the Redis that holds connect-redis's \
                          records (redis://HOST:PORT)"
                    .to_owned(),
            });
        }
    };
    Ok(Some(ExpressChoice {
        secrets,
        cookie: lookup("EXPRESS_SESSION_COOKIE").unwrap_or_else(|| "connect.sid".to_owned()),
        prefix: lookup("EXPRESS_SESSION_PREFIX").unwrap_or_else(|| "sess:".to_owned()),
        redis,
    }))
}

/// The library's import for `choice`: only the demo's users are signed in (an
/// express user it does not know comes over anonymous, with the data).
async fn express_import(choice: &ExpressChoice) -> Result<cloakroom::import::ExpressImport, ConfigError> {
    let import = cloakroom::import::ExpressImport::new(choice.secrets[0].clone())
        .secrets(choice.secrets.iter().cloned())
        .cookie_name(choice.cookie.clone())
        .prefix(choice.prefix.clone())
        .map_user(|user| crate::users::find(user).map(|user| user.id.to_owned()));
    let unreachable = |err: cloakroom::store::StoreError| ConfigError::Variable {
        name: "EXPRESS_SESSION_REDIS",
        problem: format!("names a Redis that cannot be reached: {}", redact(&err.to_string())),
    };
    match &choice.redis {
        None => Ok(import),
        Some(StoreChoice::RedisCluster(nodes)) => import.connect_cluster(nodes).await.map_err(unreachable),
        Some(StoreChoice::Redis(url)) => import.connect(url).await.map_err(unreachable),
        Some(_) => unreachable!("parse_express takes Redis URLs only"),
    }
}

/// A whole number of seconds from `name`, if set: more than 0 and at most a day.
fn seconds(lookup: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<Option<Duration>, ConfigError> {
    let Some(value) = lookup(name) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(secs @ 1..=86_400) => Ok(Some(Duration::from_secs(secs))),
        _ => Err(ConfigError::Variable {
            name,
            problem: format!("{value:?} is not a whole number of seconds from 1 to 86400"),
        }),
    }
}

/// Drops anything that looks like `user:password@` from an error message.
fn redact(message: &str) -> String {
    message
        .split(' ')
        .map(|word| match (word.find("://"), word.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &word[..scheme], &word[at + 1..]),
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// 86 characters from the operating system's CSPRNG (two session IDs).
fn random_secret() -> String {
    format!("{}{}", SessionId::generate().expose(), SessionId::generate().expose())
}

/// Reads `SESSION_STORE`: `memory` (or no value), a Redis URL, a Redis Cluster
/// list, a Postgres URL or a SQLite path; every other store is refused with a message saying why. URLs are never
/// echoed whole: they may hold passwords.
fn parse_store(value: Option<&str>) -> Result<StoreChoice, ConfigError> {
    let Some(value) = value.map(str::trim) else {
        return Ok(StoreChoice::Memory);
    };
    if value.eq_ignore_ascii_case("memory") {
        return Ok(StoreChoice::Memory);
    }
    let scheme = value.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    let problem = match scheme.as_deref() {
        Some("redis" | "rediss") => return Ok(StoreChoice::Redis(value.to_owned())),
        Some("redis+cluster") => {
            let nodes: Vec<String> = value["redis+cluster://".len()..]
                .split(',')
                .map(str::trim)
                .filter(|node| !node.is_empty())
                .map(|node| format!("redis://{node}"))
                .collect();
            if !nodes.is_empty() {
                return Ok(StoreChoice::RedisCluster(nodes));
            }
            "names a Redis Cluster without nodes; use redis+cluster://HOST:PORT,HOST:PORT".to_owned()
        }
        Some("postgres" | "postgresql") => return Ok(StoreChoice::Postgres(value.to_owned())),
        Some("sqlite") => {
            let path = &value["sqlite://".len()..];
            if !path.is_empty() {
                return Ok(StoreChoice::Sqlite(path.into()));
            }
            "names a SQLite store without a file; use sqlite://PATH (relative) or sqlite:///abs/path.db".to_owned()
        }
        Some(scheme) => format!(
            "names an unknown store ({scheme}://…); use memory (the default), \
             redis://HOST:PORT, redis+cluster://HOST:PORT,HOST:PORT, postgres://USER@HOST:PORT/DB or sqlite://PATH"
        ),
        None => format!(
            "{value:?} is not a known store; use memory (the default), \
             redis://HOST:PORT, redis+cluster://HOST:PORT,HOST:PORT, postgres://USER@HOST:PORT/DB or sqlite://PATH"
        ),
    };
    Err(ConfigError::Variable {
        name: "SESSION_STORE",
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<DemoConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        DemoConfig::from_lookup(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn error(vars: &[(&str, &str)]) -> String {
        config(vars).unwrap_err().to_string()
    }

    #[test]
    fn defaults_work_without_any_variable() {
        let config = config(&[]).unwrap();
        assert_eq!(config.port, DEFAULT_PORT);
        assert!(config.secret_generated);
        assert!(!config.production);
        assert!(config.session.build().is_ok());
    }

    #[test]
    fn a_given_secret_is_used_and_not_generated() {
        let config = config(&[("SESSION_SECRET", "a-secret-of-at-least-thirty-two-bytes!!")]).unwrap();
        assert!(!config.secret_generated);
        assert!(config.session.build().is_ok());
    }

    #[test]
    fn a_short_secret_is_an_error_naming_session_secret() {
        assert!(error(&[("SESSION_SECRET", "short")]).contains("SESSION_SECRET"));
        assert!(error(&[("SESSION_SECRET", "")]).contains("SESSION_SECRET"));
    }

    #[test]
    fn a_bad_port_is_an_error_naming_port() {
        assert!(error(&[("PORT", "http")]).contains("PORT"));
        assert!(error(&[("PORT", "70000")]).contains("PORT"));
        assert_eq!(config(&[("PORT", "8080")]).unwrap().port, 8080);
    }

    #[test]
    fn memory_redis_postgres_and_sqlite_stores_are_recognised() {
        assert_eq!(config(&[]).unwrap().store, StoreChoice::Memory);
        assert_eq!(
            config(&[("SESSION_STORE", "memory")]).unwrap().store,
            StoreChoice::Memory
        );
        assert_eq!(
            config(&[("SESSION_STORE", "redis://localhost:6379/2")]).unwrap().store,
            StoreChoice::Redis("redis://localhost:6379/2".into())
        );
        assert_eq!(
            config(&[("SESSION_STORE", "redis+cluster://a:7000, b:7001")])
                .unwrap()
                .store,
            StoreChoice::RedisCluster(vec!["redis://a:7000".into(), "redis://b:7001".into()])
        );
        assert!(error(&[("SESSION_STORE", "redis+cluster://")]).contains("SESSION_STORE"));
        for url in ["postgres://demo@db:5432/demo", "postgresql://demo:pw@db/demo"] {
            assert_eq!(
                config(&[("SESSION_STORE", url)]).unwrap().store,
                StoreChoice::Postgres(url.into())
            );
        }
        assert_eq!(
            format!("{:?}", StoreChoice::Postgres("postgres://u:pw@h/d".into())),
            "Postgres"
        );
        assert_eq!(
            config(&[("SESSION_STORE", "sqlite://demo.db")]).unwrap().store,
            StoreChoice::Sqlite("demo.db".into())
        );
        assert_eq!(
            config(&[("SESSION_STORE", "sqlite:///var/lib/demo/sessions.db")])
                .unwrap()
                .store,
            StoreChoice::Sqlite("/var/lib/demo/sessions.db".into())
        );
        assert!(error(&[("SESSION_STORE", "sqlite://")]).contains("sqlite://PATH"));
    }

    #[test]
    fn redacting_removes_credentials_from_urls() {
        assert_eq!(
            redact("could not connect to redis://user:hunter2@db:6379 now"),
            "could not connect to redis://…@db:6379 now"
        );
    }

    #[test]
    fn an_unknown_store_is_an_error_naming_session_store() {
        for value in ["mongo://x", "files", ""] {
            let message = error(&[("SESSION_STORE", value)]);
            assert!(message.contains("SESSION_STORE"), "{message}");
        }
    }

    #[test]
    fn bad_timeouts_name_their_variable() {
        assert!(error(&[("SESSION_TTL", "soon")]).contains("SESSION_TTL"));
        assert!(error(&[("SESSION_ABSOLUTE_TTL", "0")]).contains("SESSION_ABSOLUTE_TTL"));
    }

    #[test]
    fn the_serve_timeouts_are_read_and_checked() {
        let defaults = config(&[]).unwrap().serve;
        assert_eq!(defaults.shutdown_grace, Duration::from_secs(10));
        assert_eq!(defaults.header_read_timeout, Duration::from_secs(30));
        let set = config(&[("SHUTDOWN_TIMEOUT", "3"), ("HEADER_READ_TIMEOUT", "5")])
            .unwrap()
            .serve;
        assert_eq!(
            (set.shutdown_grace, set.header_read_timeout),
            (Duration::from_secs(3), Duration::from_secs(5))
        );
        for (name, value) in [
            ("SHUTDOWN_TIMEOUT", "0"),
            ("HEADER_READ_TIMEOUT", "soon"),
            ("HEADER_READ_TIMEOUT", "-1"),
        ] {
            assert!(error(&[(name, value)]).contains(name), "{name}={value}");
        }
    }

    #[test]
    fn production_keeps_secure_cookies() {
        let config = config(&[("APP_ENV", "production")]).unwrap();
        assert!(config.production);
        assert!(config.session.build().is_ok());
    }

    #[test]
    fn the_express_import_is_on_with_its_secret_and_needs_a_redis() {
        assert_eq!(config(&[]).unwrap().express, None);
        let on_redis = config(&[
            ("SESSION_STORE", "redis://127.0.0.1:1"),
            ("EXPRESS_SESSION_SECRET", "s3cret-1,s3cret-2"),
        ])
        .unwrap();
        let express = on_redis.express.unwrap();
        assert_eq!(express.secrets, ["s3cret-1", "s3cret-2"]);
        assert!(!format!("{express:?}").contains("s3cret"), "secrets stay out of logs");
        assert_eq!(
            (express.cookie.as_str(), express.prefix.as_str()),
            ("connect.sid", "sess:")
        );
        assert_eq!(express.redis, None, "the session store's Redis");
        let own = config(&[
            ("EXPRESS_SESSION_SECRET", "a"),
            ("EXPRESS_SESSION_REDIS", "redis+cluster://127.0.0.1:1,127.0.0.1:2"),
            ("EXPRESS_SESSION_COOKIE", "sessionId"),
            ("EXPRESS_SESSION_PREFIX", "app:"),
        ])
        .unwrap()
        .express
        .unwrap();
        assert!(matches!(own.redis, Some(StoreChoice::RedisCluster(ref nodes)) if nodes.len() == 2));
        assert_eq!((own.cookie.as_str(), own.prefix.as_str()), ("sessionId", "app:"));
        let missing = error(&[("EXPRESS_SESSION_SECRET", "a")]);
        assert!(
            missing.contains("EXPRESS_SESSION_REDIS") && missing.contains("SESSION_STORE"),
            "{missing}"
        );
        let wrong = error(&[
            ("EXPRESS_SESSION_SECRET", "a"),
            ("EXPRESS_SESSION_REDIS", "postgres://x@y/z"),
        ]);
        assert!(wrong.contains("EXPRESS_SESSION_REDIS"), "{wrong}");
        assert!(error(&[("EXPRESS_SESSION_SECRET", ",")]).contains("EXPRESS_SESSION_SECRET"));
    }
}
