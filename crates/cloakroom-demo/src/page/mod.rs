//! The HTML page at `/`: a sign-in form for anonymous visitors; who you are, the
//! cart, the checkout step and your devices once signed in. A little script
//! (`/app.js`) calls the JSON API and reloads the page.
//!
//! The sign-in and sign-out forms post to `/auth/login` and `/auth/logout` as
//! HTML forms with a hidden `_csrf` field; the messages they leave (flashes)
//! show once, in `#flash`.
//!
//! Stable element IDs for tests and scripts: `flash` (its items are the
//! messages), `login-form`, `username`, `password`, `login-button`, `notice`,
//! `whoami`, `role`, `logout-form`, `logout`, `logout-all`,
//! `cart-items` (lines carry `data-id`), `cart-empty`, `cart-form`, `cart-id`,
//! `cart-qty`, `cart-add`, `checkout-step`, `checkout-advance`, `checkout-reset`,
//! `device-list` (entries carry `data-handle` and `data-current`).

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use cloakroom::{CsrfToken, Flash, Scoped, Session, SessionManager};

use crate::api::ApiResult;
use crate::auth::{DeviceView, devices};
use crate::cart::{Item, MAX_ID_LEN, MAX_QTY, items};
use crate::checkout::Checkout;
use crate::users;

/// Scripts only from this origin (no inline script), no framing.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// The page's script.
const SCRIPT: &str = include_str!("app.js");

/// `GET /`: the page, rendered for the session at hand. The flash messages
/// waiting are shown, and taken: a reload shows them no more. A visitor without
/// a session gets the sign-in form, its CSRF token bound to a small pre-session
/// cookie, and no session is stored.
pub async fn index(
    State(manager): State<SessionManager>,
    session: Session,
    flash: Flash,
    csrf: CsrfToken,
) -> ApiResult<Response> {
    let cart = items(&session)?;
    let user = session.user().as_deref().and_then(users::find);
    let token = csrf.token();
    let mut body = flash_list(&flash.take());
    body.push_str(&match user {
        Some(user) => {
            let checkout = Scoped::<Checkout>::of(session.clone()).get()?;
            let devices = devices(&manager, user.id, &session).await?;
            signed_in(user, &token, &cart, &checkout, &devices)
        }
        None => anonymous(&token, &cart),
    });
    Ok((
        [(CACHE_CONTROL, "no-store"), (CONTENT_SECURITY_POLICY, CSP)],
        Html(layout(&body)),
    )
        .into_response())
}

/// `GET /app.js`: the page's script.
pub async fn script() -> Response {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

fn layout(body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cloakroom demo</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }}
section {{ border-top: 1px solid #ccc; padding: .5rem 0; }}
label {{ display: block; margin: .3rem 0; }}
#notice:empty {{ display: none; }}
#notice {{ color: #a00; }}
</style>
<script src="/app.js" defer></script>
</head>
<body>
<h1>cloakroom demo</h1>
<p id="notice" role="alert"></p>
{body}
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

fn anonymous(csrf: &str, cart: &[Item]) -> String {
    let mut out = format!(
        r#"<section id="sign-in">
<h2>Sign in</h2>
<form id="login-form" method="post" action="/auth/login">
<input type="hidden" name="_csrf" value="{}">
<label>User name <input id="username" name="username" autocomplete="username" required></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password" required></label>
<button id="login-button" type="submit">Sign in</button>
</form>
<p>Try <code>alice</code> / <code>alice-pass</code> or <code>bob</code> / <code>bob-pass</code>.</p>
</section>
"#,
        escape(csrf)
    );
    out.push_str(&cart_section(cart));
    out
}

fn signed_in(user: &users::User, csrf: &str, cart: &[Item], checkout: &Checkout, devices: &[DeviceView]) -> String {
    let mut out = format!(
        r#"<section id="account">
<h2>Your account</h2>
<p>You are <strong id="whoami">{}</strong> (<span id="role">{}</span>).</p>
<form id="logout-form" method="post" action="/auth/logout">
<input type="hidden" name="_csrf" value="{}">
<button id="logout" type="submit">Sign out</button>
</form>
<button id="logout-all" type="button">Sign out everywhere</button>
</section>
"#,
        escape(user.id),
        escape(user.role),
        escape(csrf)
    );
    out.push_str(&cart_section(cart));
    out.push_str(&checkout_section(checkout));
    out.push_str(&devices_section(devices));
    out
}

fn cart_section(cart: &[Item]) -> String {
    let mut out = String::from("<section id=\"cart\">\n<h2>Cart</h2>\n<ul id=\"cart-items\">\n");
    for item in cart {
        let id = escape(&item.id);
        let _ = writeln!(
            out,
            r#"<li data-id="{id}"><span class="item-id">{id}</span> × <span class="item-qty">{}</span> <button class="cart-remove" type="button" data-id="{id}">Remove</button></li>"#,
            item.qty
        );
    }
    out.push_str("</ul>\n");
    if cart.is_empty() {
        out.push_str("<p id=\"cart-empty\">Your cart is empty.</p>\n");
    }
    let _ = write!(
        out,
        r#"<form id="cart-form">
<label>Item <input id="cart-id" name="id" required maxlength="{MAX_ID_LEN}"></label>
<label>Quantity <input id="cart-qty" name="qty" type="number" min="1" max="{MAX_QTY}" value="1" required></label>
<button id="cart-add" type="submit">Add to cart</button>
</form>
</section>
"#
    );
    out
}

fn checkout_section(checkout: &Checkout) -> String {
    let mut out = format!(
        "<section id=\"checkout\">\n<h2>Checkout</h2>\n<p>Step: <strong id=\"checkout-step\">{}</strong></p>\n",
        escape(&checkout.step)
    );
    if let Some(next) = checkout.next_step() {
        let _ = writeln!(
            out,
            r#"<button id="checkout-advance" type="button" data-next="{next}">Continue to {next}</button>"#
        );
    }
    out.push_str("<button id=\"checkout-reset\" type=\"button\">Start over</button>\n</section>\n");
    out
}

fn devices_section(devices: &[DeviceView]) -> String {
    let mut out = String::from("<section id=\"devices\">\n<h2>Your devices</h2>\n<ul id=\"device-list\">\n");
    for device in devices {
        let handle = escape(&device.handle);
        let action = if device.current {
            "<strong>(this device)</strong>".to_owned()
        } else {
            format!(r#"<button class="revoke" type="button" data-handle="{handle}">Sign out this device</button>"#)
        };
        let _ = writeln!(
            out,
            r#"<li data-handle="{handle}" data-current="{}"><span class="device-agent">{}</span> from <span class="device-ip">{}</span>, since {}, last seen {} {action}</li>"#,
            device.current,
            escape(device.user_agent.as_deref().unwrap_or("an unknown browser")),
            escape(device.ip.as_deref().unwrap_or("an unknown address")),
            escape(&device.created_at),
            escape(&device.last_seen),
        );
    }
    out.push_str("</ul>\n</section>\n");
    out
}

/// `text` with `& < > " '` escaped, safe in element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape(r#"<img src=x onerror="alert('1')">&"#),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;"
        );
    }

    #[test]
    fn cart_lines_are_escaped() {
        let html = cart_section(&[Item {
            id: "<b>\"x\"</b>".into(),
            qty: 2,
        }]);
        assert!(!html.contains("<b>"));
        assert!(html.contains(r#"data-id="&lt;b&gt;&quot;x&quot;&lt;/b&gt;""#));
    }
}
