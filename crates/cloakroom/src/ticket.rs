//! Signed tickets: `ID.MAC`, where MAC is HMAC-SHA256 over the cookie name and the ID.
//!
//! The first secret signs; every configured secret verifies, so secrets can be
//! rotated without signing anybody out. Verification is constant-time and refuses
//! anything but the exact shape of a ticket before doing any cryptography.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::base64url;
use crate::id::{ID_LEN, SessionId};

type HmacSha256 = Hmac<Sha256>;

/// Length of the MAC in its text form (unpadded base64url of 32 bytes).
const MAC_LEN: usize = base64url::LEN;

/// Length of a whole ticket: ID, dot, MAC.
pub(crate) const TICKET_LEN: usize = ID_LEN + 1 + MAC_LEN;

/// The smallest secret accepted, in bytes.
pub(crate) const MIN_SECRET_LEN: usize = 32;

/// Signs and verifies tickets for one cookie name with a list of secrets.
#[derive(Clone)]
pub(crate) struct TicketSigner {
    /// One keyed MAC state per secret, primed with the cookie name, cloned per use.
    keys: Vec<HmacSha256>,
}

/// A ticket that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifiedTicket {
    /// The session ID the ticket carries.
    pub(crate) id: SessionId,
    /// True when an older secret verified it: the response should re-sign it.
    pub(crate) needs_resign: bool,
}

impl TicketSigner {
    /// Builds a signer. `secrets` must be non-empty and each at least
    /// [`MIN_SECRET_LEN`] bytes; the configuration checks that before calling here.
    pub(crate) fn new<S: AsRef<[u8]>>(cookie_name: &str, secrets: &[S]) -> Self {
        let keys = secrets
            .iter()
            .map(|secret| {
                let mut mac = HmacSha256::new_from_slice(secret.as_ref()).expect("HMAC accepts keys of any length");
                mac.update(cookie_name.as_bytes());
                mac.update(b"\0");
                mac
            })
            .collect();
        Self { keys }
    }

    /// The ticket for `id`, signed with the first secret.
    pub(crate) fn sign(&self, id: &SessionId) -> String {
        let mut mac = self.keys[0].clone();
        mac.update(id.expose().as_bytes());
        let tag = base64url::encode(&mac.finalize().into_bytes().into());
        let mut ticket = String::with_capacity(TICKET_LEN);
        ticket.push_str(id.expose());
        ticket.push('.');
        // base64url is ASCII.
        ticket.push_str(std::str::from_utf8(&tag).unwrap_or_default());
        ticket
    }

    /// Verifies a ticket as received from a client (any bytes). `None` unless it is
    /// exactly `ID.MAC` and one of the secrets produced the MAC.
    pub(crate) fn verify(&self, ticket: &[u8]) -> Option<VerifiedTicket> {
        if ticket.len() != TICKET_LEN || ticket[ID_LEN] != b'.' {
            return None;
        }
        let (id_text, mac_text) = (&ticket[..ID_LEN], &ticket[ID_LEN + 1..]);
        let id = SessionId::parse_bytes(id_text)?;
        let given = base64url::decode(mac_text)?;
        let mut matched = None;
        // Check every secret, so the time taken does not tell which one matched.
        for (index, key) in self.keys.iter().enumerate() {
            let mut mac = key.clone();
            mac.update(id_text);
            let expected: [u8; 32] = mac.finalize().into_bytes().into();
            if bool::from(equal(&expected, &given)) && matched.is_none() {
                matched = Some(index);
            }
        }
        matched.map(|index| VerifiedTicket {
            id,
            needs_resign: index > 0,
        })
    }
}

/// Whether two MACs are equal, in time that does not depend on where they differ:
/// the differences of four words are gathered, then compared once.
fn equal(a: &[u8; 32], b: &[u8; 32]) -> subtle::Choice {
    let word = |bytes: &[u8; 32], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        u64::from_ne_bytes(w)
    };
    let differences = (0..4).fold(0u64, |acc, i| acc | (word(a, i) ^ word(b, i)));
    differences.ct_eq(&0)
}

impl std::fmt::Debug for TicketSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketSigner")
            .field("secrets", &self.keys.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &[u8] = b"an-example-secret-of-32-bytes-or-more-A";
    const B: &[u8] = b"an-example-secret-of-32-bytes-or-more-B";

    fn signer(secrets: &[&[u8]]) -> TicketSigner {
        TicketSigner::new("sid", secrets)
    }

    #[test]
    fn a_signed_ticket_verifies_with_the_same_secret() {
        let s = signer(&[A]);
        let id = SessionId::generate();
        let ticket = s.sign(&id);
        assert_eq!(ticket.len(), TICKET_LEN);
        let verified = s.verify(ticket.as_bytes()).unwrap();
        assert_eq!(verified.id, id);
        assert!(!verified.needs_resign);
    }

    #[test]
    fn a_ticket_signed_by_an_older_secret_verifies_and_asks_for_resigning() {
        let old = signer(&[B]);
        let rotated = signer(&[A, B]);
        let ticket = old.sign(&SessionId::generate());
        assert!(rotated.verify(ticket.as_bytes()).unwrap().needs_resign);
    }

    #[test]
    fn a_ticket_signed_by_an_unknown_secret_is_refused() {
        let ticket = signer(&[B]).sign(&SessionId::generate());
        assert!(signer(&[A]).verify(ticket.as_bytes()).is_none());
    }

    #[test]
    fn a_ticket_for_another_cookie_name_is_refused() {
        let other = TicketSigner::new("other", &[A]);
        let ticket = other.sign(&SessionId::generate());
        assert!(signer(&[A]).verify(ticket.as_bytes()).is_none());
    }

    #[test]
    fn swapping_the_id_of_a_valid_ticket_is_refused() {
        let s = signer(&[A]);
        let ticket = s.sign(&SessionId::generate());
        let forged = format!("{}{}", SessionId::generate().expose(), &ticket[ID_LEN..]);
        assert!(s.verify(forged.as_bytes()).is_none());
    }

    #[test]
    fn macs_differing_in_any_byte_are_unequal() {
        let mac: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(13));
        assert!(bool::from(equal(&mac, &mac)));
        for at in 0..32 {
            for bit in 0..8 {
                let mut other = mac;
                other[at] ^= 1 << bit;
                assert!(!bool::from(equal(&mac, &other)), "byte {at}, bit {bit}");
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_verify(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert!(signer(&[A, B]).verify(&input).is_none());
        }

        #[test]
        fn ticket_shaped_strings_never_verify_unless_signed(
            id in "[A-Za-z0-9_-]{43}",
            mac in "[A-Za-z0-9_-]{43}",
        ) {
            let ticket = format!("{id}.{mac}");
            prop_assert!(signer(&[A]).verify(ticket.as_bytes()).is_none());
        }

        #[test]
        fn any_single_byte_change_to_a_signed_ticket_is_refused(pos in 0..TICKET_LEN, byte in any::<u8>()) {
            let s = signer(&[A]);
            let ticket = s.sign(&SessionId::generate());
            let mut bytes = ticket.clone().into_bytes();
            prop_assume!(bytes[pos] != byte);
            bytes[pos] = byte;
            prop_assert!(s.verify(&bytes).is_none());
        }

        #[test]
        fn every_signed_ticket_verifies(_seed in any::<u64>()) {
            let s = signer(&[A, B]);
            let id = SessionId::generate();
            prop_assert_eq!(s.verify(s.sign(&id).as_bytes()).map(|v| v.id), Some(id));
        }
    }
}
