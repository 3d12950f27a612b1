//! Does a client that says it is a browser behave like one? A user agent is one header anyone
//! can type; the rest of the request and the TLS handshake are what the client's HTTP stack
//! actually does, and scripts posing as browsers rarely get them right.
//!
//! - **Header names in order** (from captures, or logs that record them): every browser sends
//!   `Accept`, `Accept-Language` and `Accept-Encoding` on a page load, and Chromium and
//!   Firefox send `Accept` before `Accept-Encoding`. Python's `requests`, for one, sends
//!   `Host, User-Agent, Accept-Encoding, Accept, Connection` and no `Accept-Language`.
//! - **TLS** (JA4, from Cloudflare-style logs or the client's ClientHello in a capture):
//!   browsers offer HTTP/2 first in ALPN (JA4 `h2`) and send many extensions (Chrome 16, Firefox
//!   15-17, Safari 14). A client without ALPN, or with few extensions, is not the browser its
//!   user agent names.

/// The browser family a user agent claims, if it claims one (crawlers and tools excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Chrome, Edge, Opera, Brave and other Chromium browsers.
    Chromium,
    /// Firefox and its forks.
    Firefox,
    /// Safari (WebKit on Apple systems).
    Safari,
}

/// Tokens of user agents that are not browsers even when they start `Mozilla/5.0`.
const NOT_BROWSERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "curl",
    "wget",
    "python",
    "headless",
    "phantomjs",
];

/// The browser a user agent claims.
pub fn claimed(user_agent: &str) -> Option<Browser> {
    if !user_agent.starts_with("Mozilla/5.0 (") {
        return None;
    }
    let lower = user_agent.to_ascii_lowercase();
    if NOT_BROWSERS.iter().any(|t| lower.contains(t)) {
        return None;
    }
    if lower.contains("firefox/") {
        Some(Browser::Firefox)
    } else if lower.contains("chrome/") || lower.contains("crios/") || lower.contains("edg/") {
        Some(Browser::Chromium)
    } else if lower.contains("safari/") && lower.contains("version/") {
        Some(Browser::Safari)
    } else {
        None
    }
}

/// Why a request's header names (comma-separated, in order) are not those of the browser it
/// claims to be; `None` when they could be.
pub fn header_mismatch(browser: Browser, names: &str) -> Option<&'static str> {
    let mut accept = None;
    let mut encoding = None;
    let mut language = false;
    for (i, n) in names.split(',').enumerate() {
        let n = n.trim();
        if n.eq_ignore_ascii_case("accept") {
            accept = Some(i);
        } else if n.eq_ignore_ascii_case("accept-encoding") {
            encoding = Some(i);
        } else if n.eq_ignore_ascii_case("accept-language") {
            language = true;
        }
    }
    match (accept, encoding) {
        (None, _) => Some("no Accept header"),
        (_, None) => Some("no Accept-Encoding header"),
        _ if !language => Some("no Accept-Language header"),
        (Some(a), Some(e)) if e < a && browser != Browser::Safari => {
            Some("Accept-Encoding before Accept")
        }
        _ => None,
    }
}

/// Why a JA4 fingerprint is not one a browser sends; `None` when it could be. JA4's first part
/// is `t13d1516h2`: transport, TLS version, SNI, cipher count, extension count, ALPN.
pub fn ja4_mismatch(ja4: &str) -> Option<&'static str> {
    let a = ja4.split('_').next()?.as_bytes();
    if a.len() != 10 || !(a[0] == b't' || a[0] == b'q') {
        // Not a JA4 levee can read: no judgement.
        return None;
    }
    let extensions = std::str::from_utf8(&a[6..8]).ok()?.parse::<u32>().ok()?;
    let alpn = &a[8..10];
    if alpn == b"00" {
        Some("no ALPN in its TLS hello")
    } else if alpn != b"h2" {
        Some("its TLS hello does not offer HTTP/2 first")
    } else if extensions < 10 {
        Some("few TLS extensions")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";

    #[test]
    fn browsers_are_told_from_bots_and_tools() {
        assert_eq!(claimed(CHROME), Some(Browser::Chromium));
        assert_eq!(claimed(FIREFOX), Some(Browser::Firefox));
        assert_eq!(claimed(SAFARI), Some(Browser::Safari));
        assert_eq!(
            claimed("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            None
        );
        assert_eq!(claimed("python-requests/2.31.0"), None);
        assert_eq!(claimed("curl/8.5.0"), None);
        assert_eq!(
            claimed("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"),
            None
        );
    }

    #[test]
    fn browsers_header_orders_pass_and_scripts_do_not() {
        // As Chrome and Firefox send a page request over HTTP/1.1, and Safari.
        let chrome = "Host,Connection,Upgrade-Insecure-Requests,User-Agent,Accept,Accept-Encoding,Accept-Language,Cookie";
        let firefox = "Host,User-Agent,Accept,Accept-Language,Accept-Encoding,Connection,Cookie,Upgrade-Insecure-Requests";
        let safari = "Host,Accept,Accept-Language,Connection,Accept-Encoding,User-Agent";
        assert_eq!(header_mismatch(Browser::Chromium, chrome), None);
        assert_eq!(header_mismatch(Browser::Firefox, firefox), None);
        assert_eq!(header_mismatch(Browser::Safari, safari), None);
        // Python requests, curl.
        assert_eq!(
            header_mismatch(
                Browser::Chromium,
                "Host,User-Agent,Accept-Encoding,Accept,Connection"
            ),
            Some("no Accept-Language header")
        );
        assert_eq!(
            header_mismatch(
                Browser::Chromium,
                "Host,User-Agent,Accept-Encoding,Accept,Accept-Language"
            ),
            Some("Accept-Encoding before Accept")
        );
        assert_eq!(
            header_mismatch(Browser::Firefox, "Host,User-Agent,Accept"),
            Some("no Accept-Encoding header")
        );
    }

    #[test]
    fn browser_ja4s_pass_and_scripted_hellos_do_not() {
        for browser in [
            "t13d1516h2_8daaf6152771_02713d6af862",
            "t13d1715h2_5b57614c22b0_3d5424432f57",
            "t13d2014h2_a09f3c656075_14788d8d241b",
        ] {
            assert_eq!(ja4_mismatch(browser), None, "{browser}");
        }
        assert_eq!(
            ja4_mismatch("t13d1209h1_aaaaaaaaaaaa_bbbbbbbbbbbb"),
            Some("its TLS hello does not offer HTTP/2 first")
        );
        assert_eq!(
            ja4_mismatch("t13d311000_e8f1e7e78f70_cccccccccccc"),
            Some("no ALPN in its TLS hello")
        );
        assert_eq!(
            ja4_mismatch("t12d0805h2_aaaaaaaaaaaa_bbbbbbbbbbbb"),
            Some("few TLS extensions")
        );
        assert_eq!(ja4_mismatch("garbage"), None);
    }
}
