//! Loads: a plain `HGETALL` checked by the client, and the `load` script when the
//! idle deadline is due to slide or the session is dead.

use super::RedisStore;
use super::layout::{Hash, decode};
use super::scripts;
use crate::clock::{duration_millis, to_millis};
use crate::id::StoreKey;
use crate::store::{Loaded, StoreError, Touch};

impl RedisStore {
    /// Reads a live session, sliding its idle deadline when due.
    pub(super) async fn load_session(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        // Most loads change nothing: a plain HGETALL, checked here. The script (which
        // slides the deadline, or drops a dead session, atomically) runs only when
        // there is something to write: about once per touch step per session.
        let name = self.layout.session(key);
        let mut cmd = redis::Cmd::with_capacity(2, 7 + name.len());
        cmd.arg("HGETALL").arg(name);
        // The reply as redis-rs parsed it: `decode` takes its strings over as they are.
        match decode(self.query(cmd).await?)? {
            Hash::Session(record) if !record.meta.is_expired(touch.now) && !record.meta.touch_due(touch) => {
                Ok(Loaded::Live(record))
            }
            Hash::Session(_) => self.load_by_script(key, touch).await,
            other => Ok(other.at(touch.now)),
        }
    }

    /// Loads through the script: slides the idle deadline when due, drops a dead
    /// session, in one atomic step.
    async fn load_by_script(&self, key: &StoreKey, touch: &Touch) -> Result<Loaded, StoreError> {
        let mut invocation = scripts::LOAD.call();
        invocation
            .key(self.layout.session(key))
            .key(self.layout.expiries(key))
            .arg(to_millis(touch.now))
            .arg(to_millis(touch.idle_deadline))
            .arg(duration_millis(touch.min_step))
            .arg(key.to_hex());
        Ok(decode(self.invoke(invocation).await?)?.at(touch.now))
    }
}
