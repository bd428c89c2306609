//! Session IDs, the store keys derived from them, and their log fingerprints.
//!
//! A [`SessionId`] is 32 bytes from a CSPRNG (ChaCha20 per thread, seeded and
//! regularly reseeded from the operating system), written as 43 characters of
//! unpadded base64url. Stores never see it: they are keyed by
//! [`StoreKey`], the SHA-256 of the ID, so a dump of the store yields no tickets.

use std::cell::RefCell;
use std::fmt;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use crate::base64url;

/// Number of random bytes in a session ID (256 bits).
pub(crate) const ID_BYTES: usize = base64url::BYTES;

/// Length of a session ID in its text form (unpadded base64url of [`ID_BYTES`]).
pub(crate) const ID_LEN: usize = base64url::LEN;

/// How many IDs a thread's generator issues before it is rekeyed from the
/// operating system.
pub(crate) const RESEED_AFTER: u32 = 4096;

struct IdGenerator {
    rng: ChaCha20Rng,
    issued: u32,
}

impl IdGenerator {
    fn from_os() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system's random source failed");
        Self {
            rng: ChaCha20Rng::from_seed(seed),
            issued: 0,
        }
    }
}

thread_local! {
    static GENERATOR: RefCell<Option<IdGenerator>> = const { RefCell::new(None) };
}

pub(crate) fn random_id_bytes() -> [u8; ID_BYTES] {
    GENERATOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let generator = match slot.as_mut() {
            Some(generator) if generator.issued < RESEED_AFTER => generator,
            _ => slot.insert(IdGenerator::from_os()),
        };
        generator.issued += 1;
        let mut bytes = [0u8; ID_BYTES];
        generator.rng.fill_bytes(&mut bytes);
        bytes
    })
}

/// A session ID: 256 random bits.
///
/// `Debug` never prints the ID; [`SessionId::expose`] hands out the text form for
/// the rare place that needs it (an API that gives the ticket to a client, a test).
///
/// ```
/// use cloakroom::SessionId;
///
/// let id = SessionId::generate();
/// assert_eq!(id.expose().len(), 43);
/// assert!(!format!("{id:?}").contains(id.expose()));
/// assert_eq!(SessionId::parse(id.expose()), Some(id.clone()));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId {
    /// The text form, kept inline: an ID is cloned and parsed on every request, and
    /// neither allocates.
    text: [u8; ID_LEN],
}

impl SessionId {
    /// Draws a new ID: 256 bits from ChaCha20 keyed by the operating system's
    /// random source, one generator per thread, rekeyed from the OS every 4096
    /// IDs. That costs a few dozen
    /// nanoseconds per ID instead of a system call.
    ///
    /// # Panics
    ///
    /// Only if the operating system has no usable random source, in which case no
    /// session could be issued safely anyway.
    ///
    /// ```
    /// use cloakroom::SessionId;
    ///
    /// assert_ne!(SessionId::generate(), SessionId::generate());
    /// ```
    pub fn generate() -> Self {
        Self {
            text: base64url::encode(&random_id_bytes()),
        }
    }

    /// Parses the text form of an ID: exactly 43 characters of canonical unpadded
    /// base64url. Anything else gives `None`.
    ///
    /// ```
    /// use cloakroom::SessionId;
    ///
    /// assert!(SessionId::parse("too-short").is_none());
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        Self::parse_bytes(text.as_bytes())
    }

    pub(crate) fn parse_bytes(text: &[u8]) -> Option<Self> {
        // The decode refuses non-canonical trailing bits, so each ID has one text form.
        base64url::decode(text)?;
        Some(Self {
            text: text.try_into().ok()?,
        })
    }

    /// The ID's text form. Treat it as a secret: whoever holds it holds the session.
    ///
    /// ```
    /// use cloakroom::SessionId;
    ///
    /// let id = SessionId::generate();
    /// assert!(id.expose().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    /// ```
    pub fn expose(&self) -> &str {
        // Only base64url characters are ever stored: always valid UTF-8.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The key under which stores keep this session: SHA-256 of the ID.
    ///
    /// ```
    /// use cloakroom::SessionId;
    ///
    /// let id = SessionId::generate();
    /// assert_eq!(id.store_key(), id.store_key());
    /// assert_ne!(id.store_key(), SessionId::generate().store_key());
    /// ```
    pub fn store_key(&self) -> StoreKey {
        StoreKey(Sha256::digest(self.text).into())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

/// The key a store files a session under: SHA-256 of its [`SessionId`].
///
/// Safe to log and to keep: it cannot be turned back into a ticket.
///
/// ```
/// use cloakroom::SessionId;
/// use cloakroom::store::StoreKey;
///
/// let key = SessionId::generate().store_key();
/// assert_eq!(StoreKey::from_hex(&key.to_hex()), Some(key));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey(pub [u8; 32]);

impl StoreKey {
    /// The key as 64 lowercase hex digits, the form stores use in their key names.
    ///
    /// ```
    /// use cloakroom::store::StoreKey;
    ///
    /// let hex = StoreKey([0xab; 32]).to_hex();
    /// assert_eq!(hex, "ab".repeat(32));
    /// ```
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// [`to_hex`](Self::to_hex) without allocating: the 64 ASCII digits.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn hex_digits(&self) -> [u8; 64] {
        let mut digits = [0u8; 64];
        for (pair, byte) in digits.chunks_exact_mut(2).zip(self.0) {
            pair.copy_from_slice(&hex_pair(byte));
        }
        digits
    }

    /// Parses 64 hex digits back into a key.
    ///
    /// ```
    /// use cloakroom::store::StoreKey;
    ///
    /// assert_eq!(StoreKey::from_hex(&"0F".repeat(32)), Some(StoreKey([0x0f; 32])));
    /// assert_eq!(StoreKey::from_hex("not hex"), None);
    /// ```
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in text.chunks_exact(2).enumerate() {
            out[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Some(Self(out))
    }

    /// The opaque handle that names this session in per-user listings.
    ///
    /// It is derived from the store key with a separate hash, so it is neither the
    /// session ID nor the store key, and cannot be turned into either.
    ///
    /// ```
    /// use cloakroom::SessionId;
    ///
    /// let key = SessionId::generate().store_key();
    /// assert_eq!(key.handle(), key.handle());
    /// assert!(!key.to_hex().contains(key.handle().as_str()));
    /// ```
    pub fn handle(&self) -> SessionHandle {
        let mut hasher = Sha256::new();
        hasher.update(b"cloakroom/handle/v1\0");
        hasher.update(self.0);
        SessionHandle(hex(&hasher.finalize()[..16]))
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKey({})", &self.to_hex()[..12])
    }
}

/// An opaque name for one of a user's sessions, safe to show to that user (in a
/// "your devices" page) and to send back to revoke that session.
///
/// ```
/// use cloakroom::SessionId;
///
/// let id = SessionId::generate();
/// let handle = id.store_key().handle();
/// assert_eq!(handle.as_str().len(), 32);
/// assert!(!id.expose().contains(handle.as_str()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle(String);

impl SessionHandle {
    /// The handle's text (32 hex digits).
    ///
    /// ```
    /// use cloakroom::SessionId;
    ///
    /// let handle = SessionId::generate().store_key().handle();
    /// assert!(handle.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
    /// assert_eq!(handle.to_string(), handle.as_str());
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a handle received from a client. Any text is accepted; an unknown
    /// handle simply matches no session.
    ///
    /// ```
    /// use cloakroom::{SessionHandle, SessionId};
    ///
    /// let handle = SessionId::generate().store_key().handle();
    /// // What a "sign out this device" form posts back.
    /// let posted = handle.as_str().to_owned();
    /// assert_eq!(SessionHandle::from_client(posted), handle);
    /// ```
    pub fn from_client(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends the lowercase hex of `bytes` to `out`.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        // Hex digits are ASCII: a whole pair at once, no per-character encoding.
        out.push_str(std::str::from_utf8(&hex_pair(b)).unwrap_or_default());
    }
}

/// The two lowercase hex digits of `b`.
fn hex_pair(b: u8) -> [u8; 2] {
    [HEX_DIGITS[usize::from(b >> 4)], HEX_DIGITS[usize::from(b & 15)]]
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_43_chars_of_base64url_and_distinct() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_eq!(a.expose().len(), ID_LEN);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn ids_stay_distinct_across_reseeds_and_threads() {
        let per_thread = (RESEED_AFTER as usize) * 2 + 10;
        let threads: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(move || (0..per_thread).map(|_| random_id_bytes()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for thread in threads {
            for bytes in thread.join().unwrap() {
                assert!(all.insert(bytes), "an ID repeated");
            }
        }
        assert_eq!(all.len(), per_thread * 2);
    }

    #[test]
    fn non_canonical_base64_is_not_an_id() {
        let id = SessionId::generate();
        let mut text = id.expose().to_string();
        // The last character carries 2 unused bits; flipping them gives a second
        // spelling of the same bytes, which must be refused.
        let last = text.pop().unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let pos = alphabet.iter().position(|&c| c as char == last).unwrap();
        text.push(alphabet[pos ^ 1] as char);
        assert!(SessionId::parse(&text).is_none());
    }

    #[test]
    fn store_key_hex_round_trips_and_rejects_garbage() {
        let key = SessionId::generate().store_key();
        assert_eq!(StoreKey::from_hex(&key.to_hex()), Some(key));
        assert_eq!(StoreKey::from_hex("zz"), None);
        assert_eq!(StoreKey::from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn debug_output_hides_the_id() {
        let id = SessionId::generate();
        assert_eq!(format!("{id:?}"), "SessionId(<redacted>)");
    }
}
