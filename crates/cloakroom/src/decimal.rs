//! Decimal digits of `u64`s, written and read without the formatting machinery:
//! the `Max-Age` of a cookie, the times of a Redis session hash.

/// The most digits a `u64` takes.
pub(crate) const MAX_DIGITS: usize = 20;

/// `n`'s decimal digits, written into the end of `buf`.
pub(crate) fn digits(n: u64, buf: &mut [u8; MAX_DIGITS]) -> &[u8] {
    let (mut n, mut start) = (n, MAX_DIGITS);
    loop {
        start -= 1;
        // A digit: n % 10 < 10.
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

/// Appends `n` in decimal.
pub(crate) fn push(out: &mut String, n: u64) {
    let mut buf = [0u8; MAX_DIGITS];
    // Digits are ASCII.
    out.push_str(std::str::from_utf8(digits(n, &mut buf)).unwrap_or_default());
}

/// A `u64` from its decimal digits and nothing else (no sign, no space); `None`
/// when `text` is not one or does not fit.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn parse(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > MAX_DIGITS {
        return None;
    }
    if text.len() < MAX_DIGITS {
        // 19 digits or fewer never overflow a u64: no check per digit.
        let mut n = 0u64;
        let mut bad = false;
        for &byte in text {
            let digit = byte.wrapping_sub(b'0');
            bad |= digit > 9;
            n = n.wrapping_mul(10).wrapping_add(u64::from(digit));
        }
        return (!bad).then_some(n);
    }
    text.iter().try_fold(0u64, |n, &digit| {
        let digit = u64::from(digit.checked_sub(b'0').filter(|d| *d < 10)?);
        n.checked_mul(10)?.checked_add(digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parses_what_the_standard_library_parses_from_plain_digits(
            text in proptest::collection::vec(prop_oneof![4 => b'0'..=b'9', 1 => any::<u8>()], 0..=MAX_DIGITS)
        ) {
            let expected = text
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| std::str::from_utf8(&text).ok()?.parse::<u64>().ok())
                .flatten();
            prop_assert_eq!(parse(&text), expected);
        }
    }

    #[test]
    fn numbers_are_written_and_read_as_plain_digits() {
        let mut buf = [0u8; MAX_DIGITS];
        for n in [0, 7, 10, 86_400, 1_795_448_134_509, 9_999_999_999_999_999_999, u64::MAX] {
            assert_eq!(digits(n, &mut buf), n.to_string().as_bytes());
            let mut out = String::from("x");
            push(&mut out, n);
            assert_eq!(out, format!("x{n}"));
            assert_eq!(parse(n.to_string().as_bytes()), Some(n));
        }
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "0x1",
            "1.5",
            "18446744073709551616",
            "99999999999999999999",
            "123456789012345678901",
            "12a",
            "123456789012345678/",
            "/",
            "1234567890123456789/",
            "1234567890123456789:",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
