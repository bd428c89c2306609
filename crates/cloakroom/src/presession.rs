//! The pre-session CSRF token: a random nonce in a small cookie of its own, and
//! the token bound to it (an HMAC of the nonce keyed from the first secret), so a
//! form can carry a token before any session is stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::id::random_id_bytes;

/// Length of a nonce as it travels: 16 random bytes, base64url.
pub(crate) const NONCE_LEN: usize = 22;

/// Length of a token as it travels: 32 bytes, base64url (the pre-session token,
/// an HMAC, and the session-bound token, random, alike).
pub(crate) const TOKEN_LEN: usize = 43;

/// Derives pre-session tokens from nonces.
#[derive(Clone)]
pub(crate) struct PresessionSigner {
    mac: Hmac<Sha256>,
}

impl PresessionSigner {
    pub(crate) fn new(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
        mac.update(b"cloakroom/csrf-presession/v1\0");
        Self { mac }
    }

    /// The token bound to `nonce`.
    pub(crate) fn token(&self, nonce: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(nonce.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// A new nonce for the pre-session cookie.
pub(crate) fn new_nonce() -> String {
    URL_SAFE_NO_PAD.encode(&random_id_bytes()[..16])
}

/// A new session-bound token.
pub(crate) fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_id_bytes())
}

/// True when `text` is `len` base64url characters: a well-formed nonce or token.
pub(crate) fn well_formed(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_their_nonce_and_secret() {
        let signer = PresessionSigner::new(b"a-secret-of-at-least-thirty-two-bytes!");
        let nonce = new_nonce();
        assert!(well_formed(&nonce, NONCE_LEN));
        let token = signer.token(&nonce);
        assert!(well_formed(&token, TOKEN_LEN));
        assert_eq!(token, signer.token(&nonce));
        assert_ne!(token, signer.token(&new_nonce()));
        assert_ne!(
            token,
            PresessionSigner::new(b"another-secret-of-at-least-32-bytes!!").token(&nonce)
        );
        assert!(well_formed(&new_token(), TOKEN_LEN));
        assert!(!well_formed("short", NONCE_LEN));
        assert!(!well_formed(&"+".repeat(NONCE_LEN), NONCE_LEN));
    }
}
