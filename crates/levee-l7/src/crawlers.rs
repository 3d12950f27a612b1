//! Search-engine crawlers: a user agent that claims one is believed from the networks its
//! operator publishes for it, or from the address blocks the registries allocated to the
//! operator itself. A crawler is not malicious for being a bot.
//!
//! Published crawler lists change every few months, so a log from years ago holds real
//! crawlers from addresses today's list no longer has; the operators' own allocations (Microsoft's
//! 157.54.0.0/15, Yandex's 77.88.0.0/18...) have been theirs for decades. Only blocks the
//! operator uses itself are listed: its cloud ranges (Azure, Google Cloud, Yandex Cloud), which
//! anyone can rent, are not. A claim from neither cannot be checked here: it makes the client
//! suspicious, with the reason, and only its own behaviour makes it malicious.
//!
//! The published networks are a subset of the operators' lists (Google's `googlebot.json`,
//! Bing's `bingbot.json`, Apple's Applebot list, Yandex's and Baidu's documentation).

use std::net::IpAddr;

use ipnet::IpNet;

/// A known crawler: the token its user agent carries, networks it crawls from, its operator,
/// the blocks allocated to the operator that it uses itself, and the operator's autonomous
/// systems (its own, not its cloud's).
struct Crawler {
    name: &'static str,
    token: &'static str,
    networks: &'static [&'static str],
    operator: &'static str,
    operator_networks: &'static [&'static str],
    asns: &'static [u32],
    /// Domains its crawlers' addresses resolve to (reverse DNS).
    domains: &'static [&'static str],
}

/// The autonomous system of an address, from an ASN database (`--asn`).
pub trait AsnLookup {
    /// The AS number of `ip`, if the database knows it.
    fn asn(&self, ip: IpAddr) -> Option<u32>;
}

const CRAWLERS: &[Crawler] = &[
    Crawler {
        name: "Googlebot",
        token: "googlebot",
        networks: &["66.249.64.0/19", "2001:4860:4801::/48"],
        operator: "Google",
        asns: &[15169],
        domains: &["googlebot.com", "google.com"],
        operator_networks: &[
            "64.233.160.0/19",
            "66.102.0.0/20",
            "66.249.64.0/19",
            "72.14.192.0/18",
            "74.125.0.0/16",
            "209.85.128.0/17",
            "216.239.32.0/19",
            "2001:4860::/32",
        ],
    },
    Crawler {
        name: "Bingbot",
        token: "bingbot",
        networks: &[
            "157.55.39.0/24",
            "207.46.13.0/24",
            "40.77.167.0/24",
            "13.66.139.0/24",
            "13.66.144.0/24",
            "52.167.144.0/24",
            "40.77.188.0/22",
            "199.30.24.0/23",
        ],
        operator: "Microsoft",
        asns: &[8068, 8069, 8075],
        domains: &["search.msn.com"],
        operator_networks: &[
            "65.52.0.0/14",
            "131.253.0.0/16",
            "157.54.0.0/15",
            "157.56.0.0/14",
            "199.30.16.0/20",
            "207.46.0.0/16",
        ],
    },
    Crawler {
        name: "Applebot",
        token: "applebot",
        networks: &["17.0.0.0/8"],
        operator: "Apple",
        asns: &[714, 6185],
        domains: &["applebot.apple.com"],
        operator_networks: &["17.0.0.0/8"],
    },
    Crawler {
        name: "YandexBot",
        token: "yandexbot",
        networks: &[
            "5.255.253.0/24",
            "77.88.5.0/24",
            "95.108.213.0/24",
            "213.180.203.0/24",
        ],
        operator: "Yandex",
        asns: &[13238],
        domains: &["yandex.ru", "yandex.net", "yandex.com"],
        operator_networks: &[
            "5.45.192.0/18",
            "5.255.192.0/18",
            "77.88.0.0/18",
            "87.250.224.0/19",
            "93.158.128.0/18",
            "95.108.128.0/17",
            "141.8.128.0/18",
            "178.154.128.0/18",
            "213.180.192.0/19",
        ],
    },
    Crawler {
        name: "Baiduspider",
        token: "baiduspider",
        networks: &["180.76.15.0/24", "220.181.108.0/24", "116.179.32.0/24"],
        operator: "Baidu",
        asns: &[38365, 55967],
        domains: &["baidu.com", "baidu.jp"],
        operator_networks: &["180.76.0.0/16"],
    },
];

/// What a user agent's claim to be a crawler comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrawlerClaim {
    /// The crawler claimed (`Googlebot`, `bingbot`...).
    pub name: &'static str,
    /// The company that runs it.
    pub operator: &'static str,
    /// How far the address bears the claim out.
    pub standing: Standing,
}

/// How far a client's address bears out its claim to be a crawler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// In the crawler's published networks.
    Published,
    /// In a block allocated to the crawler's operator and used by it alone.
    OperatorNetwork,
    /// In one of the operator's autonomous systems, by the ASN database.
    OperatorAs(u32),
    /// Logged by host name (the server's reverse lookup) under the crawler's domain.
    HostName,
    /// In another organisation's autonomous system, by the ASN database: the claim is false.
    OtherAs(u32),
    /// In none of the above, and no ASN database tells: the claim cannot be checked here.
    Unverified,
}

impl CrawlerClaim {
    /// Whether the claim is borne out.
    pub fn verified(&self) -> bool {
        matches!(
            self.standing,
            Standing::Published
                | Standing::OperatorNetwork
                | Standing::OperatorAs(_)
                | Standing::HostName
        )
    }
}

fn contains(networks: &[&str], ip: IpAddr) -> bool {
    networks
        .iter()
        .filter_map(|n| n.parse::<IpNet>().ok())
        .any(|n| n.contains(&ip))
}

/// The crawler a user agent claims to be, if any, checked against the client's address.
pub fn claim(user_agent: &str, ip: Option<IpAddr>) -> Option<CrawlerClaim> {
    claim_checked(user_agent, ip, None)
}

/// The crawler a client logged by host name (the server resolved its address) claims to be:
/// verified when the name is under one of the crawler's domains. The name is the server's
/// reverse lookup; a server that logs names usually confirms them forward (Apache's
/// `HostnameLookups Double`), which levee, offline, cannot redo.
pub fn claim_by_name(user_agent: &str, host: &str) -> Option<CrawlerClaim> {
    let lower = user_agent.to_ascii_lowercase();
    let c = CRAWLERS.iter().find(|c| lower.contains(c.token))?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let under = c.domains.iter().any(|d| host.ends_with(&format!(".{d}")));
    Some(CrawlerClaim {
        name: c.name,
        operator: c.operator,
        standing: if under {
            Standing::HostName
        } else {
            Standing::Unverified
        },
    })
}

/// [`claim`], with the autonomous system of the address when an ASN database is given: an
/// address in none of the known networks is then the operator's or someone else's.
pub fn claim_checked(
    user_agent: &str,
    ip: Option<IpAddr>,
    asns: Option<&dyn AsnLookup>,
) -> Option<CrawlerClaim> {
    let lower = user_agent.to_ascii_lowercase();
    let c = CRAWLERS.iter().find(|c| lower.contains(c.token))?;
    let standing = match ip {
        Some(ip) if contains(c.networks, ip) => Standing::Published,
        Some(ip) if contains(c.operator_networks, ip) => Standing::OperatorNetwork,
        Some(ip) => match asns.and_then(|db| db.asn(ip)) {
            Some(asn) if c.asns.contains(&asn) => Standing::OperatorAs(asn),
            Some(asn) => Standing::OtherAs(asn),
            None => Standing::Unverified,
        },
        None => Standing::Unverified,
    };
    Some(CrawlerClaim {
        name: c.name,
        operator: c.operator,
        standing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crawlers_are_believed_from_their_networks_and_their_operators() {
        let ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        let standing = |ua: &str, ip: &str| claim(ua, ip.parse().ok()).map(|c| c.standing);
        assert_eq!(standing(ua, "66.249.66.1"), Some(Standing::Published));
        assert_eq!(standing(ua, "74.125.1.1"), Some(Standing::OperatorNetwork));
        assert_eq!(standing(ua, "203.0.113.5"), Some(Standing::Unverified));
        // Google Cloud is Google's, and anyone's to rent.
        assert_eq!(standing(ua, "34.120.0.1"), Some(Standing::Unverified));
        // Bingbot of 2015 from an address today's list lacks, in Microsoft's own block.
        let bing = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)";
        assert_eq!(standing(bing, "157.55.39.1"), Some(Standing::Published));
        assert_eq!(
            standing(bing, "157.56.92.1"),
            Some(Standing::OperatorNetwork)
        );
        assert_eq!(
            standing(
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                "66.249.66.1"
            ),
            None
        );
        // With an ASN database, the operator's AS verifies, another's refutes, and an address
        // the database does not know stays unverified.
        struct Db;
        impl AsnLookup for Db {
            fn asn(&self, ip: IpAddr) -> Option<u32> {
                match ip.to_string().as_str() {
                    "34.120.0.1" => Some(396982),
                    "203.0.113.5" => Some(64500),
                    "192.0.2.1" => Some(15169),
                    _ => None,
                }
            }
        }
        let checked = |ip: &str| claim_checked(ua, ip.parse().ok(), Some(&Db)).map(|c| c.standing);
        assert_eq!(checked("192.0.2.1"), Some(Standing::OperatorAs(15169)));
        assert_eq!(checked("203.0.113.5"), Some(Standing::OtherAs(64500)));
        // Google Cloud's AS is not the crawler's.
        assert_eq!(checked("34.120.0.1"), Some(Standing::OtherAs(396982)));
        assert_eq!(checked("198.51.100.1"), Some(Standing::Unverified));
        assert_eq!(checked("66.249.66.1"), Some(Standing::Published));
        // Logged by name: under the crawler's domain, or not.
        let by_name = |host: &str| claim_by_name(ua, host).map(|c| c.standing);
        assert_eq!(
            by_name("crawl-66-249-66-1.googlebot.com"),
            Some(Standing::HostName)
        );
        assert_eq!(
            by_name("googlebot.com.evil.example"),
            Some(Standing::Unverified)
        );
        assert_eq!(by_name("fakegooglebot.com"), Some(Standing::Unverified));
        for c in CRAWLERS {
            for n in c.networks.iter().chain(c.operator_networks) {
                assert!(n.parse::<IpNet>().is_ok(), "{n}");
            }
        }
    }
}
