//! Unpadded base64url of exactly 32 bytes (43 characters): the text of a session
//! ID and of a ticket's MAC. Fixed-size, table-driven and canonical: a decode
//! refuses any other length, any character outside the alphabet, and a last
//! character whose two unused bits are set, so each 32 bytes have one spelling.

/// Number of bytes encoded.
pub(crate) const BYTES: usize = 32;

/// Length of their text.
pub(crate) const LEN: usize = 43;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Marks a byte outside the alphabet: its top bits are set, which no 6-bit value has.
const INVALID: u8 = 0xff;

const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The text of `bytes`.
pub(crate) fn encode(bytes: &[u8; BYTES]) -> [u8; LEN] {
    let mut text = [0u8; LEN];
    for (group, chunk) in bytes.chunks_exact(3).enumerate() {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        text[group * 4..group * 4 + 4].copy_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    // 30 bytes in 10 groups; the last 2 bytes are 16 bits in 3 characters.
    let n = u32::from(bytes[30]) << 10 | u32::from(bytes[31]) << 2;
    text[40] = ALPHABET[(n >> 12) as usize & 63];
    text[41] = ALPHABET[(n >> 6) as usize & 63];
    text[42] = ALPHABET[n as usize & 63];
    text
}

/// The bytes `text` spells, or `None` when it is not exactly their canonical text.
pub(crate) fn decode(text: &[u8]) -> Option<[u8; BYTES]> {
    let text: &[u8; LEN] = text.try_into().ok()?;
    let mut bytes = [0u8; BYTES];
    let mut seen = 0u8;
    let mut value = |c: u8| {
        let v = DECODE[c as usize];
        seen |= v;
        u32::from(v)
    };
    for group in 0..10 {
        let at = group * 4;
        let n = value(text[at]) << 18 | value(text[at + 1]) << 12 | value(text[at + 2]) << 6 | value(text[at + 3]);
        bytes[group * 3..group * 3 + 3].copy_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let n = value(text[40]) << 12 | value(text[41]) << 6 | value(text[42]);
    bytes[30] = (n >> 10) as u8;
    bytes[31] = (n >> 2) as u8;
    (seen & !63 == 0 && n & 3 == 0).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encodes_as_the_base64_crate_does_and_decodes_back(bytes in any::<[u8; BYTES]>()) {
            let text = encode(&bytes);
            let theirs = URL_SAFE_NO_PAD.encode(bytes);
            prop_assert_eq!(&text[..], theirs.as_bytes());
            prop_assert_eq!(decode(&text), Some(bytes));
        }

        // Mostly alphabet characters, so that about half the texts of the right
        // length decode and the rest are refused for one stray byte or last bits.
        #[test]
        fn decodes_exactly_what_the_base64_crate_accepts(
            text in proptest::collection::vec(
                prop_oneof![60 => proptest::sample::select(&ALPHABET[..]), 1 => any::<u8>()],
                41..46,
            )
        ) {
            let mut theirs = [0u8; BYTES];
            let expected = match URL_SAFE_NO_PAD.decode_slice(&text, &mut theirs) {
                Ok(BYTES) => Some(theirs),
                _ => None,
            };
            prop_assert_eq!(decode(&text), expected);
        }

        #[test]
        fn refuses_any_byte_outside_the_alphabet(bytes in any::<[u8; BYTES]>(), at in 0..LEN, byte in any::<u8>()) {
            prop_assume!(!ALPHABET.contains(&byte));
            let mut text = encode(&bytes);
            text[at] = byte;
            prop_assert_eq!(decode(&text), None);
        }
    }

    #[test]
    fn refuses_a_second_spelling_of_the_last_bits() {
        let text = encode(&[0u8; BYTES]);
        assert_eq!(text[42], b'A');
        for spare in [b'B', b'C', b'D'] {
            let mut other = text;
            other[42] = spare;
            assert_eq!(decode(&other), None, "{}", spare as char);
        }
        let mut four = text;
        four[42] = b'E';
        assert_eq!(decode(&four).map(|b| b[31]), Some(1));
    }

    #[test]
    fn refuses_other_lengths() {
        let text = encode(&[7u8; BYTES]);
        assert_eq!(decode(&text[..42]), None);
        assert_eq!(decode(&[&text[..], b"A"].concat()), None);
        assert_eq!(decode(b""), None);
    }
}
