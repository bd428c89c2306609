//! A connect-redis record: the JSON of an express session, its fields, its user
//! and its cookie.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// What an express session holds, made ready to become a cloakroom session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExpressRecord {
    /// Every top-level field but `cookie`, as the JSON text of its value (keys
    /// under cloakroom's reserved prefix left out).
    pub(crate) fields: Vec<(String, String)>,
    /// The user, from the first user field that holds a string or a number.
    pub(crate) user: Option<String>,
    /// The session cookie as express set it.
    pub(crate) cookie: ExpressCookie,
}

/// The `cookie` object of a record: how express set its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpressCookie {
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    /// `Strict`, `Lax` or `None`, when set.
    pub(crate) same_site: Option<&'static str>,
    /// When the cookie ends; `None` for a browser-session cookie.
    pub(crate) expires: Option<SystemTime>,
}

impl Default for ExpressCookie {
    fn default() -> Self {
        Self {
            path: "/".to_owned(),
            domain: None,
            secure: false,
            http_only: true,
            same_site: None,
            expires: None,
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordError {
    /// Not JSON, or JSON but not an object.
    NotASession,
}

/// Reads the JSON of a record; `user_fields` are paths (`passport.user`) tried in
/// order for the user; top-level keys starting with `reserved` are left out.
pub(crate) fn parse(json: &str, user_fields: &[String], reserved: &str) -> Result<ExpressRecord, RecordError> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(json) else {
        return Err(RecordError::NotASession);
    };
    let user = user_fields.iter().find_map(|path| user_at(&object, path));
    let cookie = match object.get("cookie") {
        Some(Value::Object(cookie)) => read_cookie(cookie),
        _ => ExpressCookie::default(),
    };
    let fields = object
        .into_iter()
        .filter(|(key, _)| key != "cookie" && !key.starts_with(reserved))
        .map(|(key, value)| (key, value.to_string()))
        .collect();
    Ok(ExpressRecord { fields, user, cookie })
}

/// The user under the dotted `path`: a non-empty string as it is, a number as its
/// decimal text; nothing else names a user.
fn user_at(object: &Map<String, Value>, path: &str) -> Option<String> {
    let mut parts = path.split('.');
    let mut value = object.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    match value {
        Value::String(user) if !user.is_empty() => Some(user.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn read_cookie(cookie: &Map<String, Value>) -> ExpressCookie {
    let defaults = ExpressCookie::default();
    let text = |name: &str| cookie.get(name).and_then(Value::as_str);
    let flag = |name: &str, default: bool| cookie.get(name).and_then(Value::as_bool).unwrap_or(default);
    let same_site = match cookie.get("sameSite") {
        Some(Value::Bool(true)) => Some("Strict"),
        Some(Value::String(mode)) => match mode.to_ascii_lowercase().as_str() {
            "strict" => Some("Strict"),
            "lax" => Some("Lax"),
            "none" => Some("None"),
            _ => None,
        },
        _ => None,
    };
    ExpressCookie {
        path: text("path")
            .filter(|path| path.starts_with('/') && is_attribute(path))
            .map_or(defaults.path, str::to_owned),
        domain: text("domain")
            .filter(|domain| !domain.is_empty() && is_attribute(domain))
            .map(str::to_owned),
        secure: flag("secure", defaults.secure),
        http_only: flag("httpOnly", defaults.http_only),
        same_site,
        expires: text("expires").and_then(parse_iso8601),
    }
}

/// True when `value` can stand in a `Set-Cookie` attribute unquoted.
fn is_attribute(value: &str) -> bool {
    value.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b';')
}

/// A JavaScript `Date`'s JSON: `YYYY-MM-DDTHH:MM:SS[.sss]Z` (UTC).
pub(crate) fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: u32 = date.next()?.parse().ok()?;
    let day: u32 = date.next()?.parse().ok()?;
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock = clock.splitn(3, ':');
    let hour: u64 = clock.next()?.parse().ok()?;
    let minute: u64 = clock.next()?.parse().ok()?;
    let second: u64 = clock.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 9 {
        return None;
    }
    let millis: u64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs) + Duration::from_millis(millis))
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<String> {
        vec!["userId".to_owned(), "passport.user".to_owned()]
    }

    #[test]
    fn carries_every_field_but_the_cookie() {
        let json = r#"{"cookie":{"originalMaxAge":3600000,"expires":"2026-12-01T18:00:00.000Z","httpOnly":true,"path":"/"},
            "userId":"alice","cart":[{"sku":"tea","qty":2}],"visits":3,"note":null}"#;
        let record = parse(json, &fields(), "scope::").unwrap();
        assert_eq!(record.user.as_deref(), Some("alice"));
        let mut keys: Vec<_> = record.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                ("cart", r#"[{"qty":2,"sku":"tea"}]"#),
                ("note", "null"),
                ("userId", r#""alice""#),
                ("visits", "3")
            ]
        );
        assert_eq!(record.cookie.expires, parse_iso8601("2026-12-01T18:00:00Z"));
    }

    #[test]
    fn finds_the_user_along_the_fields_in_order() {
        let passport = parse(r#"{"passport":{"user":42}}"#, &fields(), "scope::").unwrap();
        assert_eq!(passport.user.as_deref(), Some("42"), "numbers become strings");
        let both = parse(r#"{"userId":"bob","passport":{"user":"carol"}}"#, &fields(), "scope::").unwrap();
        assert_eq!(both.user.as_deref(), Some("bob"));
        for json in [r#"{"userId":""}"#, r#"{"userId":true}"#, r#"{"passport":"x"}"#, "{}"] {
            assert_eq!(parse(json, &fields(), "scope::").unwrap().user, None, "{json}");
        }
    }

    #[test]
    fn reserved_keys_are_not_carried() {
        let record = parse(r#"{"scope::csrf":"planted","a":1}"#, &fields(), "scope::").unwrap();
        assert_eq!(record.fields, [("a".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn reads_the_cookie_attributes() {
        let json = r#"{"cookie":{"path":"/app","domain":"example.com","secure":true,"httpOnly":false,"sameSite":"lax","expires":null}}"#;
        let cookie = parse(json, &fields(), "scope::").unwrap().cookie;
        assert_eq!(cookie.path, "/app");
        assert_eq!(cookie.domain.as_deref(), Some("example.com"));
        assert!(cookie.secure && !cookie.http_only);
        assert_eq!((cookie.same_site, cookie.expires), (Some("Lax"), None));
        let odd = parse(
            r#"{"cookie":{"path":"x; Domain=evil","domain":"a;b","sameSite":true}}"#,
            &fields(),
            "scope::",
        )
        .unwrap();
        assert_eq!(
            (odd.cookie.path.as_str(), odd.cookie.domain, odd.cookie.same_site),
            ("/", None, Some("Strict"))
        );
    }

    #[test]
    fn refuses_what_is_not_a_session() {
        for json in ["", "[]", "\"s\"", "{", "null"] {
            assert_eq!(
                parse(json, &fields(), "scope::"),
                Err(RecordError::NotASession),
                "{json:?}"
            );
        }
    }

    #[test]
    fn reads_javascript_dates() {
        let at = |secs: u64, millis: u64| Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis));
        assert_eq!(parse_iso8601("1970-01-01T00:00:00.000Z"), at(0, 0));
        assert_eq!(parse_iso8601("2000-03-01T00:00:00Z"), at(951_868_800, 0));
        assert_eq!(parse_iso8601("2026-12-01T17:26:55.123Z"), at(1_796_146_015, 123));
        assert_eq!(parse_iso8601("2024-02-29T12:00:00.5Z"), at(1_709_208_000, 500));
        for bad in [
            "2026-12-01T17:26:55",
            "2026-13-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "x",
            "2026-12-01T1:2:3.x1Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
