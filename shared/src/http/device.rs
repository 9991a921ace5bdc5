//! Where a session comes from, as its user sees it in the sessions list: a short label of the
//! device (from the `User-Agent` of the login) and the client's IP address (from API Gateway's
//! request context, never from a header a client can write, such as `X-Forwarded-For`).
//!
//! The label is a guess for people, not a fact for code: `Firefox on Linux` when a browser and a
//! system are recognised by their usual tokens, otherwise the `User-Agent` itself, cut short.
//! Either way it is at most [`MAX_LABEL_CHARS`] printable ASCII characters; a request without a
//! readable `User-Agent` gets an empty label.

use std::net::IpAddr;

use lambda_http::http::header;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::store::SessionOrigin;

/// The longest label stored.
pub const MAX_LABEL_CHARS: usize = 64;

/// Browsers by the token that names them, most specific first: Edge, Opera and Samsung's
/// browser also say `Chrome/`, and every Chromium browser also says `Safari/`.
const BROWSERS: [(&str, &str); 13] = [
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),
    ("MSIE ", "Internet Explorer"),
    ("Trident/", "Internet Explorer"),
];

/// Systems likewise: Android and ChromeOS also say `Linux`, iOS says `Mac OS X`.
const SYSTEMS: [(&str, &str); 7] = [
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
];

/// The label of a `User-Agent` value.
pub fn label(user_agent: &str) -> String {
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(token, _)| user_agent.contains(token))
            .map(|(_, name)| *name)
    };
    // Safari's `Version/` counts only beside `Safari/` (other apps print versions too).
    let browser = find(&BROWSERS).filter(|name| *name != "Safari" || user_agent.contains("Safari/"));
    match (browser, find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, _) => printable_prefix(user_agent),
    }
}

/// The text as printable ASCII with runs of anything else (control characters, tabs, line
/// breaks, non-ASCII) as one space, trimmed and cut to [`MAX_LABEL_CHARS`].
fn printable_prefix(text: &str) -> String {
    let mut label = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_graphic())
        .filter(|word| !word.is_empty())
    {
        if !label.is_empty() {
            label.push(' ');
        }
        label.push_str(word);
        if label.len() >= MAX_LABEL_CHARS {
            break;
        }
    }
    label.truncate(MAX_LABEL_CHARS);
    label.trim_end().to_owned()
}

impl SessionOrigin {
    /// Where a login (or join) request comes from.
    pub fn of(request: &Request) -> Self {
        let device = request
            .headers()
            .get(header::USER_AGENT)
            .map(|value| label(&String::from_utf8_lossy(value.as_bytes())))
            .unwrap_or_default();
        SessionOrigin {
            device,
            ip: source_ip(request),
        }
    }
}

/// The client's address as API Gateway saw the connection: `requestContext.identity.sourceIp`
/// of a REST API event, `requestContext.http.sourceIp` of an HTTP API one (what the local
/// emulator sends). Only a well-formed address, in its canonical form.
fn source_ip(request: &Request) -> Option<String> {
    let address = match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.as_deref(),
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        #[allow(unreachable_patterns)] // other event sources, when a crate enables their features
        _ => None,
    }?;
    address.trim().parse::<IpAddr>().ok().map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_and_systems_are_named_by_their_usual_tokens() {
        for (user_agent, expected) in [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
                "Chrome on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
                "Samsung Internet on Android",
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on ChromeOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/114.0.0.0",
                "Opera on Windows",
            ),
        ] {
            assert_eq!(label(user_agent), expected, "{user_agent}");
        }
    }

    #[test]
    fn anything_else_is_its_own_printable_prefix() {
        assert_eq!(label("curl/8.5.0"), "curl/8.5.0");
        assert_eq!(label("okhttp/4.12.0"), "okhttp/4.12.0");
        // An app that prints a version but is not Safari.
        assert_eq!(label("MyApp/2.1 Version/7 (Linux)"), "MyApp/2.1 Version/7 (Linux)");
        assert_eq!(label(""), "");
        assert_eq!(label("  \t "), "");
        assert_eq!(label("evil\r\nSet-Cookie:\u{1b}[31m x"), "evil Set-Cookie: [31m x");
        assert_eq!(
            label("caf\u{e9}\u{202e}gpj.exe"),
            "caf gpj.exe",
            "no non-ASCII, no bidi controls"
        );
        let long = "x".repeat(500);
        assert_eq!(label(&long), "x".repeat(MAX_LABEL_CHARS));
        let words = "word ".repeat(100);
        let cut = label(&words);
        assert!(
            cut.len() <= MAX_LABEL_CHARS && cut.starts_with("word word") && !cut.ends_with(' '),
            "{cut}"
        );
    }

    #[test]
    fn every_label_is_short_printable_ascii() {
        let samples = [
            "\u{0}\u{7f}\u{85}",
            "Mozilla/5.0 (\u{2028}Linux) Firefox/1",
            "🙂🙂🙂",
            "a\u{0}b\u{1f}c",
        ];
        for sample in samples {
            let label = label(sample);
            assert!(label.chars().count() <= MAX_LABEL_CHARS, "{label}");
            assert!(label.chars().all(|c| c == ' ' || c.is_ascii_graphic()), "{label:?}");
        }
    }
}
