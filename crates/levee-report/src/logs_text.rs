//! What the access-log commands print on a terminal: `levee logs`, and `levee analyze` and
//! `levee simulate` on logs (or on the HTTP requests of captures, `--http`) without `--json`.

use std::fmt::Write;

use levee_l7::simulate::LogSimulation;
use levee_l7::{L7Analysis, Level, Named};

use crate::logs::LogSource;
use levee_engine::logs::{Count, LogsSummary};

/// `levee simulate` on access logs: what the rules stop of each attack, which good clients
/// they limit or block, then each rule's counts.
pub fn simulation(s: &LogSimulation) -> String {
    let pct = |x: f64| 100.0 * x;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Rules {} over {} requests: {} blocked ({:.2}%), {} passed",
        s.rules_file,
        s.requests,
        s.blocked,
        pct(s.blocked as f64 / s.requests.max(1) as f64),
        s.passed
    );
    for a in &s.attacks {
        let _ = writeln!(
            o,
            "  {:<20} {:>9} of {:>9} requests stopped ({:.2}%)",
            a.vector,
            a.stopped,
            a.requests,
            pct(a.share)
        );
    }
    let _ = writeln!(
        o,
        "  good clients         {:>9} of {:>9} limited or blocked ({:.3}%), {} of their requests dropped",
        s.good_clients.limited_or_blocked,
        s.good_clients.total,
        pct(s.good_clients.share),
        s.good_requests_dropped
    );
    let _ = writeln!(
        o,
        "\n{:<28} {:<10} {:>10} {:>10} {:>10} {:>12}",
        "rule", "action", "matched", "decided", "dropped", "good clients"
    );
    for r in &s.rules {
        let _ = writeln!(
            o,
            "{:<28} {:<10} {:>10} {:>10} {:>10} {:>12}",
            r.id, r.action, r.matched, r.decided, r.dropped, r.good_clients_hit
        );
    }
    o
}

/// `levee analyze` on access logs (`input` is `log`), or on the HTTP requests of captures
/// (`capture`, with `--http`): the verdicts, each attack, the busiest groups and the clients
/// judged malicious or suspicious. `malformed` counts the logs' malformed lines.
pub fn analysis(input: &str, files: &[LogSource], malformed: u64, a: &L7Analysis) -> String {
    let mut o = String::new();
    if input == "capture" {
        for f in files {
            let _ = writeln!(o, "{}: {}", f.name, f.format);
        }
        let _ = writeln!(
            o,
            "Requests: {} from {} to {}; ~{} clients",
            a.requests,
            a.start.as_deref().unwrap_or("?"),
            a.end.as_deref().unwrap_or("?"),
            a.clients_distinct_estimate
        );
    } else {
        let _ = writeln!(
            o,
            "Log: {} requests ({} malformed lines) from {} to {}; ~{} clients",
            a.requests,
            malformed,
            a.start.as_deref().unwrap_or("?"),
            a.end.as_deref().unwrap_or("?"),
            a.clients_distinct_estimate
        );
    }
    let _ = writeln!(
        o,
        "Verdicts: {} malicious, {} suspicious, {} good{}",
        a.verdicts.malicious,
        a.verdicts.suspicious,
        a.verdicts.good,
        if a.clients_not_profiled > 0 {
            format!(
                " ({} low-volume clients without hostile evidence not profiled)",
                a.clients_not_profiled
            )
        } else {
            String::new()
        }
    );
    crawler_lines(&mut o, a);
    if a.attacks.is_empty() {
        let _ = writeln!(o, "\nNo attack found in {} requests.", a.requests);
    }
    if input == "capture" && a.requests == 0 {
        let _ = writeln!(
            o,
            "These captures hold no HTTP/1.x request in cleartext; `levee analyze` without --http analyses their packets."
        );
    }
    for at in &a.attacks {
        let _ = writeln!(
            o,
            "\nAttack {}: {}  {} .. {}\n  {} requests from {} client(s), peak {} requests/s, {:.0}% answered 4xx",
            at.id,
            at.vector,
            at.start,
            at.end,
            at.requests,
            at.clients,
            at.peak_rps,
            100.0 * at.client_error_share
        );
        let list = |v: &[Named]| {
            v.iter()
                .take(5)
                .map(|n| format!("{} ({})", n.name, n.requests))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(o, "  clients   {}", list(&at.top_clients));
        let _ = writeln!(o, "  targets   {}", list(&at.targets));
        for e in &at.evidence {
            let _ = writeln!(o, "  - {e}");
        }
    }
    for (title, groups) in [
        ("Busiest networks", &a.groups.networks),
        ("Busiest user agents", &a.groups.user_agents),
        ("Busiest JA4 fingerprints", &a.groups.ja4),
    ] {
        if groups.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "\n{title} (requests, clients, share from malicious clients):"
        );
        for g in groups.iter().take(5) {
            let key: String = g.key.chars().take(70).collect();
            let _ = writeln!(
                o,
                "  {key:<72} {:>8} {:>6} {:>5.0}%",
                g.requests,
                g.clients,
                100.0 * g.malicious_share
            );
        }
    }
    footprint_lines(&mut o, a);
    let shown: Vec<_> = a
        .clients
        .iter()
        .filter(|c| c.verdict != Level::Good)
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(
            o,
            "\nClients judged malicious or suspicious (busiest first):"
        );
    }
    for c in shown.iter().take(25) {
        let _ = writeln!(
            o,
            "  {:<39} {:<10} {:>7} requests  {}",
            c.ip,
            format!("{:?}", c.verdict).to_lowercase(),
            c.requests,
            c.reasons
                .first()
                .map(ToString::to_string)
                .unwrap_or_default()
        );
    }
    if shown.len() > 25 {
        let _ = writeln!(o, "  ... and {} more (see --json)", shown.len() - 25);
    }
    o
}

/// `levee logs`: each file's format and counts, the time span, methods, status classes and
/// the busiest clients.
pub fn summary(s: &LogsSummary) -> String {
    let mut o = String::new();
    for f in &s.files {
        let _ = writeln!(
            o,
            "{}: {} format, compression {}: {} lines, {} requests, {} malformed, {} blank or comment",
            f.name, f.format, f.compression, f.lines, f.requests, f.malformed, f.skipped
        );
        if let Some(e) = &f.error {
            let _ = writeln!(o, "  not read to the end: {e}");
        }
    }
    let _ = writeln!(
        o,
        "{} requests from {} to {}",
        s.requests,
        s.start.as_deref().unwrap_or("?"),
        s.end.as_deref().unwrap_or("?")
    );
    let list = |v: &[Count]| {
        v.iter()
            .map(|c| format!("{} {}", c.name, c.requests))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(o, "methods   {}", list(&s.methods));
    let _ = writeln!(o, "statuses  {}", list(&s.statuses));
    let _ = writeln!(o, "clients   {}", list(&s.top_clients));
    if s.clients_not_addresses > 0 {
        let _ = writeln!(
            o,
            "          ({} requests from clients logged by name)",
            s.clients_not_addresses
        );
    }
    o
}

/// The JavaScript footprint: what the site's browsers fetch and call after its pages, and how
/// the clients of the user agents with the most page loads live up to it.
fn footprint_lines(o: &mut String, a: &L7Analysis) {
    let site = &a.footprint.site;
    if site.scripts.is_empty() {
        return;
    }
    let list = |paths: &[levee_l7::footprint::SitePath]| {
        paths
            .iter()
            .take(4)
            .map(|p| format!("{} ({:.0}%)", p.path, 100.0 * p.share))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        o,
        "\nJavaScript footprint: of {} clients that render pages, most fetch {}",
        site.rendering_clients,
        list(&site.scripts)
    );
    if !site.calls.is_empty() {
        let _ = writeln!(
            o,
            "  and of {} that run scripts, most call {}",
            site.scripting_clients,
            list(&site.calls)
        );
    }
    if !site.script_cookies.is_empty() {
        let cookies: Vec<String> = site
            .script_cookies
            .iter()
            .take(4)
            .map(|c| format!("{} ({:.0}%)", c.name, 100.0 * c.share))
            .collect();
        let _ = writeln!(
            o,
            "  and of {} that run scripts and keep cookies, most send back cookies that no \
             response sets (the site's scripts set them): {}",
            site.cookie_keeping_clients,
            cookies.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "  user agents with the most page loads (page loads, clients, share running scripts, \
         share of page loads followed, mean delay):"
    );
    for u in a.footprint.user_agents.iter().take(5) {
        // Its start and its end: browsers' agents differ at both.
        let chars: Vec<char> = u.user_agent.chars().collect();
        let agent: String = if chars.len() > 60 {
            let mut a: String = chars[..28].iter().collect();
            a.push('…');
            a.extend(&chars[chars.len() - 31..]);
            a
        } else {
            chars.iter().collect()
        };
        let runs = u
            .runs_scripts_share
            .map_or("-".to_string(), |s| format!("{:.0}%", 100.0 * s));
        let delay = u
            .mean_follow_ms
            .map_or("-".to_string(), |ms| format!("{ms} ms"));
        let _ = writeln!(
            o,
            "  {agent:<62} {:>8} {:>6} {runs:>5} {:>5.0}% {delay:>8}",
            u.page_loads,
            u.clients,
            100.0 * u.followed_share
        );
    }
}

/// A line per crawler claimed by some client: how many, and how their claims stand.
fn crawler_lines(o: &mut String, a: &L7Analysis) {
    for c in &a.crawlers {
        let mut parts = Vec::new();
        if c.published > 0 {
            parts.push(format!("{} from its published networks", c.published));
        }
        if c.operator_network > 0 {
            parts.push(format!(
                "{} from {}'s own address blocks",
                c.operator_network, c.operator
            ));
        }
        if c.operator_as > 0 {
            parts.push(format!(
                "{} from {}'s autonomous systems",
                c.operator_as, c.operator
            ));
        }
        if c.other_as > 0 {
            parts.push(format!(
                "{} from other organisations' networks (false)",
                c.other_as
            ));
        }
        if c.host_name > 0 {
            parts.push(format!(
                "{} by a host name of {}'s",
                c.host_name, c.operator
            ));
        }
        if c.unverified > 0 {
            parts.push(format!("{} whose claim cannot be verified", c.unverified));
        }
        let _ = writeln!(
            o,
            "Crawler {}: {} client(s), {} requests: {}",
            c.name,
            c.published
                + c.operator_network
                + c.operator_as
                + c.other_as
                + c.host_name
                + c.unverified,
            c.requests,
            parts.join(", ")
        );
    }
}
