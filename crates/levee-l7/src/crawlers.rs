//! Search-engine crawlers: a user agent that claims one is believed only from the networks
//! its operator publishes for it. A crawler is not malicious for being a bot; a client that
//! claims to be one from elsewhere is lying, which is evidence against it.
//!
//! The networks are a subset of the operators' published lists (Google's `googlebot.json`,
//! Bing's `bingbot.json`, Apple's Applebot list, Yandex's and Baidu's documentation), enough to
//! recognise their crawlers; an address outside them is reported as "not in the published
//! ranges levee knows", never more.

use std::net::IpAddr;

use ipnet::IpNet;

/// A known crawler: the token its user agent carries and networks it crawls from.
struct Crawler {
    name: &'static str,
    token: &'static str,
    networks: &'static [&'static str],
}

const CRAWLERS: &[Crawler] = &[
    Crawler {
        name: "Googlebot",
        token: "googlebot",
        networks: &["66.249.64.0/19", "2001:4860:4801::/48"],
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
    },
    Crawler {
        name: "Applebot",
        token: "applebot",
        networks: &["17.0.0.0/8"],
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
    },
    Crawler {
        name: "Baiduspider",
        token: "baiduspider",
        networks: &["180.76.15.0/24", "220.181.108.0/24", "116.179.32.0/24"],
    },
];

/// What a user agent's claim to be a crawler comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrawlerClaim {
    /// The crawler claimed (`Googlebot`, `bingbot`...).
    pub name: &'static str,
    /// The address is in the crawler's published networks.
    pub verified: bool,
}

/// The crawler a user agent claims to be, if any, checked against the client's address.
pub fn claim(user_agent: &str, ip: Option<IpAddr>) -> Option<CrawlerClaim> {
    let lower = user_agent.to_ascii_lowercase();
    let c = CRAWLERS.iter().find(|c| lower.contains(c.token))?;
    let verified = ip.is_some_and(|ip| {
        c.networks
            .iter()
            .filter_map(|n| n.parse::<IpNet>().ok())
            .any(|n| n.contains(&ip))
    });
    Some(CrawlerClaim {
        name: c.name,
        verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crawlers_are_believed_only_from_their_networks() {
        let ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert_eq!(
            claim(ua, "66.249.66.1".parse().ok()),
            Some(CrawlerClaim {
                name: "Googlebot",
                verified: true
            })
        );
        assert_eq!(
            claim(ua, "203.0.113.5".parse().ok()),
            Some(CrawlerClaim {
                name: "Googlebot",
                verified: false
            })
        );
        assert_eq!(
            claim(
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                "66.249.66.1".parse().ok()
            ),
            None
        );
        for c in CRAWLERS {
            for n in c.networks {
                assert!(n.parse::<IpNet>().is_ok(), "{n}");
            }
        }
    }
}
