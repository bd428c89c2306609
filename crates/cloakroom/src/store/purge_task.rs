//! The background purge of the stores that keep sessions elsewhere (Redis,
//! Postgres): a task that calls `purge_expired` on a schedule while any clone of
//! the store lives.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use super::SessionStore;

/// Held by the clones of a store that the application has: when the last goes,
/// the task stops. (The task's own clone holds none.)
pub(crate) struct PurgeGuard(Arc<Notify>);

impl Drop for PurgeGuard {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// Starts purging `store` every `every` on the current tokio runtime; `None` when
/// `every` is `None` or there is no runtime. `store` must hold no guard yet.
pub(crate) fn spawn_purge_task<S: SessionStore + Clone>(
    store: &S,
    every: Option<Duration>,
    what: &'static str,
) -> Option<Arc<PurgeGuard>> {
    let every = every?;
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let stop = Arc::new(Notify::new());
    runtime.spawn(purge_loop(store.clone(), every, stop.clone(), what));
    Some(Arc::new(PurgeGuard(stop)))
}

async fn purge_loop<S: SessionStore>(store: S, every: Duration, stop: Arc<Notify>, what: &'static str) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.notified() => return,
        }
        match store.purge_expired(SystemTime::now()).await {
            Ok(purged) => {
                #[cfg(feature = "metrics")]
                super::metered::purged(store.kind(), purged);
                tracing::debug!(purged, store = what, "purged expired sessions");
            }
            Err(err) => tracing::warn!(error = %err, store = what, "purging expired sessions failed"),
        }
    }
}
