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
