//! The whole-record adapter: every conformance case that a last-writer-wins store
//! can pass (all but concurrent commits), on a plain map behind a mutex.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use cloakroom::{SessionMeta, SessionRecord, SimpleStore, SimpleStoreAdapter, StoreError, StoreKey};

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

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                cloakroom::conformance::run(fresh, cloakroom::conformance::$case);
            }
        )*
    };
}

cases!(
    load_of_an_unknown_key_is_none,
    create_then_load_returns_the_record,
    create_is_insert_if_absent,
    commit_changes_only_the_keys_it_names,
    commit_clear_removes_every_key_before_setting,
    commit_on_a_missing_session_does_not_create_it,
    commit_after_delete_does_not_resurrect_the_session,
    load_slides_the_idle_deadline_by_big_enough_steps_only,
    a_shorter_idle_timeout_moves_the_deadline_back_only_within_it,
    a_session_unused_past_its_idle_deadline_is_gone,
    touches_do_not_extend_a_session_past_its_absolute_deadline,
    commit_with_an_idle_deadline_slides_it,
    touch_slides_a_live_session_and_reports_a_missing_one,
    regenerate_moves_the_data_and_kills_the_old_key,
    regenerate_of_a_missing_session_creates_nothing,
    regenerate_refuses_a_taken_key,
    delete_reports_whether_there_was_a_session,
    commit_or_create_applies_to_a_live_session,
    commit_or_create_creates_a_fresh_session_when_gone,
    users_sessions_are_listed_and_deleted_together,
    revoking_one_session_leaves_the_users_others,
    binding_follows_regenerate_rebind_and_unbind,
    the_user_index_forgets_deleted_and_expired_sessions,
    purge_deletes_expired_sessions_only,
    count_counts_live_sessions,
    values_round_trip_byte_for_byte,
);
