//! express-session's cookie: found among the request's cookies, URL-decoded, and
//! unsigned as cookie-signature does (`s:` + sid + `.` + base64 of HMAC-SHA256 over
//! the sid, `=` padding removed), in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::cookie::cookie_values;

/// The longest cookie value looked at: express sids are 32 characters, so a
/// signed cookie is about 80; anything far longer is not one.
const MAX_VALUE: usize = 1024;

/// An express session ID whose signature verified with one of the secrets.
///
/// It names a session of the Express service: it is never logged, and never
/// stored by cloakroom.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ExpressSid(String);

impl ExpressSid {
    /// The sid, for the connect-redis key only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ExpressSid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExpressSid(…)")
    }
}

/// The first cookie named `name` in the request, URL-decoded as express's cookie
/// parser does (the raw value when it does not decode). Never panics.
pub(crate) fn find(headers: &HeaderMap, name: &str) -> Option<String> {
    let raw = cookie_values(headers, name).next()?;
    let raw = match raw {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    if raw.len() > MAX_VALUE {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?;
    Some(percent_decode(text).unwrap_or_else(|| text.to_owned()))
}

/// `decodeURIComponent`: `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The sid of a cookie value `s:<sid>.<signature>` signed with one of `secrets`;
/// `None` for an unsigned, malformed or tampered value. Every secret is tried, and
/// each comparison takes the same time whatever the bytes.
pub(crate) fn unsign(value: &str, secrets: &[Vec<u8>]) -> Option<ExpressSid> {
    let signed = value.strip_prefix("s:")?;
    let (sid, signature) = signed.rsplit_once('.')?;
    if sid.is_empty() {
        return None;
    }
    let mut verified = subtle::Choice::from(0);
    for secret in secrets {
        verified |= sign(sid, secret).as_bytes().ct_eq(signature.as_bytes());
    }
    bool::from(verified).then(|| ExpressSid(sid.to_owned()))
}

/// cookie-signature's signature of `sid`: base64 of HMAC-SHA256, no padding.
pub(crate) fn sign(sid: &str, secret: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(sid.as_bytes());
    STANDARD_NO_PAD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use http::header::COOKIE;

    use super::*;

    fn secrets(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn cookie_header(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, value.parse().unwrap());
        headers
    }

    #[test]
    fn signs_as_cookie_signature_does() {
        // cookie-signature 1.0.7: sign('hello', 'tobiiscool')
        assert_eq!(
            sign("hello", b"tobiiscool"),
            "DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QI"
        );
    }

    #[test]
    fn unsigns_with_any_secret_and_refuses_tampering() {
        let value = format!("s:abc.{}", sign("abc", b"old"));
        assert_eq!(unsign(&value, &secrets(&["new", "old"])).unwrap().expose(), "abc");
        assert_eq!(unsign(&value, &secrets(&["new"])), None);
        assert_eq!(unsign(&value.replace("abc", "abd"), &secrets(&["old"])), None);
        assert_eq!(unsign(&value[2..], &secrets(&["old"])), None, "unsigned");
        assert_eq!(
            unsign(&format!("{value}="), &secrets(&["old"])),
            None,
            "padding is not express's"
        );
        assert_eq!(unsign("s:.sig", &secrets(&["old"])), None);
        assert_eq!(unsign("s:nodot", &secrets(&["old"])), None);
    }

    #[test]
    fn a_sid_may_hold_dots() {
        let value = format!("s:a.b.{}", sign("a.b", b"k"));
        assert_eq!(unsign(&value, &secrets(&["k"])).unwrap().expose(), "a.b");
    }

    #[test]
    fn finds_the_first_cookie_and_decodes_it() {
        let headers = cookie_header("a=1; connect.sid=s%3Aabc.x%2By; connect.sid=second");
        assert_eq!(find(&headers, "connect.sid").as_deref(), Some("s:abc.x+y"));
        assert_eq!(
            find(&cookie_header("connect.sid=\"s%3Aq\""), "connect.sid").as_deref(),
            Some("s:q")
        );
        assert_eq!(
            find(&cookie_header("connect.sid=%zz"), "connect.sid").as_deref(),
            Some("%zz")
        );
        assert_eq!(
            find(&cookie_header("connect.sid=%C3"), "connect.sid").as_deref(),
            Some("%C3")
        );
        assert_eq!(find(&cookie_header("other=1"), "connect.sid"), None);
        assert_eq!(
            find(
                &cookie_header(&format!("connect.sid={}", "x".repeat(5000))),
                "connect.sid"
            ),
            None
        );
    }

    #[test]
    fn escapes_are_two_hex_digits_as_decode_uri_component_wants() {
        for raw in ["%+f", "%-1", "% 1"] {
            let headers = cookie_header(&format!("connect.sid={raw}"));
            assert_eq!(find(&headers, "connect.sid").as_deref(), Some(raw), "kept raw");
        }
    }

    #[test]
    fn hostile_headers_do_not_panic() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            http::HeaderValue::from_bytes(b"connect.sid=\xff\xfe; =; ;;").unwrap(),
        );
        assert_eq!(find(&headers, "connect.sid"), None);
        assert_eq!(
            find(&cookie_header("connect.sid=%"), "connect.sid").as_deref(),
            Some("%")
        );
        assert_eq!(
            find(&cookie_header("connect.sid=\""), "connect.sid").as_deref(),
            Some("\"")
        );
    }

    #[test]
    fn the_sid_is_not_shown_in_debug() {
        let sid = unsign(&format!("s:secret-sid.{}", sign("secret-sid", b"k")), &secrets(&["k"])).unwrap();
        assert!(!format!("{sid:?}").contains("secret-sid"));
    }
}
