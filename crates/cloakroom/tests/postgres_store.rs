//! The store conformance suite against a real Postgres server that this test binary
//! starts on a free port (initdb into a temporary directory), then what is
//! particular to Postgres: one statement per operation, the schema, and faults.

use std::sync::LazyLock;

use cloakroom::PostgresStore;
use cloakroom_testing::PostgresServer;

static POSTGRES: LazyLock<PostgresServer> = LazyLock::new(|| PostgresServer::start_with(&["max_connections=300"]));

/// A store on the shared server, in a table of its own so cases stay independent.
async fn fresh_store() -> PostgresStore {
    let table = format!("t_{}", &cloakroom::SessionId::generate().store_key().to_hex()[..16]);
    PostgresStore::builder()
        .table(table)
        .max_connections(8)
        .connect(&POSTGRES.url())
        .await
        .expect("connect to the test Postgres")
}

cloakroom::store_conformance_tests!(fresh_store);

/// What is particular to Postgres, each test on a server of its own where it
/// needs one.
mod on_postgres {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use cloakroom::store::{
        Addition, ChangeSet, CommitOutcome, FreshSession, SessionMeta, SessionStore, StoreError, StoreKey, Touch,
        UserChange,
    };
    use cloakroom::{PostgresStore, SessionId, conformance};
    use cloakroom_testing::PostgresServer;

    const IDLE: Duration = Duration::from_secs(600);

    fn table() -> String {
        format!("t_{}", &SessionId::generate().store_key().to_hex()[..16])
    }

    async fn store_on(server: &PostgresServer, table: &str) -> PostgresStore {
        PostgresStore::builder()
            .table(table)
            .purge_interval(None)
            .connect(&server.url())
            .await
            .expect("connect to the test Postgres")
    }

    fn set(now: SystemTime, key: &str, value: &str) -> ChangeSet {
        let mut changes = ChangeSet::new(now);
        changes.set.push((key.to_owned(), value.to_owned()));
        changes
    }

    /// A new session holding `a = 1`, and the time it was made.
    async fn one_session(store: &PostgresStore) -> (StoreKey, SystemTime) {
        let now = SystemTime::now();
        let k = SessionId::generate().store_key();
        store
            .create(&k, &conformance::record(now, &[("a", "1")]))
            .await
            .unwrap();
        (k, now)
    }

    /// The statements the server logged while `$op` ran.
    macro_rules! statements_of {
        ($server:expr, $op:expr) => {{
            let before = $server.log().len();
            let out = $op;
            (out, $server.statements_since(before))
        }};
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_operation_is_one_statement() {
        let server = PostgresServer::start_with(&["log_statement=all"]);
        let store = store_on(&server, &table()).await;
        let now = SystemTime::now();
        let k = SessionId::generate().store_key();
        // The idle deadline the record already has (conformance records idle out after 60 s).
        let touch = Touch::new(now, now + Duration::from_secs(60));

        let (created, create) =
            statements_of!(server, store.create(&k, &conformance::record(now, &[("a", "1")])).await);
        assert!(created.unwrap());
        assert_eq!(create, ["create"]);

        let (_, load) = statements_of!(server, store.load(&k, &touch).await.unwrap());
        assert_eq!(load, ["read"], "a load, no slide due");
        let later = Touch::new(now + Duration::from_secs(30), now + Duration::from_secs(30) + IDLE);
        let (loaded, load_sliding) = statements_of!(server, store.load(&k, &later).await.unwrap());
        let millis = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis();
        assert_eq!(
            millis(loaded.live().unwrap().meta.idle_deadline),
            millis(later.idle_deadline)
        );
        assert_eq!(load_sliding, ["read", "slide"], "a load that slides the deadline");

        let (_, commit) = statements_of!(server, store.commit(&k, &set(now, "b", "2")).await.unwrap());
        assert_eq!(commit, ["commit"]);

        let mut guarded = ChangeSet::new(now);
        guarded.expect.push(("b".into(), Some("2".into())));
        guarded.set.push(("b".into(), "3".into()));
        guarded.add.push(Addition::new("n", 5).at_most(9));
        guarded.user = Some(UserChange::Bind("ada".into()));
        guarded.idle_deadline = Some(now + IDLE + Duration::from_secs(120));
        let (outcome, commit_guarded) = statements_of!(server, store.commit(&k, &guarded).await.unwrap());
        assert!(matches!(outcome, CommitOutcome::Applied(Some(_))), "{outcome:?}");
        assert_eq!(
            commit_guarded,
            ["commit"],
            "compare-and-set, addition, bind and slide in one"
        );
        let (outcome, conflict) = statements_of!(server, store.commit(&k, &guarded).await.unwrap());
        assert_eq!(outcome, CommitOutcome::Conflict);
        assert_eq!(
            conflict,
            ["commit", "commit-checked"],
            "a conflict: the checked commit says so"
        );

        let gone = SessionId::generate().store_key();
        let (outcome, commit_gone) = statements_of!(server, store.commit(&gone, &set(now, "x", "1")).await.unwrap());
        assert_eq!(outcome, CommitOutcome::Gone);
        assert_eq!(commit_gone, ["commit", "commit-checked"]);
        let fresh = FreshSession::new(SessionMeta::new(now, IDLE, IDLE * 10));
        let (outcome, write_gone) = statements_of!(
            server,
            store
                .commit_or_create(&gone, &set(now, "x", "1"), &fresh)
                .await
                .unwrap()
        );
        assert_eq!(outcome, CommitOutcome::Created);
        assert_eq!(
            write_gone,
            ["commit", "commit-checked", "create"],
            "a create only when the session turned out gone"
        );

        let (_, list) = statements_of!(server, store.list_user("ada", now).await.unwrap());
        assert_eq!(list, ["list-user"]);
        let new = SessionId::generate().store_key();
        let (outcome, regenerate) =
            statements_of!(server, store.regenerate(&k, &new, &ChangeSet::new(now)).await.unwrap());
        assert_eq!(outcome, CommitOutcome::Applied(None));
        assert_eq!(regenerate, ["regenerate"]);
        let dead = SessionId::generate().store_key();
        store.create(&dead, &conformance::record(now, &[])).await.unwrap();
        let (loaded, load_dead) = statements_of!(
            server,
            store.load(&dead, &Touch::new(now + IDLE * 30, now)).await.unwrap()
        );
        assert!(loaded.live().is_none());
        assert_eq!(load_dead, ["read", "drop"], "a session found dead is dropped");
        let (count, counted) = statements_of!(server, store.count(now).await.unwrap());
        assert_eq!(count, 2);
        assert_eq!(counted, ["count"]);
        let (deleted, delete) = statements_of!(server, store.delete(&fresh.key()).await.unwrap());
        assert!(deleted);
        assert_eq!(delete, ["delete"]);
        let (deleted, delete_user) = statements_of!(server, store.delete_user("ada").await.unwrap());
        assert_eq!(deleted, 1);
        assert_eq!(delete_user, ["delete-user"]);
        let (_, purge) = statements_of!(server, store.purge_expired(now + IDLE * 100).await.unwrap());
        assert_eq!(purge, ["purge"], "fewer than a batch of dead rows: one statement");
        println!(
            "statements per operation:\n create {create:?}\n load {load:?}\n sliding load {load_sliding:?}\n \
             dead session {load_dead:?}\n commit {commit:?}\n guarded commit {commit_guarded:?}\n conflict {conflict:?}\n \
             write to a gone session {write_gone:?}\n regenerate {regenerate:?}\n delete {delete:?}\n \
             delete-user {delete_user:?}\n list-user {list:?}\n count {counted:?}\n purge {purge:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_deletes_in_batches_of_a_thousand() {
        let server = PostgresServer::start_with(&["log_statement=all"]);
        let table = table();
        let store = store_on(&server, &table).await;
        let now = SystemTime::now();
        let past = now - IDLE;
        // 2,500 dead sessions and one live one.
        let millis = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis();
        server.sql(&format!(
            "INSERT INTO \"{table}\" (key, created_at, last_seen, idle_deadline, absolute_deadline)
             SELECT sha256(i::text::bytea), {p}, {p}, {p}, {p} FROM generate_series(1, 2500) i",
            p = millis(past)
        ));
        let live = SessionId::generate().store_key();
        store.create(&live, &conformance::record(now, &[])).await.unwrap();
        let (purged, statements) = statements_of!(server, store.purge_expired(now).await.unwrap());
        assert_eq!(purged, 2500);
        assert_eq!(statements, ["purge", "purge", "purge"], "1,000 + 1,000 + 500");
        assert_eq!(server.sql(&format!("SELECT count(*) FROM \"{table}\"")), "1");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_are_keyed_by_the_hash_of_the_id_and_keep_values_exactly() {
        let server = PostgresServer::start();
        let table = table();
        let store = store_on(&server, &table).await;
        let now = SystemTime::now();
        let id = SessionId::generate();
        let k = id.store_key();
        let odd = "{\"b\": 1,  \"a\": [1.50, 2e3], \"s\": \"\\u0000 ü\"}";
        store
            .create(&k, &conformance::record(now, &[("cart", odd)]))
            .await
            .unwrap();
        let row = server.sql(&format!(
            "SELECT encode(key, 'hex'), data->>'cart', user_id IS NULL, moved FROM \"{table}\""
        ));
        assert_eq!(row, format!("{}|{odd}|t|f", k.to_hex()));
        assert!(
            !server
                .sql(&format!("SELECT key::text FROM \"{table}\""))
                .contains(id.expose())
        );
        let loaded = store.load(&k, &Touch::new(now, now)).await.unwrap().live().unwrap();
        assert_eq!(loaded.data["cart"], odd, "byte for byte what was written");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrate_is_idempotent_concurrent_and_refuses_a_foreign_table() {
        let server = Arc::new(PostgresServer::start());
        let table = table();
        let starts = (0..4).map(|_| {
            let (server, table) = (server.clone(), table.clone());
            tokio::spawn(async move { store_on(&server, &table).await })
        });
        for start in starts {
            start.await.unwrap().migrate().await.unwrap();
        }
        assert_eq!(
            server.sql(&format!("SELECT obj_description('\"{table}\"'::regclass)")),
            "cloakroom sessions, schema 1"
        );
        let indexes = server.sql(&format!(
            "SELECT indexname FROM pg_indexes WHERE tablename = '{table}' ORDER BY 1"
        ));
        assert_eq!(indexes, format!("{table}_expires_at\n{table}_pkey\n{table}_user_id"));

        server.sql("CREATE TABLE foreign_sessions (id text PRIMARY KEY, data bytea, expiry_date timestamptz)");
        let err = PostgresStore::builder()
            .table("foreign_sessions")
            .connect(&server.url())
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("\"foreign_sessions\" is not a cloakroom sessions table")
                && message.contains("PostgresStoreBuilder::table"),
            "{message}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schema_of_its_own_and_the_sql_for_your_own_migrations() {
        let server = PostgresServer::start();
        let builder = PostgresStore::builder().schema("auth").table("web_sessions");
        server.sql(&builder.schema_sql().unwrap());
        let store = builder.migrate(false).connect(&server.url()).await.unwrap();
        let (k, now) = one_session(&store).await;
        assert_eq!(server.sql("SELECT count(*) FROM auth.web_sessions"), "1");
        let migrated = PostgresStore::builder()
            .schema("auth2")
            .connect(&server.url())
            .await
            .unwrap();
        migrated.create(&k, &conformance::record(now, &[])).await.unwrap();
        assert_eq!(server.sql("SELECT count(*) FROM auth2.cloakroom_sessions"), "1");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_options_fail_at_startup_naming_the_option() {
        let timeout = PostgresStore::builder()
            .timeout(Duration::ZERO)
            .connect("postgres://nobody@127.0.0.1:1/none")
            .await
            .unwrap_err();
        assert!(
            timeout.to_string().contains("PostgresStoreBuilder::timeout"),
            "{timeout}"
        );
        let table = PostgresStore::builder().table("").schema_sql().unwrap_err();
        assert!(table.to_string().contains("PostgresStoreBuilder::table"), "{table}");
        let url = PostgresStore::connect("postgres://app@db:port/app").await.unwrap_err();
        assert!(url.to_string().contains("URL"), "{url}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stopped_server_fails_within_the_timeout_and_service_returns_with_it() {
        let mut server = PostgresServer::start();
        let store = PostgresStore::builder()
            .table(table())
            .timeout(Duration::from_millis(500))
            .connect(&server.url())
            .await
            .unwrap();
        let (k, now) = one_session(&store).await;
        let mut server = tokio::task::spawn_blocking(move || {
            server.stop();
            server
        })
        .await
        .unwrap();
        for _ in 0..3 {
            let down = tokio::time::timeout(Duration::from_secs(30), store.load(&k, &Touch::new(now, now)))
                .await
                .expect("never a hang while Postgres is down");
            assert!(matches!(down, Err(StoreError::Unavailable(_))), "{down:?}");
        }
        assert!(store.ping().await.is_err());
        tokio::task::spawn_blocking(move || {
            server.start_again();
            // Kept running for the rest of the test.
            std::mem::forget(server);
        })
        .await
        .unwrap();
        let mut back = None;
        for _ in 0..100 {
            if let Ok(loaded) = store.load(&k, &Touch::new(now, now)).await {
                back = Some(loaded);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let back = back.expect("the same store works again once Postgres is back");
        assert_eq!(back.live().unwrap().data["a"], "1", "the data survived the restart");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_statement_stuck_on_a_lock_fails_within_the_timeout_and_never_applies_later() {
        let server = Arc::new(PostgresServer::start());
        let table = table();
        let store = PostgresStore::builder()
            .table(&table)
            .timeout(Duration::from_millis(300))
            .connect(&server.url())
            .await
            .unwrap();
        let (k, now) = one_session(&store).await;
        // Another client holds the row for 3 s.
        let holder = {
            let (server, table) = (server.clone(), table.clone());
            std::thread::spawn(move || {
                server.sql(&format!(
                    "BEGIN; SELECT 1 FROM \"{table}\" FOR UPDATE; SELECT pg_sleep(3); COMMIT;"
                ))
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stuck = tokio::time::timeout(Duration::from_secs(30), store.commit(&k, &set(now, "late", "1")))
            .await
            .expect("never a hang behind a lock");
        assert!(matches!(stuck, Err(StoreError::Unavailable(_))), "{stuck:?}");
        holder.join().unwrap();
        // Had the server kept the statement, it would run now that the lock is
        // free: wait until no cloakroom statement is active (bounded), then look.
        let active = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '/* cloakroom commit%' \
                      AND state = 'active' AND pid <> pg_backend_pid()";
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while server.sql(active).trim() != "0" {
            assert!(std::time::Instant::now() < deadline, "a commit statement stayed active");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let loaded = store.load(&k, &Touch::new(now, now)).await.unwrap().live().unwrap();
        assert!(
            !loaded.data.contains_key("late"),
            "the server dropped the statement the store gave up on"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_the_server_kills_are_replaced_without_an_error() {
        let server = PostgresServer::start();
        let store = PostgresStore::builder()
            .table(table())
            .max_connections(4)
            .connect(&server.url())
            .await
            .unwrap();
        let now = SystemTime::now();
        let k = SessionId::generate().store_key();
        store.create(&k, &conformance::record(now, &[])).await.unwrap();
        let backends = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' \
                        AND pid <> pg_backend_pid() ORDER BY pid";
        // Open a few pooled connections.
        let adds = (0..4).map(|_| {
            let store = store.clone();
            let mut changes = ChangeSet::new(now);
            changes.add.push(Addition::new("n", 1));
            async move { store.commit(&k, &changes).await.unwrap() }
        });
        futures_join(adds).await;
        let before = server.sql(backends);
        assert!(!before.is_empty());
        let killed = server.sql(&format!("SELECT count(pg_terminate_backend(pid)) FROM ({backends}) b"));
        assert_ne!(killed, "0");
        for _ in 0..8 {
            let mut changes = ChangeSet::new(now);
            changes.add.push(Addition::new("n", 1));
            let outcome = store
                .commit(&k, &changes)
                .await
                .expect("a killed connection is replaced");
            assert!(outcome.is_written());
        }
        let loaded = store.load(&k, &Touch::new(now, now)).await.unwrap().live().unwrap();
        assert_eq!(loaded.data["n"], "12", "every addition applied exactly once");
        let after = server.sql(backends);
        assert!(
            after.lines().all(|pid| !before.lines().any(|old| old == pid)),
            "new backends: before {before:?}, after {after:?}"
        );
    }

    async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
        let mut outputs = Vec::new();
        let handles: Vec<_> = futures.collect();
        for future in handles {
            outputs.push(future.await);
        }
        outputs
    }
}

/// Compare-and-set and additions under contention, run again and again: the
/// compare-and-set case caught lost updates in only half of its runs while the
/// guards were written as `NOT EXISTS` (see `commit_shape.rs`), so one run alone
/// is a weak check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contended_guards_lose_nothing_run_after_run() {
    for _ in 0..8 {
        let store = std::sync::Arc::new(fresh_store().await);
        cloakroom::conformance::concurrent_updates_of_one_key_lose_nothing(store.clone()).await;
        cloakroom::conformance::concurrent_additions_to_one_key_all_count(store).await;
    }
}
