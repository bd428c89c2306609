//! A connect-redis record: the JSON of an express session, its fields, its user
//! and its cookie.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::cookie::{SameSite, is_valid_attribute_value};

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
    /// `SameSite`, when set.
    pub(crate) same_site: Option<SameSite>,
    /// A partitioned (CHIPS) cookie.
    pub(crate) partitioned: bool,
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
            partitioned: false,
            expires: None,
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordError {
    /// Not JSON, or JSON but not an object.
    NotASession,
    /// Its cookie's `expires` is not a date: how long it may live is unknown.
    BadExpiry,
}

/// Reads the JSON of a record; `user_fields` are paths (`passport.user`) tried in
/// order for the user; top-level keys starting with `reserved` are left out.
pub(crate) fn parse(json: &str, user_fields: &[String], reserved: &str) -> Result<ExpressRecord, RecordError> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(json) else {
        return Err(RecordError::NotASession);
    };
    let user = user_fields.iter().find_map(|path| user_at(&object, path));
    let cookie = cookie_of(&object)?;
    let fields = object
        .into_iter()
        .filter(|(key, _)| key != "cookie" && !key.starts_with(reserved))
        .map(|(key, value)| (key, value.to_string()))
        .collect();
    Ok(ExpressRecord { fields, user, cookie })
}

/// The cookie of a record's JSON, for removing it: the defaults when the JSON
/// says nothing usable.
pub(crate) fn parse_cookie(json: &str) -> ExpressCookie {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(object)) => cookie_of(&object).unwrap_or_default(),
        _ => ExpressCookie::default(),
    }
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

fn cookie_of(object: &Map<String, Value>) -> Result<ExpressCookie, RecordError> {
    let Some(Value::Object(cookie)) = object.get("cookie") else {
        return Ok(ExpressCookie::default());
    };
    let defaults = ExpressCookie::default();
    let text = |name: &str| cookie.get(name).and_then(Value::as_str);
    let flag = |name: &str, default: bool| cookie.get(name).and_then(Value::as_bool).unwrap_or(default);
    let same_site = match cookie.get("sameSite") {
        Some(Value::Bool(true)) => Some(SameSite::Strict),
        Some(Value::String(mode)) => match mode.to_ascii_lowercase().as_str() {
            "strict" => Some(SameSite::Strict),
            "lax" => Some(SameSite::Lax),
            "none" => Some(SameSite::None),
            _ => None,
        },
        _ => None,
    };
    let expires = match cookie.get("expires") {
        None | Some(Value::Null) => None,
        Some(Value::String(date)) => Some(parse_iso8601(date).ok_or(RecordError::BadExpiry)?),
        Some(_) => return Err(RecordError::BadExpiry),
    };
    Ok(ExpressCookie {
        path: text("path")
            .filter(|path| path.starts_with('/') && is_valid_attribute_value(path))
            .map_or(defaults.path, str::to_owned),
        domain: text("domain")
            .filter(|domain| !domain.is_empty() && is_valid_attribute_value(domain))
            .map(str::to_owned),
        secure: flag("secure", defaults.secure),
        http_only: flag("httpOnly", defaults.http_only),
        same_site,
        partitioned: flag("partitioned", defaults.partitioned),
        expires,
    })
}

/// The latest year a JavaScript `Date` holds.
const LAST_JS_YEAR: u64 = 275_760;

/// A JavaScript `Date`'s JSON, `YYYY-MM-DDTHH:MM:SS[.sss]Z` (UTC), from 1970 on;
/// `None` for anything else.
pub(crate) fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-');
    let year = digits(date.next()?, 4..=6)?;
    let month = digits(date.next()?, 2..=2)?;
    let day = digits(date.next()?, 2..=2)?;
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock = clock.splitn(3, ':');
    let hour = digits(clock.next()?, 2..=2)?;
    let minute = digits(clock.next()?, 2..=2)?;
    let second = digits(clock.next()?, 2..=2)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let valid = (1970..=LAST_JS_YEAR).contains(&year)
        && (1..=12).contains(&month)
        && (1..=month_days).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 59;
    if !valid || (time.contains('.') && digits(fraction, 1..=9).is_none()) {
        return None;
    }
    let millis: u64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    let secs = days_from_epoch(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs) + Duration::from_millis(millis))
}

/// `text` as a number when it is ASCII digits only, as many as `len` allows.
fn digits(text: &str, len: std::ops::RangeInclusive<usize>) -> Option<u64> {
    if !len.contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Days from 1970-01-01 to a valid date from 1970 on (proleptic Gregorian).
fn days_from_epoch(year: u64, month: u64, day: u64) -> u64 {
    // Years counted from March, so the leap day ends a year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
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
        assert_eq!((cookie.same_site, cookie.expires), (Some(SameSite::Lax), None));
        let odd = parse(
            r#"{"cookie":{"path":"x; Domain=evil","domain":"a;b","sameSite":true,"partitioned":true}}"#,
            &fields(),
            "scope::",
        )
        .unwrap();
        assert_eq!(
            (odd.cookie.path.as_str(), odd.cookie.domain, odd.cookie.same_site),
            ("/", None, Some(SameSite::Strict))
        );
        assert!(odd.cookie.partitioned);
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
        assert!(
            parse_iso8601("275760-09-13T00:00:00.000Z").is_some(),
            "the last JS date"
        );
        for bad in [
            "+275760-09-13T00:00:00.000Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-12-01T01:02:03.Z",
            "2026-+1-01T00:00:00Z",
            "999999999999-01-01T00:00:00Z",
            "9223372036854775807-01-01T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T17:26:55",
            "2026-13-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "x",
            "2026-12-01T1:2:3.x1Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_cookie_expiry_that_is_no_date_refuses_the_record() {
        for expires in [r#""soon""#, "17", r#""2026-02-30T00:00:00.000Z""#] {
            let json = format!(r#"{{"cookie":{{"expires":{expires}}},"a":1}}"#);
            assert_eq!(
                parse(&json, &fields(), "scope::"),
                Err(RecordError::BadExpiry),
                "{json}"
            );
        }
        assert_eq!(parse_cookie(r#"{"cookie":{"path":"/app"}}"#).path, "/app");
        assert_eq!(parse_cookie("not json"), ExpressCookie::default());
    }
}
