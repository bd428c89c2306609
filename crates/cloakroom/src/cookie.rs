//! Reading the session cookie out of hostile `Cookie` headers, and writing `Set-Cookie`.

use std::time::Duration;

use http::HeaderValue;
use http::header::{COOKIE, HeaderMap};

use crate::decimal;
use crate::ticket::{TICKET_LEN, TicketSigner, VerifiedTicket};

/// The most cookies with our name that are tried against the signer. A request
/// that repeats the name more often than this is treated like any other bad ticket.
const MAX_CANDIDATES: usize = 4;

/// The SameSite attribute of the session cookie.
///
/// ```
/// use cloakroom::SameSite;
///
/// assert_eq!(SameSite::default(), SameSite::Lax);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Sent on same-site requests and top-level cross-site navigations (the default).
    #[default]
    Lax,
    /// Sent on every request; requires `Secure`.
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// What the request's `Cookie` headers held under the session cookie's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CookieTicket {
    /// No cookie of that name.
    Absent,
    /// A cookie of that name that verified.
    Valid(VerifiedTicket),
    /// One or more cookies of that name, none of which verified.
    Invalid,
}

/// Finds and verifies the session cookie named `name` in `headers`.
///
/// Never panics, whatever the headers hold: non-UTF-8 bytes, thousands of cookies,
/// huge values. Only values of exactly a ticket's length reach the signer, at most
/// [`MAX_CANDIDATES`] of them; the first that verifies wins.
pub(crate) fn find_ticket(headers: &HeaderMap, name: &str, signer: &TicketSigner) -> CookieTicket {
    let mut seen = false;
    let mut tried = 0;
    for mut value in cookie_values(headers, name) {
        seen = true;
        if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
            value = &value[1..value.len() - 1];
        }
        if value.len() != TICKET_LEN || tried == MAX_CANDIDATES {
            continue;
        }
        tried += 1;
        if let Some(verified) = signer.verify(value) {
            return CookieTicket::Valid(verified);
        }
    }
    if seen {
        CookieTicket::Invalid
    } else {
        CookieTicket::Absent
    }
}

/// The values of every cookie named `name` in `headers`, trimmed, in order.
pub(crate) fn cookie_values<'h>(headers: &'h HeaderMap, name: &'h str) -> impl Iterator<Item = &'h [u8]> + 'h {
    headers.get_all(COOKIE).iter().flat_map(move |header| Named {
        rest: header.as_bytes(),
        name: name.as_bytes(),
    })
}

/// The values of the pairs named `name` in one `Cookie` header (`a=1; b=2`):
/// each pair is found with `memchr` and only its start is compared, so a header
/// is read about once, not byte by byte per pair.
struct Named<'h> {
    rest: &'h [u8],
    name: &'h [u8],
}

impl<'h> Iterator for Named<'h> {
    type Item = &'h [u8];

    fn next(&mut self) -> Option<&'h [u8]> {
        while !self.rest.is_empty() {
            let end = memchr::memchr(b';', self.rest).unwrap_or(self.rest.len());
            let pair = &self.rest[..end];
            self.rest = self.rest.get(end + 1..).unwrap_or_default();
            // The name is a token: it holds no `=`, so the first `=` after it
            // (and any blanks) is the pair's.
            let Some(after) = trim_start(pair).strip_prefix(self.name) else {
                continue;
            };
            if let Some(value) = trim_start(after).strip_prefix(b"=") {
                return Some(trim(value));
            }
        }
        None
    }
}

/// The first value of the cookie `name` in `headers` that `accept` takes, as
/// text. Never panics, whatever the headers hold.
pub(crate) fn find_value(headers: &HeaderMap, name: &str, accept: impl Fn(&str) -> bool) -> Option<String> {
    cookie_values(headers, name)
        .filter_map(|value| std::str::from_utf8(value).ok())
        .find(|value| accept(value))
        .map(str::to_owned)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let bytes = trim_start(bytes);
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// True when `name` is a valid cookie name (an RFC 6265 token).
pub(crate) fn is_valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// True when `value` can stand in a cookie attribute (Path, Domain) unquoted.
pub(crate) fn is_valid_attribute_value(value: &str) -> bool {
    value.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b';')
}

/// How long a rendered cookie lives.
#[derive(Debug, Clone, Copy)]
enum Lifetime {
    /// `Max-Age` of this many seconds.
    For(u64),
    /// No `Max-Age`: until the browser ends its session.
    BrowserSession,
    /// Gone at once: a removal.
    Removed,
}

/// The attributes of a cookie's `Set-Cookie`: the session cookie's (shared by every
/// response of one layer), or an express cookie's for its removal.
#[derive(Debug, Clone)]
pub(crate) struct CookieAttributes {
    /// Cookie name.
    pub(crate) name: String,
    /// `Path` attribute.
    pub(crate) path: String,
    /// `Domain` attribute, if any.
    pub(crate) domain: Option<String>,
    /// `Secure` flag.
    pub(crate) secure: bool,
    /// `HttpOnly` flag.
    pub(crate) http_only: bool,
    /// `SameSite` attribute, if any.
    pub(crate) same_site: Option<SameSite>,
    /// `Partitioned` flag (a CHIPS cookie).
    pub(crate) partitioned: bool,
    /// False for a browser-session cookie (no `Max-Age`).
    pub(crate) persistent: bool,
}

impl CookieAttributes {
    /// `Set-Cookie` carrying `ticket`, living `max_age` when persistent.
    pub(crate) fn set(&self, ticket: &str, max_age: Duration) -> HeaderValue {
        self.set_persistent(ticket, max_age, self.persistent)
    }

    /// [`set`](Self::set), persistent or not as `persistent` says (a session's
    /// own choice over the layer's).
    pub(crate) fn set_persistent(&self, ticket: &str, max_age: Duration, persistent: bool) -> HeaderValue {
        // Round to the nearest second: the deadline was computed a moment ago.
        let lifetime = match persistent {
            true => Lifetime::For((max_age + Duration::from_millis(500)).as_secs()),
            false => Lifetime::BrowserSession,
        };
        self.render(ticket, lifetime)
    }

    /// `Set-Cookie` that removes the cookie: empty value, an `Expires` in the past
    /// and `Max-Age=0`, the same attributes (a browser replaces a cookie only with
    /// one of the same name, path, domain and partition).
    pub(crate) fn removal(&self) -> HeaderValue {
        self.render("", Lifetime::Removed)
    }

    /// `Set-Cookie` of the pre-session CSRF cookie `name`: a browser-session
    /// cookie, `HttpOnly` whatever the session cookie is, the other attributes the
    /// session cookie's.
    pub(crate) fn presession(&self, name: &str, nonce: &str) -> HeaderValue {
        let attributes = CookieAttributes {
            http_only: true,
            ..self.clone()
        };
        attributes.render_named(name, nonce, Lifetime::BrowserSession)
    }

    fn render(&self, value: &str, lifetime: Lifetime) -> HeaderValue {
        self.render_named(&self.name, value, lifetime)
    }

    fn render_named(&self, name: &str, value: &str, lifetime: Lifetime) -> HeaderValue {
        let mut out = String::with_capacity(
            name.len() + value.len() + self.path.len() + self.domain.as_ref().map_or(0, |d| d.len() + 9) + 110,
        );
        out.push_str(name);
        out.push('=');
        out.push_str(value);
        out.push_str("; Path=");
        out.push_str(&self.path);
        if let Some(domain) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        match lifetime {
            Lifetime::For(secs) => {
                out.push_str("; Max-Age=");
                decimal::push(&mut out, secs);
            }
            Lifetime::BrowserSession => {}
            // `Expires` as well, for the clients that do not read `Max-Age`.
            Lifetime::Removed => out.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"),
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(same_site) = self.same_site {
            out.push_str("; SameSite=");
            out.push_str(same_site.as_str());
        }
        if self.partitioned {
            out.push_str("; Partitioned");
        }
        // Every part was validated before: the layer's when it was built, an express
        // cookie's path and domain when its record was read. The buffer becomes the
        // header value without a copy.
        HeaderValue::from_maybe_shared(bytes::Bytes::from(out.into_bytes()))
            .expect("cookie attributes are validated before they are rendered")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SessionId;

    const SECRET: &[u8] = b"an-example-secret-of-32-bytes-or-more";

    fn signer() -> TicketSigner {
        TicketSigner::new("sid", &[SECRET])
    }

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(COOKIE, HeaderValue::from_bytes(v).unwrap());
        }
        map
    }

    /// The values named `name`, by the letter of the format: split on `;`, trim,
    /// split at the first `=`, compare the trimmed name.
    fn named_by_definition<'h>(header: &'h [u8], name: &str) -> Vec<&'h [u8]> {
        header
            .split(|&b| b == b';')
            .filter_map(|pair| {
                let pair = trim(pair);
                let eq = pair.iter().position(|&b| b == b'=')?;
                (trim(&pair[..eq]) == name.as_bytes()).then(|| trim(&pair[eq + 1..]))
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn finds_what_the_definition_finds(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![&b"sid"[..], b"sid2", b"xsid", b"=", b";", b" ", b"\t", b"v", b"\"", b"\xff"]),
                0..40,
            ),
        ) {
            let header: Vec<u8> = pieces.concat();
            let found: Vec<&[u8]> = Named { rest: &header, name: b"sid" }.collect();
            proptest::prop_assert_eq!(found, named_by_definition(&header, "sid"));
        }
    }

    #[test]
    fn finds_the_ticket_among_other_cookies() {
        let id = SessionId::generate();
        let ticket = signer().sign(&id);
        let raw = format!("a=1; sid={ticket}; b=2");
        match find_ticket(&headers(&[raw.as_bytes()]), "sid", &signer()) {
            CookieTicket::Valid(v) => assert_eq!(v.id, id),
            other => panic!("expected a valid ticket, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_duplicate_wins_over_a_planted_one() {
        let ticket = signer().sign(&SessionId::generate());
        let raw = format!("sid=planted; sid={ticket}");
        assert!(matches!(
            find_ticket(&headers(&[raw.as_bytes()]), "sid", &signer()),
            CookieTicket::Valid(_)
        ));
    }

    #[test]
    fn missing_and_garbage_cookies_are_told_apart() {
        assert_eq!(
            find_ticket(&headers(&[b"other=1"]), "sid", &signer()),
            CookieTicket::Absent
        );
        assert_eq!(
            find_ticket(&headers(&[b"sid=garbage"]), "sid", &signer()),
            CookieTicket::Invalid
        );
    }

    #[test]
    fn hostile_headers_do_not_panic() {
        let many: String = (0..5000).map(|i| format!("c{i}=v; ")).collect();
        let huge = format!("sid={}", "x".repeat(8192));
        let dupes = "sid=a; ".repeat(1000);
        let non_utf8: &[u8] = b"sid=\xff\xfe\x80; x=\xc3";
        for raw in [
            many.as_bytes(),
            huge.as_bytes(),
            dupes.as_bytes(),
            non_utf8,
            b";;;==;=",
            b"",
        ] {
            let found = find_ticket(&headers(&[raw]), "sid", &signer());
            assert!(!matches!(found, CookieTicket::Valid(_)));
        }
    }

    #[test]
    fn only_a_few_duplicates_are_verified() {
        let ticket = signer().sign(&SessionId::generate());
        let forged = format!("{}.{}", SessionId::generate().expose(), &ticket[44..]);
        let raw = format!("{}sid={ticket}", format!("sid={forged}; ").repeat(MAX_CANDIDATES));
        assert_eq!(
            find_ticket(&headers(&[raw.as_bytes()]), "sid", &signer()),
            CookieTicket::Invalid
        );
    }

    #[test]
    fn a_plain_value_is_found_among_garbage_and_planted_ones() {
        let h = headers(&[
            b"sid_csrf=short; other=x",
            b"\xff\xfe; sid_csrf = aaaaaaaaaaaaaaaaaaaaaa ; sid_csrf=b",
        ]);
        let found = find_value(&h, "sid_csrf", |v| v.len() == 22);
        assert_eq!(found.as_deref(), Some("aaaaaaaaaaaaaaaaaaaaaa"));
        assert_eq!(find_value(&h, "nope", |_| true), None);
    }

    #[test]
    fn removal_cookie_keeps_the_attributes() {
        let attrs = CookieAttributes {
            name: "sid".into(),
            path: "/app".into(),
            domain: Some("example.com".into()),
            secure: true,
            http_only: true,
            same_site: Some(SameSite::Strict),
            partitioned: false,
            persistent: true,
        };
        assert_eq!(
            attrs.removal().to_str().unwrap(),
            "sid=; Path=/app; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Secure; \
             HttpOnly; SameSite=Strict"
        );
        let attrs = CookieAttributes {
            same_site: None,
            partitioned: true,
            ..attrs
        };
        assert_eq!(
            attrs
                .set_persistent("t", Duration::from_secs(60), false)
                .to_str()
                .unwrap(),
            "sid=t; Path=/app; Domain=example.com; Secure; HttpOnly; Partitioned"
        );
        assert_eq!(
            attrs.set("t", Duration::from_millis(59_600)).to_str().unwrap(),
            "sid=t; Path=/app; Domain=example.com; Max-Age=60; Secure; HttpOnly; Partitioned"
        );
    }

    #[test]
    fn cookie_names_must_be_tokens() {
        assert!(is_valid_cookie_name("__Host-sid"));
        assert!(!is_valid_cookie_name("s id"));
        assert!(!is_valid_cookie_name("a=b"));
        assert!(!is_valid_cookie_name(""));
    }
}
