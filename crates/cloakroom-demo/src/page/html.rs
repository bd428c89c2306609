//! HTML building blocks: escaping, and times shown both as a clock time and
//! relative to now.

use std::time::SystemTime;

use crate::time::rfc3339;

/// `text` with `& < > " '` escaped, safe in element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `time` as a `<time>` element with the given `id` (none when empty): the UTC
/// date and clock time, and how long ago or ahead of `now` it is.
pub fn time_element(id: &str, time: SystemTime, now: SystemTime) -> String {
    let stamp = rfc3339(time);
    let shown = stamp.replacen('T', " ", 1).replacen('Z', " UTC", 1);
    let id = if id.is_empty() {
        String::new()
    } else {
        format!(r#" id="{id}""#)
    };
    format!(
        r#"<time{id} datetime="{stamp}">{shown}</time> <span class="relative">({})</span>"#,
        relative(time, now)
    )
}

/// "5 s ago", "in 30 min", "just now".
pub fn relative(time: SystemTime, now: SystemTime) -> String {
    let (secs, ahead) = match time.duration_since(now) {
        Ok(ahead) => (ahead.as_secs(), true),
        Err(err) => (err.duration().as_secs(), false),
    };
    if secs == 0 {
        return "just now".to_owned();
    }
    let span = match secs {
        0..60 => format!("{secs} s"),
        60..3_600 => format!("{} min", secs / 60),
        3_600..86_400 => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{} days", secs / 86_400),
    };
    if ahead {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape(r#"<img src=x onerror="alert('1')">&"#),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;"
        );
    }

    #[test]
    fn times_read_as_people_say_them() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_435_200);
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - Duration::from_secs(5), now), "5 s ago");
        assert_eq!(relative(now + Duration::from_secs(1_800), now), "in 30 min");
        assert_eq!(relative(now + Duration::from_secs(7_260), now), "in 2 h 1 min");
        assert_eq!(relative(now + Duration::from_secs(86_400 * 7), now), "in 7 days");
        assert_eq!(
            time_element("created", now, now),
            r#"<time id="created" datetime="2026-11-23T12:00:00Z">2026-11-23 12:00:00 UTC</time> <span class="relative">(just now)</span>"#
        );
    }
}
