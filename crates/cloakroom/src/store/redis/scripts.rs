//! The Lua scripts, each sent once as EVALSHA and reloaded after NOSCRIPT.
//!
//! Each script is its body after only the helpers it calls (`lua/lib`): Redis runs
//! the whole text on every call, and each helper defined costs a closure per call.

use std::sync::LazyLock;

use redis::{Cmd, Script, ToRedisArgs};

const META: &str = include_str!("lua/lib/meta.lua");
const LIVE: &str = include_str!("lua/lib/live.lua");
const MOVED: &str = include_str!("lua/lib/moved.lua");
const APPLY: &str = include_str!("lua/lib/apply.lua");

/// A script and the number of keys it takes.
pub(super) struct LuaScript {
    pub(super) script: Script,
    keys: usize,
}

fn script(helpers: &[&str], body: &str, keys: usize) -> LuaScript {
    let mut text = helpers.join("\n");
    text.push('\n');
    text.push_str(body);
    LuaScript {
        script: Script::new(&text),
        keys,
    }
}

impl LuaScript {
    /// Starts a call: `EVALSHA <hash> <number of keys>`, keys and arguments to follow.
    pub(super) fn call(&'static self) -> ScriptCall {
        let mut cmd = Cmd::with_capacity(3 + self.keys + 12, 256);
        cmd.arg("EVALSHA").arg(self.script.get_hash()).arg(self.keys);
        ScriptCall {
            script: self,
            cmd,
            keys: 0,
        }
    }
}

/// One script call built as a single `EVALSHA` command, its keys and arguments
/// written straight into the command's buffer (no per-argument copies).
pub(super) struct ScriptCall {
    pub(super) script: &'static LuaScript,
    pub(super) cmd: Cmd,
    keys: usize,
}

impl ScriptCall {
    /// Adds a key; all keys come before the first argument.
    pub(super) fn key(&mut self, key: impl ToRedisArgs) -> &mut Self {
        debug_assert!(self.keys < self.script.keys, "more keys than the script takes");
        self.keys += 1;
        self.cmd.arg(key);
        self
    }

    /// Adds an argument (a list adds each of its items).
    pub(super) fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Self {
        debug_assert_eq!(self.keys, self.script.keys, "arguments before all keys");
        self.cmd.arg(arg);
        self
    }
}

pub(super) static LOAD: LazyLock<LuaScript> = LazyLock::new(|| script(&[META, MOVED], include_str!("lua/load.lua"), 2));
pub(super) static CREATE: LazyLock<LuaScript> =
    LazyLock::new(|| script(&[META, LIVE, MOVED], include_str!("lua/create.lua"), 3));
pub(super) static COMMIT: LazyLock<LuaScript> =
    LazyLock::new(|| script(&[META, LIVE, MOVED, APPLY], include_str!("lua/commit.lua"), 3));
pub(super) static REGENERATE: LazyLock<LuaScript> =
    LazyLock::new(|| script(&[META, LIVE, MOVED, APPLY], include_str!("lua/regenerate.lua"), 6));
pub(super) static DELETE: LazyLock<LuaScript> = LazyLock::new(|| script(&[META], include_str!("lua/delete.lua"), 3));
pub(super) static PURGE: LazyLock<LuaScript> = LazyLock::new(|| script(&[], include_str!("lua/purge.lua"), 2));
