//! The store conformance suite against the in-memory store.

cloakroom::store_conformance_tests!(|| async { cloakroom::MemoryStore::new() });
