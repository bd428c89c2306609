//! A browser's `User-Agent`, put in a few words for a device list: "Chrome 156
//! on Linux". The full string stays available beside it.

/// Browsers by the token that names them, most specific first (Edge and Opera
/// also say "Chrome", Chrome also says "Safari").
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("CriOS/", "Chrome"),
    ("Version/", "Safari"),
    ("curl/", "curl"),
];

/// Systems by a token of the agent's comment, most specific first (Android also
/// says "Linux", iOS "like Mac OS X").
const SYSTEMS: &[(&str, &str)] = &[
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

/// `agent` in a few words: the browser and its major version, and the system
/// when it says. An agent of no known shape is shown by its first product token.
pub fn summary(agent: &str) -> String {
    let browser = BROWSERS
        .iter()
        .find_map(|(token, name)| {
            let at = agent.find(token)?;
            let version = agent[at + token.len()..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .filter(|major| !major.is_empty());
            Some(match version {
                Some(major) => format!("{name} {major}"),
                None => (*name).to_owned(),
            })
        })
        .unwrap_or_else(|| agent.split([' ', '/']).next().unwrap_or_default().to_owned());
    match SYSTEMS.iter().find(|(token, _)| agent.contains(token)) {
        Some((_, system)) => format!("{browser} on {system}"),
        None => browser,
    }
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn common_agents_read_as_browser_and_system() {
        assert_eq!(
            summary(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 HeadlessChrome/156.0.0.0 Safari/537.36"
            ),
            "Headless Chrome 156 on Linux"
        );
        assert_eq!(
            summary(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
            ),
            "Edge 131 on Windows"
        );
        assert_eq!(
            summary(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
            ),
            "Safari 17 on iOS"
        );
        assert_eq!(
            summary("Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0"),
            "Firefox 128 on Android"
        );
        assert_eq!(summary("curl/8.5.0"), "curl 8");
        assert_eq!(summary("MyApp/2 (custom)"), "MyApp");
        assert_eq!(summary(""), "");
    }
}
