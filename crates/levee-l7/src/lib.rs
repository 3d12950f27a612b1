//! Layer-7 analysis: which HTTP clients are good and which are not, why, and the attacks the
//! bad ones make.
//!
//! Two passes over the same requests (an access log read twice, or requests reassembled from
//! a capture):
//!
//! 1. [`Analyzer::add`] keeps a fixed-size [`profile::Profile`] per client in a bounded
//!    [`profile::ProfileTable`]: volume and peak rates, statuses, methods, path and query
//!    diversity, the assets its pages need (its JavaScript footprint), user agents, login
//!    attempts, and hostile requests found by [`patterns`].
//! 2. [`Analyzer::judge`] gives every profiled client a verdict — `good`, `suspicious` or
//!    `malicious` — with the reasons in plain words, and the attack vector a malicious client
//!    belongs to. [`Judged::add`] then counts each attack's requests exactly (start, end,
//!    peak requests per second, targets), and [`Judged::finish`] writes the analysis.
//!
//! Memory is bounded whatever the number of clients: the profile table has a fixed capacity,
//! distinct counts are sketches, and top lists are bounded top-k tables.

#![warn(missing_docs)]

pub mod bits;
pub mod browser;
pub mod category;
pub mod crawlers;
pub mod footprint;
pub mod groups;
pub mod inspect;
pub mod patterns;
pub mod profile;
pub mod reason;
pub mod rules;
pub mod simulate;
pub mod stream;

use std::hash::BuildHasher;
use std::net::IpAddr;

use levee_logs::format_ts;
use levee_logs::Request;
use levee_sketch::{DistinctCount, TopK};
use serde::Serialize;

use patterns::{Category, Patterns};
use profile::{ClientKey, Profile, ProfileTable};
pub use reason::Reason;

/// Thresholds of the verdicts (each documented in `docs/l7.md`).
#[derive(Debug, Clone)]
pub struct L7Config {
    /// Clients profiled at most (about 300 bytes each).
    pub max_clients: usize,
    /// A client at this many requests in one minute floods.
    pub flood_per_minute: u32,
    /// Searches from one client that, at `search_per_minute` in a minute, hammer the search
    /// (an endpoint that costs the server far more than a page).
    pub search_requests: u32,
    /// Searches in one minute that, with `search_requests` in all, hammer the search.
    pub search_per_minute: u32,
    /// Login POSTs from one client that make login abuse.
    pub login_posts: u32,
    /// Requests of a client with one path and ever-changing queries that make cache busting.
    pub cache_busting_requests: u32,
    /// Good clients listed in the output (the busiest).
    pub good_sample: usize,
    /// Connections held open on an unfinished header block, each at least `slowloris_held_ns`,
    /// that make slowloris.
    pub slowloris_connections: u32,
    /// How long (ns) each of those connections is held.
    pub slowloris_held_ns: i64,
    /// Distinct addresses sending one cookie value that make it a shared (copied) session.
    pub shared_cookie_clients: u32,
}

impl Default for L7Config {
    fn default() -> Self {
        L7Config {
            max_clients: 262_144,
            flood_per_minute: 600,
            search_requests: 100,
            search_per_minute: 60,
            login_posts: 20,
            cache_busting_requests: 50,
            good_sample: 20,
            slowloris_connections: 3,
            slowloris_held_ns: 10_000_000_000,
            shared_cookie_clients: 5,
        }
    }
}

/// Attack vectors of layer 7, in the order a client with several is attributed: what a
/// client tries to break in with names it before how fast it goes (a scanner is never an
/// `http-flood`, however fast it scans).
pub const VECTORS: [&str; 14] = [
    "http-scanner",
    "sql-injection",
    "command-injection",
    "code-injection",
    "xss",
    "file-inclusion",
    "ssrf",
    "header-injection",
    "http-flood",
    "slowloris",
    "login-abuse",
    "cache-busting",
    "http-proxy-abuse",
    "bad-bot",
];

/// The kinds of injection, each the vector of a client whose hostile requests are of that
/// kind alone (see [`exploit_vector`]).
const INJECTIONS: [(&str, &[Category]); 7] = [
    ("sql-injection", &[Category::SqlInjection]),
    (
        "command-injection",
        &[Category::CommandInjection, Category::Shellshock],
    ),
    (
        "code-injection",
        &[
            Category::PhpInjection,
            Category::JavaInjection,
            Category::CodeInjection,
            Category::Log4Shell,
            Category::LdapInjection,
        ],
    ),
    ("xss", &[Category::Xss, Category::SessionFixation]),
    (
        "file-inclusion",
        &[Category::PathTraversal, Category::RemoteFileInclusion],
    ),
    ("ssrf", &[Category::Ssrf]),
    ("header-injection", &[Category::HeaderInjection]),
];

/// The vector of a client's hostile requests (`mask`, without the scanner user agent):
/// `http-scanner` for probes of known vulnerable software and files, or for attempts of
/// three kinds of injection or more (what scanners send); otherwise the kind of injection
/// tried, the first of [`INJECTIONS`] when there are two.
fn exploit_vector(mask: u32) -> &'static str {
    let probes = [
        Category::IisWorm,
        Category::FrontPage,
        Category::PhpProbe,
        Category::SensitiveFile,
    ];
    if probes.iter().any(|c| mask & c.bit() != 0) {
        return "http-scanner";
    }
    let tried: Vec<&str> = INJECTIONS
        .iter()
        .filter(|(_, cats)| cats.iter().any(|c| mask & c.bit() != 0))
        .map(|(v, _)| *v)
        .collect();
    match tried.as_slice() {
        [one] | [one, _] => one,
        _ => "http-scanner",
    }
}

/// The index of a vector in [`VECTORS`].
fn vector_index(name: &str) -> usize {
    VECTORS
        .iter()
        .position(|v| *v == name)
        .expect("a vector levee names")
}

/// Cookie values and the addresses that sent each (distinct-count sketches), for cookies
/// copied across clients. Bounded: past `MAX_COOKIES` values, new ones are not followed.
struct CookieTable {
    by_value: std::collections::HashMap<u64, bits::Bits256, foldhash::fast::FixedState>,
    untracked: u64,
}

const MAX_COOKIES: usize = 65_536;

impl CookieTable {
    fn add(&mut self, cookie: u64, client: u64) {
        let len = self.by_value.len();
        match self.by_value.get_mut(&cookie) {
            Some(ips) => ips.insert(client),
            None if len < MAX_COOKIES => {
                let mut ips = bits::Bits256::default();
                ips.insert(client);
                self.by_value.insert(cookie, ips);
            }
            None => self.untracked += 1,
        }
    }

    /// Adds the cookies of `other` (another share of the clients).
    fn absorb(&mut self, other: CookieTable) {
        self.untracked += other.untracked;
        for (cookie, ips) in other.by_value {
            let len = self.by_value.len();
            match self.by_value.get_mut(&cookie) {
                Some(held) => held.union(&ips),
                None if len < MAX_COOKIES => {
                    self.by_value.insert(cookie, ips);
                }
                None => self.untracked += 1,
            }
        }
    }

    /// Distinct clients that sent a cookie value.
    fn clients(&self, cookie: u64) -> u32 {
        self.by_value.get(&cookie).map_or(0, |b| b.estimate())
    }
}

/// The first pass.
pub struct Analyzer {
    config: L7Config,
    patterns: std::sync::Arc<Patterns>,
    clean_targets: patterns::CleanTargets,
    agent_masks: patterns::AgentMasks,
    hasher: foldhash::fast::FixedState,
    table: ProfileTable,
    clients: DistinctCount,
    cookies: CookieTable,
    site: footprint::SiteFootprint,
    requests: u64,
    start: i64,
    end: i64,
}

impl Analyzer {
    /// A first pass with no request yet.
    pub fn new(config: L7Config) -> Analyzer {
        Analyzer::with_patterns(config, Default::default())
    }

    /// First passes over `shares` shares of the clients ([`levee_logs::Share`]), one per
    /// thread, to be [`Analyzer::merged`]: each holds its part of the clients that
    /// `config.max_clients` bounds, and the patterns are compiled once.
    pub fn shares(config: &L7Config, shares: usize) -> Vec<Analyzer> {
        let patterns = std::sync::Arc::new(Patterns::new());
        let shares = shares.max(1);
        (0..shares)
            .map(|_| {
                let config = L7Config {
                    max_clients: config.max_clients.div_ceil(shares),
                    ..config.clone()
                };
                Analyzer::with_patterns(config, patterns.clone())
            })
            .collect()
    }

    /// One first pass of the first passes over every share of the clients.
    pub fn merged(shares: Vec<Analyzer>, config: L7Config) -> Analyzer {
        let mut shares = shares.into_iter();
        let mut whole = shares
            .next()
            .unwrap_or_else(|| Analyzer::new(config.clone()));
        whole.config = config;
        for a in shares {
            whole.table.absorb(a.table);
            whole.clients.merge(&a.clients);
            whole.cookies.absorb(a.cookies);
            whole.site.absorb(a.site);
            whole.requests += a.requests;
            whole.start = whole.start.min(a.start);
            whole.end = whole.end.max(a.end);
        }
        whole
    }

    fn with_patterns(config: L7Config, patterns: std::sync::Arc<Patterns>) -> Analyzer {
        Analyzer {
            table: ProfileTable::new(config.max_clients),
            config,
            patterns,
            clean_targets: Default::default(),
            agent_masks: Default::default(),
            hasher: foldhash::fast::FixedState::with_seed(0x4c37),
            clients: DistinctCount::default(),
            site: Default::default(),
            cookies: CookieTable {
                by_value: Default::default(),
                untracked: 0,
            },
            requests: 0,
            start: i64::MAX,
            end: i64::MIN,
        }
    }

    pub(crate) fn key(&self, r: &Request<'_>) -> ClientKey {
        match r.ip {
            Some(ip) => ClientKey::Ip(ip),
            None => ClientKey::Name(self.hasher.hash_one(&*r.client)),
        }
    }

    /// Profiles a request's client.
    pub fn add(&mut self, r: &Request<'_>) {
        self.requests += 1;
        if let Some(ts) = r.ts {
            self.start = self.start.min(ts);
            self.end = self.end.max(ts);
        }
        let key = self.key(r);
        self.clients.add(&key);
        let found = self.clean_targets.scan(&self.patterns, &r.target);
        let mut hostile = found.mask
            | r.referer
                .as_deref()
                .map_or(0, |t| self.patterns.scan_referer(t));
        let agent_hash = r.user_agent.as_deref().map(|a| self.hasher.hash_one(a));
        let p = self.table.get(key);
        // A client mostly keeps its user agent: scan it once per change.
        if let (Some(agent), Some(h)) = (r.user_agent.as_deref(), agent_hash) {
            let (masks, patterns) = (&mut self.agent_masks, &self.patterns);
            hostile |= p.agent_categories(h, agent, || masks.scan(patterns, agent, h));
        }
        if p.requests == 0 && r.ip.is_none() {
            p.name = Some(r.client.clone().into_owned().into());
        }
        let learned = p.add(r, hostile, || found.why(), &self.hasher, agent_hash);
        if learned.teaches() {
            self.site.learn(learned, r.path());
        }
        p.add_stack(r, &self.hasher);
        if r.cookie.is_some() || r.set_cookies.is_some() {
            p.teach_cookies(r, &self.hasher, &mut self.site);
        }
        if let Some(c) = p.stack().cookie_hash.filter(|_| r.cookie.is_some()) {
            self.cookies.add(c, self.hasher.hash_one(key));
        }
    }

    /// One profiled client's verdict as its requests so far make it: its level, its vector
    /// (an index of [`VECTORS`]) and why. `None` for a client not profiled.
    /// `site` is the site's footprint so far ([`Analyzer::site_model`], made once for many
    /// clients).
    pub(crate) fn verdict_so_far(
        &self,
        key: &ClientKey,
        site: &footprint::SiteModel,
    ) -> Option<(Level, Option<usize>, Vec<Reason>)> {
        let p = self.table.lookup(key)?;
        let shared = p.stack().cookie_hash.map_or(0, |c| self.cookies.clients(c));
        let v = judge_one(key, p, shared, &self.config, site, None);
        Some((v.level, v.vector, v.reasons))
    }

    /// What the site's browsers fetch and call after its pages, as learned so far.
    pub(crate) fn site_model(&self) -> footprint::SiteModel {
        self.site.model()
    }

    /// A profiled client's profile.
    pub(crate) fn profile(&self, key: &ClientKey) -> Option<&Profile> {
        self.table.lookup(key)
    }

    /// Verdicts for every profiled client.
    pub fn judge(self) -> Judged {
        self.judge_checked(None)
    }

    /// Verdicts for every profiled client, crawler claims checked against the ASN database
    /// `asns` where the known networks do not settle them.
    pub fn judge_checked(self, asns: Option<&dyn crawlers::AsnLookup>) -> Judged {
        let mut verdicts = Vec::with_capacity(self.table.len());
        let site = self.site.model();
        for (key, p) in self.table.by_first_request() {
            let shared = p.stack().cookie_hash.map_or(0, |c| self.cookies.clients(c));
            verdicts.push((*key, judge_one(key, p, shared, &self.config, &site, asns)));
        }
        let lookup = verdicts
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (*k, i as u32))
            .collect();
        Judged {
            first: self,
            verdicts,
            lookup,
            site,
            tally: Tally::default(),
        }
    }
}

/// A client's verdict.
#[derive(Debug, Clone)]
struct Verdict {
    level: Level,
    vector: Option<usize>,
    /// Empty for good clients (written when listed).
    reasons: Vec<Reason>,
    /// The crawler it claims to be, verified or not.
    claim: Option<crawlers::CrawlerClaim>,
}

impl Verdict {
    /// The crawler the client was verified as, if its claim holds.
    fn verified_crawler(&self) -> Option<crawlers::CrawlerClaim> {
        self.claim.filter(crawlers::CrawlerClaim::verified)
    }
}

/// A client's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Nothing against it.
    Good,
    /// Signs of a script or tool, not enough to block it.
    Suspicious,
    /// Part of an attack.
    Malicious,
}

const TOOL_AGENTS: &[&str] = &[
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "libwww-perl",
    "java/",
    "okhttp",
    "scrapy",
    "httpclient",
    "aiohttp",
    "node-fetch",
    "axios/",
];

/// `cookie_clients`: how many clients sent the client's (last) cookie value.
fn judge_one(
    key: &ClientKey,
    p: &Profile,
    cookie_clients: u32,
    c: &L7Config,
    site: &footprint::SiteModel,
    asns: Option<&dyn crawlers::AsnLookup>,
) -> Verdict {
    let mut found = Found::default();
    // What a client tries to break in with comes first in its reasons, as in its vector.
    probing(p, &mut found);
    rates_and_abuse(p, c, &mut found);
    let ip = match key {
        ClientKey::Ip(ip) => Some(*ip),
        ClientKey::Name(_) => None,
    };
    let claim = agent(p, ip, asns, &mut found);
    let crawler = claim.filter(crawlers::CrawlerClaim::verified);
    let no_script = no_script_run(p, site)
        .or_else(|| script_cookie_missing(p, site))
        .filter(|_| crawler.is_none());
    if let Some(why) = &no_script {
        found.suspicious.push(why.clone());
    }
    if crawler.is_none() {
        impersonation(p, cookie_clients, c, no_script, &mut found);
    }
    let vector = found.vectors.iter().position(|&v| v);
    // Good clients' reasons are written only for those listed (see `good_reasons`).
    let (level, reasons) = if vector.is_some() {
        (Level::Malicious, found.malicious)
    } else if !found.suspicious.is_empty() {
        (Level::Suspicious, found.suspicious)
    } else {
        (Level::Good, Vec::new())
    };
    Verdict {
        level,
        vector,
        reasons,
        claim,
    }
}

/// A client's reasons as they are found: the malicious ones with the vectors they make, and
/// the suspicious ones.
#[derive(Default)]
struct Found {
    vectors: [bool; VECTORS.len()],
    malicious: Vec<Reason>,
    suspicious: Vec<Reason>,
}

impl Found {
    fn malicious(&mut self, vector: &str, why: Reason) {
        self.vectors[vector_index(vector)] = true;
        self.malicious.push(why);
    }

    fn made(&self, vector: &str) -> bool {
        self.vectors[vector_index(vector)]
    }
}

/// Floods, slowloris, login abuse, cache busting, the search hammered, proxy abuse.
fn rates_and_abuse(p: &Profile, c: &L7Config, found: &mut Found) {
    let n = p.requests;
    if p.peak_minute >= c.flood_per_minute {
        found.malicious(
            "http-flood",
            Reason::FloodRate {
                per_minute: p.peak_minute,
                per_second: p.peak_second,
            },
        );
    }
    let st = p.stack();
    // Connections held open on header blocks that never end.
    let held_s = st.held_max_ns as f64 / 1e9;
    if st.incomplete_headers >= c.slowloris_connections && st.held_max_ns >= c.slowloris_held_ns {
        found.malicious(
            "slowloris",
            Reason::Slowloris {
                connections: st.incomplete_headers,
                held_s,
            },
        );
    } else if st.incomplete_headers > 0 && st.held_max_ns >= c.slowloris_held_ns {
        found.suspicious.push(Reason::UnfinishedHeaders {
            blocks: st.incomplete_headers,
            held_s,
        });
    }
    if p.login_posts >= c.login_posts {
        found.malicious(
            "login-abuse",
            Reason::LoginAttempts {
                attempts: p.login_posts,
                refused: p.login_failures,
            },
        );
    }
    // Cache busting: one or few paths, a new query string nearly every time. The distinct
    // count is a 256-bit sketch, near its limit past a few hundred values (896 distinct
    // queries were once estimated at 700): past 400, 320 distinct are enough.
    let queries = p.distinct_queries();
    if n >= c.cache_busting_requests
        && p.with_query * 10 >= n * 9
        && p.distinct_paths() <= 3
        && queries * 10 >= p.with_query.min(400) * 8
    {
        found.malicious(
            "cache-busting",
            Reason::CacheBusting {
                requests: n,
                paths: p.distinct_paths(),
                queries,
            },
        );
    }
    // The search hammered: below the flood rate, but each request is an expensive query.
    // (Searches that never repeat are cache busting, judged as such.)
    if !found.made("cache-busting")
        && p.searches >= c.search_requests
        && p.searches * 10 >= n * 8
        && p.peak_minute >= c.search_per_minute
    {
        found.malicious(
            "http-flood",
            Reason::SearchHammered {
                searches: p.searches,
                per_minute: p.peak_minute,
            },
        );
    }
    if p.absolute > 0 || p.connect > 0 {
        found.malicious(
            "http-proxy-abuse",
            Reason::OpenProxy {
                absolute_uris: p.absolute,
                connects: p.connect,
            },
        );
    }
}

/// Exploits, probes and scanning.
fn probing(p: &Profile, found: &mut Found) {
    let n = p.requests;
    let exploit = p.hostile & !Category::ScannerAgent.bit();
    if exploit != 0 {
        found.malicious(
            exploit_vector(exploit),
            Reason::Hostile {
                requests: p.hostile_requests,
                categories: Category::of_mask(exploit).map(Category::name).collect(),
                example: p.example.as_deref().map(str::to_string),
                why: p.example_why.as_deref().map(str::to_string),
            },
        );
    }
    if p.hostile & Category::ScannerAgent.bit() != 0 {
        found.malicious(
            "http-scanner",
            Reason::ScannerAgent {
                agent: p.agent.as_deref().unwrap_or("").to_string(),
            },
        );
    }
    let paths = p.distinct_paths();
    // Paths requested through the server as a proxy are other sites' (proxy abuse, below).
    let through_proxy = p.absolute * 2 >= n;
    if n >= 20 && p.client_error_share() >= 0.5 && paths >= 15 && !through_proxy {
        found.malicious(
            "http-scanner",
            Reason::WalksPaths {
                paths,
                error_share: p.client_error_share(),
            },
        );
    }
    if p.options >= 3 && p.options * 2 >= n {
        found.malicious(
            "http-scanner",
            Reason::OptionsProbing {
                options: p.options,
                requests: n,
            },
        );
    } else if p.options > 0 && p.options * 2 >= n {
        found
            .suspicious
            .push(Reason::OptionsOnly { options: p.options });
    }
}

/// What the user agent says, and whether the client lives up to it: a crawler from outside
/// its networks, scripting tools, no agent, many agents, a browser with no JavaScript
/// footprint. Returns the crawler the client claims to be, verified or not.
fn agent(
    p: &Profile,
    ip: Option<std::net::IpAddr>,
    asns: Option<&dyn crawlers::AsnLookup>,
    found: &mut Found,
) -> Option<crawlers::CrawlerClaim> {
    let n = p.requests;
    let agent = p.agent.as_deref().unwrap_or("");
    let claim = match (ip, p.name.as_deref()) {
        (None, Some(host)) => crawlers::claim_by_name(agent, host),
        _ => crawlers::claim_checked(agent, ip, asns),
    };
    let mut verified_crawler = None;
    match claim {
        // The ASN database puts the address in another organisation's network: a lie.
        Some(
            cl @ crawlers::CrawlerClaim {
                standing: crawlers::Standing::OtherAs(asn),
                ..
            },
        ) => {
            found.malicious(
                "bad-bot",
                Reason::FalseCrawler {
                    name: cl.name,
                    operator: cl.operator,
                    asn,
                },
            );
        }
        // A claim that cannot be checked is no proof of malice: the client is judged by
        // what it does, and the claim is told.
        Some(cl) if !cl.verified() => {
            found.suspicious.push(Reason::UnverifiedCrawler {
                name: cl.name,
                operator: cl.operator,
            });
        }
        Some(cl) => verified_crawler = Some(cl),
        None => {}
    }
    let lower = agent.to_ascii_lowercase();
    if n >= 100 && TOOL_AGENTS.iter().any(|t| lower.starts_with(t)) {
        found.suspicious.push(Reason::ScriptingTool {
            requests: n,
            agent: agent.to_string(),
        });
    }
    if n >= 10 && p.no_agent * 2 >= n {
        found.suspicious.push(Reason::NoAgent {
            without: p.no_agent,
            requests: n,
        });
    }
    let agents = p.distinct_agents();
    if agents >= 5 && agents * 4 >= n.min(1_000) {
        found.suspicious.push(Reason::ManyAgents { agents });
    }
    // Where the site's scripts are known, `no_script_run` says more (see `judge_one`).
    if verified_crawler.is_none()
        && p.pages >= 20
        && p.assets == 0
        && p.footprint.page_loads < footprint::JUDGED_PAGE_LOADS
        && lower.contains("mozilla")
    {
        found
            .suspicious
            .push(Reason::NoJavaScriptFootprint { pages: p.pages });
    }
    claim
}

/// Does it behave like the browser it claims to be? Its HTTP and TLS stack contradict the
/// claim; its cookies and a footprint without assets corroborate the contradiction. A
/// contradiction corroborated, or from a busy client, is malicious (`bad-bot`); alone it is
/// suspicious, and so is what would corroborate one.
fn impersonation(
    p: &Profile,
    cookie_clients: u32,
    c: &L7Config,
    no_script: Option<Reason>,
    found: &mut Found,
) {
    let st = p.stack();
    let example = || st.mismatch_example.as_deref().unwrap_or("").to_string();
    let contradiction =
        if st.with_header_names >= 3 && st.header_mismatches * 10 >= st.with_header_names * 9 {
            Some(Reason::ScriptHeaders {
                mismatches: st.header_mismatches,
                of: st.with_header_names,
                example: example(),
            })
        } else if st.with_ja4 >= 3 && st.ja4_mismatches * 10 >= st.with_ja4 * 9 {
            Some(Reason::NonBrowserTls { example: example() })
        } else {
            None
        };
    let mut corroboration = Vec::new();
    if cookie_clients >= c.shared_cookie_clients {
        corroboration.push(Reason::SharedCookie {
            addresses: cookie_clients,
        });
    }
    let distinct_cookies = st.distinct_cookies();
    if st.with_cookie >= 10 && distinct_cookies * 2 >= st.with_cookie {
        corroboration.push(Reason::MadeUpCookies {
            distinct: distinct_cookies,
            requests: st.with_cookie,
        });
    }
    if st.cookies_given >= 3 && st.with_cookie == 0 && st.browser_claims > 0 {
        corroboration.push(Reason::CookieNeverReturned {
            given: st.cookies_given,
        });
    }
    let no_footprint = p.pages >= 10 && p.assets == 0;
    if no_footprint && (contradiction.is_some() || !corroboration.is_empty()) {
        corroboration.push(Reason::NoAssets { pages: p.pages });
    } else if let (Some(why), Some(_)) = (no_script, &contradiction) {
        corroboration.push(why);
    }
    match contradiction {
        Some(why) if !corroboration.is_empty() || p.requests >= 100 => found.malicious(
            "bad-bot",
            Reason::Impersonation {
                contradiction: Box::new(why),
                corroboration,
            },
        ),
        Some(why) => found.suspicious.push(why),
        None => {
            for why in corroboration {
                if !found.suspicious.contains(&why) {
                    found.suspicious.push(why);
                }
            }
        }
    }
}

/// Whether a client's (first) user agent claims a browser.
fn claims_browser(p: &Profile) -> bool {
    p.agent
        .as_deref()
        .and_then(crate::browser::claimed)
        .is_some()
}

/// A browser by its user agent, with enough page loads to tell, that never fetched one of
/// the site's scripts or styles nor sent a script-made request: why it runs no JavaScript.
/// `None` while the site's scripts are not known.
fn no_script_run(p: &Profile, site: &footprint::SiteModel) -> Option<Reason> {
    let f = &p.footprint;
    let claims_browser = claims_browser(p);
    let top = site.scripts.first()?;
    (claims_browser && f.page_loads >= footprint::JUDGED_PAGE_LOADS && !site.runs_scripts(f)).then(
        || Reason::NoScriptRun {
            page_loads: f.page_loads,
            script: top.path.clone(),
            share: top.share,
            assets: p.assets,
        },
    )
}

/// A browser by its user agent that fetches the site's scripts, yet in many page loads
/// after them never sent back a cookie they set: it downloads the scripts without running
/// them. `None` while no cookie of the site's scripts is known.
fn script_cookie_missing(p: &Profile, site: &footprint::SiteModel) -> Option<Reason> {
    let f = &p.footprint;
    let claims_browser = claims_browser(p);
    let top = site.script_cookies.first()?;
    let returned = site.returns_script_cookie(&p.stack().cookie_names)?;
    (claims_browser
        && !returned
        && f.page_loads >= footprint::JUDGED_PAGE_LOADS
        && f.pages_after_script >= SCRIPT_COOKIE_PAGES
        && site.runs_scripts(f))
    .then(|| Reason::ScriptCookieMissing {
        page_loads: f.pages_after_script,
        cookie: top.name.clone(),
        share: top.share,
    })
}

/// Page loads after a client's first script below which a missing script cookie is not
/// judged: a script sets its cookie as the page runs, and the next page sends it.
const SCRIPT_COOKIE_PAGES: u32 = 5;

/// Why a client is good, in words.
fn good_reasons(p: &Profile, crawler: Option<crawlers::CrawlerClaim>) -> Vec<Reason> {
    let mut why = vec![Reason::Pace {
        requests: p.requests,
        per_minute: p.peak_minute,
        error_share: p.client_error_share(),
    }];
    if p.pages > 0 {
        why.push(Reason::Browsing {
            pages: p.pages,
            assets: p.assets,
        });
    }
    if let Some(c) = crawler {
        let whence = match c.standing {
            crawlers::Standing::Published => "its published networks".to_string(),
            crawlers::Standing::OperatorAs(asn) => format!("{}'s AS{asn}", c.operator),
            crawlers::Standing::HostName => format!("a host name of {}'s", c.operator),
            _ => format!("{}'s own address blocks", c.operator),
        };
        why.push(Reason::VerifiedCrawler {
            name: c.name,
            whence,
        });
    }
    why
}

/// Per attack vector, the exact counts of the second pass.
struct AttackCount {
    vector: &'static str,
    requests: u64,
    bytes: u64,
    first: i64,
    last: i64,
    second: i64,
    second_count: u64,
    peak_rps: u64,
    /// The requests of each run of one second, in the order counted, for the peak of each
    /// second's sum ([`AttackCount::peak_rps`]): logs of several servers, or shares of the
    /// clients, each count the same second. `None` past [`MAX_SECONDS`] runs.
    seconds: Option<Vec<(i64, u64)>>,
    clients: TopK<ClientKey>,
    targets: TopK<String>,
    statuses: [u64; 6],
}

impl AttackCount {
    /// The most requests in one second: of each second's runs summed, or while they are
    /// not all kept, the busiest run.
    fn peak_rps(&self) -> u64 {
        let Some(seconds) = &self.seconds else {
            return self.peak_rps;
        };
        let mut all = seconds.clone();
        all.push((self.second, self.second_count));
        all.sort_unstable_by_key(|&(second, _)| second);
        all.chunk_by(|a, b| a.0 == b.0)
            .map(|run| run.iter().map(|&(_, n)| n).sum())
            .fold(self.peak_rps, u64::max)
    }

    /// Closes the run of the second being counted.
    fn close_second(&mut self) {
        if self.second_count > 0 {
            if let Some(seconds) = &mut self.seconds {
                if seconds.len() < MAX_SECONDS {
                    seconds.push((self.second, self.second_count));
                } else {
                    self.seconds = None;
                }
            }
        }
        self.second_count = 0;
    }

    fn new(vector: &'static str) -> AttackCount {
        AttackCount {
            vector,
            requests: 0,
            bytes: 0,
            first: i64::MAX,
            last: i64::MIN,
            second: i64::MIN,
            second_count: 0,
            peak_rps: 0,
            seconds: Some(Vec::new()),
            clients: TopK::new(256),
            targets: TopK::new(256),
            statuses: [0; 6],
        }
    }
}

/// Runs of one second kept per attack for its peak rate: 12 days of an attack that never
/// pauses, 16 MiB. Past it, the peak is the busiest run's.
const MAX_SECONDS: usize = 1 << 20;

/// What the second pass counts: each attack's requests, and the groups of clients.
pub struct Tally {
    attacks: Vec<AttackCount>,
    groups: groups::Groups,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            attacks: VECTORS.iter().map(|v| AttackCount::new(v)).collect(),
            groups: Default::default(),
        }
    }
}

/// After the verdicts: the second pass.
pub struct Judged {
    first: Analyzer,
    verdicts: Vec<(ClientKey, Verdict)>,
    lookup: std::collections::HashMap<ClientKey, u32, foldhash::fast::FixedState>,
    /// What the site's browsers fetch and call after its pages.
    site: footprint::SiteModel,
    tally: Tally,
}

impl Judged {
    /// Counts a request (the same requests, in the same order, as the first pass).
    pub fn add(&mut self, r: &Request<'_>) {
        let Judged {
            first,
            verdicts,
            lookup,
            tally,
            ..
        } = self;
        count(first, verdicts, lookup, tally, r);
    }

    /// Tallies for a second pass over `shares` shares of the clients, one per thread, each
    /// counted with [`Judged::count`] and then absorbed with [`Judged::absorb`].
    pub fn tallies(&self, shares: usize) -> Vec<Tally> {
        (0..shares.max(1)).map(|_| Tally::default()).collect()
    }

    /// Adds the tallies of the shares of a second pass: the counts of every share, and each
    /// attack's peak rate from the sum of the shares' requests in each second.
    pub fn absorb(&mut self, tallies: Vec<Tally>) {
        for t in tallies {
            self.tally.groups.absorb(t.groups);
            for (whole, mut a) in self.tally.attacks.iter_mut().zip(t.attacks) {
                whole.requests += a.requests;
                whole.bytes += a.bytes;
                whole.first = whole.first.min(a.first);
                whole.last = whole.last.max(a.last);
                whole.peak_rps = whole.peak_rps.max(a.peak_rps);
                whole.clients.merge(&a.clients);
                whole.targets.merge(&a.targets);
                for (w, n) in whole.statuses.iter_mut().zip(a.statuses) {
                    *w += n;
                }
                a.close_second();
                match (&mut whole.seconds, a.seconds) {
                    (Some(w), Some(s)) if w.len() + s.len() <= MAX_SECONDS => w.extend(s),
                    _ => whole.seconds = None,
                }
            }
        }
    }

    /// Counts a request of a share of the clients in `tally` (the requests of the share, in
    /// the same order as the first pass). It reads the client, time, path, status, size, user
    /// agent, JA4 and unfinished header time alone: what `levee analyze` keeps of each request
    /// for this pass (`levee_engine::spool::Keep::L7_COUNTS`).
    pub fn count(&self, tally: &mut Tally, r: &Request<'_>) {
        count(&self.first, &self.verdicts, &self.lookup, tally, r);
    }

    /// Whether a client was judged part of an attack (for simulations and reports).
    pub fn vector_of(&self, r: &Request<'_>) -> Option<&'static str> {
        self.judgement(r).2.map(|v| VECTORS[v])
    }

    /// The client of a request, its verdict and its vector (an index of [`VECTORS`]).
    /// Clients that were not profiled (low volume, no hostile evidence) are `None`.
    pub fn judgement(&self, r: &Request<'_>) -> (Option<ClientKey>, Option<Level>, Option<usize>) {
        let key = self.first.key(r);
        match self.lookup.get(&key) {
            Some(&i) => {
                let v = &self.verdicts[i as usize].1;
                (Some(key), Some(v.level), v.vector)
            }
            None => (None, None, None),
        }
    }

    /// Clients judged good.
    pub fn good_clients(&self) -> u64 {
        self.verdicts
            .iter()
            .filter(|(_, v)| v.level == Level::Good)
            .count() as u64
    }

    /// The analysis, once every request was added to the second pass.
    pub fn finish(self) -> L7Analysis {
        self.analysis()
    }

    /// The first and last request times (nanoseconds), when the requests had times.
    pub fn time_span(&self) -> Option<(i64, i64)> {
        (self.first.start <= self.first.end).then_some((self.first.start, self.first.end))
    }

    /// The analysis as it stands (after the second pass), leaving the verdicts in place for a
    /// simulation that follows.
    pub fn analysis(&self) -> L7Analysis {
        let Judged {
            first, verdicts, ..
        } = self;
        let name_of = |key: &ClientKey| -> String {
            match key {
                ClientKey::Ip(ip) => ip.to_string(),
                ClientKey::Name(_) => first
                    .table
                    .lookup(key)
                    .and_then(|p| p.name.as_deref())
                    .unwrap_or("?")
                    .to_string(),
            }
        };
        let mut counts = VerdictCounts::default();
        let mut crawlers: Vec<CrawlerCount> = Vec::new();
        let mut listed = Vec::new();
        let mut good = Vec::new();
        let report = |key: &ClientKey, v: &Verdict, reasons: Vec<Reason>| {
            let p = first
                .table
                .lookup(key)
                .expect("judged clients are profiled");
            ClientReport {
                ip: name_of(key),
                verdict: v.level,
                vector: v.vector.map(|i| VECTORS[i].to_string()),
                reasons,
                requests: p.requests,
                first: format_ts(p.first),
                last: format_ts(p.last),
                peak_per_second: p.peak_second,
                peak_per_minute: p.peak_minute,
                client_error_share: p.client_error_share(),
                distinct_paths: p.distinct_paths(),
                pages: p.pages,
                assets: p.assets,
                footprint: (p.footprint.page_loads > 0)
                    .then(|| self.site.report(&p.footprint, &p.stack().cookie_names)),
                user_agent: p.agent.as_deref().map(str::to_string),
                example: p.example.as_deref().map(str::to_string),
            }
        };
        // Good clients are many: only the busiest are written out.
        let mut good_busiest: Vec<(u32, usize)> = Vec::new();
        for (i, (key, v)) in verdicts.iter().enumerate() {
            match v.level {
                Level::Good => {
                    counts.good += 1;
                    let requests = first.table.lookup(key).map_or(0, |p| p.requests);
                    good_busiest.push((requests, i));
                }
                Level::Suspicious => counts.suspicious += 1,
                Level::Malicious => counts.malicious += 1,
            }
            if v.level != Level::Good {
                listed.push(report(key, v, v.reasons.clone()));
            }
            if let Some(c) = v.claim {
                let requests = first.table.lookup(key).map_or(0, |p| p.requests);
                CrawlerCount::add(&mut crawlers, c, requests);
            }
        }
        let good_rates = {
            let goods: Vec<&Profile> = good_busiest
                .iter()
                .filter_map(|&(_, i)| first.table.lookup(&verdicts[i].0))
                .collect();
            GoodRates::of(&goods)
        };
        let keep = first.config.good_sample.min(good_busiest.len());
        if keep > 0 && keep < good_busiest.len() {
            good_busiest.select_nth_unstable_by(keep - 1, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        }
        good_busiest.truncate(keep);
        for &(_, i) in &good_busiest {
            let (key, v) = &verdicts[i];
            let p = first
                .table
                .lookup(key)
                .expect("judged clients are profiled");
            good.push(report(key, v, good_reasons(p, v.verified_crawler())));
        }
        // Malicious first, then suspicious; busiest first within each.
        listed.sort_by(|a, b| {
            b.verdict
                .cmp(&a.verdict)
                .then(b.requests.cmp(&a.requests))
                .then(a.ip.cmp(&b.ip))
        });
        good.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.ip.cmp(&b.ip)));
        let good_listed = good.len();
        listed.extend(good);
        let attack_reports = self.attack_reports(&name_of);
        let has_time = first.start <= first.end;
        L7Analysis {
            requests: first.requests,
            start: has_time.then(|| format_ts(first.start)),
            end: has_time.then(|| format_ts(first.end)),
            clients_distinct_estimate: first.clients.estimate(),
            clients_profiled: first.table.len() as u64,
            clients_not_profiled: first.table.evicted_clients,
            good_rates,
            verdicts: counts,
            crawlers,
            good_clients_listed: good_listed,
            groups: self.tally.groups.report(10),
            footprint: self.footprint_report(),
            attacks: attack_reports,
            clients: listed,
        }
    }

    /// The site's footprint and the footprints of the user agents with the most page loads.
    fn footprint_report(&self) -> FootprintReport {
        let mut agents = footprint::AgentFootprints::default();
        for (_, p) in self.first.table.iter() {
            agents.add(p.agent.as_deref().unwrap_or("-"), &p.footprint, &self.site);
        }
        FootprintReport {
            site: self.site.clone(),
            user_agents: agents.top(10),
        }
    }

    /// The layer-7 attacks, in order of start, each with its busiest clients and targets and
    /// the reasons of its first clients' verdicts as evidence.
    fn attack_reports(&self, name_of: &dyn Fn(&ClientKey) -> String) -> Vec<L7Attack> {
        let Judged {
            verdicts, tally, ..
        } = self;
        let attacks = &tally.attacks;
        let mut attack_reports = Vec::new();
        for a in attacks.iter().filter(|a| a.requests > 0) {
            let members: Vec<&(ClientKey, Verdict)> = verdicts
                .iter()
                .filter(|(_, v)| v.vector.map(|i| VECTORS[i]) == Some(a.vector))
                .collect();
            let mut evidence: Vec<Reason> = Vec::new();
            for (_, v) in members.iter().take(3) {
                if let Some(r) = v.reasons.first() {
                    if !evidence.contains(r) {
                        evidence.push(r.clone());
                    }
                }
            }
            attack_reports.push(L7Attack {
                id: 0,
                vector: a.vector.to_string(),
                start: format_ts(a.first),
                end: format_ts(a.last),
                requests: a.requests,
                bytes: a.bytes,
                peak_rps: a.peak_rps(),
                clients: members.len() as u64,
                top_clients: a
                    .clients
                    .top(10)
                    .into_iter()
                    .map(|(k, n)| Named {
                        name: name_of(&k),
                        requests: n,
                    })
                    .collect(),
                targets: a
                    .targets
                    .top(10)
                    .into_iter()
                    .map(|(t, n)| Named {
                        name: t,
                        requests: n,
                    })
                    .collect(),
                client_error_share: a.statuses[4] as f64 / a.requests as f64,
                evidence,
            });
        }
        attack_reports.sort_by(|a, b| a.start.cmp(&b.start).then(a.vector.cmp(&b.vector)));
        for (i, a) in attack_reports.iter_mut().enumerate() {
            a.id = i + 1;
        }
        attack_reports
    }
}

/// Counts a request in `tally`, by its client's verdict.
fn count(
    first: &Analyzer,
    verdicts: &[(ClientKey, Verdict)],
    lookup: &std::collections::HashMap<ClientKey, u32, foldhash::fast::FixedState>,
    tally: &mut Tally,
    r: &Request<'_>,
) {
    let key = first.key(r);
    let found = lookup.get(&key).copied();
    let level = found.map(|i| verdicts[i as usize].1.level);
    tally.groups.add(r, first.hasher.hash_one(key), level);
    let Some(i) = found else {
        return;
    };
    let Some(v) = verdicts[i as usize].1.vector else {
        return;
    };
    let a = &mut tally.attacks[v];
    a.requests += 1;
    a.bytes += r.bytes.unwrap_or(0);
    if let Some(ts) = r.ts {
        a.first = a.first.min(ts);
        // A header block held open lasts until the connection ended.
        a.last = a
            .last
            .max(ts.saturating_add(r.header_incomplete_ns.unwrap_or(0)));
        let s = ts.div_euclid(1_000_000_000);
        if s != a.second {
            a.close_second();
            a.second = s;
        }
        a.second_count += 1;
        a.peak_rps = a.peak_rps.max(a.second_count);
    }
    a.clients.add(key, 1);
    // At most 200 characters; the key is made only when the table takes it in.
    let path = r.path();
    let cut = path.char_indices().nth(200).map_or(path.len(), |(i, _)| i);
    a.targets.add_ref(&path[..cut], 1);
    let class = match r.status {
        Some(c @ 100..=599) => usize::from(c / 100),
        _ => 0,
    };
    a.statuses[class] += 1;
}

/// The layer-7 analysis (schema in `docs/l7.md`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct L7Analysis {
    /// Requests read.
    pub requests: u64,
    /// The first request's time.
    pub start: Option<String>,
    /// The last request's time.
    pub end: Option<String>,
    /// Distinct clients (estimated).
    pub clients_distinct_estimate: u64,
    /// Clients whose profile was kept to the end.
    pub clients_profiled: u64,
    /// Clients whose profile gave way to others when the table was full (low volume, no
    /// hostile evidence).
    pub clients_not_profiled: u64,
    /// Clients by verdict.
    pub verdicts: VerdictCounts,
    /// The clients that claim to be a known crawler, per crawler, and how far their addresses
    /// bear the claim out.
    pub crawlers: Vec<CrawlerCount>,
    /// How many of `clients` are good ones (a sample: the busiest).
    pub good_clients_listed: usize,
    /// How fast the good clients went: the basis of rate-limit thresholds.
    pub good_rates: GoodRates,
    /// The busiest networks (/24, /64), user agents and JA4s, with the share of their requests
    /// from clients judged malicious.
    pub groups: groups::GroupReport,
    /// What the site's browsers fetch and call after its pages, and how the clients of each
    /// busy user agent live up to it.
    pub footprint: FootprintReport,
    /// The attacks, in order of start.
    pub attacks: Vec<L7Attack>,
    /// Every client judged malicious or suspicious, then a sample of good ones.
    pub clients: Vec<ClientReport>,
}

/// Rates of the clients judged good.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GoodRates {
    /// Clients judged good.
    pub clients: u64,
    /// 99.9th percentile and maximum of the clients' peak requests in one second.
    pub peak_per_second_p999: u32,
    /// The most requests one good client made in one second.
    pub peak_per_second_max: u32,
    /// The same per minute.
    pub peak_per_minute_p999: u32,
    /// The most requests one good client made in one minute.
    pub peak_per_minute_max: u32,
    /// Most login POSTs of one good client.
    pub login_posts_max: u32,
}

impl GoodRates {
    fn of(goods: &[&Profile]) -> GoodRates {
        let quantile = |mut v: Vec<u32>| -> (u32, u32) {
            if v.is_empty() {
                return (0, 0);
            }
            v.sort_unstable();
            let i = ((v.len() as f64 * 0.999).ceil() as usize).clamp(1, v.len()) - 1;
            (v[i], v[v.len() - 1])
        };
        let (s999, smax) = quantile(goods.iter().map(|p| p.peak_second).collect());
        let (m999, mmax) = quantile(goods.iter().map(|p| p.peak_minute).collect());
        GoodRates {
            clients: goods.len() as u64,
            peak_per_second_p999: s999,
            peak_per_second_max: smax,
            peak_per_minute_p999: m999,
            peak_per_minute_max: mmax,
            login_posts_max: goods.iter().map(|p| p.login_posts).max().unwrap_or(0),
        }
    }
}

/// Clients by verdict.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct VerdictCounts {
    /// Judged good.
    pub good: u64,
    /// Judged suspicious.
    pub suspicious: u64,
    /// Judged malicious.
    pub malicious: u64,
}

/// The clients that claim to be one crawler.
#[derive(Debug, Clone, Serialize)]
pub struct CrawlerCount {
    /// The crawler (`Googlebot`, `Bingbot`...).
    pub name: &'static str,
    /// Its operator.
    pub operator: &'static str,
    /// Clients from the crawler's published networks.
    pub published: u64,
    /// Clients from the operator's own address blocks (not in the published networks).
    pub operator_network: u64,
    /// Clients from one of the operator's autonomous systems (by the ASN database).
    pub operator_as: u64,
    /// Clients from another organisation's autonomous system (by the ASN database): false
    /// claims.
    pub other_as: u64,
    /// Clients logged by a host name under the crawler's domain.
    pub host_name: u64,
    /// Clients from none of these: the claim cannot be verified.
    pub unverified: u64,
    /// Requests of all of them.
    pub requests: u64,
}

impl CrawlerCount {
    fn add(counts: &mut Vec<CrawlerCount>, c: crawlers::CrawlerClaim, requests: u32) {
        let i = match counts.iter().position(|x| x.name == c.name) {
            Some(i) => i,
            None => {
                counts.push(CrawlerCount {
                    name: c.name,
                    operator: c.operator,
                    published: 0,
                    operator_network: 0,
                    operator_as: 0,
                    other_as: 0,
                    host_name: 0,
                    unverified: 0,
                    requests: 0,
                });
                counts.len() - 1
            }
        };
        let x = &mut counts[i];
        match c.standing {
            crawlers::Standing::Published => x.published += 1,
            crawlers::Standing::OperatorNetwork => x.operator_network += 1,
            crawlers::Standing::OperatorAs(_) => x.operator_as += 1,
            crawlers::Standing::HostName => x.host_name += 1,
            crawlers::Standing::OtherAs(_) => x.other_as += 1,
            crawlers::Standing::Unverified => x.unverified += 1,
        }
        x.requests += u64::from(requests);
    }
}

/// A layer-7 attack: the requests of the clients judged part of one vector.
#[derive(Debug, Clone, Serialize)]
pub struct L7Attack {
    /// Its number, from 1, in order of start.
    pub id: usize,
    /// The vector (`http-flood`, `login-abuse`...).
    pub vector: String,
    /// Its first request's time.
    pub start: String,
    /// Its last request's time.
    pub end: String,
    /// Its requests.
    pub requests: u64,
    /// Bytes of their responses.
    pub bytes: u64,
    /// Its busiest second, in requests.
    pub peak_rps: u64,
    /// Its clients.
    pub clients: u64,
    /// Its busiest clients.
    pub top_clients: Vec<Named>,
    /// The paths most requested by the attack.
    pub targets: Vec<Named>,
    /// Share of its requests answered 4xx.
    pub client_error_share: f64,
    /// The reasons of its first clients' verdicts.
    pub evidence: Vec<Reason>,
}

/// Something counted in requests: a client, a path.
#[derive(Debug, Clone, Serialize)]
pub struct Named {
    /// What it is.
    pub name: String,
    /// Its requests.
    pub requests: u64,
}

/// The JavaScript footprint of a log (see [`footprint`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FootprintReport {
    /// The site's scripts, styles and calls, as learned.
    pub site: footprint::SiteModel,
    /// The user agents with the most page loads, and their clients' footprints.
    pub user_agents: Vec<footprint::AgentFootprint>,
}

/// A client, its verdict and why, and what it did.
#[derive(Debug, Clone, Serialize)]
pub struct ClientReport {
    /// Its address (or logged name).
    pub ip: String,
    /// Its verdict.
    pub verdict: Level,
    /// The attack vector it is part of, when malicious.
    pub vector: Option<String>,
    /// Why it was judged so.
    pub reasons: Vec<Reason>,
    /// Its requests.
    pub requests: u32,
    /// Its first request's time.
    pub first: String,
    /// Its last request's time.
    pub last: String,
    /// Its busiest second, in requests.
    pub peak_per_second: u32,
    /// Its busiest minute, in requests.
    pub peak_per_minute: u32,
    /// Share of its requests answered 4xx.
    pub client_error_share: f64,
    /// Distinct paths it requested (estimated).
    pub distinct_paths: u32,
    /// Pages it fetched.
    pub pages: u32,
    /// Scripts, styles and images it fetched.
    pub assets: u32,
    /// What it did after its pages, when it loaded any.
    pub footprint: Option<footprint::ClientFootprint>,
    /// Its (first) user agent.
    pub user_agent: Option<String>,
    /// Its first hostile request, shortened.
    pub example: Option<String>,
}

/// The address of a client report, when it is one.
pub fn client_ip(c: &ClientReport) -> Option<IpAddr> {
    c.ip.parse().ok()
}
