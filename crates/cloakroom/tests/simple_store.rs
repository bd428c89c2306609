//! The whole-record adapter: every conformance case that a last-writer-wins store
//! can pass (all but concurrent commits), on a plain map behind a mutex.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use cloakroom::store::{SessionMeta, SessionRecord, SimpleStore, SimpleStoreAdapter, StoreError, StoreKey};

#[derive(Debug, Default)]
struct MapStore(Mutex<HashMap<StoreKey, SessionRecord>>);

#[async_trait]
impl SimpleStore for MapStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    async fn set(&self, key: &StoreKey, record: &SessionRecord) -> Result<(), StoreError> {
        self.0.lock().unwrap().insert(*key, record.clone());
        Ok(())
    }
    async fn destroy(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
    async fn all(&self) -> Result<Vec<(StoreKey, SessionMeta)>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(k, r)| (*k, r.meta.clone()))
            .collect())
    }
}

async fn fresh() -> SimpleStoreAdapter<MapStore> {
    SimpleStoreAdapter::new(MapStore::default())
}

cloakroom::store_conformance_tests!(sequential: fresh);
