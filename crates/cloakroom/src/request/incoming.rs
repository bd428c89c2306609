//! Reading the request's ticket: from the transport header when the layer has one
//! and the request carries it, else from the session cookie.

use http::HeaderMap;

use super::state::Incoming;
use crate::cookie::{CookieTicket, find_ticket};
use crate::settings::Settings;

/// The request's ticket, and whether it came in the transport header (then the
/// response answers in the header, never with a cookie).
pub(crate) fn read_ticket(settings: &Settings, headers: &HeaderMap) -> (Incoming, bool) {
    if let Some(name) = &settings.header
        && let Some(value) = headers.get(name)
    {
        let incoming = match value.as_bytes() {
            [] => Incoming::Absent,
            bytes => settings.signer.verify(bytes).map_or(Incoming::Invalid, Incoming::Valid),
        };
        return (incoming, true);
    }
    let incoming = match find_ticket(headers, &settings.cookie.name, &settings.signer) {
        CookieTicket::Absent => Incoming::Absent,
        CookieTicket::Invalid => Incoming::Invalid,
        CookieTicket::Valid(ticket) => Incoming::Valid(ticket),
    };
    (incoming, false)
}
