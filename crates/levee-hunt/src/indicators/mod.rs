//! Indicators of compromise, read from the files responders are handed: plain lists
//! ([`plain`]), CSV ([`csv`]), STIX 2.1 bundles ([`stix`]) and MISP JSON exports ([`misp`]),
//! told apart by content.
//!
//! Every value is normalised once, here, to the form it is matched in: defanged values
//! (`1.2.3[.]4`, `hxxp://`, `example[.]com`) restored, domains lower-cased without a trailing
//! dot, URLs cut to host and target, hashes lower-cased. What cannot be matched in captures,
//! logs or flows (an e-mail address, a certificate's hash, a value that is not what its type
//! says) is kept as [`Unusable`] with the reason, so a hunt says what it could not look for
//! instead of finding nothing silently.

pub mod csv;
pub mod misp;
pub mod plain;
pub mod stix;

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::Serialize;

/// What an indicator names, and so where it is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// One address: the packets and flows from or to it, the log lines of its client, DNS
    /// answers that give it.
    Address,
    /// A network (CIDR): as an address, for every address in it.
    Network,
    /// A domain and its subdomains: DNS questions and answers, TLS SNI, HTTP Host, URLs.
    Domain,
    /// A URL: HTTP requests to its host and target (without a query in the indicator, any
    /// query of the same path).
    Url,
    /// The path (and query, when it has one) of HTTP requests, on any host.
    Path,
    /// An HTTP User-Agent, whole.
    UserAgent,
    /// A TLS client's JA3 hash.
    Ja3,
    /// A TLS client's JA4.
    Ja4,
    /// A TLS server name (SNI), exactly (a domain indicator also covers its subdomains).
    Sni,
    /// An MD5 hash: matched against JA3 hashes (which are MD5) and the bodies of HTTP
    /// messages (files downloaded and uploaded).
    Md5,
    /// A SHA-1 hash of a file: matched against HTTP bodies.
    Sha1,
    /// A SHA-256 hash of a file: matched against HTTP bodies.
    Sha256,
}

impl Kind {
    /// The kind's name, as printed and as a plain list's prefix takes it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Address => "address",
            Kind::Network => "network",
            Kind::Domain => "domain",
            Kind::Url => "url",
            Kind::Path => "path",
            Kind::UserAgent => "user-agent",
            Kind::Ja3 => "ja3",
            Kind::Ja4 => "ja4",
            Kind::Sni => "sni",
            Kind::Md5 => "md5",
            Kind::Sha1 => "sha1",
            Kind::Sha256 => "sha256",
        }
    }
}

/// One indicator, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Indicator {
    /// What it names.
    pub kind: Kind,
    /// The value as matched: an address or network in its canonical form; a domain, SNI or
    /// hash lower-cased; a URL as host and target (`evil.example/gate.php?id=1`); a path, a
    /// user agent or a JA4 as given.
    pub value: String,
    /// Where it was read: `FILE:LINE` for lists and CSV, `FILE indicator--UUID` for STIX,
    /// `FILE attribute UUID` (or `#N`) for MISP.
    pub source: String,
    /// What its source says of it (a STIX name, a MISP event's info or comment, a CSV
    /// column such as the malware), when it says anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Traffic before this time (ns since 1970) does not match (STIX `valid_from`).
    #[serde(skip)]
    pub valid_from: Option<i64>,
    /// Traffic from this time on does not match (STIX `valid_until`).
    #[serde(skip)]
    pub valid_until: Option<i64>,
}

impl Indicator {
    /// The network of an address or network indicator (a network of one address is written
    /// as the address).
    pub fn net(&self) -> Option<IpNet> {
        match self.kind {
            Kind::Address | Kind::Network => self
                .value
                .parse::<IpNet>()
                .ok()
                .or_else(|| self.value.parse::<IpAddr>().ok().map(IpNet::from)),
            _ => None,
        }
    }

    /// Whether traffic at `ts` (ns since 1970; `None` when not known) is within the
    /// indicator's validity.
    pub fn valid_at(&self, ts: Option<i64>) -> bool {
        let Some(ts) = ts else { return true };
        self.valid_from.map_or(true, |f| ts >= f) && self.valid_until.map_or(true, |u| ts < u)
    }
}

/// A value read from an indicator file that cannot be looked for, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unusable {
    /// Where it was read, as [`Indicator::source`].
    pub source: String,
    /// Its type as the file named it.
    pub kind: String,
    /// Its value as the file gave it.
    pub value: String,
    /// Why it cannot be looked for.
    pub why: String,
}

/// An indicator file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    /// The file cannot be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not an indicator file of a format levee reads, or is damaged.
    #[error("{file}: {what}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong, and where.
        what: String,
    },
}

/// The indicator file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// One indicator a line.
    Plain,
    /// Comma-separated, with a header naming the columns.
    Csv,
    /// A STIX 2.1 bundle.
    Stix,
    /// A MISP event or attribute export.
    Misp,
}

impl Format {
    /// The format's name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Plain => "plain list",
            Format::Csv => "CSV",
            Format::Stix => "STIX 2.1",
            Format::Misp => "MISP JSON",
        }
    }
}

/// What one indicator file held.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndicatorFile {
    /// The file, as named.
    pub file: String,
    /// Its format.
    pub format: Option<Format>,
    /// The indicators it gives.
    #[serde(skip)]
    pub indicators: Vec<Indicator>,
    /// What it holds that cannot be looked for.
    pub unusable: Vec<Unusable>,
    /// What the hunt of its indicators should know (patterns hunted more broadly than
    /// written).
    pub notes: Vec<String>,
}

/// Reads the indicator file at `path`, its format told by its content.
pub fn read_file(path: &Path) -> Result<IndicatorFile, IndicatorError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| IndicatorError::Io {
        file: file.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| IndicatorError::Format {
        file: file.clone(),
        what: format!(
            "not UTF-8 text (byte offset {}): indicator files are text",
            e.utf8_error().valid_up_to()
        ),
    })?;
    read_text(&file, &text)
}

/// Reads indicators from `text`, the content of the file named `file`.
pub fn read_text(file: &str, text: &str) -> Result<IndicatorFile, IndicatorError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = sniff(file, text);
    let mut out = IndicatorFile {
        file: file.to_string(),
        format: Some(format),
        ..Default::default()
    };
    let failed = |what: String| IndicatorError::Format {
        file: file.to_string(),
        what,
    };
    match format {
        Format::Plain => plain::read(file, text, &mut out).map_err(failed)?,
        Format::Csv => csv::read(file, text, &mut out).map_err(failed)?,
        Format::Stix | Format::Misp => {
            let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                failed(format!(
                    "not JSON: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })?;
            if format == Format::Stix {
                stix::read(file, &json, &mut out).map_err(failed)?;
            } else {
                misp::read(file, &json, &mut out).map_err(failed)?;
            }
        }
    }
    if out.indicators.is_empty() && out.unusable.is_empty() {
        return Err(failed(format!(
            "no indicator in it (read as a {})",
            format.name()
        )));
    }
    Ok(out)
}

/// The format of an indicator file's content: JSON is STIX when it is a bundle or holds
/// STIX objects, MISP otherwise; text is CSV when its first line is a header naming a value
/// column, a plain list otherwise.
fn sniff(file: &str, text: &str) -> Format {
    let start = text.trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        let head = &start[..start.len().min(4096)];
        let stix = head.contains("\"bundle\"")
            || head.contains("\"spec_version\"")
            || head.contains("\"pattern\"");
        return if stix { Format::Stix } else { Format::Misp };
    }
    let first = start
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if csv::is_header(first) || (file.ends_with(".csv") && first.contains(',')) {
        Format::Csv
    } else {
        Format::Plain
    }
}

/// Restores a defanged value: `[.]`, `(.)`, `{.}`, `[dot]` as dots, `[:]` as a colon,
/// `[@]` as `@`, `hxxp`/`hXXp` as `http`, `[://]` as `://`.
pub fn refang(value: &str) -> String {
    let mut v = value.trim().to_string();
    for (from, to) in [
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        ("[:]", ":"),
        ("[://]", "://"),
        ("[@]", "@"),
    ] {
        if v.contains(from) {
            v = v.replace(from, to);
        }
    }
    let lower = v.to_ascii_lowercase();
    for scheme in ["hxxps", "hxxp"] {
        if lower.starts_with(scheme) {
            v = format!("http{}", &v[4..]);
            break;
        }
    }
    v
}

/// How a type name (of a CSV column, a MISP attribute, a plain list's prefix) is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeRule {
    /// An address, or a network when written with a prefix length.
    Ip,
    /// An address with a port (`IP:PORT`, MISP's `IP|PORT`): the address.
    IpPort,
    /// A network.
    Network,
    /// One kind, the value as it is.
    Plain(Kind),
    /// A URL, or a path when it starts with `/`.
    UrlOrPath,
    /// MISP's `domain|ip`: both.
    DomainIp,
    /// MISP's `filename|md5` (`|sha1`, `|sha256`): the hash.
    FilenameHash(Kind),
    /// A hash of a file other than MD5: not looked for.
    FileHash,
    /// A certificate's hash or field: not looked for.
    Certificate,
}

/// The rule of `type_name` (case and `_`/`-` ignored), if levee knows the type.
fn type_rule(type_name: &str) -> Option<TypeRule> {
    let t = type_name.trim().to_ascii_lowercase().replace('_', "-");
    Some(match t.as_str() {
        "ip" | "ipv4" | "ipv6" | "ip-src" | "ip-dst" | "ipv4-addr" | "ipv6-addr" | "address"
        | "ip-address" | "ipaddress" | "addr" => TypeRule::Ip,
        "ip:port" | "ip-port" | "ip-src|port" | "ip-dst|port" => TypeRule::IpPort,
        "cidr" | "network" | "net" | "subnet" | "ip-range" => TypeRule::Network,
        "domain" | "hostname" | "fqdn" | "host" | "domain-name" => TypeRule::Plain(Kind::Domain),
        "domain|ip" | "hostname|ip" => TypeRule::DomainIp,
        "url" | "uri" | "link" => TypeRule::UrlOrPath,
        "path" | "uri-path" | "url-path" => TypeRule::Plain(Kind::Path),
        "user-agent" | "ua" | "useragent" | "http-user-agent" => TypeRule::Plain(Kind::UserAgent),
        "ja3" | "ja3-fingerprint-md5" | "ja3-hash" => TypeRule::Plain(Kind::Ja3),
        "ja4" | "ja4-fingerprint" => TypeRule::Plain(Kind::Ja4),
        "sni" | "tls-sni" | "server-name" => TypeRule::Plain(Kind::Sni),
        "md5" | "md5-hash" => TypeRule::Plain(Kind::Md5),
        "filename|md5" => TypeRule::FilenameHash(Kind::Md5),
        "sha1" | "sha1-hash" => TypeRule::Plain(Kind::Sha1),
        "sha256" | "sha256-hash" => TypeRule::Plain(Kind::Sha256),
        "filename|sha1" => TypeRule::FilenameHash(Kind::Sha1),
        "filename|sha256" => TypeRule::FilenameHash(Kind::Sha256),
        "sha512" | "sha224" | "sha384" | "imphash" | "ssdeep" | "tlsh" => TypeRule::FileHash,
        t if t.starts_with("x509") => TypeRule::Certificate,
        _ => return None,
    })
}

/// Whether levee knows the type `type_name` (whether or not it can look for its values).
pub fn knows_type(type_name: &str) -> bool {
    type_rule(type_name).is_some()
}

/// Why a file hash other than MD5 is not looked for.
pub const FILE_HASH: &str =
    "a file hash of a kind levee does not compute: it hashes HTTP bodies with MD5, SHA-1 and SHA-256";

/// The indicators a value of type `type_name` (as a CSV column, a MISP attribute or a plain
/// list's prefix names it) gives, normalised; or why it cannot be looked for. Composite MISP
/// types (`domain|ip`, `ip-dst|port`, `filename|md5`) give their parts that can be.
pub fn typed(type_name: &str, value: &str) -> Result<Vec<(Kind, String)>, String> {
    let value = refang(value);
    let one = |k: Kind| normalise(k, &value).map(|v| vec![(k, v)]);
    let Some(rule) = type_rule(type_name) else {
        return Err(if type_name.trim().is_empty() {
            "no type".into()
        } else {
            format!("a type levee does not look for (`{}`)", type_name.trim())
        });
    };
    match rule {
        TypeRule::Ip if value.contains('/') => one(Kind::Network),
        TypeRule::Ip => one(Kind::Address),
        TypeRule::IpPort => {
            let ip = value
                .rsplit_once(['|', ':'])
                .filter(|(ip, port)| port.parse::<u16>().is_ok() && !ip.ends_with(':'))
                .map_or(value.as_str(), |(ip, _)| ip);
            normalise(Kind::Address, ip).map(|v| vec![(Kind::Address, v)])
        }
        TypeRule::Network => one(Kind::Network),
        TypeRule::Plain(kind) => one(kind),
        TypeRule::UrlOrPath if value.starts_with('/') => one(Kind::Path),
        TypeRule::UrlOrPath => one(Kind::Url),
        TypeRule::DomainIp => {
            let (d, ip) = value
                .split_once('|')
                .ok_or_else(|| format!("`{value}` is not DOMAIN|IP"))?;
            Ok(vec![
                (Kind::Domain, normalise(Kind::Domain, d)?),
                (Kind::Address, normalise(Kind::Address, ip)?),
            ])
        }
        TypeRule::FilenameHash(kind) => {
            let (_, hash) = value.rsplit_once('|').ok_or_else(|| {
                format!("`{value}` is not FILENAME|{}", kind.name().to_uppercase())
            })?;
            normalise(kind, hash).map(|v| vec![(kind, v)])
        }
        TypeRule::FileHash => Err(FILE_HASH.into()),
        TypeRule::Certificate => Err("a certificate: levee does not read TLS certificates".into()),
    }
}

/// `value` (refanged) in the form indicators of `kind` are matched in, or why it is not one.
pub fn normalise(kind: Kind, value: &str) -> Result<String, String> {
    let v = value.trim();
    let bad = |what: &str| Err(format!("`{v}` is not {what}"));
    match kind {
        Kind::Address => {
            let v = v.trim_start_matches('[').trim_end_matches(']');
            match v.parse::<IpAddr>() {
                Ok(ip) => Ok(canonical_ip(ip).to_string()),
                Err(_) => bad("an IP address"),
            }
        }
        Kind::Network => match v.parse::<IpNet>() {
            Ok(net) => {
                let net = net.trunc();
                if net.prefix_len() == net.max_prefix_len() {
                    Ok(canonical_ip(net.addr()).to_string())
                } else {
                    Ok(net.to_string())
                }
            }
            Err(_) => match v.parse::<IpAddr>() {
                Ok(ip) => Ok(canonical_ip(ip).to_string()),
                Err(_) => bad("a network (CIDR)"),
            },
        },
        Kind::Domain | Kind::Sni => {
            let d = v.trim_end_matches('.').to_ascii_lowercase();
            let d = d.strip_prefix("*.").unwrap_or(&d).to_string();
            if is_domain(&d) {
                Ok(d)
            } else {
                bad("a domain name")
            }
        }
        Kind::Url => url_key(v).ok_or_else(|| format!("`{v}` is not a URL (SCHEME://HOST/...)")),
        Kind::Path => {
            if v.starts_with('/') && !v.contains(char::is_whitespace) {
                Ok(v.to_string())
            } else {
                bad("a path (starting with /)")
            }
        }
        Kind::UserAgent => {
            if v.is_empty() {
                bad("a user agent")
            } else {
                Ok(v.to_string())
            }
        }
        Kind::Ja3 | Kind::Md5 => {
            if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(v.to_ascii_lowercase())
            } else {
                bad("an MD5 hash (32 hexadecimal digits)")
            }
        }
        Kind::Sha1 | Kind::Sha256 => {
            let digits = if kind == Kind::Sha1 { 40 } else { 64 };
            if v.len() == digits && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(v.to_ascii_lowercase())
            } else if kind == Kind::Sha1 {
                bad("a SHA-1 hash (40 hexadecimal digits)")
            } else {
                bad("a SHA-256 hash (64 hexadecimal digits)")
            }
        }
        Kind::Ja4 => {
            if is_ja4(v) {
                Ok(v.to_string())
            } else {
                bad("a JA4 fingerprint (such as t13d1516h2_8daaf6152771_b186095e22b6)")
            }
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:1.2.3.4`) is the IPv4 address.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `d` (lower-case) is a domain name: two labels or more of letters, digits,
/// hyphens and underscores, not an address.
pub fn is_domain(d: &str) -> bool {
    d.len() <= 253
        && d.contains('.')
        && d.parse::<IpAddr>().is_err()
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && !d
            .rsplit('.')
            .next()
            .unwrap_or("")
            .bytes()
            .all(|b| b.is_ascii_digit())
}

/// Whether `v` has the shape of a JA4 fingerprint: `[tqd]` protocol, two digits of version,
/// `d`/`i`, four digits of counts, two characters of ALPN, then two 12-digit hex hashes.
pub fn is_ja4(v: &str) -> bool {
    let parts: Vec<&str> = v.split('_').collect();
    let hex12 = |p: &str| p.len() == 12 && p.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 3
        && parts[0].len() == 10
        && parts[0].is_ascii()
        && matches!(parts[0].as_bytes()[0], b't' | b'q' | b'd')
        && matches!(parts[0].as_bytes()[3], b'd' | b'i')
        && parts[0][4..8].bytes().all(|b| b.is_ascii_digit())
        && hex12(parts[1])
        && hex12(parts[2])
}

/// A URL as it is matched: the host lower-cased without its port, then the target (path
/// and query; `/` when it has none), the fragment dropped. `None` when `url` has no scheme
/// or no host.
pub fn url_key(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        return None;
    }
    // Spaces before a fragment are not the target's: a value trimmed again must give the
    // same key.
    let rest = rest.split('#').next().unwrap_or("").trim_end();
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = authority_host(authority)?;
    let target = if target.starts_with('?') {
        format!("/{target}")
    } else {
        target.to_string()
    };
    Some(format!("{host}{target}"))
}

/// The host of an authority (`user@host:port`, `[v6]:port`), lower-cased, without a port;
/// an IPv6 address keeps its brackets, as URLs and Host headers write it.
pub fn authority_host(authority: &str) -> Option<String> {
    let a = authority.rsplit('@').next().unwrap_or(authority);
    let host = if a.starts_with('[') {
        let end = a.find(']')?;
        &a[..=end]
    } else {
        a.split(':').next().unwrap_or(a)
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// Parses an RFC 3339 time (STIX, CSV validity columns) to ns since 1970.
pub fn parse_time(text: &str) -> Option<i64> {
    let ts: jiff::Timestamp = text.trim().parse().ok()?;
    i64::try_from(ts.as_nanosecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defanged_values_are_restored() {
        assert_eq!(refang("1.2.3[.]4"), "1.2.3.4");
        assert_eq!(
            refang("hxxps://evil[.]example/gate"),
            "https://evil.example/gate"
        );
        assert_eq!(refang("evil(.)example"), "evil.example");
        assert_eq!(refang(" plain.example "), "plain.example");
    }

    /// Found by fuzzing: a URL whose fragment follows a space kept the space in its target,
    /// which normalising the key again (trimmed) lost, so the key did not match itself.
    #[test]
    fn a_url_key_is_its_own_normal_form() {
        let stix = r#"{"type":"bundle","objects":[{"type":"indicator","id":"indicator--1","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","pattern":"[ipv4-addr:valuz = '198.51.100.1'] OR [url:value IN ('http://e.example/a., #hxxp://b[.]example')]"}]}"#;
        let file = read_text("fuzz.txt", stix).expect("a STIX bundle");
        assert!(!file.indicators.is_empty());
        for i in &file.indicators {
            let again = match i.kind {
                Kind::Url => normalise(i.kind, &format!("http://{}", i.value)),
                _ => normalise(i.kind, &i.value),
            };
            assert_eq!(again.as_deref(), Ok(i.value.as_str()), "{i:?}");
        }
        for url in [
            "http://e.example/a \t#frag",
            "http://e.example/a b",
            "http://e.example #x",
        ] {
            let key = url_key(url).expect("a URL");
            assert_eq!(
                normalise(Kind::Url, &format!("http://{key}")),
                Ok(key.clone()),
                "{url}"
            );
        }
    }

    #[test]
    fn values_are_normalised_to_how_they_are_matched() {
        let n = |k, v| normalise(k, v);
        assert_eq!(n(Kind::Address, "::ffff:192.0.2.1"), Ok("192.0.2.1".into()));
        assert_eq!(n(Kind::Address, "[2001:DB8::1]"), Ok("2001:db8::1".into()));
        assert_eq!(n(Kind::Network, "192.0.2.77/24"), Ok("192.0.2.0/24".into()));
        assert_eq!(n(Kind::Network, "192.0.2.7/32"), Ok("192.0.2.7".into()));
        assert_eq!(
            n(Kind::Domain, "*.Evil.Example."),
            Ok("evil.example".into())
        );
        assert!(n(Kind::Domain, "192.0.2.1").is_err());
        assert!(n(Kind::Domain, "localhost").is_err());
        assert_eq!(
            n(Kind::Url, "HTTP://User@Evil.Example:8080/a/b?x=1#top"),
            Ok("evil.example/a/b?x=1".into())
        );
        assert_eq!(
            n(Kind::Url, "http://evil.example"),
            Ok("evil.example/".into())
        );
        assert_eq!(
            n(Kind::Url, "http://evil.example?q"),
            Ok("evil.example/?q".into())
        );
        assert!(n(Kind::Url, "evil.example/path").is_err());
        assert_eq!(
            n(Kind::Ja3, "E7D705A3286E19EA42F587B344EE6865"),
            Ok("e7d705a3286e19ea42f587b344ee6865".into())
        );
        assert!(n(Kind::Ja3, "e7d705a3").is_err());
        assert!(n(Kind::Ja4, "t13d1516h2_8daaf6152771_b186095e22b6").is_ok());
        assert!(n(Kind::Ja4, "t13d1516h2_8daaf615277_b186095e22b6").is_err());
    }

    #[test]
    fn types_of_every_vocabulary_map_to_kinds() {
        assert_eq!(
            typed("ip-dst|port", "192.0.2.1|443"),
            Ok(vec![(Kind::Address, "192.0.2.1".into())])
        );
        assert_eq!(
            typed("ip:port", "192.0.2.1:443"),
            Ok(vec![(Kind::Address, "192.0.2.1".into())])
        );
        assert_eq!(
            typed("domain|ip", "evil.example|192.0.2.1"),
            Ok(vec![
                (Kind::Domain, "evil.example".into()),
                (Kind::Address, "192.0.2.1".into())
            ])
        );
        assert_eq!(
            typed("uri", "/gate.php"),
            Ok(vec![(Kind::Path, "/gate.php".into())])
        );
        assert_eq!(
            typed("ip", "10.0.0.0/8"),
            Ok(vec![(Kind::Network, "10.0.0.0/8".into())])
        );
        assert!(typed("sha512", "ab").unwrap_err().contains("file hash"));
        assert!(typed("sha256", "ab").unwrap_err().contains("SHA-256"));
        let sha1 = "17500C657EA22D29E99D2B744D2177B50AD9B674";
        assert_eq!(
            typed("filename|sha1", &format!("implant.exe|{sha1}")),
            Ok(vec![(Kind::Sha1, sha1.to_ascii_lowercase())])
        );
        assert!(typed("x509-fingerprint-sha1", "ab")
            .unwrap_err()
            .contains("certificate"));
        assert!(typed("email-src", "a@b.example")
            .unwrap_err()
            .contains("email-src"));
    }

    #[test]
    fn validity_bounds_the_traffic_that_matches() {
        let i = Indicator {
            kind: Kind::Address,
            value: "192.0.2.1".into(),
            source: "x".into(),
            label: None,
            valid_from: Some(100),
            valid_until: Some(200),
        };
        assert!(!i.valid_at(Some(99)));
        assert!(i.valid_at(Some(100)));
        assert!(!i.valid_at(Some(200)));
        assert!(i.valid_at(None));
        assert_eq!(
            parse_time("2026-01-15T12:00:00Z"),
            Some(1_768_478_400_000_000_000)
        );
    }
}
