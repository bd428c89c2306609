//! The Lua scripts, each sent once as EVALSHA and reloaded after NOSCRIPT.

use std::sync::LazyLock;

use redis::Script;

const COMMON: &str = include_str!("lua/common.lua");

fn with_common(body: &str) -> Script {
    Script::new(&format!("{COMMON}\n{body}"))
}

pub(super) static LOAD: LazyLock<Script> = LazyLock::new(|| with_common(include_str!("lua/load.lua")));
pub(super) static CREATE: LazyLock<Script> = LazyLock::new(|| with_common(include_str!("lua/create.lua")));
pub(super) static COMMIT: LazyLock<Script> = LazyLock::new(|| with_common(include_str!("lua/commit.lua")));
pub(super) static REGENERATE: LazyLock<Script> = LazyLock::new(|| with_common(include_str!("lua/regenerate.lua")));
pub(super) static DELETE: LazyLock<Script> = LazyLock::new(|| with_common(include_str!("lua/delete.lua")));
pub(super) static PURGE: LazyLock<Script> = LazyLock::new(|| with_common(include_str!("lua/purge.lua")));
