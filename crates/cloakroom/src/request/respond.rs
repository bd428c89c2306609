//! What the response tells the client: the ticket (a cookie, or the transport
//! header), and the cache headers that keep a personalised answer out of shared
//! caches.

use std::time::Duration;

use http::header::{CACHE_CONTROL, HOST, HeaderName, HeaderValue, ORIGIN, REFERER, SET_COOKIE, VARY};
use http::response::Parts;

use super::RequestSession;
use super::state::{CookieAction, Incoming, Status};
use crate::response::Public;

impl RequestSession {
    /// Writes the ticket (cookie or header) and cache headers into the response.
    pub(crate) fn finish(&self, response: &mut Parts) {
        let settings = &self.settings;
        self.set_presession_cookie(response);
        #[cfg(feature = "express")]
        let removed = self.remove_express_cookie(response);
        #[cfg(not(feature = "express"))]
        let removed = false;
        let state = self.state();
        let loaded = state.status.is_loaded();
        let action = match state.cookie {
            CookieAction::Keep if state.status == Status::Stored => {
                let resign = matches!(&state.incoming, Incoming::Valid(t) if t.needs_resign);
                if settings.rolling || resign {
                    CookieAction::Set
                } else {
                    CookieAction::Keep
                }
            }
            CookieAction::Keep if matches!(state.incoming, Incoming::Invalid | Incoming::Gone) => CookieAction::Remove,
            other => other,
        };
        // Nothing to remove when the client never sent a ticket, and never for a
        // stale one: the client may hold its session's newer ticket already.
        let action = match (action, &state.incoming) {
            (CookieAction::Remove, Incoming::Absent | Incoming::Moved) => CookieAction::Keep,
            (action, _) => action,
        };
        let via_header = self.via_header && settings.header.is_some();
        if matches!(action, CookieAction::Keep) && !via_header {
            // The client's cookie stands; a response built from the session's data
            // is still this client's alone.
            if removed || (loaded && response.extensions.get::<Public>().is_none()) {
                add_cache_headers(response, HeaderValue::from_static("cookie"));
            }
            return;
        }
        let ticket = match (action, &state.id) {
            (CookieAction::Set, Some(id)) => Some(settings.signer.sign(id)),
            (CookieAction::Set, None) => return,
            _ => None,
        };
        let persistent = state.persistent(settings.cookie.persistent);
        let max_age = match state.expires_at() {
            Some(expiry) if matches!(action, CookieAction::Set) => {
                expiry.duration_since(self.now()).unwrap_or(Duration::ZERO)
            }
            _ => settings.idle_timeout,
        };
        // A header client keeps the (re-signed) ticket it sent and still holds.
        let echo = match (via_header, action) {
            (true, CookieAction::Keep) => state.incoming.id().map(|id| settings.signer.sign(id)),
            _ => None,
        };
        drop(state);

        if let (true, Some(header)) = (via_header, &settings.header) {
            let value = match (action, ticket) {
                (CookieAction::Set, Some(ticket)) => ticket,
                (CookieAction::Remove, _) => String::new(),
                _ => match echo {
                    Some(ticket) => ticket,
                    None => {
                        if loaded && response.extensions.get::<Public>().is_none() {
                            add_cache_headers(response, header_value(header));
                        }
                        return;
                    }
                },
            };
            let value = HeaderValue::from_str(&value).expect("tickets are base64url");
            response.headers.insert(header.clone(), value);
            add_cache_headers(response, header_value(header));
            return;
        }
        let cookie = match (action, ticket) {
            (CookieAction::Set, Some(ticket)) => settings.cookie.set_persistent(&ticket, max_age, persistent),
            (CookieAction::Remove, _) => settings.cookie.removal(),
            _ => return,
        };
        response.headers.append(SET_COOKIE, cookie);
        add_cache_headers(response, HeaderValue::from_static("cookie"));
        if let (CookieAction::Set, Some(host)) = (action, &self.plain_http_host)
            && !settings
                .warned_plain_http
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                host = %host,
                "a Secure session cookie went out over plain http to a host that is not a loopback one: \
                 browsers drop it, so sessions will not stick; serve https, or use .secure(false) for local \
                 http (logged once)"
            );
        }
    }
}

/// The host of a request that came over plain http, as its own headers tell
/// (`X-Forwarded-Proto: http`, or an `Origin` or `Referer` starting `http://`),
/// to a host that is not a loopback one; `None` when the request says https,
/// says nothing, or goes to `localhost`, `127.0.0.0/8` or `[::1]`.
pub(crate) fn plain_http_host(headers: &http::HeaderMap) -> Option<String> {
    // Names given as `HeaderName`s: a `&str` would be parsed again on every
    // request, and this runs on every one.
    const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let plain = match text(&X_FORWARDED_PROTO) {
        Some(proto) => proto
            .split(',')
            .next()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("http")),
        None => [text(&ORIGIN), text(&REFERER)]
            .into_iter()
            .flatten()
            .any(|url| url.len() > 7 && url[..7].eq_ignore_ascii_case("http://")),
    };
    if !plain {
        return None;
    }
    let host = text(&HOST)?.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let loopback =
        name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    (!loopback).then(|| host.to_owned())
}

impl RequestSession {
    /// The pre-session CSRF cookie, when this request drew its nonce: a response
    /// that carries it is this client's alone.
    fn set_presession_cookie(&self, response: &mut Parts) {
        let nonce = {
            let mut state = self.state();
            if !std::mem::take(&mut state.set_presession) {
                return;
            }
            state.presession.clone()
        };
        if let Some(nonce) = nonce {
            let settings = &self.settings;
            let cookie = settings.cookie.presession(&settings.presession_cookie, &nonce);
            response.headers.append(SET_COOKIE, cookie);
            add_cache_headers(response, HeaderValue::from_static("cookie"));
        }
    }
}

fn header_value(name: &HeaderName) -> HeaderValue {
    HeaderValue::from_str(name.as_str()).expect("header names are valid values")
}

/// `Vary` on the ticket's header (unless already there) and, unless the handler
/// set its own, `Cache-Control: private, no-store`: no shared cache may hand this
/// response to another client.
fn add_cache_headers(response: &mut Parts, vary_on: HeaderValue) {
    let varies = response.headers.get_all(VARY).iter().any(|value| {
        value.to_str().is_ok_and(|list| {
            list.split(',')
                .map(str::trim)
                .any(|name| name == "*" || name.eq_ignore_ascii_case(vary_on.to_str().unwrap_or_default()))
        })
    });
    if !varies {
        response.headers.append(VARY, vary_on);
    }
    if !response.headers.contains_key(CACHE_CONTROL) {
        response
            .headers
            .insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(pairs: &[(&'static str, &'static str)]) -> Option<String> {
        let mut headers = http::HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        plain_http_host(&headers)
    }

    #[test]
    fn plain_http_to_a_lan_host_is_told_apart_from_https_and_loopback() {
        let lan = [("host", "192.168.1.20:3000"), ("origin", "http://192.168.1.20:3000")];
        assert_eq!(host_of(&lan).as_deref(), Some("192.168.1.20:3000"));
        assert_eq!(
            host_of(&[("host", "shop.example"), ("x-forwarded-proto", "http")]).as_deref(),
            Some("shop.example")
        );
        assert_eq!(
            host_of(&[
                ("host", "shop.example"),
                ("x-forwarded-proto", "https"),
                ("referer", "http://x/")
            ]),
            None
        );
        assert_eq!(
            host_of(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")]),
            None
        );
        assert_eq!(
            host_of(&[("host", "localhost:3000"), ("referer", "http://localhost:3000/")]),
            None
        );
        assert_eq!(
            host_of(&[("host", "[::1]:3000"), ("origin", "http://[::1]:3000")]),
            None
        );
        assert_eq!(host_of(&[("host", "192.168.1.20:3000")]), None, "nothing says http");
        assert_eq!(
            host_of(&[("host", "shop.example"), ("origin", "https://shop.example")]),
            None
        );
    }
}
