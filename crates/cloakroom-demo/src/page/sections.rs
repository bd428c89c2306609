//! The page's sections below the session panel: signing in, the account, the
//! cart, the checkout, preferences, devices, and how API clients carry the
//! ticket in a header.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::agent;
use super::html::{escape, time_element};
use crate::auth::UserDevice;
use crate::cart::{Item, MAX_ID_LEN, MAX_QTY};
use crate::checkout::{Checkout, STEPS};
use crate::config::SESSION_HEADER;
use crate::event::handle_fingerprint;
use crate::users::User;

/// The sign-in form, with its CSRF token.
pub fn sign_in(csrf: &str) -> String {
    format!(
        r#"<section id="sign-in" class="card">
<h2>Sign in</h2>
<form id="login-form" method="post" action="/auth/login">
<input type="hidden" name="_csrf" value="{}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions"><button id="login-button" type="submit">Sign in</button></div>
</form>
<p class="hint">Try <code>alice</code> / <code>alice-pass</code> or <code>bob</code> / <code>bob-pass</code>. Fill the cart first: it comes along.</p>
</section>
"#,
        escape(csrf)
    )
}

/// Who is signed in, and the ways out.
pub fn account(user: &User, csrf: &str) -> String {
    format!(
        r#"<section id="account" class="card">
<h2>Your account</h2>
<p>You are <strong id="whoami">{}</strong> (<span id="role">{}</span>).</p>
<div class="actions">
<form id="logout-form" method="post" action="/auth/logout">
<input type="hidden" name="_csrf" value="{}">
<button id="logout" type="submit">Sign out</button>
</form>
<button id="logout-all" type="button" class="danger">Sign out everywhere</button>
</div>
</section>
"#,
        escape(user.id),
        escape(user.role),
        escape(csrf)
    )
}

/// The cart's lines and the form to add one.
pub fn cart(cart: &[Item], signed_in: bool) -> String {
    let mut out =
        String::from("<section id=\"cart\" class=\"card\">\n<h2>Cart</h2>\n<ul id=\"cart-items\" class=\"lines\">\n");
    for item in cart {
        let id = escape(&item.id);
        let _ = writeln!(
            out,
            r#"<li data-id="{id}"><span class="item-id">{id}</span> <span class="times">×</span> <span class="item-qty">{}</span> <button class="cart-remove quiet" type="button" data-id="{id}" aria-label="Remove {id}">Remove</button></li>"#,
            item.qty
        );
    }
    out.push_str("</ul>\n");
    if cart.is_empty() {
        out.push_str("<p id=\"cart-empty\">Your cart is empty.</p>\n");
    }
    let _ = write!(
        out,
        r#"<form id="cart-form" class="row">
<div class="field full"><label for="cart-id">Item</label>
<input id="cart-id" name="id" required maxlength="{MAX_ID_LEN}" placeholder="socks"></div>
<div class="field"><label for="cart-qty">Quantity</label>
<input id="cart-qty" name="qty" type="number" min="1" max="{MAX_QTY}" value="1" required></div>
<button id="cart-add" type="submit">Add to cart</button>
</form>
"#
    );
    if !signed_in {
        out.push_str("<p class=\"hint\">Visitors have a cart too; signing in keeps it.</p>\n");
    }
    out.push_str("</section>\n");
    out
}

/// The checkout's steps, the current one marked.
pub fn checkout(checkout: &Checkout) -> String {
    let mut out = String::from("<section id=\"checkout\" class=\"card\">\n<h2>Checkout</h2>\n<ol class=\"steps\">\n");
    let at = STEPS.iter().position(|step| *step == checkout.step);
    for (index, step) in STEPS.iter().enumerate() {
        let class = match at {
            Some(at) if index < at => "done",
            Some(at) if index == at => "current",
            _ => "todo",
        };
        let _ = writeln!(out, r#"<li class="{class}">{step}</li>"#);
    }
    let _ = writeln!(
        out,
        "</ol>\n<p>Step: <strong id=\"checkout-step\">{}</strong></p>\n<div class=\"actions\">",
        escape(&checkout.step)
    );
    if let Some(next) = checkout.next_step() {
        let _ = writeln!(
            out,
            r#"<button id="checkout-advance" type="button" data-next="{next}">Continue to {next}</button>"#
        );
    }
    out.push_str(
        "<button id=\"checkout-reset\" type=\"button\" class=\"quiet\">Start over</button>\n</div>\n\
         <p class=\"hint\">The steps live in a session scope of their own, one key.</p>\n</section>\n",
    );
    out
}

/// The themes the page knows.
pub const THEMES: [&str; 2] = ["light", "dark"];

/// The preferences, and the form to set the theme.
pub fn prefs(prefs: &Map<String, Value>) -> String {
    let theme = prefs.get("theme").and_then(Value::as_str).unwrap_or("light");
    let mut out = String::from(
        "<section id=\"prefs\" class=\"card\">\n<h2>Preferences</h2>\n<form id=\"prefs-form\" class=\"row\">\n\
         <div class=\"field grow\"><label for=\"pref-theme\">Theme</label>\n<select id=\"pref-theme\" name=\"theme\">\n",
    );
    for option in THEMES {
        let selected = if option == theme { " selected" } else { "" };
        let _ = writeln!(out, r#"<option value="{option}"{selected}>{option}</option>"#);
    }
    out.push_str("</select></div>\n<button id=\"prefs-save\" type=\"submit\">Save</button>\n</form>\n");
    if prefs.is_empty() {
        out.push_str("<p id=\"prefs-empty\">None set yet.</p>\n");
    } else {
        out.push_str("<ul id=\"prefs-list\" class=\"lines\">\n");
        for (name, value) in prefs {
            let _ = writeln!(
                out,
                r#"<li data-name="{name}"><code>{name}</code> = <code class="pref-value">{}</code></li>"#,
                escape(&value.to_string()),
                name = escape(name)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str(
        "<p class=\"hint\">Each preference is one session key, set through the write-only handle: \
         one store call, no read.</p>\n</section>\n",
    );
    out
}

/// The user's sessions, this one marked, the others with a sign-out button.
pub fn devices(devices: &[UserDevice], now: SystemTime) -> String {
    let mut out = String::from(
        "<section id=\"devices\" class=\"card wide\">\n<h2>Your devices</h2>\n<ul id=\"device-list\" class=\"devices\">\n",
    );
    for UserDevice {
        session: device,
        current,
    } in devices
    {
        let handle = escape(device.handle.as_str());
        let agent = device.user_agent.as_deref().unwrap_or_default();
        let summary = if agent.is_empty() {
            "An unknown browser".to_owned()
        } else {
            agent::summary(agent)
        };
        let action = if *current {
            "<span class=\"badge\">this device</span>".to_owned()
        } else {
            format!(
                r#"<button class="revoke quiet" type="button" data-handle="{handle}">Sign out this device</button>"#
            )
        };
        let signed_in = device
            .signed_in_at
            .map_or_else(|| "unknown".to_owned(), |time| time_element("", time, now));
        let class = if *current { "device current" } else { "device" };
        let _ = writeln!(
            out,
            r#"<li class="{class}" data-handle="{handle}" data-current="{}">
<div class="device-head"><strong class="device-agent" title="{}">{}</strong> <code class="device-fingerprint">{}</code> {action}</div>
<div class="device-meta">from <span class="device-ip">{}</span> · signed in <span class="device-signed-in">{signed_in}</span> · last seen <span class="device-last-seen">{}</span></div>
</li>"#,
            current,
            escape(agent),
            escape(&summary),
            escape(&handle_fingerprint(device.handle.as_str())),
            escape(device.ip.as_deref().unwrap_or("an unknown address")),
            time_element("", device.last_seen, now),
        );
    }
    out.push_str(
        "</ul>\n<div class=\"actions\"><button id=\"logout-others\" type=\"button\" class=\"quiet\">Sign out my other devices</button></div>\n</section>\n",
    );
    out
}

/// How a client without cookies carries its ticket, with commands for `host`.
pub fn api_clients(host: &str) -> String {
    let api = format!("http://{}", escape(host));
    format!(
        r#"<section id="api-clients" class="card wide">
<h2>API clients: the ticket in a header</h2>
<p>A client that keeps no cookies sends an empty <code>{SESSION_HEADER}</code> header; the answer carries its ticket in <code>{SESSION_HEADER}</code> (never a cookie), and the client sends it back with each request:</p>
<pre id="header-example"><code>TICKET=$(curl -si -H '{SESSION_HEADER};' -H 'Content-Type: application/json' \
  -d '{{"username":"bob","password":"bob-pass"}}' {api}/auth/login \
  | grep -i '^{SESSION_HEADER}:' | cut -d' ' -f2 | tr -d '\r')
curl -s -H "{SESSION_HEADER}: $TICKET" {api}/auth/me</code></pre>
</section>
"#
    )
}
