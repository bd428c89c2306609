//! CRC-64 with the Jones polynomial (`0xad93d23594c935a9`, reflected, initial
//! value 0, no final XOR): the checksum at the end of a Redis `DUMP` payload.

/// The polynomial, bit-reversed for the reflected (least significant bit first)
/// form.
const POLY: u64 = 0x95ac_9329_ac4b_c9b5;

/// The CRC of each byte value: one lookup per byte of input.
const TABLE: [u64; 256] = table();

const fn table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// A running CRC-64 of the bytes fed to it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Crc64(u64);

impl Crc64 {
    /// Feeds `bytes`.
    pub(super) fn update(&mut self, bytes: &[u8]) {
        let mut crc = self.0;
        for &byte in bytes {
            // The index is the low byte of the XOR.
            crc = TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8);
        }
        self.0 = crc;
    }

    /// The CRC of everything fed so far.
    pub(super) fn value(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn crc(bytes: &[u8]) -> u64 {
        let mut crc = Crc64::default();
        crc.update(bytes);
        crc.value()
    }

    /// Bit by bit, as the polynomial defines it: the reference the table must match.
    fn bitwise(bytes: &[u8]) -> u64 {
        let mut crc = 0u64;
        for &byte in bytes {
            crc ^= u64::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
            }
        }
        crc
    }

    #[test]
    fn matches_the_check_value_redis_tests_its_own_against() {
        // Redis's crc64 test: crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9ca.
        assert_eq!(crc(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(crc(b""), 0);
    }

    proptest! {
        #[test]
        fn matches_the_bitwise_definition_fed_in_any_pieces(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..300) {
            let cut = cut.min(bytes.len());
            let mut pieces = Crc64::default();
            pieces.update(&bytes[..cut]);
            pieces.update(&bytes[cut..]);
            prop_assert_eq!(pieces.value(), bitwise(&bytes));
        }
    }
}
