//! The JavaScript footprint: what a client does after a page, and whether that is what a
//! browser running the site's pages does.
//!
//! A browser that loads a page fetches what the page references (scripts, styles, images)
//! within a second or so, and the page's scripts then call the site back (analytics beacons,
//! XHR and `fetch` requests to its API). A script posing as a browser fetches the pages and
//! little else. Network engineers tell the two apart by exactly this; levee learns it from the
//! traffic itself, with no list of the site's files:
//!
//! * Each client's [`Footprint`]: its page loads, how many were followed by a subresource or
//!   a script-made request within [`FOLLOW_NS`] and how long after, the scripts and styles it
//!   fetched and the script-made requests it sent (which of each, as 256-bit sketches).
//! * The site's ([`SiteFootprint`]): how many clients fetched each script and style and sent
//!   each script-made request. After the first pass, the scripts and styles fetched by most
//!   clients that render pages (that fetch any subresource), and the calls sent by most
//!   clients that run scripts, are the site's ([`SiteModel`]).
//! * A client that claims a browser, loads many pages and never fetches one of the site's
//!   scripts or styles nor sends a script-made request runs no JavaScript: suspicious on its
//!   own (a person may browse with scripts off), and the corroboration that makes a
//!   contradicted browser claim a bot.
//!
//! A request is script-made when its path says so (a segment `/api`, `/ajax`, `/xhr`,
//! `/beacon`, `/collect`, `/analytics`, `/rum`, `/telemetry` or `/graphql`, or `.json`):
//! an access log does not say which requests a script sent, and these are the names sites give
//! them. A browser's cache keeps it from fetching a script twice, so a footprint is judged on
//! whether the site's scripts were fetched at all, never on every page.

use std::collections::HashMap;

use serde::Serialize;

use crate::bits::Bits256;

/// How long after a page load a request counts as following it.
pub const FOLLOW_NS: i64 = 10_000_000_000;

/// Page loads below which a footprint is not judged.
pub const JUDGED_PAGE_LOADS: u32 = 10;

/// Clients that must render pages (or run scripts) before the site's scripts (or calls) are
/// learned: fewer say nothing about what most do.
const LEARNING_CLIENTS: u32 = 20;

/// Share of the rendering clients that must fetch a script or style for it to be the site's.
const SITE_SHARE: f64 = 0.5;

/// Scripts, styles and calls followed by the site's model at most.
const MAX_SITE_PATHS: usize = 1_024;

/// What a request is, to the footprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// A page load: a GET of a page.
    Page,
    /// A script or a style.
    Script,
    /// Another subresource: an image, a font.
    Asset,
    /// A request a script makes: a beacon, an XHR or `fetch` call.
    Call,
    /// Anything else (a form POST, a HEAD).
    Other,
}

/// Path segments of script-made requests, each found at a `/` and ended by anything but a
/// letter or digit (so `/collections/summer`, a page, is not `/collect`).
const CALL_WORDS: &[&str] = &[
    "/api",
    "/ajax",
    "/xhr",
    "/beacon",
    "/collect",
    "/analytics",
    "/rum",
    "/telemetry",
    "/graphql",
];

/// What a request of `method` for `path` is, given whether the path is an asset and a page
/// (by its extension, as a client's profile tells them apart).
pub fn fetch_of(method: &str, path: &str, asset: bool, page: bool) -> Fetch {
    let b = path.as_bytes();
    let ends_with = |e: &[u8]| b.len() > e.len() && b[b.len() - e.len()..].eq_ignore_ascii_case(e);
    if asset {
        return if ends_with(b".js") || ends_with(b".mjs") || ends_with(b".css") {
            Fetch::Script
        } else {
            Fetch::Asset
        };
    }
    let word_at = |i: usize| {
        // Most segments start with a letter no call word starts with.
        let first = b.get(i + 1).map_or(0, u8::to_ascii_lowercase);
        if !matches!(first, b'a' | b'x' | b'b' | b'c' | b'r' | b't' | b'g') {
            return false;
        }
        CALL_WORDS.iter().any(|w| {
            let w = w.as_bytes();
            b.len() >= i + w.len()
                && b[i..i + w.len()].eq_ignore_ascii_case(w)
                && b.get(i + w.len())
                    .map_or(true, |c| !c.is_ascii_alphanumeric())
        })
    };
    if ends_with(b".json") || memchr::memchr_iter(b'/', b).any(word_at) {
        Fetch::Call
    } else if page && method == "GET" {
        Fetch::Page
    } else {
        Fetch::Other
    }
}

/// One client's footprint (see the module's overview).
#[derive(Debug, Clone, Default)]
pub struct Footprint {
    /// Page loads.
    pub page_loads: u32,
    /// Of them, followed within [`FOLLOW_NS`] by a subresource or a script-made request.
    pub followed: u32,
    /// The delays from those page loads to the first request that followed, summed (ms).
    pub follow_ms: u64,
    /// Subresources fetched and script-made requests sent.
    pub subresources: u32,
    /// Scripts and styles fetched.
    pub scripts: u32,
    /// Which scripts and styles (hashes of their paths).
    pub script_paths: Bits256,
    /// Script-made requests sent.
    pub calls: u32,
    /// Which endpoints (hashes of their paths).
    pub call_paths: Bits256,
    /// Page loads after its first script or call: pages its scripts had the time to run on.
    pub pages_after_script: u32,
    /// The last page load's time, while no request has followed it yet.
    awaiting_since: Option<i64>,
}

/// What a request taught the site's footprint: a client's first fetch of a script or style or
/// its first call of an endpoint (the path's hash), and whether the client has now rendered a
/// page or run a script for the first time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Learned {
    /// A script or style this client fetched for the first time.
    pub new_script: Option<u64>,
    /// An endpoint this client called for the first time.
    pub new_call: Option<u64>,
    /// The client fetched a subresource or sent a call for the first time: it renders pages.
    pub first_render: bool,
    /// The client fetched a script or called an endpoint for the first time.
    pub first_script: bool,
}

impl Learned {
    /// Whether there is anything to learn.
    pub fn teaches(&self) -> bool {
        self.new_script.is_some()
            || self.new_call.is_some()
            || self.first_render
            || self.first_script
    }
}

impl Footprint {
    /// Adds a request at `ts` of kind `fetch`, for a path of hash `path`.
    pub fn add(&mut self, ts: i64, fetch: Fetch, path: u64) -> Learned {
        let mut learned = Learned::default();
        match fetch {
            Fetch::Page => {
                self.page_loads += 1;
                self.pages_after_script += u32::from(self.scripts + self.calls > 0);
                self.awaiting_since = Some(ts);
            }
            Fetch::Script | Fetch::Asset | Fetch::Call => {
                if let Some(since) = self.awaiting_since {
                    let after = ts.saturating_sub(since);
                    if (0..=FOLLOW_NS).contains(&after) {
                        self.followed += 1;
                        self.follow_ms += (after / 1_000_000) as u64;
                    }
                    self.awaiting_since = None;
                }
                learned.first_render = self.subresources == 0;
                self.subresources += 1;
                let ran_before = self.scripts + self.calls > 0;
                if fetch == Fetch::Script {
                    if !self.script_paths.contains(path) {
                        learned.new_script = Some(path);
                    }
                    self.scripts += 1;
                    self.script_paths.insert(path);
                } else if fetch == Fetch::Call {
                    if !self.call_paths.contains(path) {
                        learned.new_call = Some(path);
                    }
                    self.calls += 1;
                    self.call_paths.insert(path);
                }
                learned.first_script = !ran_before && self.scripts + self.calls > 0;
            }
            Fetch::Other => {}
        }
        learned
    }

    /// The mean delay from a page load to what followed it (ms), if any followed.
    pub fn mean_follow_ms(&self) -> Option<u64> {
        (self.followed > 0).then(|| self.follow_ms / u64::from(self.followed))
    }
}

/// Paths of one kind (scripts and styles, or calls) and the clients that fetched each.
#[derive(Debug, Default)]
struct PathClients {
    by_hash: HashMap<u64, (Box<str>, u32), foldhash::fast::FixedState>,
}

impl PathClients {
    fn add(&mut self, hash: u64, path: &str) {
        let len = self.by_hash.len();
        match self.by_hash.get_mut(&hash) {
            Some((_, n)) => *n += 1,
            None if len < MAX_SITE_PATHS => {
                self.by_hash
                    .insert(hash, (path.chars().take(120).collect(), 1));
            }
            None => {}
        }
    }

    fn absorb(&mut self, other: PathClients) {
        for (hash, (path, n)) in other.by_hash {
            let len = self.by_hash.len();
            match self.by_hash.get_mut(&hash) {
                Some((_, held)) => *held += n,
                None if len < MAX_SITE_PATHS => {
                    self.by_hash.insert(hash, (path, n));
                }
                None => {}
            }
        }
    }

    /// The paths at least `share` of `clients` fetched, busiest first.
    fn common(&self, clients: u32, share: f64) -> Vec<SitePath> {
        if clients < LEARNING_CLIENTS {
            return Vec::new();
        }
        let mut v: Vec<SitePath> = self
            .by_hash
            .iter()
            .filter(|(_, (_, n))| f64::from(*n) >= share * f64::from(clients))
            .map(|(&hash, (path, n))| SitePath {
                hash,
                path: path.to_string(),
                share: (f64::from(*n) / f64::from(clients)).min(1.0),
            })
            .collect();
        v.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.path.cmp(&b.path)));
        v
    }
}

/// What the site's clients fetch after pages, learned on the first pass.
#[derive(Debug, Default)]
pub struct SiteFootprint {
    scripts: PathClients,
    calls: PathClients,
    /// Clients that fetched a subresource or sent a call.
    rendering: u32,
    /// Clients that fetched a script or style or sent a call.
    scripting: u32,
    /// The names of the cookies clients send, and how many clients send each.
    cookies: PathClients,
    /// The names of the cookies the site's responses set (whether a name is set is all
    /// that matters, not how often).
    set: PathClients,
    /// Whether any request said which cookies its response set (captures, some logs).
    set_known: bool,
    /// Clients that run scripts and send cookies.
    keeping: u32,
}

impl SiteFootprint {
    /// Learns that a client sent the cookie `name` (of hash `hash`) for the first time.
    pub fn learn_cookie(&mut self, hash: u64, name: &str) {
        self.cookies.add(hash, name);
    }

    /// Learns the names of the cookies a response set (perhaps none).
    pub fn learn_set<'n>(
        &mut self,
        names: impl Iterator<Item = &'n str>,
        hasher: &foldhash::fast::FixedState,
    ) {
        use std::hash::BuildHasher;
        self.set_known = true;
        for name in names {
            let h = hasher.hash_one(name);
            if !self.set.by_hash.contains_key(&h) {
                self.set.add(h, name);
            }
        }
    }

    /// Learns that one more client runs scripts and sends cookies.
    pub fn learn_keeping(&mut self) {
        self.keeping += 1;
    }

    /// Learns from what a client's request taught (`path` is the request's path).
    pub fn learn(&mut self, learned: Learned, path: &str) {
        self.rendering += u32::from(learned.first_render);
        self.scripting += u32::from(learned.first_script);
        if let Some(h) = learned.new_script {
            self.scripts.add(h, path);
        }
        if let Some(h) = learned.new_call {
            self.calls.add(h, path);
        }
    }

    /// Adds what another share of the clients taught.
    pub fn absorb(&mut self, other: SiteFootprint) {
        self.scripts.absorb(other.scripts);
        self.calls.absorb(other.calls);
        self.rendering += other.rendering;
        self.scripting += other.scripting;
        self.cookies.absorb(other.cookies);
        self.set.absorb(other.set);
        self.set_known |= other.set_known;
        self.keeping += other.keeping;
    }

    /// The site's scripts, styles and calls.
    pub fn model(&self) -> SiteModel {
        SiteModel {
            scripts: self.scripts.common(self.rendering, SITE_SHARE),
            calls: self.calls.common(self.scripting, SITE_SHARE),
            rendering_clients: self.rendering,
            scripting_clients: self.scripting,
            script_cookies: self.script_cookies(),
            cookie_keeping_clients: self.keeping,
        }
    }

    /// The cookies most clients that run scripts and keep cookies send, and that no
    /// response sets: the site's scripts set them. Unknown (none) unless the requests said
    /// which cookies their responses set: a cookie the server sets comes back from any
    /// client that keeps cookies, scripts or not.
    fn script_cookies(&self) -> Vec<SiteCookie> {
        if !self.set_known {
            return Vec::new();
        }
        self.cookies
            .common(self.keeping, SITE_SHARE)
            .into_iter()
            .filter(|c| !self.set.by_hash.contains_key(&c.hash))
            .map(|c| SiteCookie {
                hash: c.hash,
                name: c.path,
                share: c.share,
            })
            .collect()
    }
}

/// A script, style or call of the site, and the share of clients that fetch it.
#[derive(Debug, Clone, Serialize)]
pub struct SitePath {
    #[serde(skip)]
    hash: u64,
    /// Its path.
    pub path: String,
    /// Share of the clients that render pages (for a script or style) or run scripts (for a
    /// call) that fetched it.
    pub share: f64,
}

/// A cookie the site's scripts set, and the share of the clients that run scripts and keep
/// cookies that send it back.
#[derive(Debug, Clone, Serialize)]
pub struct SiteCookie {
    #[serde(skip)]
    hash: u64,
    /// Its name.
    pub name: String,
    /// Share of the clients that run scripts and send cookies that send it.
    pub share: f64,
}

/// The site's footprint as learned: what most browsers fetch and call after its pages.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SiteModel {
    /// Scripts and styles fetched by most clients that render pages.
    pub scripts: Vec<SitePath>,
    /// Script-made requests sent by most clients that run scripts.
    pub calls: Vec<SitePath>,
    /// Clients that fetched a subresource or sent a call: that render pages.
    pub rendering_clients: u32,
    /// Clients that fetched a script or style or sent a call.
    pub scripting_clients: u32,
    /// Cookies that the site's scripts set (sent back by most clients that run scripts and
    /// keep cookies, set by no response); empty when the responses' cookies are not known.
    pub script_cookies: Vec<SiteCookie>,
    /// Clients that run scripts and send cookies.
    pub cookie_keeping_clients: u32,
}

impl SiteModel {
    /// Whether the model knows the site's scripts.
    pub fn is_known(&self) -> bool {
        !self.scripts.is_empty()
    }

    /// How many of the site's scripts and styles, and of its calls, a client fetched.
    pub fn fetched(&self, f: &Footprint) -> (usize, usize) {
        (
            self.scripts
                .iter()
                .filter(|s| f.script_paths.contains(s.hash))
                .count(),
            self.calls
                .iter()
                .filter(|s| f.call_paths.contains(s.hash))
                .count(),
        )
    }

    /// Whether a client with footprint `f` ran the site's pages as a browser does: fetched
    /// one of its scripts or styles or made one of its calls (any call, when the site has
    /// none learned).
    pub fn runs_scripts(&self, f: &Footprint) -> bool {
        let (scripts, calls) = self.fetched(f);
        scripts > 0 || calls > 0 || (self.calls.is_empty() && f.calls > 0)
    }

    /// Whether a client whose cookie names are `sent` sent back one of the cookies the
    /// site's scripts set; `None` when none is known.
    pub fn returns_script_cookie(&self, sent: &Bits256) -> Option<bool> {
        (!self.script_cookies.is_empty())
            .then(|| self.script_cookies.iter().any(|c| sent.contains(c.hash)))
    }

    /// A client's footprint as reported; `sent`: the names of the cookies it sent.
    pub fn report(&self, f: &Footprint, sent: &Bits256) -> ClientFootprint {
        let (scripts, calls) = self.fetched(f);
        ClientFootprint {
            page_loads: f.page_loads,
            followed: f.followed,
            mean_follow_ms: f.mean_follow_ms(),
            scripts_fetched: f.scripts,
            site_scripts: format!("{scripts} of {}", self.scripts.len()),
            calls: f.calls,
            site_calls: format!("{calls} of {}", self.calls.len()),
            runs_scripts: self.is_known().then(|| self.runs_scripts(f)),
            returns_script_cookie: self.returns_script_cookie(sent),
        }
    }
}

/// A client's JavaScript footprint, as reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClientFootprint {
    /// Page loads.
    pub page_loads: u32,
    /// Of them, followed by a subresource or a script-made request within 10 s.
    pub followed: u32,
    /// The mean delay from a page load to what followed it (ms).
    pub mean_follow_ms: Option<u64>,
    /// Scripts and styles fetched.
    pub scripts_fetched: u32,
    /// Of the site's scripts and styles, how many it fetched (`k of n`).
    pub site_scripts: String,
    /// Script-made requests sent.
    pub calls: u32,
    /// Of the site's calls, how many it sent (`k of n`).
    pub site_calls: String,
    /// Whether it ran the site's scripts (`null` while the site's scripts are not known).
    pub runs_scripts: Option<bool>,
    /// Whether it sent back a cookie the site's scripts set (`null` while none is known).
    pub returns_script_cookie: Option<bool>,
}

/// The footprint of the clients of one user agent.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgentFootprint {
    /// The user agent.
    pub user_agent: String,
    /// Its clients with at least one page load.
    pub clients: u32,
    /// Their page loads.
    pub page_loads: u64,
    /// Share of those page loads followed by a subresource or call within 10 s.
    pub followed_share: f64,
    /// The mean delay from a page load to what followed it (ms).
    pub mean_follow_ms: Option<u64>,
    /// Of its clients with enough page loads to tell, the share that ran the site's scripts.
    pub runs_scripts_share: Option<f64>,
}

/// Footprints per user agent, built from the clients' profiles.
#[derive(Debug, Default)]
pub struct AgentFootprints {
    by_agent: HashMap<Box<str>, AgentSums, foldhash::fast::FixedState>,
}

#[derive(Debug, Default)]
struct AgentSums {
    clients: u32,
    page_loads: u64,
    followed: u64,
    follow_ms: u64,
    judged: u32,
    running: u32,
}

/// User agents kept for the footprint report at most.
const MAX_AGENTS: usize = 16_384;

impl AgentFootprints {
    /// Adds a client of user agent `agent`.
    pub fn add(&mut self, agent: &str, f: &Footprint, site: &SiteModel) {
        if f.page_loads == 0 {
            return;
        }
        let len = self.by_agent.len();
        let sums = match self.by_agent.get_mut(agent) {
            Some(s) => s,
            None if len < MAX_AGENTS => self.by_agent.entry(agent.into()).or_default(),
            None => return,
        };
        sums.clients += 1;
        sums.page_loads += u64::from(f.page_loads);
        sums.followed += u64::from(f.followed);
        sums.follow_ms += f.follow_ms;
        if site.is_known() && f.page_loads >= JUDGED_PAGE_LOADS {
            sums.judged += 1;
            sums.running += u32::from(site.runs_scripts(f));
        }
    }

    /// The `n` user agents with the most page loads.
    pub fn top(&self, n: usize) -> Vec<AgentFootprint> {
        let mut v: Vec<(&Box<str>, &AgentSums)> = self.by_agent.iter().collect();
        v.sort_by(|a, b| b.1.page_loads.cmp(&a.1.page_loads).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(n)
            .map(|(agent, s)| AgentFootprint {
                user_agent: agent.to_string(),
                clients: s.clients,
                page_loads: s.page_loads,
                followed_share: s.followed as f64 / s.page_loads.max(1) as f64,
                mean_follow_ms: (s.followed > 0).then(|| s.follow_ms / s.followed),
                runs_scripts_share: (s.judged > 0)
                    .then(|| f64::from(s.running) / f64::from(s.judged)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Assets and pages told apart by the extension of the last segment, as profiles do.
    fn fetch(method: &str, path: &str) -> Fetch {
        let last = path.rsplit('/').next().unwrap_or("");
        let ext = last.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        let asset = matches!(ext.as_deref(), Some("js" | "css" | "jpg" | "png"));
        let page = ext.is_none() || ext.as_deref() == Some("php");
        fetch_of(method, path, asset, page)
    }

    #[test]
    fn requests_are_told_apart_by_what_a_browser_does_with_them() {
        assert_eq!(fetch("GET", "/"), Fetch::Page);
        assert_eq!(fetch("GET", "/products/12"), Fetch::Page);
        assert_eq!(fetch("GET", "/index.php"), Fetch::Page);
        assert_eq!(fetch("GET", "/static/app.4f1c2e.js"), Fetch::Script);
        assert_eq!(fetch("GET", "/static/site.CSS"), Fetch::Script);
        assert_eq!(fetch("GET", "/img/1.jpg"), Fetch::Asset);
        assert_eq!(fetch("POST", "/api/collect"), Fetch::Call);
        assert_eq!(fetch("GET", "/api/v1/cart"), Fetch::Call);
        assert_eq!(fetch("GET", "/shop/ajax/price"), Fetch::Call);
        assert_eq!(fetch("GET", "/data/menu.json"), Fetch::Call);
        assert_eq!(fetch("POST", "/login"), Fetch::Other);
        assert_eq!(fetch("HEAD", "/"), Fetch::Other);
        // A word inside a name is not a call.
        assert_eq!(fetch("GET", "/collections/summer"), Fetch::Page);
        assert_eq!(fetch("GET", "/apiary"), Fetch::Page);
        assert_eq!(fetch("GET", "/g/collect?v=2"), Fetch::Call);
    }

    #[test]
    fn browsers_teach_the_site_and_a_page_only_client_runs_no_script() {
        let mut site = SiteFootprint::default();
        let h = |s: &str| {
            use std::hash::BuildHasher;
            foldhash::fast::FixedState::with_seed(1).hash_one(s)
        };
        let mut browsers = Vec::new();
        for b in 0..40 {
            let mut f = Footprint::default();
            for page in 0..12i64 {
                let at = page * 30_000_000_000;
                site.learn(f.add(at, Fetch::Page, h("/p")), "/p");
                if page == 0 {
                    site.learn(
                        f.add(at + 200_000_000, Fetch::Script, h("/app.js")),
                        "/app.js",
                    );
                }
                if b % 4 != 0 {
                    site.learn(
                        f.add(at + 900_000_000, Fetch::Call, h("/api/collect")),
                        "/api/collect",
                    );
                }
                site.learn(f.add(at + 300_000_000, Fetch::Asset, h("/i.jpg")), "/i.jpg");
            }
            browsers.push(f);
        }
        let model = site.model();
        assert_eq!(model.scripts.len(), 1);
        assert_eq!(model.scripts[0].path, "/app.js");
        assert_eq!(model.calls[0].path, "/api/collect");
        assert!((model.calls[0].share - 0.75).abs() < 1e-9);
        for f in &browsers {
            assert!(model.runs_scripts(f));
            assert_eq!(f.page_loads, 12);
            assert_eq!(f.followed, 12);
        }
        // The first page followed by its script after 200 ms, the others by the beacon after
        // 900 ms, or without beacons by an image after 300 ms.
        assert_eq!(browsers[1].mean_follow_ms(), Some((200 + 11 * 900) / 12));
        assert_eq!(browsers[0].mean_follow_ms(), Some((200 + 11 * 300) / 12));
        // Pages and their images, never a script nor a call.
        let mut scraper = Footprint::default();
        for page in 0..30i64 {
            scraper.add(page * 5_000_000_000, Fetch::Page, h("/p"));
            scraper.add(page * 5_000_000_000 + 50_000_000, Fetch::Asset, h("/i.jpg"));
        }
        assert!(!model.runs_scripts(&scraper));
        let r = model.report(&scraper, &Bits256::EMPTY);
        assert_eq!(
            (r.site_scripts.as_str(), r.runs_scripts),
            ("0 of 1", Some(false))
        );
        assert_eq!(r.followed, 30);
        assert_eq!(r.mean_follow_ms, Some(50));
        let mut agents = AgentFootprints::default();
        for f in &browsers {
            agents.add("Mozilla/5.0 Chrome", f, &model);
        }
        agents.add("Mozilla/5.0 Scraper", &scraper, &model);
        let top = agents.top(5);
        assert_eq!(top[0].user_agent, "Mozilla/5.0 Chrome");
        assert_eq!(top[0].runs_scripts_share, Some(1.0));
        assert_eq!(top[1].runs_scripts_share, Some(0.0));
        // Too few clients to learn from: nothing is the site's.
        let mut few = SiteFootprint::default();
        few.learn(
            browsers[0].clone().add(0, Fetch::Script, h("/x.js")),
            "/x.js",
        );
        assert!(!few.model().is_known());
    }
}
