//! The store conformance suite on real SQLite files, each in a temporary
//! directory, then what is particular to SQLite: several writers on one file, a
//! process killed mid-load, writes stuck behind another process's lock, the
//! schema, purge batches.

use std::sync::LazyLock;

use cloakroom::SqliteStore;
use cloakroom_testing::TempDir;

/// One directory for the suite's files (each case a file of its own).
static FILES: LazyLock<TempDir> = LazyLock::new(|| TempDir::new("sqlite-conformance"));

async fn fresh_store() -> SqliteStore {
    let file = format!("{}.db", &cloakroom::SessionId::generate().store_key().to_hex()[..16]);
    SqliteStore::open(FILES.path().join(file))
        .await
        .expect("open a SQLite file")
}

cloakroom::store_conformance_tests!(fresh_store);

/// What is particular to SQLite.
mod on_sqlite {
    use std::collections::HashMap;
    use std::io::{BufRead as _, BufReader};
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use cloakroom::store::{Addition, ChangeSet, CommitOutcome, SessionStore, StoreError, StoreKey, Touch};
    use cloakroom::{SessionId, SqliteStore, conformance};
    use cloakroom_testing::TempDir;
    use sqlx::Connection as _;

    const IDLE: Duration = Duration::from_secs(600);

    async fn store_at(path: &Path) -> SqliteStore {
        SqliteStore::builder()
            .purge_interval(None)
            .open(path)
            .await
            .expect("open a SQLite file")
    }

    fn add(now: SystemTime, key: &str) -> ChangeSet {
        let mut changes = ChangeSet::new(now);
        changes.add.push(Addition::new(key, 1));
        changes
    }

    /// A new session holding `a = 1`, and the time it was made.
    async fn one_session(store: &SqliteStore) -> (StoreKey, SystemTime) {
        let now = SystemTime::now();
        let k = SessionId::generate().store_key();
        assert!(
            store
                .create(&k, &conformance::record(now, &[("a", "1")]))
                .await
                .unwrap()
        );
        (k, now)
    }

    async fn value(store: &SqliteStore, k: &StoreKey, key: &str) -> Option<String> {
        let now = SystemTime::now();
        // A step no load reaches: a read, never a slide.
        let touch = Touch::new(now, now + Duration::from_secs(60)).min_step(Duration::from_secs(3600));
        let record = store.load(k, &touch).await.unwrap().live()?;
        record.data.get(key).cloned()
    }

    /// Two stores on one file (as two processes would be: two writers), 100
    /// concurrent writers each, all on one session's counter: every addition
    /// counts, and no request sees "database is locked".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_writers_on_one_file_with_100_concurrent_writes_each_lose_nothing() {
        let dir = TempDir::new("sqlite-writers");
        let path = dir.path().join("shared.db");
        let first = Arc::new(store_at(&path).await);
        let second = Arc::new(store_at(&path).await);
        let (k, now) = one_session(&first).await;
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = if i % 2 == 0 { first.clone() } else { second.clone() };
                tokio::spawn(async move {
                    let mut changes = add(now, "n");
                    changes.set.push((format!("k{i}"), i.to_string()));
                    store.commit(&k, &changes).await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), CommitOutcome::Applied(None));
        }
        assert_eq!(value(&first, &k, "n").await.as_deref(), Some("200"));
        let record = first
            .load(&k, &Touch::new(now, now + Duration::from_secs(60)))
            .await
            .unwrap()
            .live()
            .unwrap();
        assert_eq!(record.data.len(), 202, "a, n and the 200 keys set");
    }

    /// The child of the durability test: commits to its sessions in a loop and
    /// prints each commit once the store acknowledged it, until it is killed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "run by a_process_killed_mid_load_keeps_every_acknowledged_commit, in a process of its own"]
    async fn durability_child() {
        let path = std::env::var("CLOAKROOM_SQLITE_CHILD_FILE").expect("started by the durability test");
        let store = Arc::new(store_at(Path::new(&path)).await);
        let writers: Vec<_> = (0..16)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let (k, now) = one_session(&store).await;
                    println!("created {}", k.to_hex());
                    for n in 1.. {
                        let mut changes = add(now, "n");
                        changes.set.push(("last".into(), n.to_string()));
                        assert_eq!(store.commit(&k, &changes).await.unwrap(), CommitOutcome::Applied(None));
                        println!("acked {} {n}", k.to_hex());
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
    }

    /// A process committing from 16 tasks is killed (SIGKILL) mid-load; the file,
    /// reopened, holds every commit it acknowledged.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_process_killed_mid_load_keeps_every_acknowledged_commit() {
        let dir = TempDir::new("sqlite-kill");
        let path = dir.path().join("sessions.db");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "on_sqlite::durability_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CLOAKROOM_SQLITE_CHILD_FILE", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let acked = tokio::task::spawn_blocking(move || {
            let mut acked: HashMap<String, u64> = HashMap::new();
            let mut total = 0;
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                let mut words = line.split(' ');
                match (words.next(), words.next(), words.next()) {
                    (Some("created"), Some(key), None) => {
                        acked.entry(key.to_owned()).or_insert(0);
                    }
                    (Some("acked"), Some(key), Some(n)) => {
                        acked.insert(key.to_owned(), n.parse().unwrap());
                        total += 1;
                        if total == 3_000 {
                            // Mid-load: the other writers have commits in flight.
                            child.kill().unwrap();
                        }
                    }
                    _ => {}
                }
            }
            child.wait().unwrap();
            (acked, total)
        })
        .await
        .unwrap();
        let (acked, total) = acked;
        assert!(total >= 3_000, "the child acknowledged {total} commits");
        assert_eq!(acked.len(), 16);

        let store = store_at(&path).await;
        let mut lost = Vec::new();
        for (hex, n) in &acked {
            let k = StoreKey::from_hex(hex).unwrap();
            let held: u64 = value(&store, &k, "n").await.map_or(0, |v| v.parse().unwrap());
            // At least what was acknowledged; one more when a commit applied but
            // its acknowledgement was never printed.
            if held < *n || held > n + 1 {
                lost.push(format!("{hex}: acknowledged {n}, holds {held}"));
            }
        }
        assert!(lost.is_empty(), "{lost:?}");
        println!("killed after {total} acknowledged commits; every one is in the file");
    }

    /// While another connection (another process) holds the file's write lock,
    /// a write fails after the store's timeout, and never applies afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_stuck_behind_another_writer_fails_and_never_applies_later() {
        let dir = TempDir::new("sqlite-locked");
        let path = dir.path().join("sessions.db");
        let store = SqliteStore::builder()
            .timeout(Duration::from_millis(300))
            .purge_interval(None)
            .open(&path)
            .await
            .unwrap();
        let (k, now) = one_session(&store).await;
        let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
        let mut changes = ChangeSet::new(now);
        changes.set.push(("late".into(), "1".into()));
        let err = store.commit(&k, &changes).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("nothing was written"), "{err}");
        // Reads go on while the lock is held, one that slides too (the slide
        // waits for a later request).
        assert_eq!(value(&store, &k, "a").await.as_deref(), Some("1"));
        let later = now + Duration::from_secs(30);
        let sliding = store.load(&k, &Touch::new(later, later + IDLE)).await.unwrap();
        assert!(sliding.live().is_some());
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        // The writer is free again: a later write applies, the stuck one did not.
        let mut next = ChangeSet::new(now);
        next.set.push(("next".into(), "2".into()));
        assert_eq!(store.commit(&k, &next).await.unwrap(), CommitOutcome::Applied(None));
        assert_eq!(value(&store, &k, "late").await, None);
        assert_eq!(value(&store, &k, "next").await.as_deref(), Some("2"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_file_holds_the_key_hash_never_the_id() {
        let dir = TempDir::new("sqlite-hash");
        let path = dir.path().join("sessions.db");
        let store = store_at(&path).await;
        let id = SessionId::generate();
        let now = SystemTime::now();
        store
            .create(&id.store_key(), &conformance::record(now, &[("cart", "[\"apple\"]")]))
            .await
            .unwrap();
        drop(store);
        // The WAL's frames hold the pages until a checkpoint: read both files.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::fs::read(dir.path().join("sessions.db-wal")).unwrap_or_default());
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(contains(&id.store_key().0), "the store key is the row's key");
        assert!(!contains(id.expose().as_bytes()), "the ID is nowhere");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_deletes_dead_rows_in_batches_and_keeps_the_live() {
        let dir = TempDir::new("sqlite-purge");
        let store = store_at(&dir.path().join("sessions.db")).await;
        let now = SystemTime::now();
        let past = now - IDLE;
        for _ in 0..2_500 {
            let k = SessionId::generate().store_key();
            store.create(&k, &conformance::record(past, &[])).await.unwrap();
        }
        let (live, _) = one_session(&store).await;
        assert_eq!(store.purge_expired(now).await.unwrap(), 2_500);
        assert_eq!(store.count(now).await.unwrap(), 1);
        assert_eq!(value(&store, &live, "a").await.as_deref(), Some("1"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_foreign_table_and_a_missing_directory_fail_with_what_to_do() {
        let dir = TempDir::new("sqlite-schema");
        let path = dir.path().join("app.db");
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE users (key TEXT, name TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let err = SqliteStore::builder()
            .table("users")
            .open(&path)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a cloakroom sessions table"), "{err}");
        assert!(err.contains("SqliteStoreBuilder::table"), "{err}");

        let missing = dir.path().join("no-such-dir").join("sessions.db");
        let err = SqliteStore::open(&missing).await.unwrap_err().to_string();
        assert!(err.contains(&missing.display().to_string()), "{err}");

        let err = SqliteStore::builder()
            .timeout(Duration::ZERO)
            .open(&path)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("SqliteStoreBuilder::timeout"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_on_the_applications_pool_shares_its_file() {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};
        let dir = TempDir::new("sqlite-pool");
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("app.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(SqliteStore::builder().schema_sql().unwrap()))
            .execute(&pool)
            .await
            .unwrap();
        let store = SqliteStore::builder()
            .migrate(false)
            .with_pool(pool.clone())
            .await
            .unwrap();
        let (k, _) = one_session(&store).await;
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM cloakroom_sessions WHERE key = ?1")
            .bind(&k.0[..])
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 1);
        let raw: (String,) = sqlx::query_as("SELECT json_extract(data, '$.a') FROM cloakroom_sessions")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(raw.0, "1", "each key's text, readable with SQLite's JSON functions");
    }
}
