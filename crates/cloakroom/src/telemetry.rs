//! Session fingerprints for logs: a short keyed hash of the ID, never the ID.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::id::{SessionId, hex};

/// Derives fingerprints with a key taken from the signing secret, so they are
/// stable across restarts (logs of one session line up) yet useless to forge or
/// look up tickets.
#[derive(Clone)]
pub(crate) struct Fingerprinter {
    mac: Hmac<Sha256>,
}

impl Fingerprinter {
    pub(crate) fn new(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
        mac.update(b"cloakroom/fingerprint/v1\0");
        Self { mac }
    }

    /// 12 hex digits (48 bits) identifying `id` in logs.
    pub(crate) fn fingerprint(&self, id: &SessionId) -> String {
        let mut mac = self.mac.clone();
        mac.update(id.expose().as_bytes());
        hex(&mac.finalize().into_bytes()[..6])
    }
}

/// The span each request runs in; its `session` field is filled in with the
/// fingerprint once the session is known, and `renewed` with the new one when the
/// request regenerates it.
pub(crate) fn request_span() -> tracing::Span {
    tracing::info_span!(
        "session",
        session = tracing::field::Empty,
        renewed = tracing::field::Empty
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_short_and_not_the_id() {
        let f = Fingerprinter::new(b"an-example-secret-of-32-bytes-or-more");
        let id = SessionId::generate();
        let fp = f.fingerprint(&id);
        assert_eq!(fp.len(), 12);
        assert_eq!(fp, f.fingerprint(&id));
        assert!(!id.expose().contains(&fp));
        let other = Fingerprinter::new(b"another-example-secret-of-32-bytes-or-more");
        assert_ne!(fp, other.fingerprint(&id));
    }
}
