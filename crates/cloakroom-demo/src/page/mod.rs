//! The HTML page at `/`: the session as the server holds it (fingerprint,
//! times, deadlines), what the last form action did to it, and the cart,
//! checkout, preferences and devices. A little script (`/app.js`) calls the JSON
//! API and reloads the page; the style sheet and the icon are served beside it,
//! nothing comes from elsewhere.
//!
//! The sign-in and sign-out forms post to `/auth/login` and `/auth/logout` as
//! HTML forms with a hidden `_csrf` field; the messages they leave (flashes)
//! show once, in `#flash`, and what they did is explained once, in `#event`.
//!
//! Stable element IDs for tests and scripts: `flash` (its items are the
//! messages), `event` (`event-before`, `event-after`, `event-cart`), `session`
//! (`fingerprint`, `session-state`, `created`, `last-seen`, `idle-deadline`,
//! `absolute-deadline`, `cookie-kind`; `no-session` before there is one),
//! `login-form`, `username`, `password`, `login-button`, `notice`, `whoami`,
//! `role`, `logout-form`, `logout`, `logout-all`, `cart-items` (lines carry
//! `data-id`), `cart-empty`, `cart-form`, `cart-id`, `cart-qty`, `cart-add`,
//! `checkout-step`, `checkout-advance`, `checkout-reset`, `prefs-form`,
//! `pref-theme`, `prefs-save`, `prefs-list` (items carry `data-name`),
//! `prefs-empty`, `device-list` (entries carry `data-handle` and
//! `data-current`), `logout-others`, `api-clients`, `header-example`.

mod agent;
mod html;
mod sections;
mod session_panel;

use std::fmt::Write as _;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST};
use axum::response::{Html, IntoResponse, Response};
use cloakroom::{CsrfToken, Flash, Scoped, Session, SessionManager};

pub use html::escape;
use sections::THEMES;
use session_panel::{SessionFacts, event_panel, session_panel};

use crate::api::ApiResult;
use crate::auth::devices;
use crate::cart::items;
use crate::checkout::Checkout;
use crate::config::DEFAULT_PORT;
use crate::event::{self, fingerprint};
use crate::{prefs, users};

/// Scripts, styles and images only from this origin (nothing inline), no framing.
const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page's script.
const SCRIPT: &str = include_str!("app.js");
/// The page's style sheet.
const STYLE: &str = include_str!("style.css");
/// The page's icon.
const FAVICON: &str = include_str!("favicon.svg");

/// How long a browser may keep the style sheet, script and icon.
const ASSET_CACHE: &str = "public, max-age=300";

/// `GET /`: the page, rendered for the session at hand. The flash messages and
/// the event waiting are shown, and taken: a reload shows them no more. A
/// visitor without a session gets the sign-in form, its CSRF token bound to a
/// small pre-session cookie, and no session is stored.
pub async fn index(
    State(manager): State<SessionManager>,
    headers: HeaderMap,
    session: Session,
    flash: Flash,
    csrf: CsrfToken,
) -> ApiResult<Response> {
    let now = SystemTime::now();
    let cart = items(&session)?;
    let user = session.user().as_deref().and_then(users::find);
    let prefs = prefs::all(&session)?;
    let happened = event::take(&session)?;
    let token = csrf.token();
    let fingerprint = fingerprint(&session);

    let mut body = flash_list(&flash.take());
    body.push_str(&event_panel(happened.as_ref(), fingerprint.as_deref()));
    body.push_str(&session_panel(&SessionFacts {
        fingerprint: fingerprint.as_deref(),
        meta: session.meta(),
        persistent: session.persistent(),
        user: user.map(|user| user.id),
        now,
    }));
    match user {
        Some(user) => {
            body.push_str(&sections::account(user, &token));
            body.push_str(&sections::cart(&cart, true));
            let checkout = Scoped::<Checkout>::of(session.clone()).get()?;
            body.push_str(&sections::checkout(&checkout));
            body.push_str(&sections::prefs(&prefs));
            let devices = devices(&manager, user.id, &session).await?;
            body.push_str(&sections::devices(&devices, now));
        }
        None => {
            body.push_str(&sections::sign_in(&token));
            body.push_str(&sections::cart(&cart, false));
            body.push_str(&sections::prefs(&prefs));
        }
    }
    body.push_str(&sections::api_clients(&host(&headers)));
    let theme = prefs
        .get("theme")
        .and_then(serde_json::Value::as_str)
        .filter(|theme| THEMES.contains(theme))
        .unwrap_or("light");
    Ok((
        [(CACHE_CONTROL, "no-store"), (CONTENT_SECURITY_POLICY, CSP)],
        Html(layout(theme, &body)),
    )
        .into_response())
}

/// `GET /app.js`: the page's script.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /style.css`: the page's style sheet.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /favicon.svg` and `GET /favicon.ico`: the page's icon (an SVG either way).
pub async fn favicon() -> Response {
    asset("image/svg+xml", FAVICON)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, ASSET_CACHE)], body).into_response()
}

/// The host the page was asked for, for the commands it shows; anything but a
/// plain host name or address (and port) is replaced by the default.
fn host(headers: &HeaderMap) -> String {
    headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host.len() <= 255
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        })
        .map_or_else(|| format!("127.0.0.1:{DEFAULT_PORT}"), str::to_owned)
}

fn layout(theme: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en" data-theme="{theme}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cloakroom demo</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/style.css">
<script src="/app.js" defer></script>
</head>
<body>
<header class="top"><img src="/favicon.svg" alt="" width="32" height="32"><div><h1>cloakroom demo</h1>
<p class="tagline">Sessions that keep every write: watch the ID change at sign-in while the cart stays.</p></div></header>
<main>
<p id="notice" role="alert"></p>
{body}</main>
</body>
</html>
"#
    )
}

/// The flash messages, if any.
fn flash_list(messages: &[String]) -> String {
    if messages.is_empty() {
        return String::new();
    }
    let mut out = String::from("<ul id=\"flash\" role=\"status\">\n");
    for message in messages {
        let _ = writeln!(out, "<li>{}</li>", escape(message));
    }
    out.push_str("</ul>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cart::Item;

    #[test]
    fn cart_lines_are_escaped() {
        let html = sections::cart(
            &[Item {
                id: "<b>\"x\"</b>".into(),
                qty: 2,
            }],
            false,
        );
        assert!(!html.contains("<b>"));
        assert!(html.contains(r#"data-id="&lt;b&gt;&quot;x&quot;&lt;/b&gt;""#));
    }

    #[test]
    fn only_a_plain_host_is_echoed() {
        let with = |host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(HOST, host.parse().unwrap());
            super::host(&headers)
        };
        assert_eq!(with("192.168.1.20:3000"), "192.168.1.20:3000");
        assert_eq!(with("[::1]:3000"), "[::1]:3000");
        assert_eq!(with("evil\"><script>"), "127.0.0.1:3000");
        assert_eq!(super::host(&HeaderMap::new()), "127.0.0.1:3000");
    }
}
