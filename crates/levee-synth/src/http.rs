//! Access logs of a web shop (Apache combined format), seeded and labelled: people browsing
//! (pages with the scripts, styles and images they need, kept in the browser's cache, logins,
//! searches, human pauses), search-engine crawlers from their operators' networks, and on
//! request layer-7 attacks in the middle third of the log: an HTTP flood from a botnet, a
//! credential-stuffing run, a cache-busting flood and a vulnerability scanner.
//!
//! Every actor is a small state machine that knows when it sends its next request; a heap
//! orders them, so lines come out in time order and memory holds only the actors active at
//! once, whatever the log's length. The label file holds `line,label,client` per line, the
//! label being `benign`, `crawler` or the attack's vector.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::SynthError;

/// Layer-7 attacks the generator can add.
pub const HTTP_ATTACKS: [&str; 4] = ["http-flood", "login-abuse", "cache-busting", "http-scanner"];

/// Attacks made on request, not part of `http-mix`: `bad-bot`, a pool of scrapers posing as
/// Chrome, each below every rate threshold, fetching product pages and each product's photo,
/// never a script or the beacon a browser's scripts send. In a log only their missing
/// JavaScript footprint shows; in a capture their header order, their
/// cookie (one session's, copied to every address) and their refusal of new cookies give them
/// away. `search-flood`: bots running searches at about 100 a minute each, far below the
/// flood rate of a page, labelled `http-flood`.
pub const HTTP_EXTRA_ATTACKS: [&str; 2] = ["bad-bot", "search-flood"];

/// Bots of the `search-flood` (labelled `http-flood`: a flood on an expensive endpoint).
pub const SEARCHERS: u32 = 10;

/// Addresses of the `bad-bot` scraper pool.
pub const SCRAPERS: u32 = 25;

/// What to write.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Attacks among [`HTTP_ATTACKS`].
    pub attacks: Vec<String>,
    /// Seed of the random draws: the same seed writes the same log.
    pub seed: u64,
    /// Length of the log in seconds.
    pub duration_s: f64,
    /// New browsing sessions per second.
    pub sessions_per_s: f64,
    /// Crawlers (half Googlebot, half Bingbot), each crawling the whole log.
    pub crawlers: u32,
    /// Time of the first line, nanoseconds since 1970.
    pub start_ns: i64,
    /// Write Cloudflare HTTP request log JSON lines (with each client's JA3 and JA4) instead
    /// of the combined format.
    pub cloudflare: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            attacks: Vec::new(),
            seed: 1,
            duration_s: 1800.0,
            sessions_per_s: 1.0,
            crawlers: 4,
            start_ns: 1_768_478_400_000_000_000,
            cloudflare: false,
        }
    }
}

/// Counts of what was written.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpStats {
    /// Lines (requests) written.
    pub lines: u64,
    /// Of them, requests of people browsing.
    pub benign: u64,
    /// Of them, requests of crawlers.
    pub crawler: u64,
    /// Of them, requests of attackers.
    pub attack: u64,
    /// Browsing sessions started.
    pub sessions: u64,
}

const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
];
const WORDS: &[&str] = &[
    "shoes", "boots", "jacket", "socks", "red", "blue", "wool", "leather", "sale", "kids", "rain",
    "hiking", "summer", "winter", "gift",
];
const SITE: &str = "https://shop.example";
/// The analytics beacon the shop's script sends after every page view.
const BEACON: &str = "/api/collect";
const SCANNER_PATHS: &[&str] = &[
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/phpmyadmin/index.php",
    "/admin/",
    "/backup.zip",
    "/config.php.bak",
    "/server-status",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/test.cgi",
    "/index.php?page=../../../../etc/passwd",
    "/api/v1/users?id=1%20UNION%20SELECT%20password",
    "/.aws/credentials",
    "/wp-content/plugins/revslider/readme.txt",
    "/solr/admin/",
    "/console/",
    "/actuator/env",
    "/owa/auth/logon.aspx",
    "/boaform/admin/formLogin",
    "/HNAP1/",
];

/// One request, before it is written as a log line or as packets.
pub struct Line {
    /// The method.
    pub method: &'static str,
    /// The path with its query.
    pub target: String,
    /// The response's status.
    pub status: u16,
    /// The response's body length.
    pub bytes: u64,
    /// The page it was linked from.
    pub referer: Option<String>,
}

enum Kind {
    /// A person: pages left to see, the current page, assets still to fetch for it.
    Session {
        pages_left: u32,
        page: String,
        assets: Vec<String>,
        cached: bool,
        login: u8,
    },
    Crawler {
        next_product: u32,
        robots: bool,
    },
    Flood,
    Stuffer,
    Buster {
        path: &'static str,
    },
    Scanner {
        next: usize,
    },
    /// A scraper posing as a browser: product pages and their photos, at a pace below any
    /// flood threshold; no script is ever run.
    Scraper {
        next_product: u32,
        photo_due: bool,
    },
    /// A bot running searches, each new, at about 100 a minute: far below the flood rate, but
    /// every one an expensive query.
    Searcher,
}

struct Actor {
    ip: IpAddr,
    agent: &'static str,
    label: &'static str,
    kind: Kind,
    /// Mean seconds between the actor's requests (attacks).
    interval: f64,
    end_ns: i64,
}

/// Writes the log and its labels.
pub fn generate_http(
    cfg: &HttpConfig,
    mut out: impl Write,
    mut labels: impl Write,
) -> Result<HttpStats, SynthError> {
    let stats = generate_requests(cfg, &mut labels, &mut |at, who, l| {
        if cfg.cloudflare {
            write_cloudflare(&mut out, who, at, l)
        } else {
            write_line(&mut out, who, at, l)
        }
        .map_err(SynthError::Capture)
    })?;
    out.flush().map_err(SynthError::Capture)?;
    labels.flush().map_err(SynthError::Labels)?;
    Ok(stats)
}

/// Who made a request.
pub struct Client<'a> {
    /// Its address.
    pub ip: IpAddr,
    /// Its user agent.
    pub agent: &'a str,
    /// What it is, as the labels file says (`browser`, `crawler`, or the attack).
    pub label: &'a str,
}

/// The requests of the shop, in time order, each handed to `sink` with its time and client;
/// the label of each is written to `labels`.
pub(crate) fn generate_requests(
    cfg: &HttpConfig,
    labels: &mut dyn Write,
    sink: &mut dyn FnMut(i64, &Client<'_>, &Line) -> Result<(), SynthError>,
) -> Result<HttpStats, SynthError> {
    for a in &cfg.attacks {
        if !HTTP_ATTACKS.contains(&a.as_str()) && !HTTP_EXTRA_ATTACKS.contains(&a.as_str()) {
            return Err(SynthError::Config(format!(
                "unknown HTTP attack `{a}` (one of: {}, {})",
                HTTP_ATTACKS.join(", "),
                HTTP_EXTRA_ATTACKS.join(", ")
            )));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let start = cfg.start_ns;
    let end = start + (cfg.duration_s * 1e9) as i64;
    let (attack_start, attack_end) = (
        start + (cfg.duration_s * 1e9 / 3.0) as i64,
        start + (cfg.duration_s * 2e9 / 3.0) as i64,
    );
    let mut actors: Vec<Option<Actor>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut heap: Heap = BinaryHeap::new();
    for c in 0..cfg.crawlers {
        let (ip, agent) = if c % 2 == 0 {
            (
                IpAddr::V4(Ipv4Addr::new(66, 249, 66, 1 + c as u8)),
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::new(157, 55, 39, 10 + c as u8)),
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            )
        };
        let a = Actor {
            ip,
            agent,
            label: "crawler",
            kind: Kind::Crawler {
                next_product: rng.random_range(1..5000),
                robots: false,
            },
            interval: 2.0,
            end_ns: end,
        };
        let at = start + rng.random_range(0..5_000_000_000);
        schedule(&mut actors, &mut free, &mut heap, a, at);
    }
    for attack in &cfg.attacks {
        let (count, interval, label): (u32, f64, &'static str) = match attack.as_str() {
            "http-flood" => (40, 1.0 / 15.0, "http-flood"),
            "login-abuse" => (20, 2.0, "login-abuse"),
            "cache-busting" => (10, 1.0 / 3.0, "cache-busting"),
            "bad-bot" => (SCRAPERS, 3.0, "bad-bot"),
            "search-flood" => (SEARCHERS, 0.6, "http-flood"),
            _ => (3, 0.5, "http-scanner"),
        };
        for _ in 0..count {
            let kind = match attack.as_str() {
                "search-flood" => Kind::Searcher,
                "http-flood" => Kind::Flood,
                "login-abuse" => Kind::Stuffer,
                "cache-busting" => Kind::Buster {
                    path: ["/products", "/", "/search"][rng.random_range(0..3)],
                },
                "bad-bot" => Kind::Scraper {
                    next_product: rng.random_range(1..5000),
                    photo_due: false,
                },
                _ => Kind::Scanner { next: 0 },
            };
            let agent = match label {
                "http-scanner" => "Mozilla/5.0 zgrab/0.x",
                "login-abuse" => "python-requests/2.31.0",
                "bad-bot" => BROWSERS[0],
                _ => BROWSERS[rng.random_range(0..BROWSERS.len())],
            };
            let a = Actor {
                ip: public_v4(&mut rng),
                agent,
                label,
                kind,
                interval,
                end_ns: attack_end,
            };
            let at = attack_start + rng.random_range(0..10_000_000_000);
            schedule(&mut actors, &mut free, &mut heap, a, at);
        }
    }
    // Sessions arrive as a Poisson process; the spawner is the actor index usize::MAX.
    heap.push(Reverse((start, usize::MAX)));
    let mut stats = HttpStats::default();
    writeln!(labels, "line,label,client").map_err(SynthError::Labels)?;
    while let Some(Reverse((at, i))) = heap.pop() {
        if at >= end {
            break;
        }
        if i == usize::MAX {
            let a = new_session(&mut rng, end);
            schedule(&mut actors, &mut free, &mut heap, a, at);
            stats.sessions += 1;
            let gap = exp(&mut rng, 1.0 / cfg.sessions_per_s.max(1e-6));
            heap.push(Reverse((at + (gap * 1e9) as i64, usize::MAX)));
            continue;
        }
        let actor = actors[i].as_mut().expect("scheduled actors exist");
        let (line, next) = step(actor, &mut rng, at);
        if let Some(l) = line {
            let who = Client {
                ip: actor.ip,
                agent: actor.agent,
                label: actor.label,
            };
            sink(at, &who, &l)?;
            stats.lines += 1;
            match actor.label {
                "benign" => stats.benign += 1,
                "crawler" => stats.crawler += 1,
                _ => stats.attack += 1,
            }
            writeln!(labels, "{},{},{}", stats.lines, actor.label, actor.ip)
                .map_err(SynthError::Labels)?;
        }
        match next {
            Some(t) if t < actor.end_ns => heap.push(Reverse((t, i))),
            _ => {
                actors[i] = None;
                free.push(i);
            }
        }
    }
    Ok(stats)
}

type Heap = BinaryHeap<Reverse<(i64, usize)>>;

/// Puts an actor in a free slot and schedules its first request at `at`.
fn schedule(
    actors: &mut Vec<Option<Actor>>,
    free: &mut Vec<usize>,
    heap: &mut Heap,
    a: Actor,
    at: i64,
) {
    let i = match free.pop() {
        Some(i) => {
            actors[i] = Some(a);
            i
        }
        None => {
            actors.push(Some(a));
            actors.len() - 1
        }
    };
    heap.push(Reverse((at, i)));
}

fn exp(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// A random public IPv4 address: outside private, loopback, multicast and reserved space, and
/// outside the whole /8s that hold shared, link-local and documentation ranges (100, 169,
/// 192, 198, 203), so no generated client falls in a range a detector treats apart.
fn public_v4(rng: &mut ChaCha8Rng) -> IpAddr {
    loop {
        let a: [u8; 4] = rng.random();
        let ip = Ipv4Addr::from(a);
        if a[0] != 0
            && a[0] < 224
            && !ip.is_private()
            && !ip.is_loopback()
            && a[0] != 100
            && a[0] != 169
            && a[0] != 198
            && a[0] != 192
            && a[0] != 203
        {
            return IpAddr::V4(ip);
        }
    }
}

fn new_session(rng: &mut ChaCha8Rng, end: i64) -> Actor {
    let ip = if rng.random_bool(0.1) {
        let mut s: [u16; 8] = rng.random();
        s[0] = 0x2001;
        s[1] = 0x0db8 ^ 0x0400 ^ (s[1] & 0x00ff);
        IpAddr::V6(Ipv6Addr::from(s))
    } else {
        public_v4(rng)
    };
    // Mostly short visits, a few long ones.
    let mut pages = 1;
    while pages < 30 && rng.random_bool(0.78) {
        pages += 1;
    }
    let entry = if rng.random_bool(0.6) {
        "/".to_string()
    } else {
        product(rng)
    };
    Actor {
        ip,
        agent: BROWSERS[rng.random_range(0..BROWSERS.len())],
        label: "benign",
        kind: Kind::Session {
            pages_left: pages,
            page: entry,
            assets: Vec::new(),
            cached: false,
            login: if rng.random_bool(0.15) {
                1 + u8::from(rng.random_bool(0.1))
            } else {
                0
            },
        },
        interval: 0.0,
        end_ns: end,
    }
}

fn product(rng: &mut ChaCha8Rng) -> String {
    format!("/products/{}", rng.random_range(1..5000))
}

/// A browsing session's state, borrowed from its actor.
struct Browsing<'a> {
    pages_left: &'a mut u32,
    page: &'a mut String,
    assets: &'a mut Vec<String>,
    cached: &'a mut bool,
    login: &'a mut u8,
}

/// A person's next request: the assets the last page still needs, else the next page (a
/// login, a search, a product or the home page); `None` when the session is over.
fn browse(s: Browsing<'_>, rng: &mut ChaCha8Rng, at: i64) -> (Option<Line>, Option<i64>) {
    let ns = |s: f64| (s * 1e9) as i64;
    let Browsing {
        pages_left,
        page,
        assets,
        cached,
        login,
    } = s;
    if let Some(asset) = assets.pop() {
        let line = if asset == BEACON {
            // The page's script reporting the view: sent after the page's assets.
            Line {
                method: "POST",
                target: asset,
                status: 204,
                bytes: 0,
                referer: Some(format!("{SITE}{page}")),
            }
        } else {
            let revalidate = *cached && rng.random_bool(0.3);
            Line {
                method: "GET",
                target: asset,
                status: if revalidate { 304 } else { 200 },
                bytes: if revalidate {
                    0
                } else {
                    rng.random_range(800..90_000)
                },
                referer: Some(format!("{SITE}{page}")),
            }
        };
        let next = if assets.is_empty() {
            at + ns(1.0 + exp(rng, 20.0))
        } else {
            at + ns(rng.random_range(0.005..0.12))
        };
        return (Some(line), Some(next));
    }
    if *pages_left == 0 {
        return (None, None);
    }
    *pages_left -= 1;
    // The page: a login, a search, a product or the home page.
    let previous = page.clone();
    let (method, target, status) = if *login > 0 && rng.random_bool(0.5) {
        *login -= 1;
        let status = if *login > 0 { 401 } else { 302 };
        ("POST", "/login".to_string(), status)
    } else if rng.random_bool(0.2) {
        let q = WORDS[rng.random_range(0..WORDS.len())];
        (
            "GET",
            format!("/search?q={q}&page={}", rng.random_range(1..4)),
            200,
        )
    } else if rng.random_bool(0.8) {
        let p = product(rng);
        ("GET", p, if rng.random_bool(0.01) { 404 } else { 200 })
    } else {
        ("GET", "/".to_string(), 200)
    };
    *page = target.clone();
    if method == "GET" {
        // What the page needs: the first page fetches everything, later pages new
        // images only; the browser keeps the rest in its cache. Its script reports the view
        // last (popped last), unless an ad blocker keeps it from it.
        if rng.random_bool(0.9) {
            assets.push(BEACON.to_string());
        }
        let images = rng.random_range(2..7);
        for _ in 0..images {
            assets.push(format!("/img/{}.jpg", rng.random_range(1..20_000)));
        }
        if !*cached {
            assets.extend([
                "/static/app.4f1c2e.js".to_string(),
                "/static/site.9b7d.css".into(),
                "/favicon.ico".into(),
            ]);
            *cached = true;
        } else if rng.random_bool(0.2) {
            assets.push("/static/app.4f1c2e.js".to_string());
        }
    }
    let line = Line {
        method,
        target,
        status,
        bytes: rng.random_range(4_000..60_000),
        referer: Some(format!("{SITE}{previous}")),
    };
    let next = if assets.is_empty() {
        at + ns(1.0 + exp(rng, 20.0))
    } else {
        at + ns(rng.random_range(0.05..0.3))
    };
    (Some(line), Some(next))
}

/// The actor's request at `at` (if it sends one now) and when it acts next.
fn step(actor: &mut Actor, rng: &mut ChaCha8Rng, at: i64) -> (Option<Line>, Option<i64>) {
    let ns = |s: f64| (s * 1e9) as i64;
    match &mut actor.kind {
        Kind::Session {
            pages_left,
            page,
            assets,
            cached,
            login,
        } => browse(
            Browsing {
                pages_left,
                page,
                assets,
                cached,
                login,
            },
            rng,
            at,
        ),
        Kind::Crawler {
            next_product,
            robots,
        } => {
            let (target, status) = if !*robots {
                *robots = true;
                ("/robots.txt".to_string(), 200)
            } else {
                *next_product = *next_product % 5000 + 1;
                (
                    format!("/products/{next_product}"),
                    if rng.random_bool(0.02) { 404 } else { 200 },
                )
            };
            let line = Line {
                method: "GET",
                target,
                status,
                bytes: rng.random_range(4_000..60_000),
                referer: None,
            };
            (Some(line), Some(at + ns(exp(rng, actor.interval))))
        }
        Kind::Scraper {
            next_product,
            photo_due,
        } => {
            if std::mem::take(photo_due) {
                let line = Line {
                    method: "GET",
                    target: format!("/img/p{next_product}.jpg"),
                    status: 200,
                    bytes: rng.random_range(20_000..90_000),
                    referer: Some(format!("{SITE}/products/{next_product}")),
                };
                return (Some(line), Some(at + ns(exp(rng, actor.interval))));
            }
            *next_product = *next_product % 5000 + 1;
            *photo_due = true;
            let line = Line {
                method: "GET",
                target: format!("/products/{next_product}"),
                status: 200,
                bytes: rng.random_range(20_000..60_000),
                referer: None,
            };
            (Some(line), Some(at + ns(rng.random_range(0.05..0.4))))
        }
        Kind::Searcher => {
            // Popular terms again and again: the queries repeat (a cache would serve them).
            let q = format!(
                "/search?q={}&page={}",
                WORDS[rng.random_range(0..WORDS.len())],
                rng.random_range(1..6)
            );
            let line = Line {
                method: "GET",
                target: q,
                status: 200,
                bytes: rng.random_range(8_000..30_000),
                referer: None,
            };
            (Some(line), Some(at + ns(exp(rng, actor.interval))))
        }
        Kind::Flood => {
            let target = if rng.random_bool(0.5) {
                "/".to_string()
            } else {
                format!("/search?q={}", WORDS[rng.random_range(0..WORDS.len())])
            };
            let line = Line {
                method: "GET",
                target,
                status: 200,
                bytes: rng.random_range(4_000..60_000),
                referer: None,
            };
            (Some(line), Some(at + ns(exp(rng, actor.interval))))
        }
        Kind::Stuffer => {
            let ok = rng.random_bool(0.005);
            let line = Line {
                method: "POST",
                target: "/login".into(),
                status: if ok { 302 } else { 401 },
                bytes: 320,
                referer: Some(format!("{SITE}/login")),
            };
            (Some(line), Some(at + ns(exp(rng, actor.interval))))
        }
        Kind::Buster { path } => {
            let key: u64 = rng.random();
            let line = Line {
                method: "GET",
                target: format!("{path}?{key:x}={}", rng.random_range(0..1_000_000)),
                status: 200,
                bytes: rng.random_range(4_000..60_000),
                referer: None,
            };
            (Some(line), Some(at + ns(exp(rng, actor.interval))))
        }
        Kind::Scanner { next } => {
            let target = SCANNER_PATHS[*next % SCANNER_PATHS.len()].to_string();
            *next += 1;
            let line = Line {
                method: "GET",
                target,
                status: 404,
                bytes: 162,
                referer: None,
            };
            (Some(line), Some(at + ns(exp(rng, actor.interval))))
        }
    }
}

/// One line of the combined format, times in UTC (formatted by `jiff`).
fn write_line(out: &mut impl Write, a: &Client<'_>, at: i64, l: &Line) -> std::io::Result<()> {
    let when = jiff::Timestamp::from_nanosecond(i128::from(at))
        .map_err(std::io::Error::other)?
        .strftime("%d/%b/%Y:%H:%M:%S +0000");
    writeln!(
        out,
        "{} - - [{when}] \"{} {} HTTP/1.1\" {} {} \"{}\" \"{}\"",
        a.ip,
        l.method,
        l.target,
        l.status,
        l.bytes,
        l.referer.as_deref().unwrap_or("-"),
        a.agent
    )
}

/// The TLS fingerprints (JA3 hash, JA4) of a client's stack: browsers' by family (HTTP/2 in
/// ALPN, 15 to 20 ciphers, 14 to 17 extensions), crawlers' a Chromium stack's, and every
/// attack tool's one of a scripted client (HTTP/1.1 only, 9 extensions), whatever user agent
/// it claims.
pub fn tls_fingerprints(label: &str, agent: &str) -> (&'static str, &'static str) {
    match label {
        "benign" if agent.contains("Firefox/") => (
            "b5001237acdf006056b409cc433726b0",
            "t13d1715h2_5b57614c22b0_3d5424432f57",
        ),
        "benign" if agent.contains("Version/") && agent.contains("Safari/") => (
            "773906b0efdefa24a7f2b8eb6985bf37",
            "t13d2014h2_a09f3c656075_14788d8d241b",
        ),
        "benign" | "crawler" => (
            "cd08e31494f9531f560d64c695473da9",
            "t13d1516h2_8daaf6152771_02713d6af862",
        ),
        _ => (
            "3b5074b1b5d032e5620f69f9f700ff0e",
            "t13d3109h1_e8f1e7e78f70_1f3b2ff4b1d1",
        ),
    }
}

/// One line of a Cloudflare HTTP request log (Logpush JSON fields).
fn write_cloudflare(
    out: &mut impl Write,
    a: &Client<'_>,
    at: i64,
    l: &Line,
) -> std::io::Result<()> {
    let (ja3, ja4) = tls_fingerprints(a.label, a.agent);
    let line = serde_json::json!({
        "ClientIP": a.ip.to_string(),
        "ClientRequestHost": "shop.example",
        "ClientRequestMethod": l.method,
        "ClientRequestURI": l.target,
        "ClientRequestProtocol": "HTTP/2",
        "ClientRequestReferer": l.referer.as_deref().unwrap_or(""),
        "ClientRequestUserAgent": a.agent,
        "EdgeResponseStatus": l.status,
        "EdgeResponseBytes": l.bytes,
        "EdgeStartTimestamp": at,
        "JA3Hash": ja3,
        "JA4": ja4,
    });
    writeln!(out, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_log_and_every_line_is_labelled() {
        let cfg = HttpConfig {
            attacks: vec!["http-flood".into(), "http-scanner".into()],
            duration_s: 120.0,
            ..Default::default()
        };
        let (mut a, mut la) = (Vec::new(), Vec::new());
        let s = generate_http(&cfg, &mut a, &mut la).unwrap();
        let (mut b, mut lb) = (Vec::new(), Vec::new());
        generate_http(&cfg, &mut b, &mut lb).unwrap();
        assert_eq!(a, b);
        assert_eq!(la, lb);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count() as u64, s.lines);
        assert_eq!(
            String::from_utf8(la).unwrap().lines().count() as u64,
            s.lines + 1
        );
        assert!(s.attack > 0 && s.benign > 0 && s.crawler > 0);
        assert!(text.contains("[15/Jan/2026:12:00:"), "{}", &text[..200]);
        assert!(generate_http(
            &HttpConfig {
                attacks: vec!["nope".into()],
                ..cfg
            },
            std::io::sink(),
            std::io::sink()
        )
        .is_err());
    }
}
