//! Why a client is judged malicious, suspicious or good: [`Reason`] values with the figures
//! they rest on, and one `Display`, the sentence the analysis document, the terminal and the report
//! carry (each serializes as that sentence). Tests match the values.

use std::fmt;

/// One reason a client is judged malicious, suspicious or good.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// A good client's pace: its requests, its busiest minute, its errors.
    Pace {
        /// Requests.
        requests: u32,
        /// Requests in its busiest minute.
        per_minute: u32,
        /// Share answered 4xx.
        error_share: f64,
    },
    /// A good client's browsing: pages with their assets.
    Browsing {
        /// Pages fetched.
        pages: u32,
        /// Scripts, styles and images fetched.
        assets: u32,
    },
    /// A crawler whose address is in its published networks or its operator's own blocks.
    VerifiedCrawler {
        /// The crawler.
        name: &'static str,
        /// Where its address is: in the published networks, the operator's own blocks, or
        /// the operator's autonomous system.
        whence: String,
    },
    /// Requests at a flood's rate.
    FloodRate {
        /// Requests in its busiest minute.
        per_minute: u32,
        /// Requests in its busiest second.
        per_second: u32,
    },
    /// Connections held open on header blocks that never end (slowloris).
    Slowloris {
        /// Such connections.
        connections: u32,
        /// The longest held, in seconds.
        held_s: f64,
    },
    /// A few header blocks left unfinished, one held long.
    UnfinishedHeaders {
        /// Unfinished header blocks.
        blocks: u32,
        /// The longest held, in seconds.
        held_s: f64,
    },
    /// Login attempts (POSTs to a login path).
    LoginAttempts {
        /// Attempts.
        attempts: u32,
        /// Refused.
        refused: u32,
    },
    /// Few paths, a new query string nearly every time: the cache defeated.
    CacheBusting {
        /// Requests.
        requests: u32,
        /// Distinct paths.
        paths: u32,
        /// Distinct query strings (estimated).
        queries: u32,
    },
    /// The search, an expensive endpoint, hammered faster than a person types.
    SearchHammered {
        /// Searches.
        searches: u32,
        /// Requests in its busiest minute.
        per_minute: u32,
    },
    /// The server used as an open proxy.
    OpenProxy {
        /// Requests for absolute URIs of other sites.
        absolute_uris: u32,
        /// CONNECT requests.
        connects: u32,
    },
    /// Requests matching exploit and probe patterns.
    Hostile {
        /// Such requests.
        requests: u32,
        /// The patterns' categories (`sql-injection`, `path-traversal`...).
        categories: Vec<&'static str>,
        /// One of them.
        example: Option<String>,
        /// What in it was hostile (the token or rule that matched, and where).
        why: Option<String>,
    },
    /// The user agent of a scanning tool.
    ScannerAgent {
        /// The user agent.
        agent: String,
    },
    /// Many different paths, most not found or refused.
    WalksPaths {
        /// Distinct paths (estimated).
        paths: u32,
        /// Share answered 4xx.
        error_share: f64,
    },
    /// Mostly OPTIONS requests: probing the server's methods.
    OptionsProbing {
        /// OPTIONS requests.
        options: u32,
        /// All requests.
        requests: u32,
    },
    /// A few OPTIONS requests and little else.
    OptionsOnly {
        /// OPTIONS requests.
        options: u32,
    },
    /// Claims to be a crawler from an address in another organisation's autonomous system.
    FalseCrawler {
        /// The crawler claimed.
        name: &'static str,
        /// Its operator.
        operator: &'static str,
        /// The AS the address is in.
        asn: u32,
    },
    /// Claims to be a crawler from an address that neither the crawler's published networks
    /// nor its operator's own blocks hold: the claim cannot be checked.
    UnverifiedCrawler {
        /// The crawler claimed.
        name: &'static str,
        /// Its operator.
        operator: &'static str,
    },
    /// Many requests from a scripting tool.
    ScriptingTool {
        /// Requests.
        requests: u32,
        /// Its user agent.
        agent: String,
    },
    /// Requests without a user agent.
    NoAgent {
        /// Requests without one.
        without: u32,
        /// All requests.
        requests: u32,
    },
    /// Many user agents from one address.
    ManyAgents {
        /// Distinct user agents (estimated).
        agents: u32,
    },
    /// A browser by its user agent that fetches no script, style or image.
    NoJavaScriptFootprint {
        /// Pages fetched.
        pages: u32,
    },
    /// A browser by its user agent whose page loads are never followed by one of the site's
    /// scripts or styles nor by a script-made request (see [`crate::footprint`]).
    NoScriptRun {
        /// Page loads.
        page_loads: u32,
        /// The script or style the site's browsers fetch most.
        script: String,
        /// Share of the clients that render pages that fetch it.
        share: f64,
        /// Subresources it did fetch (images, fonts, other scripts).
        assets: u32,
    },
    /// A browser by its user agent that fetches the site's scripts but never sends back a
    /// cookie they set (see [`crate::footprint`]).
    ScriptCookieMissing {
        /// Page loads after its first script.
        page_loads: u32,
        /// The cookie the site's scripts set that most clients send back.
        cookie: String,
        /// Share of the clients that run scripts and keep cookies that send it.
        share: f64,
    },
    /// Claims to be a browser but sends a script's headers.
    ScriptHeaders {
        /// Requests whose header order contradicts the claim.
        mismatches: u32,
        /// Requests whose header order is known.
        of: u32,
        /// What the headers are, and what a browser sends.
        example: String,
    },
    /// Claims to be a browser but its TLS hello is not a browser's.
    NonBrowserTls {
        /// Its fingerprint, and what a browser sends.
        example: String,
    },
    /// Its cookie is sent by many addresses: a copied session.
    SharedCookie {
        /// Addresses sending it (estimated).
        addresses: u32,
    },
    /// A new cookie value nearly every request: cookies made up, not kept.
    MadeUpCookies {
        /// Distinct values (estimated).
        distinct: u32,
        /// Requests with a cookie.
        requests: u32,
    },
    /// Given cookies and never sent one back: no browser keeping state.
    CookieNeverReturned {
        /// Cookies given.
        given: u32,
    },
    /// Pages without a single asset, beside another sign of a script.
    NoAssets {
        /// Pages fetched.
        pages: u32,
    },
    /// A browser's claim contradicted by its stack, and corroborated.
    Impersonation {
        /// What contradicts the claim ([`Reason::ScriptHeaders`] or
        /// [`Reason::NonBrowserTls`]).
        contradiction: Box<Reason>,
        /// What corroborates it (cookies, no assets); may be empty for a busy client.
        corroboration: Vec<Reason>,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Pace { .. } | Reason::Browsing { .. } | Reason::VerifiedCrawler { .. } => {
                self.fmt_good(f)
            }
            _ => self.fmt_judged(f),
        }
    }
}

impl Reason {
    /// The sentence of a reason to judge a client malicious or suspicious.
    fn fmt_judged(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::FloodRate {
                per_minute,
                per_second,
            } => write!(
                f,
                "{per_minute} requests in one minute (peak {per_second} in one second): far \
                 above a person's pace"
            ),
            Reason::Slowloris {
                connections,
                held_s,
            } => write!(
                f,
                "{connections} connections held open on a request header block that never ended \
                 (the longest {held_s:.0} s): slowloris, tying up the server's connections"
            ),
            Reason::UnfinishedHeaders { blocks, held_s } => write!(
                f,
                "{blocks} request header block(s) left unfinished, one held open {held_s:.0} s"
            ),
            Reason::LoginAttempts { attempts, refused } => write!(
                f,
                "{attempts} login attempts (POST to a login path), {refused} refused"
            ),
            Reason::CacheBusting {
                requests,
                paths,
                queries,
            } => write!(
                f,
                "{requests} requests to {paths} path(s) with ~{queries} different query strings: \
                 defeats the cache"
            ),
            Reason::SearchHammered {
                searches,
                per_minute,
            } => write!(
                f,
                "{searches} searches, up to {per_minute} in one minute: hammering the search, an \
                 expensive endpoint, faster than a person types"
            ),
            Reason::OpenProxy {
                absolute_uris,
                connects,
            } => open_proxy(f, *absolute_uris, *connects),
            Reason::Hostile {
                requests,
                categories,
                example,
                why,
            } => {
                write!(
                    f,
                    "{requests} hostile request(s): {}",
                    categories.join(", ")
                )?;
                match (example, why) {
                    (Some(e), Some(w)) => write!(f, " (e.g. `{e}`: {w})"),
                    (Some(e), None) => write!(f, " (e.g. `{e}`)"),
                    _ => Ok(()),
                }
            }
            Reason::ScannerAgent { agent } => {
                write!(f, "user agent of a scanning tool: `{agent}`")
            }
            Reason::WalksPaths { paths, error_share } => write!(
                f,
                "walks ~{paths} different paths, {:.0}% of them not found or refused: scanning",
                100.0 * error_share
            ),
            Reason::OptionsProbing { options, requests } => write!(
                f,
                "{options} OPTIONS requests out of {requests}: probing the server's methods"
            ),
            Reason::OptionsOnly { options } => {
                write!(f, "{options} OPTIONS request(s) and little else")
            }
            Reason::FalseCrawler { .. }
            | Reason::UnverifiedCrawler { .. }
            | Reason::ScriptingTool { .. }
            | Reason::NoAgent { .. }
            | Reason::ManyAgents { .. }
            | Reason::NoJavaScriptFootprint { .. }
            | Reason::NoScriptRun { .. }
            | Reason::ScriptCookieMissing { .. }
            | Reason::ScriptHeaders { .. }
            | Reason::NonBrowserTls { .. }
            | Reason::SharedCookie { .. }
            | Reason::MadeUpCookies { .. }
            | Reason::CookieNeverReturned { .. }
            | Reason::NoAssets { .. }
            | Reason::Impersonation { .. } => self.fmt_agent(f),
            Reason::Pace { .. } | Reason::Browsing { .. } | Reason::VerifiedCrawler { .. } => {
                self.fmt_good(f)
            }
        }
    }

    /// The sentence of a reason about what the client claims to be and whether it lives up to
    /// it: its user agent, its stack, its cookies, its footprint.
    fn fmt_agent(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::FalseCrawler {
                name,
                operator,
                asn,
            } => write!(
                f,
                "claims to be {name}, from an address in AS{asn}, not one of {operator}'s"
            ),
            Reason::UnverifiedCrawler { name, operator } => write!(
                f,
                "claims to be {name}, from an address in neither {name}'s published networks \
                 nor {operator}'s own address blocks: the claim cannot be verified"
            ),
            Reason::ScriptingTool { requests, agent } => {
                write!(f, "{requests} requests from a scripting tool (`{agent}`)")
            }
            Reason::NoAgent { without, requests } => {
                write!(f, "{without} of {requests} requests without a user agent")
            }
            Reason::ManyAgents { agents } => {
                write!(f, "~{agents} different user agents from one address")
            }
            Reason::NoJavaScriptFootprint { pages } => write!(
                f,
                "a browser by its user agent, but {pages} pages and not one script, style or \
                 image: no JavaScript footprint"
            ),
            Reason::NoScriptRun {
                page_loads,
                script,
                share,
                assets,
            } => {
                write!(
                    f,
                    "a browser by its user agent, but {page_loads} page loads and not one of the \
                     site's scripts or styles (`{script}`, fetched by {:.0}% of the clients that \
                     render its pages) nor a script-made request",
                    share * 100.0
                )?;
                if *assets > 0 {
                    write!(f, " ({assets} other assets fetched)")?;
                }
                f.write_str(": it runs no JavaScript")
            }
            Reason::ScriptCookieMissing {
                page_loads,
                cookie,
                share,
            } => write!(
                f,
                "a browser by its user agent that fetches the site's scripts, but in {page_loads} \
                 page loads after them never sent back the cookie `{cookie}` they set (sent by \
                 {:.0}% of the clients that run them and keep cookies): it downloads the scripts \
                 without running them",
                share * 100.0
            ),
            Reason::ScriptHeaders {
                mismatches,
                of,
                example,
            } => write!(
                f,
                "claims to be a browser but sends the headers of a script in {mismatches} of {of} \
                 requests ({example})"
            ),
            Reason::NonBrowserTls { example } => write!(
                f,
                "claims to be a browser but its TLS hello is not a browser's ({example})"
            ),
            Reason::SharedCookie { addresses } => write!(
                f,
                "its cookie is sent by ~{addresses} different addresses: a copied session"
            ),
            Reason::MadeUpCookies { distinct, requests } => write!(
                f,
                "~{distinct} different cookie values in {requests} requests: cookies made up, \
                 not kept"
            ),
            Reason::CookieNeverReturned { given } => write!(
                f,
                "was given a cookie {given} times and never sent one back: no browser keeping \
                 state"
            ),
            Reason::NoAssets { pages } => {
                write!(f, "{pages} pages and not one script, style or image")
            }
            Reason::Impersonation {
                contradiction,
                corroboration,
            } => impersonation(f, contradiction, corroboration),
            _ => self.fmt_judged(f),
        }
    }

    /// The sentence of a reason to judge a client good.
    fn fmt_good(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Pace {
                requests,
                per_minute,
                error_share,
            } => write!(
                f,
                "{requests} requests, at most {per_minute} per minute; {:.0}% answered 4xx",
                100.0 * error_share
            ),
            Reason::Browsing { pages, assets } => write!(f, "{pages} pages with {assets} assets"),
            Reason::VerifiedCrawler { name, whence } => {
                write!(f, "a verified {name} crawler (address in {whence})")
            }
            _ => self.fmt_judged(f),
        }
    }
}

/// "uses the server as an open proxy", with what it asked.
fn open_proxy(f: &mut fmt::Formatter<'_>, absolute_uris: u32, connects: u32) -> fmt::Result {
    f.write_str("uses the server as an open proxy: ")?;
    if absolute_uris > 0 {
        write!(
            f,
            "{absolute_uris} requests for absolute URIs of other sites"
        )?;
        if connects > 0 {
            f.write_str(", ")?;
        }
    }
    if connects > 0 {
        write!(f, "{connects} CONNECT requests")?;
    }
    Ok(())
}

/// The contradiction of a browser's claim, then what corroborates it.
fn impersonation(
    f: &mut fmt::Formatter<'_>,
    contradiction: &Reason,
    corroboration: &[Reason],
) -> fmt::Result {
    write!(f, "{contradiction}")?;
    for c in corroboration {
        write!(f, "; {c}")?;
    }
    Ok(())
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_proxy_names_what_it_was_asked() {
        let r = |absolute_uris, connects| {
            Reason::OpenProxy {
                absolute_uris,
                connects,
            }
            .to_string()
        };
        assert_eq!(
            r(2, 0),
            "uses the server as an open proxy: 2 requests for absolute URIs of other sites"
        );
        assert_eq!(
            r(0, 3),
            "uses the server as an open proxy: 3 CONNECT requests"
        );
        assert_eq!(
            r(2, 3),
            "uses the server as an open proxy: 2 requests for absolute URIs of other sites, 3 \
             CONNECT requests"
        );
    }

    #[test]
    fn an_impersonation_gives_its_contradiction_then_what_corroborates_it() {
        let r = Reason::Impersonation {
            contradiction: Box::new(Reason::NonBrowserTls {
                example: "t13d1516h2 is curl's".into(),
            }),
            corroboration: vec![Reason::NoAssets { pages: 12 }],
        };
        assert_eq!(
            r.to_string(),
            "claims to be a browser but its TLS hello is not a browser's (t13d1516h2 is curl's); \
             12 pages and not one script, style or image"
        );
    }

    #[test]
    fn a_browser_that_runs_no_script_names_the_script_it_never_fetched() {
        let r = |assets| Reason::NoScriptRun {
            page_loads: 40,
            script: "/static/app.js".into(),
            share: 0.974,
            assets,
        };
        assert_eq!(
            r(0).to_string(),
            "a browser by its user agent, but 40 page loads and not one of the site's scripts or \
             styles (`/static/app.js`, fetched by 97% of the clients that render its pages) nor a \
             script-made request: it runs no JavaScript"
        );
        assert!(r(38)
            .to_string()
            .ends_with("script-made request (38 other assets fetched): it runs no JavaScript"));
        let cookie = Reason::ScriptCookieMissing {
            page_loads: 14,
            cookie: "_sv".into(),
            share: 0.991,
        };
        assert_eq!(
            cookie.to_string(),
            "a browser by its user agent that fetches the site's scripts, but in 14 page loads \
             after them never sent back the cookie `_sv` they set (sent by 99% of the clients \
             that run them and keep cookies): it downloads the scripts without running them"
        );
    }
}
