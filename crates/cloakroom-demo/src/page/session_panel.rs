//! The top of the page: the session as the server holds it (fingerprint, times,
//! both deadlines, the kind of cookie) and, once after a form action, what just
//! happened to it.

use std::fmt::Write as _;
use std::time::SystemTime;

use cloakroom::store::SessionMeta;

use super::html::{escape, time_element};
use crate::event::Event;

/// What the session panel shows.
pub struct SessionFacts<'a> {
    /// The session's fingerprint, once it is stored.
    pub fingerprint: Option<&'a str>,
    /// Its metadata as loaded, once it is stored.
    pub meta: Option<SessionMeta>,
    /// The session's own cookie persistence (`None`: the layer's default, a
    /// persistent cookie).
    pub persistent: Option<bool>,
    /// The signed-in user's name.
    pub user: Option<&'static str>,
    /// Now.
    pub now: SystemTime,
}

/// `<section id="session">`.
pub fn session_panel(facts: &SessionFacts<'_>) -> String {
    let mut out = String::from("<section id=\"session\" class=\"card wide\">\n<h2>Your session</h2>\n");
    let (Some(fingerprint), Some(meta)) = (facts.fingerprint, &facts.meta) else {
        out.push_str(
            "<p id=\"no-session\">No session yet. Nothing is stored for a visitor until the first \
             write: add something to the cart, or sign in.</p>\n</section>\n",
        );
        return out;
    };
    let who = match facts.user {
        Some(user) => format!("signed in as <strong>{}</strong>", escape(user)),
        None => "anonymous".to_owned(),
    };
    let cookie = if facts.persistent == Some(false) {
        "a browser-session cookie: gone when the browser closes"
    } else {
        "a persistent cookie (Max-Age): it outlives a browser restart"
    };
    let now = facts.now;
    let _ = write!(
        out,
        r#"<dl class="facts">
<dt>Fingerprint</dt><dd><code id="fingerprint">{}</code> <span id="session-state">{who}</span></dd>
<dt>Created</dt><dd>{}</dd>
<dt>Last seen</dt><dd>{}</dd>
<dt>Idle deadline</dt><dd>{} <span class="hint">each use moves it ahead</span></dd>
<dt>Absolute deadline</dt><dd>{} <span class="hint">nothing moves it</span></dd>
<dt>Cookie</dt><dd id="cookie-kind">{cookie}</dd>
</dl>
<p class="hint">The fingerprint is the start of a digest of the session ID; the ID itself never reaches the page, and the store keys the session by another digest of it.</p>
</section>
"#,
        escape(fingerprint),
        time_element("created", meta.created_at, now),
        time_element("last-seen", meta.last_seen, now),
        time_element("idle-deadline", meta.idle_deadline, now),
        time_element("absolute-deadline", meta.absolute_deadline, now),
    );
    out
}

/// `<section id="event">`: what the last form action did, in words, or nothing.
pub fn event_panel(event: Option<&Event>, now_fingerprint: Option<&str>) -> String {
    let Some(event) = event else {
        return String::new();
    };
    let after = now_fingerprint.map_or_else(|| "none".to_owned(), escape);
    let body = match event {
        Event::SignedIn {
            user,
            before,
            cart_lines,
        } => {
            let id = match before {
                Some(before) => format!(
                    "Your session got a <strong>new ID</strong>: fingerprint <code id=\"event-before\">{}</code> \
                     became <code id=\"event-after\">{after}</code>. An ID anyone saw before the sign-in now \
                     opens nothing: that is what stops session fixation.",
                    escape(before)
                ),
                None => format!(
                    "You had no session before; the sign-in made one, fingerprint <code id=\"event-after\">{after}</code>."
                ),
            };
            let cart = match cart_lines {
                0 => "Your cart was empty, so there was nothing to carry over.".to_owned(),
                1 => "Your cart came along: 1 line, under the new ID.".to_owned(),
                n => format!("Your cart came along: {n} lines, under the new ID."),
            };
            format!(
                "<p>You signed in as <strong>{}</strong>. {id}</p>\n<p id=\"event-cart\">{cart}</p>\n",
                escape(user)
            )
        }
        Event::SignedOut { before } => {
            let gone = before.as_deref().map_or_else(
                || "Your session".to_owned(),
                |before| format!("Session <code id=\"event-before\">{}</code>", escape(before)),
            );
            format!(
                "<p>You signed out. {gone} was deleted from the store and its cookie cleared: replaying it \
                 opens nothing. This message came in a new anonymous session.</p>\n"
            )
        }
    };
    format!(
        "<section id=\"event\" class=\"card wide event\" role=\"status\">\n<h2>What just happened</h2>\n{body}</section>\n"
    )
}
