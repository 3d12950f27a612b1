//! The rules `levee analyze --rules-out` writes for the layer-7 attacks of a log.
//!
//! First, per attack, a `block` of the clients judged part of it (what stops it now); then,
//! where an attack is one of rate, a `rate_limit` per client on what it hit, with a threshold
//! above what every good client did (what stops the next wave from new addresses without
//! touching the good clients). Open-proxy requests get a rule on their shape. The blocks come
//! before every limit: a rate limit decides the requests it matches (first match wins), so a
//! limit placed first would let an attacker's requests pass under it.

use levee_rules::{Action, RateKey, Rule, RulesFile};

use crate::{L7Analysis, Level};

/// The rules for an analysis's attacks.
pub fn recommended_rules(a: &L7Analysis) -> RulesFile {
    let mut blocks = Vec::new();
    let mut limits = Vec::new();
    let mut push = |id: String, description: String, text: String, action: Action| {
        let expression = levee_rules::parse_plain(&text).expect("levee writes rules that parse");
        let rule = Rule {
            id,
            description: Some(description),
            text,
            expression,
            action,
        };
        if matches!(rule.action, Action::RateLimit { .. }) {
            limits.push(rule);
        } else {
            blocks.push(rule);
        }
    };
    for at in &a.attacks {
        let members: Vec<&str> = a
            .clients
            .iter()
            .filter(|c| {
                c.verdict == Level::Malicious && c.vector.as_deref() == Some(at.vector.as_str())
            })
            .map(|c| c.ip.as_str())
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .collect();
        if at.vector == "http-proxy-abuse" {
            push(
                format!("{}-{}-shape", at.vector, at.id),
                "requests for other sites (absolute URIs) and CONNECT: never sent to a web server by a browser".into(),
                r#"http.request.method == "CONNECT" or http.request.uri matches "^[A-Za-z][A-Za-z0-9+.-]*://""#.into(),
                Action::Block,
            );
        }
        if !members.is_empty() {
            push(
                format!("{}-{}-clients", at.vector, at.id),
                format!(
                    "the {} client(s) of attack {} ({}, {} requests from {} to {})",
                    members.len(),
                    at.id,
                    at.vector,
                    at.requests,
                    at.start,
                    at.end
                ),
                format!("ip.src in {{ {} }}", members.join(" ")),
                Action::Block,
            );
        }
        let paths: Vec<String> = at
            .targets
            .iter()
            .take(5)
            .map(|t| format!("\"{}\"", t.name.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let g = &a.good_rates;
        match at.vector.as_str() {
            "http-flood" | "cache-busting" if !paths.is_empty() => {
                // Twice the busiest good client's minute, spread over the minute; a burst of
                // twice its busiest second.
                let per_minute = (2 * g.peak_per_minute_max).max(60);
                let burst = u64::from((2 * g.peak_per_second_max).max(10));
                push(
                    format!("{}-{}-limit", at.vector, at.id),
                    format!(
                        "at most {per_minute} requests a minute per client to the paths the attack hit; \
                         the busiest of {} good clients made {} in a minute and {} in a second",
                        g.clients, g.peak_per_minute_max, g.peak_per_second_max
                    ),
                    format!("http.request.uri.path in {{ {} }}", paths.join(" ")),
                    Action::RateLimit {
                        rate: f64::from(per_minute) / 60.0,
                        burst,
                        key: RateKey::Source,
                    },
                );
            }
            "login-abuse" if !paths.is_empty() => {
                let burst = u64::from((2 * g.login_posts_max).max(5));
                push(
                    format!("{}-{}-limit", at.vector, at.id),
                    format!(
                        "at most {burst} login attempts per client, then one a minute; no good client made more than {}",
                        g.login_posts_max
                    ),
                    format!(
                        "http.request.method == \"POST\" and http.request.uri.path in {{ {} }}",
                        paths.join(" ")
                    ),
                    Action::RateLimit {
                        rate: 1.0 / 60.0,
                        burst,
                        key: RateKey::Source,
                    },
                );
            }
            _ => {}
        }
    }
    blocks.extend(limits);
    RulesFile {
        rules: blocks,
        lists: levee_rules::Lists::new(),
        list_files: Default::default(),
    }
}
