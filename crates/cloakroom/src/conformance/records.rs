//! Creating and reading records.

use super::*;

/// Loading a key nobody created gives `None`.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::load_of_an_unknown_key_is_none);
/// ```
pub async fn load_of_an_unknown_key_is_none<S: SessionStore>(store: Arc<S>) {
    assert!(store.load(&key(), &touch(now())).await.unwrap().live().is_none());
}

/// A created record loads back with its data and metadata.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::create_then_load_returns_the_record);
/// ```
pub async fn create_then_load_returns_the_record<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    let created = record(now, &[("cart", r#"["apple"]"#), ("n", "1")]);
    assert!(store.create(&k, &created).await.unwrap());
    let loaded = peek(&*store, &k, now).await.expect("created session loads");
    assert_eq!(data(&loaded), data(&created));
    assert_eq!(loaded.meta.user, None);
    assert_eq!(loaded.meta.expires_at(), created.meta.expires_at());
}

/// Creating over a live session changes nothing and says so.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::create_is_insert_if_absent);
/// ```
pub async fn create_is_insert_if_absent<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    assert!(store.create(&k, &record(now, &[("a", "1")])).await.unwrap());
    assert!(!store.create(&k, &record(now, &[("b", "2")])).await.unwrap());
    assert_eq!(
        data(&peek(&*store, &k, now).await.unwrap()),
        HashMap::from([("a", "1")])
    );
}

/// Values come back exactly as stored: unicode, escapes, large strings.
///
/// ```no_run
/// use cloakroom::{MemoryStore, conformance};
///
/// conformance::run(|| async { MemoryStore::new() }, conformance::values_round_trip_byte_for_byte);
/// ```
pub async fn values_round_trip_byte_for_byte<S: SessionStore>(store: Arc<S>) {
    let now = now();
    let k = key();
    let big = format!("\"{}\"", "x".repeat(64 * 1024));
    let values = [
        ("unicode", "\"h\u{e9}llo \u{1f600} \u{4e16}\u{754c}\""),
        ("escapes", r#""line\nbreak \"quoted\" \\ back""#),
        ("nested", r#"{"a":[1,2,{"b":null}],"c":true}"#),
        ("big", big.as_str()),
        ("key with spaces and :: colons", "1"),
    ];
    store.create(&k, &record(now, &values)).await.unwrap();
    assert_eq!(
        data(&peek(&*store, &k, now).await.unwrap()),
        values.iter().copied().collect()
    );
}
