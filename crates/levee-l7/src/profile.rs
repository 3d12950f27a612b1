//! What levee remembers of each client, in a fixed number of bytes, and the bounded table of
//! clients.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;

use levee_logs::Request;

/// A client: its address, or for servers that log host names, the hash of the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientKey {
    /// An address.
    Ip(IpAddr),
    /// A host name's hash.
    Name(u64),
}

pub use crate::bits::Bits256;

/// What a client's requests show beyond the request line: header names, TLS fingerprints,
/// cookies, unfinished header blocks.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    /// Requests whose header block never ended (captures), and the longest time one was
    /// held open (ns): slowloris.
    pub incomplete_headers: u32,
    /// The longest time (ns) an unfinished header block was held open.
    pub held_max_ns: i64,
    /// Requests whose user agent claims a browser; of those, with header names known and
    /// with a JA4 known, and how many of each contradict the claim (see [`crate::browser`]).
    pub browser_claims: u32,
    /// Of the browser claims, requests whose header names are known.
    pub with_header_names: u32,
    /// Of those, requests whose header order is not the claimed browser's.
    pub header_mismatches: u32,
    /// Of the browser claims, requests whose JA4 is known.
    pub with_ja4: u32,
    /// Of those, requests whose TLS hello is not the claimed browser's.
    pub ja4_mismatches: u32,
    /// The first contradiction seen, in words, with the evidence.
    pub mismatch_example: Option<Box<str>>,
    /// The first JA4 of the client.
    pub ja4: Option<Box<str>>,
    /// Requests with a cookie, distinct cookie values, and the hash of the last value.
    pub with_cookie: u32,
    /// Distinct cookie values (estimated).
    pub cookies: Bits256,
    /// The hash of the last cookie value.
    pub cookie_hash: Option<u64>,
    /// Responses that set a cookie (captures).
    pub cookies_given: u32,
    /// The names of the cookies it sent (hashes).
    pub cookie_names: Bits256,
    /// Whether it was counted among the site's clients that run scripts and keep cookies.
    pub counted_keeping: bool,
}

impl Stack {
    /// Distinct cookie values, at most the requests that sent one.
    pub fn distinct_cookies(&self) -> u32 {
        self.cookies.estimate().min(self.with_cookie)
    }
}

static NO_STACK: Stack = Stack {
    incomplete_headers: 0,
    held_max_ns: 0,
    browser_claims: 0,
    with_header_names: 0,
    header_mismatches: 0,
    with_ja4: 0,
    ja4_mismatches: 0,
    mismatch_example: None,
    ja4: None,
    with_cookie: 0,
    cookies: Bits256::EMPTY,
    cookie_hash: None,
    cookies_given: 0,
    cookie_names: Bits256::EMPTY,
    counted_keeping: false,
};

/// The profile of one client.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// Requests.
    pub requests: u32,
    /// The first request's time (ns since 1970).
    pub first: i64,
    /// The last request's time (ns since 1970).
    pub last: i64,
    second: i64,
    second_count: u32,
    /// Most requests in one second.
    pub peak_second: u32,
    minute: i64,
    minute_count: u32,
    /// Requests of the minute before `minute` (0 when that minute had none).
    previous_minute_count: u32,
    /// Most requests in any 60 seconds, estimated from whole minutes (see `add`).
    pub peak_minute: u32,
    /// Responses by class: index 1..=5 for 1xx..5xx, 0 for none or other.
    pub status: [u32; 6],
    /// GET, POST, HEAD, other.
    pub methods: [u32; 4],
    /// OPTIONS requests.
    pub options: u32,
    /// CONNECT requests.
    pub connect: u32,
    /// Requests with an absolute URI as target (proxy requests).
    pub absolute: u32,
    /// Lines whose request was not an HTTP request line.
    pub no_request: u32,
    paths: Bits256,
    queries: Bits256,
    agents: Bits256,
    /// Requests with a query string.
    pub with_query: u32,
    /// Requests of scripts, styles and images.
    pub assets: u32,
    /// Requests of pages.
    pub pages: u32,
    /// What it did after its pages: its JavaScript footprint.
    pub footprint: crate::footprint::Footprint,
    /// Requests with a `Referer`.
    pub with_referer: u32,
    /// Requests without a user agent.
    pub no_agent: u32,
    /// POSTs to a login path.
    pub login_posts: u32,
    /// Of them, refused (401, 403 or 429).
    pub login_failures: u32,
    /// Requests to a search endpoint (see [`is_search`]).
    pub searches: u32,
    /// Hostile categories seen (a [`crate::patterns::Category`] bit set) and the requests
    /// that showed any.
    pub hostile: u32,
    /// Requests that showed any hostile category.
    pub hostile_requests: u32,
    /// The first hostile request, shortened.
    pub example: Option<Box<str>>,
    /// What in it was hostile: the token or rule that matched, and where.
    pub example_why: Option<Box<str>>,
    /// The first user agent, shortened.
    pub agent: Option<Box<str>>,
    /// The client's name when it was logged as one.
    pub name: Option<Box<str>>,
    /// The hash of the last user agent scanned, its hostile categories and the browser it
    /// claims.
    agent_scanned: Option<(u64, u32, Option<crate::browser::Browser>)>,
    /// What the client's requests showed of its HTTP and TLS stack and its cookies; made only
    /// for clients whose requests carry any of it (captures, richer logs), so a plain access
    /// log's profiles stay small.
    pub stack: Option<Box<Stack>>,
}

/// Longest text kept per client (examples, user agents).
const KEEP_CHARS: usize = 160;

fn keep(s: &str) -> Box<str> {
    match s.char_indices().nth(KEEP_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]).into(),
        None => s.into(),
    }
}

const ASSET_EXTENSIONS: &[&str] = &[
    "js", "mjs", "css", "png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "ico", "woff", "woff2",
    "ttf", "otf", "eot", "map",
];
const PAGE_EXTENSIONS: &[&str] = &["html", "htm", "php", "asp", "aspx", "jsp", "cgi", "shtml"];
const LOGIN_WORDS: &[&str] = &[
    "login", "signin", "sign-in", "sign_in", "logon", "/auth", "/session", "/token", "password",
];

/// Whether a path is an asset a page loads (script, style, image, font), a page, or neither.
pub fn path_kind(path: &str) -> (bool, bool) {
    let b = path.as_bytes();
    let last = match memchr::memrchr(b'/', b) {
        Some(i) => &b[i + 1..],
        None => b,
    };
    let Some(dot) = memchr::memrchr(b'.', last) else {
        // `/`, `/products/12`: pages.
        return (false, true);
    };
    let ext = &last[dot + 1..];
    // Lower-cased on the stack and matched whole (a path's kind is asked on every request).
    let mut lower = [0u8; 8];
    if ext.len() > lower.len() {
        return (false, false);
    }
    lower[..ext.len()].copy_from_slice(ext);
    lower.make_ascii_lowercase();
    let ext = &lower[..ext.len()];
    let asset = ASSET_EXTENSIONS.iter().any(|e| e.as_bytes() == ext);
    let page = !asset && PAGE_EXTENSIONS.iter().any(|e| e.as_bytes() == ext);
    (asset, page)
}

/// Whether a path is a search endpoint (`/search`, `/api/Search/...`): found by the first
/// letter's two cases, then a case-blind comparison, without copying the path.
pub fn is_search(path: &str) -> bool {
    contains_ignoring_case(path.as_bytes(), b"search")
}

fn is_login(path: &str) -> bool {
    let b = path.as_bytes();
    LOGIN_WORDS
        .iter()
        .any(|w| contains_ignoring_case(b, w.as_bytes()))
}

/// Whether `hay` holds `word` (lower case, starting with a letter or `/`) in any case,
/// without copying `hay`: its first byte's two cases are sought, then the rest compared.
fn contains_ignoring_case(hay: &[u8], word: &[u8]) -> bool {
    let first = word[0];
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), hay).any(|i| {
        hay.get(i..i + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    })
}

impl Profile {
    /// Adds a request (its hostile categories already found); returns what it teaches the
    /// site's footprint.
    pub fn add(
        &mut self,
        r: &Request<'_>,
        hostile: u32,
        why: impl FnOnce() -> Option<String>,
        hasher: &foldhash::fast::FixedState,
        agent_hash: Option<u64>,
    ) -> crate::footprint::Learned {
        let ts = r.ts.unwrap_or(0);
        if self.requests == 0 {
            self.first = ts;
            self.last = ts;
            self.second = i64::MIN;
            self.minute = i64::MIN;
        }
        self.requests += 1;
        self.first = self.first.min(ts);
        self.last = self.last.max(ts);
        // Rates in whole seconds and minutes of log time; lines are nearly in time order.
        let (s, m) = (ts.div_euclid(1_000_000_000), ts.div_euclid(60_000_000_000));
        if s != self.second {
            self.second = s;
            self.second_count = 0;
        }
        self.second_count += 1;
        self.peak_second = self.peak_second.max(self.second_count);
        if m != self.minute {
            self.previous_minute_count = if m == self.minute.wrapping_add(1) {
                self.minute_count
            } else {
                0
            };
            self.minute = m;
            self.minute_count = 0;
        }
        self.minute_count += 1;
        // The last 60 seconds, not the calendar minute: a burst across a minute boundary
        // would otherwise count as two half-bursts. The previous minute's requests are taken
        // as spread evenly over it (the estimate of sliding-window rate limiters); 64 bits of
        // state instead of a count per second.
        let into = ts.rem_euclid(60_000_000_000) as u64;
        let carried =
            u64::from(self.previous_minute_count) * (60_000_000_000 - into) / 60_000_000_000;
        let window = u64::from(self.minute_count) + carried;
        self.peak_minute = self.peak_minute.max(window.min(u64::from(u32::MAX)) as u32);
        let class = match r.status {
            Some(c @ 100..=599) => usize::from(c / 100),
            _ => 0,
        };
        self.status[class] += 1;
        let method = &*r.method;
        self.methods[match method {
            "GET" => 0,
            "POST" => 1,
            "HEAD" => 2,
            _ => 3,
        }] += 1;
        match method {
            "OPTIONS" => self.options += 1,
            "CONNECT" => self.connect += 1,
            "" => self.no_request += 1,
            _ => {}
        }
        if r.is_absolute() {
            self.absolute += 1;
        }
        let path = r.path();
        let path_hash = hasher.hash_one(path);
        self.paths.insert(path_hash);
        if let Some(q) = r.query() {
            self.with_query += 1;
            self.queries.insert(hasher.hash_one(q));
        }
        let (asset, page) = path_kind(path);
        self.assets += u32::from(asset);
        self.pages += u32::from(page);
        let fetch = crate::footprint::fetch_of(method, path, asset, page);
        let learned = self.footprint.add(ts, fetch, path_hash);
        self.with_referer += u32::from(r.referer.is_some());
        match &r.user_agent {
            Some(ua) => {
                self.agents
                    .insert(agent_hash.unwrap_or_else(|| hasher.hash_one(&**ua)));
                if self.agent.is_none() {
                    self.agent = Some(keep(ua));
                }
            }
            None => self.no_agent += 1,
        }
        self.searches += u32::from(is_search(path));
        if method == "POST" && is_login(path) {
            self.login_posts += 1;
            if matches!(r.status, Some(401 | 403 | 429)) {
                self.login_failures += 1;
            }
        }
        if hostile != 0 || method == "CONNECT" || r.is_absolute() {
            self.hostile |= hostile;
            self.hostile_requests += u32::from(hostile != 0);
            if self.example.is_none() {
                self.example = Some(keep(&format!("{method} {}", r.target)));
                self.example_why = why().map(|w| keep(&w));
            }
        }
        learned
    }

    /// The hostile categories of a user agent of hash `h`, from `scan` unless it is the one
    /// scanned last.
    pub fn agent_categories(&mut self, h: u64, agent: &str, scan: impl FnOnce() -> u32) -> u32 {
        match self.agent_scanned {
            Some((last, mask, _)) if last == h => mask,
            _ => {
                let mask = scan();
                self.agent_scanned = Some((h, mask, crate::browser::claimed(agent)));
                mask
            }
        }
    }

    /// Records what a request shows of its client's HTTP and TLS stack and cookies.
    pub fn add_stack(&mut self, r: &Request<'_>, hasher: &foldhash::fast::FixedState) {
        if r.header_incomplete_ns.is_none()
            && r.cookie.is_none()
            && r.set_cookies.is_none()
            && r.ja4.is_none()
            && r.header_names.is_none()
        {
            return;
        }
        // The claim of the user agent scanned for this request (see `agent_categories`).
        let claim = match (r.user_agent.as_deref(), self.agent_scanned) {
            (Some(_), Some((_, _, claim))) => claim,
            _ => None,
        };
        let s = self.stack.get_or_insert_with(Default::default);
        if let Some(held) = r.header_incomplete_ns {
            s.incomplete_headers += 1;
            s.held_max_ns = s.held_max_ns.max(held);
        }
        if let Some(c) = r.cookie.as_deref() {
            let h = hasher.hash_one(c);
            s.with_cookie += 1;
            s.cookies.insert(h);
            s.cookie_hash = Some(h);
        }
        s.cookies_given += u32::from(r.sets_cookie() == Some(true));
        if s.ja4.is_none() {
            if let Some(j) = r.ja4.as_deref() {
                s.ja4 = Some(keep(j));
            }
        }
        let Some(browser) = claim else {
            return;
        };
        s.browser_claims += 1;
        // A header block never finished has no complete list of names.
        if let (Some(names), None) = (r.header_names.as_deref(), r.header_incomplete_ns) {
            s.with_header_names += 1;
            if let Some(why) = crate::browser::header_mismatch(browser, names) {
                s.header_mismatches += 1;
                if s.mismatch_example.is_none() {
                    s.mismatch_example = Some(keep(&format!("{why}: `{names}`")));
                }
            }
        }
        if let Some(j) = r.ja4.as_deref() {
            s.with_ja4 += 1;
            if let Some(why) = crate::browser::ja4_mismatch(j) {
                s.ja4_mismatches += 1;
                if s.mismatch_example.is_none() {
                    s.mismatch_example = Some(keep(&format!("{why}: JA4 `{j}`")));
                }
            }
        }
    }

    /// Teaches the site's footprint the names of the cookies a request sent and its
    /// response set: each name the client sends for the first time, every name set, and the
    /// client once it both runs scripts and sends cookies (see [`crate::footprint`]). Called
    /// after [`Profile::add_stack`].
    pub fn teach_cookies(
        &mut self,
        r: &Request<'_>,
        hasher: &foldhash::fast::FixedState,
        site: &mut crate::footprint::SiteFootprint,
    ) {
        if let Some(set) = r.set_cookies.as_deref() {
            site.learn_set(set.split(',').filter(|n| !n.is_empty()), hasher);
        }
        let runs = self.footprint.scripts + self.footprint.calls > 0;
        let Some(s) = self.stack.as_deref_mut() else {
            return;
        };
        for name in r.cookie_names() {
            let h = hasher.hash_one(name);
            if !s.cookie_names.contains(h) {
                s.cookie_names.insert(h);
                site.learn_cookie(h, name);
            }
        }
        if runs && s.with_cookie > 0 && !s.counted_keeping {
            s.counted_keeping = true;
            site.learn_keeping();
        }
    }

    /// The client's stack, empty when its requests showed nothing of it.
    pub fn stack(&self) -> &Stack {
        self.stack.as_deref().unwrap_or(&NO_STACK)
    }

    /// Distinct paths (estimated), at most the requests.
    pub fn distinct_paths(&self) -> u32 {
        self.paths.estimate().min(self.requests)
    }

    /// Distinct query strings (estimated), at most the requests with one.
    pub fn distinct_queries(&self) -> u32 {
        self.queries.estimate().min(self.with_query)
    }

    /// Distinct user agents (estimated), at most the requests.
    pub fn distinct_agents(&self) -> u32 {
        self.agents.estimate().min(self.requests)
    }

    /// Share of requests answered 4xx.
    pub fn client_error_share(&self) -> f64 {
        f64::from(self.status[4]) / f64::from(self.requests.max(1))
    }

    /// How much a profile is worth keeping when the table is full: hostile evidence first,
    /// then volume.
    fn worth(&self) -> u64 {
        u64::from(self.requests)
            + 1_000_000
                * u64::from(
                    self.hostile_requests
                        + self.connect
                        + self.absolute
                        + self.stack().incomplete_headers,
                )
    }
}

/// Profiles of at most `capacity` clients. When full, a new client takes the place of the
/// least worth of 8 profiles drawn at random (low volume, no hostile evidence): a spoofed or
/// widely distributed flood of one-request clients cannot grow the table, while every client
/// with hostile evidence or volume stays.
pub struct ProfileTable {
    index: HashMap<ClientKey, u32, foldhash::fast::FixedState>,
    slots: Vec<(ClientKey, Profile)>,
    capacity: usize,
    draw: u64,
    /// Clients and requests dropped from the table to make room.
    pub evicted_clients: u64,
    /// Requests of the clients dropped.
    pub evicted_requests: u64,
}

impl ProfileTable {
    /// A table holding at most `capacity` clients.
    pub fn new(capacity: usize) -> ProfileTable {
        ProfileTable {
            index: HashMap::with_capacity_and_hasher(capacity.min(1 << 16), Default::default()),
            slots: Vec::new(),
            capacity: capacity.max(8),
            draw: 0x9e37_79b9_7f4a_7c15,
            evicted_clients: 0,
            evicted_requests: 0,
        }
    }

    /// The profile of a client, made when new.
    pub fn get(&mut self, key: ClientKey) -> &mut Profile {
        if let Some(&i) = self.index.get(&key) {
            return &mut self.slots[i as usize].1;
        }
        let i = if self.slots.len() < self.capacity {
            self.slots.push((key, Profile::default()));
            self.slots.len() - 1
        } else {
            let mut victim = self.next_draw();
            for _ in 0..7 {
                let j = self.next_draw();
                if self.slots[j].1.worth() < self.slots[victim].1.worth() {
                    victim = j;
                }
            }
            let (old, p) = std::mem::replace(&mut self.slots[victim], (key, Profile::default()));
            self.index.remove(&old);
            self.evicted_clients += 1;
            self.evicted_requests += u64::from(p.requests);
            victim
        };
        self.index.insert(key, i as u32);
        &mut self.slots[i].1
    }

    /// Takes in the profiles of `other`, a table of other clients (another share of a log's
    /// clients, [`levee_logs::Share`]); its capacity adds to this one's. A client held by
    /// both, which shares never make, keeps its busier profile.
    pub fn absorb(&mut self, other: ProfileTable) {
        self.capacity += other.capacity;
        self.evicted_clients += other.evicted_clients;
        self.evicted_requests += other.evicted_requests;
        for (key, p) in other.slots {
            match self.index.get(&key) {
                Some(&i) => {
                    let held = &mut self.slots[i as usize].1;
                    if p.requests > held.requests {
                        *held = p;
                    }
                }
                None => {
                    self.index.insert(key, self.slots.len() as u32);
                    self.slots.push((key, p));
                }
            }
        }
    }

    /// Every client held, with its profile, in order of their first request, then of key:
    /// the order of the verdicts, whichever order the clients were met in and however they
    /// were shared out.
    pub fn by_first_request(&self) -> Vec<&(ClientKey, Profile)> {
        let mut v: Vec<&(ClientKey, Profile)> = self.slots.iter().collect();
        v.sort_unstable_by(|a, b| a.1.first.cmp(&b.1.first).then(a.0.cmp(&b.0)));
        v
    }

    /// A client's profile, if it is held.
    pub fn lookup(&self, key: &ClientKey) -> Option<&Profile> {
        self.index.get(key).map(|&i| &self.slots[i as usize].1)
    }

    /// Every client held, with its profile.
    pub fn iter(&self) -> impl Iterator<Item = &(ClientKey, Profile)> {
        self.slots.iter()
    }

    /// Clients held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no client is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn next_draw(&mut self) -> usize {
        self.draw ^= self.draw << 13;
        self.draw ^= self.draw >> 7;
        self.draw ^= self.draw << 17;
        (self.draw % self.slots.len() as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_estimates_are_close_in_their_range() {
        let h = foldhash::fast::FixedState::with_seed(1);
        for n in [1u32, 10, 50, 200, 500] {
            let mut b = Bits256::default();
            for i in 0..n {
                b.insert(h.hash_one(i));
            }
            let e = f64::from(b.estimate());
            assert!(
                (e - f64::from(n)).abs() <= 0.15 * f64::from(n) + 1.0,
                "{n}: {e}"
            );
        }
    }

    #[test]
    fn a_full_table_keeps_hostile_and_busy_clients() {
        let mut t = ProfileTable::new(100);
        let hostile = ClientKey::Ip("192.0.2.1".parse().unwrap());
        let busy = ClientKey::Ip("192.0.2.2".parse().unwrap());
        t.get(hostile).hostile_requests = 1;
        t.get(busy).requests = 10_000;
        for i in 0..100_000u32 {
            t.get(ClientKey::Ip(IpAddr::from(i.to_be_bytes()))).requests += 1;
        }
        assert_eq!(t.len(), 100);
        assert!(t.lookup(&hostile).is_some());
        assert_eq!(t.lookup(&busy).map(|p| p.requests), Some(10_000));
        assert_eq!(t.evicted_clients, 100_000 + 2 - 100);
    }

    #[test]
    fn a_burst_across_a_minute_boundary_counts_whole() {
        let h = foldhash::fast::FixedState::with_seed(1);
        let mut times = levee_logs::time::TimeCache::default();
        let line = r#"192.0.2.9 - - [15/Jan/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x""#;
        let (mut r, _) = levee_logs::clf::parse(line, &mut times).unwrap();
        let base = r.ts.unwrap();
        let mut p = Profile::default();
        // 15 a second from second 50 of one minute to second 30 of the next: 600 requests
        // in 40 seconds, 150 and 450 per calendar minute.
        for i in 0..600i64 {
            r.ts = Some(base + 50_000_000_000 + i * 1_000_000_000 / 15);
            p.add(&r, 0, || None, &h, None);
        }
        assert!(p.peak_minute >= 500, "{}", p.peak_minute);
        assert!(p.peak_minute <= 600, "{}", p.peak_minute);
        // Requests an hour apart do not add up.
        let mut q = Profile::default();
        for i in 0..10i64 {
            r.ts = Some(base + i * 3_600_000_000_000);
            q.add(&r, 0, || None, &h, None);
        }
        assert_eq!(q.peak_minute, 1);
    }

    #[test]
    fn assets_pages_and_logins() {
        assert_eq!(path_kind("/static/app.js"), (true, false));
        assert_eq!(path_kind("/"), (false, true));
        assert_eq!(path_kind("/index.php"), (false, true));
        assert_eq!(path_kind("/files/report.pdf"), (false, false));
        assert!(is_login("/wp-login.php") && is_login("/api/v1/Auth/token") && !is_login("/blog"));
        assert!(
            is_search("/search") && is_search("/api/v2/SEARCH/items") && is_search("/s/Search")
        );
        assert!(!is_search("/products/12") && !is_search("/sea") && !is_search("/researc"));
    }
}
