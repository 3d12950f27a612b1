//! Why a client is judged malicious, suspicious or good, as [`Reason`] values: the synthetic
//! web shop of `levee synth --http`, its four attacks in its middle third.

use levee_l7::{L7Analysis, L7Config, Level, Reason};
use levee_logs::{Entry, FormatSpec, LogReader};

fn each_request(path: &std::path::Path, mut f: impl FnMut(&levee_logs::Request<'_>)) {
    let mut r = LogReader::open(path, FormatSpec::Auto).expect("open");
    while let Some(e) = r.next_entry() {
        if let Ok(Entry::Request(q)) = e {
            f(&q);
        }
    }
}

fn shop() -> L7Analysis {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let cfg = levee_synth::http::HttpConfig {
        attacks: levee_synth::http::HTTP_ATTACKS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        duration_s: 600.0,
        ..Default::default()
    };
    levee_synth::http::generate_http(
        &cfg,
        std::io::BufWriter::new(file.reopen().expect("reopen")),
        std::io::sink(),
    )
    .expect("synth");
    let mut a = levee_l7::Analyzer::new(L7Config::default());
    each_request(file.path(), |r| a.add(r));
    let mut j = a.judge();
    each_request(file.path(), |r| j.add(r));
    j.finish()
}

#[test]
fn each_attack_rests_on_its_reason_and_good_clients_on_their_pace() {
    let a = shop();
    let malicious: Vec<&Reason> = a
        .clients
        .iter()
        .filter(|c| c.verdict == Level::Malicious)
        .flat_map(|c| &c.reasons)
        .collect();
    let config = L7Config::default();
    assert!(
        malicious.iter().any(|r| matches!(r,
            Reason::FloodRate { per_minute, .. } if *per_minute >= config.flood_per_minute)),
        "a flood: {malicious:#?}"
    );
    assert!(
        malicious.iter().any(|r| matches!(r,
            Reason::LoginAttempts { attempts, refused } if *attempts >= config.login_posts && refused <= attempts)),
        "login abuse: {malicious:#?}"
    );
    assert!(
        malicious.iter().any(|r| matches!(r,
            Reason::CacheBusting { paths, .. } if *paths <= 3)),
        "cache busting: {malicious:#?}"
    );
    assert!(
        malicious.iter().any(|r| matches!(r,
            Reason::Hostile { categories, .. } if !categories.is_empty())
            || matches!(r, Reason::ScannerAgent { .. } | Reason::WalksPaths { .. })),
        "a scanner: {malicious:#?}"
    );
    let good: Vec<_> = a
        .clients
        .iter()
        .filter(|c| c.verdict == Level::Good)
        .collect();
    assert!(!good.is_empty());
    for c in good {
        assert!(
            matches!(c.reasons.first(), Some(Reason::Pace { requests, .. }) if *requests == c.requests),
            "{c:#?}"
        );
    }
    for at in &a.attacks {
        assert!(!at.evidence.is_empty(), "{at:#?}");
    }
}

/// One browsing client's requests, under Chrome's user agent: `pages` page loads 30 s apart,
/// each followed by an image and, when `script`, by the shop's script (once, by a client that
/// runs it and caches it; with every page by one that does not run it); the session cookie
/// the first response set, and the script's cookie once the script ran. `set_known`: whether
/// the requests say which cookies their responses set.
fn browsing(
    ip: &str,
    pages: i64,
    script: bool,
    runs_script: bool,
    set_known: bool,
    mut each: impl FnMut(&levee_logs::Request<'_>),
) {
    use std::borrow::Cow;
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let mut ran = false;
    let mut n = 0u32;
    let mut request = |at: i64, target: &str, ran: bool| {
        let cookie = match (n, ran) {
            (0, _) => None,
            (_, false) => Some(format!("sid={ip}")),
            (_, true) => Some(format!("sid={ip}; _sv=1.{ip}")),
        };
        let set = if n == 0 { "sid" } else { "" };
        n += 1;
        each(&levee_logs::Request {
            ts: Some(1_768_478_400_000_000_000 + at),
            client: Cow::Borrowed(ip),
            ip: ip.parse().ok(),
            method: Cow::Borrowed("GET"),
            target: Cow::Owned(target.to_string()),
            status: Some(200),
            user_agent: Some(Cow::Borrowed(chrome)),
            cookie: cookie.map(Cow::Owned),
            set_cookies: set_known.then_some(Cow::Borrowed(set)),
            ..Default::default()
        });
    };
    for page in 0..pages {
        let at = page * 30_000_000_000;
        request(at, &format!("/products/{page}"), ran);
        if script && (page == 0 || !runs_script) {
            request(at + 150_000_000, "/static/app.js", ran);
            ran |= runs_script;
        }
        request(at + 300_000_000, &format!("/img/{page}.jpg"), ran);
    }
}

#[test]
fn a_client_that_fetches_the_scripts_but_never_returns_their_cookie_does_not_run_them() {
    for set_known in [true, false] {
        let mut a = levee_l7::Analyzer::new(L7Config::default());
        for i in 0..40 {
            browsing(&format!("10.0.0.{i}"), 15, true, true, set_known, |r| {
                a.add(r)
            });
        }
        // Downloads the script with every page, keeps the session cookie, never runs it.
        browsing("10.9.9.9", 15, true, false, set_known, |r| a.add(r));
        let mut j = a.judge();
        for i in 0..40 {
            browsing(&format!("10.0.0.{i}"), 15, true, true, set_known, |r| {
                j.add(r)
            });
        }
        browsing("10.9.9.9", 15, true, false, set_known, |r| j.add(r));
        let out = j.finish();
        let site = &out.footprint.site;
        let downloader = out.clients.iter().find(|c| c.ip == "10.9.9.9");
        if !set_known {
            // Without the responses' cookies, `_sv` cannot be told from a server's cookie.
            assert!(site.script_cookies.is_empty(), "{site:?}");
            assert!(
                downloader.is_none_or(|c| c.verdict == Level::Good),
                "{downloader:?}"
            );
            continue;
        }
        // `sid` is set by the responses: not the script's.
        let names: Vec<&str> = site
            .script_cookies
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["_sv"], "{site:?}");
        assert_eq!(site.cookie_keeping_clients, 41);
        let d = downloader.expect("the downloader is listed");
        assert_eq!(d.verdict, Level::Suspicious, "{d:?}");
        assert!(
            d.reasons.iter().any(|r| matches!(r,
                Reason::ScriptCookieMissing { cookie, page_loads: 14, .. } if cookie == "_sv")),
            "{d:?}"
        );
        let f = d.footprint.as_ref().unwrap();
        assert_eq!(
            (f.runs_scripts, f.returns_script_cookie),
            (Some(true), Some(false))
        );
        assert_eq!(out.verdicts.suspicious, 1, "{:?}", out.verdicts);
    }
}
