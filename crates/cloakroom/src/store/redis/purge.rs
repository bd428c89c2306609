//! Tidying the expiry sets in the background, and counting live sessions.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::RedisStore;
use super::layout::Layout;
use super::scripts;
use crate::clock::to_millis;
use crate::store::StoreError;

impl RedisStore {
    /// Drops the sessions dead at `now` with their expiry entries, and takes the
    /// bound ones out of their users' indexes.
    pub(super) async fn purge(&self, now: SystemTime) -> Result<usize, StoreError> {
        let mut purged = 0;
        for tag in Layout::tags() {
            let mut invocation = scripts::PURGE.call();
            invocation
                .key(self.layout.expiries_of_tag(&tag))
                .key(self.layout.users_of_tag(&tag))
                .arg(to_millis(now))
                .arg(self.layout.session_prefix_of_tag(&tag));
            let reply: Vec<String> = self.invoke(invocation).await?;
            let mut reply = reply.into_iter();
            purged += reply.next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
            let mut unfiled: BTreeMap<String, Vec<String>> = BTreeMap::new();
            while let (Some(member), Some(user)) = (reply.next(), reply.next()) {
                unfiled.entry(user).or_default().push(member);
            }
            let cmds = unfiled
                .into_iter()
                .map(|(user, members)| {
                    let mut cmd = redis::cmd("ZREM");
                    cmd.arg(self.layout.user_index(&user)).arg(members);
                    cmd
                })
                .collect();
            self.batch::<i64>(cmds).await?;
        }
        Ok(purged)
    }

    /// The number of sessions live at `now`, by the expiry sets.
    pub(super) async fn count_live(&self, now: SystemTime) -> Result<usize, StoreError> {
        let cmds = Layout::tags()
            .map(|tag| {
                let mut cmd = redis::cmd("ZCOUNT");
                cmd.arg(self.layout.expiries_of_tag(&tag))
                    .arg(format!("({}", to_millis(now)))
                    .arg("+inf");
                cmd
            })
            .collect();
        let counts: Vec<usize> = self.batch(cmds).await?;
        Ok(counts.into_iter().sum())
    }
}
