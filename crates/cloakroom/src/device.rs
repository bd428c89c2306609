//! Device details: the client's `User-Agent` (bounded) and address, recorded in
//! a session when it is created or bound to a user, for "your devices" lists.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::header::{HeaderName, USER_AGENT};
use http::{Extensions, HeaderMap};
use serde::{Deserialize, Serialize};

/// Where a session keeps its device details (the scope namespace: no
/// application key can collide with it).
pub(crate) const DEVICE_KEY: &str = "scope::device";

/// The most of a `User-Agent` kept, in bytes.
pub(crate) const MAX_USER_AGENT: usize = 256;

/// The proxies' client address header.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// How the layer learns a request's peer address from its extensions.
pub(crate) type ClientAddr = Arc<dyn Fn(&Extensions) -> Option<IpAddr> + Send + Sync>;

/// What the layer records, and how it finds the client's address.
#[derive(Clone, Default)]
pub(crate) struct DeviceOptions {
    pub(crate) record: bool,
    pub(crate) client_addr: Option<ClientAddr>,
    pub(crate) trusted_proxies: Vec<IpAddr>,
}

impl fmt::Debug for DeviceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceOptions")
            .field("record", &self.record)
            .field("client_addr", &self.client_addr.is_some())
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

/// A session's device details as stored (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Device {
    pub(crate) user_agent: Option<String>,
    pub(crate) ip: Option<String>,
    /// When the session was bound to its user (ms since the epoch): the sign-in,
    /// which for a session that browsed first comes after its creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) signed_in_at: Option<u64>,
}

/// A request's device, as taken from its headers and extensions.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    user_agent: Option<http::HeaderValue>,
    ip: Option<IpAddr>,
}

impl Captured {
    /// The details to store, with the time of a sign-in (ms) when there is one.
    pub(crate) fn device(&self, signed_in_at: Option<u64>) -> Device {
        Device {
            user_agent: self
                .user_agent
                .as_ref()
                .and_then(|value| value.to_str().ok())
                .map(|agent| bounded(agent, MAX_USER_AGENT).to_owned()),
            ip: self.ip.map(|ip| ip.to_string()),
            signed_in_at,
        }
    }
}

impl Device {
    /// These details as the JSON to store.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl DeviceOptions {
    /// What the request says of its device, taken cheaply on every request (the
    /// `User-Agent` header value is shared, not copied); `None` when recording is
    /// off. [`Captured::device`] makes the details only when a commit stores them.
    pub(crate) fn capture(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<Captured> {
        if !self.record {
            return None;
        }
        Some(Captured {
            user_agent: headers.get(USER_AGENT).cloned(),
            ip: self.client_ip(headers, extensions),
        })
    }

    /// The client's address: the peer's, or behind a trusted proxy the nearest
    /// `X-Forwarded-For` hop that is not one of the trusted proxies (walking from
    /// the right, stopping at anything that is no address: the client wrote what
    /// stands left of its own proxy's entry).
    fn client_ip(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        let peer = (self.client_addr.as_ref()?)(extensions)?;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.into_iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusted_proxies.contains(&ip) => continue,
                Ok(ip) => return Some(ip),
                Err(_) => return None,
            }
        }
        None
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn bounded(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    struct Peer(IpAddr);

    fn options(proxies: &[&str]) -> DeviceOptions {
        DeviceOptions {
            record: true,
            client_addr: Some(Arc::new(|ext: &Extensions| ext.get::<Peer>().map(|p| p.0))),
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    fn device(options: &DeviceOptions, peer: &str, forwarded: Option<&str>, agent: &str) -> Device {
        let mut headers = HeaderMap::new();
        headers.insert(USER_AGENT, agent.parse().unwrap());
        if let Some(forwarded) = forwarded {
            headers.insert("x-forwarded-for", forwarded.parse().unwrap());
        }
        let mut extensions = Extensions::new();
        extensions.insert(Peer(peer.parse().unwrap()));
        options.capture(&headers, &extensions).unwrap().device(None)
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let direct = device(&options(&[]), "203.0.113.7", Some("198.51.100.1"), "curl/8");
        assert_eq!(
            direct.ip.as_deref(),
            Some("203.0.113.7"),
            "a forwarding header is not trusted"
        );
        assert_eq!(direct.user_agent.as_deref(), Some("curl/8"));
        let proxied = device(&options(&["10.0.0.1"]), "10.0.0.1", Some("1.2.3.4, 198.51.100.1"), "x");
        assert_eq!(
            proxied.ip.as_deref(),
            Some("198.51.100.1"),
            "the nearest hop the proxy saw"
        );
        let chained = device(
            &options(&["10.0.0.1", "10.0.0.2"]),
            "10.0.0.1",
            Some("198.51.100.1, 10.0.0.2"),
            "x",
        );
        assert_eq!(chained.ip.as_deref(), Some("198.51.100.1"));
        let garbage = device(
            &options(&["10.0.0.1"]),
            "10.0.0.1",
            Some("1.2.3.4, evil, 10.0.0.1"),
            "x",
        );
        assert_eq!(garbage.ip, None, "a hop that is no address ends the walk");
        let missing = device(&options(&["10.0.0.1"]), "10.0.0.1", None, "x");
        assert_eq!(missing.ip, None);
    }

    #[test]
    fn long_user_agents_are_cut_on_a_character_boundary() {
        assert_eq!(bounded("abc", 2), "ab");
        assert_eq!(bounded("aé", 2), "a");
        let long = "a".repeat(1000);
        let device = device(&options(&[]), "203.0.113.7", None, &long);
        assert_eq!(device.user_agent.unwrap().len(), MAX_USER_AGENT);
    }

    #[test]
    fn nothing_is_captured_unless_asked() {
        assert!(
            DeviceOptions::default()
                .capture(&HeaderMap::new(), &Extensions::new())
                .is_none()
        );
    }
}
