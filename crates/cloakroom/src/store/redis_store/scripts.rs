//! The Lua scripts, each sent once as EVALSHA and reloaded after NOSCRIPT.
//!
//! Each script is its body after only the helpers it calls (`lua/lib`): Redis runs
//! the whole text on every call, and each helper defined costs a closure per call.

use std::sync::LazyLock;

use redis::Script;

const META: &str = include_str!("lua/lib/meta.lua");
const LIVE: &str = include_str!("lua/lib/live.lua");
const DROP: &str = include_str!("lua/lib/drop.lua");
const APPLY: &str = include_str!("lua/lib/apply.lua");

fn script(helpers: &[&str], body: &str) -> Script {
    let mut text = helpers.join("\n");
    text.push('\n');
    text.push_str(body);
    Script::new(&text)
}

pub(super) static LOAD: LazyLock<Script> = LazyLock::new(|| script(&[META, DROP], include_str!("lua/load.lua")));
pub(super) static CREATE: LazyLock<Script> =
    LazyLock::new(|| script(&[META, LIVE, DROP], include_str!("lua/create.lua")));
pub(super) static COMMIT: LazyLock<Script> =
    LazyLock::new(|| script(&[META, LIVE, DROP, APPLY], include_str!("lua/commit.lua")));
pub(super) static REGENERATE: LazyLock<Script> =
    LazyLock::new(|| script(&[META, LIVE, APPLY], include_str!("lua/regenerate.lua")));
pub(super) static DELETE: LazyLock<Script> = LazyLock::new(|| script(&[META], include_str!("lua/delete.lua")));
pub(super) static PURGE: LazyLock<Script> = LazyLock::new(|| script(&[], include_str!("lua/purge.lua")));
