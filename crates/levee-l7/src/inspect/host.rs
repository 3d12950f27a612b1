//! Server-side request forgery: a parameter that names a URL whose host is the server's own
//! network (loopback, private and link-local addresses, cloud metadata services, container
//! and cluster names), an address written so that a filter does not recognise it (one integer,
//! hexadecimal or octal parts, fewer than four parts, an IPv6 literal), or a scheme a web
//! application has no reason to fetch (`gopher:`, `dict:`, `ldap:`...).
//!
//! Text is normalized first ([`super::decode::normalize`]), so circled letters, fullwidth digits
//! and ideographic full stops are already ASCII.

use std::net::Ipv4Addr;

/// Schemes a request parameter has no business naming for a server to fetch.
const ODD_SCHEMES: &[&str] = &[
    "gopher",
    "dict",
    "ldap",
    "ldaps",
    "tftp",
    "rsync",
    "rtmp",
    "ssh",
    "sftp",
    "imap",
    "pop3",
    "irc",
    "acap",
    "xri",
    "local_file",
    "jar",
    "netdoc",
    "smb",
    "telnet",
    "expect",
    "phar",
];

/// Why the value names a host it should not (a rule name, as reasons tell it), if it does.
pub fn ssrf(value: &str) -> Option<&'static str> {
    let mut found = None;
    let mut from = 0;
    while let Some(at) = value[from..].find(':') {
        let colon = from + at;
        from = colon + 1;
        let scheme = scheme_before(value, colon);
        if scheme.is_empty() {
            continue;
        }
        let rest = &value[colon + 1..];
        let slashes = rest.len() - rest.trim_start_matches(['/', '\\']).len();
        let known = matches!(scheme, "http" | "https" | "ftp" | "ftps" | "file");
        let odd = ODD_SCHEMES.contains(&scheme);
        if !known && !odd {
            continue;
        }
        // `http:127.0.0.1` and `http:/2852039166` reach a host as well as `http://`.
        let authority = authority_of(&rest[slashes..]);
        if authority.is_empty() {
            continue;
        }
        if odd {
            return Some("url-of-an-unfetched-scheme");
        }
        if authority.contains('\\') {
            return Some("url-host-with-backslashes");
        }
        let host = host_of(authority);
        if let Some(why) = host_kind(host, true) {
            return Some(why);
        }
        found = found.or_else(|| {
            // A second host hidden after an `@` (`http://a.com:80 &@127.0.0.1/`), which some
            // URL parsers take as the host.
            value[colon..]
                .match_indices('@')
                .filter_map(|(i, _)| {
                    host_kind(host_of(authority_of(&value[colon + i + 1..])), true)
                })
                .next()
        });
    }
    if found.is_some() {
        return found;
    }
    // A bare host name with a path (`url=localhost/`), no scheme.
    let bare = value.trim();
    if !bare.contains([' ', ':']) && bare.contains('/') {
        let host = bare.split('/').next().unwrap_or("");
        if let Some(why) = host_kind(host, false).filter(|w| *w == INTERNAL_NAME) {
            return Some(why);
        }
    }
    None
}

const INTERNAL_NAME: &str = "url-to-an-internal-name";

/// The scheme name that ends at `colon`, if the characters before it make one.
fn scheme_before(value: &str, colon: usize) -> &str {
    let head = &value[..colon];
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '+' || c == '-'))
        .map_or(0, |i| i + 1);
    &head[start..]
}

/// The authority at the start of `s`: up to a path, query, fragment or blank; brackets kept
/// whole.
fn authority_of(s: &str) -> &str {
    let mut in_brackets = false;
    for (i, c) in s.char_indices() {
        match c {
            '[' => in_brackets = true,
            ']' => in_brackets = false,
            '/' | '?' | '#' | ' ' | '\n' | '\r' if !in_brackets => return &s[..i],
            _ => {}
        }
    }
    s
}

/// The host of an authority: after any `user@`, without the port, without brackets, without
/// the backslashes some parsers ignore (`\\l\\o\\c\\a\\l\\h\\o\\s\\t`).
fn host_of(authority: &str) -> String {
    let after_user = authority.rsplit('@').next().unwrap_or(authority);
    let mut host: String = after_user.chars().filter(|&c| c != '\\').collect();
    if host.starts_with('[') {
        if let Some(end) = host.find(']') {
            host.truncate(end + 1);
        }
        return host;
    }
    if let Some(colon) = host.rfind(':') {
        let port = &host[colon + 1..];
        if port.chars().all(|c| c.is_ascii_digit()) && host[..colon].matches(':').count() == 0 {
            host.truncate(colon);
        }
    }
    host
}

/// What is wrong with a host, if anything. Obfuscated addresses only count with a scheme
/// (`with_scheme`): a bare number is a number.
fn host_kind(host: impl AsRef<str>, with_scheme: bool) -> Option<&'static str> {
    let host = host.as_ref().trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    if host.starts_with('[') || host.matches(':').count() >= 2 {
        return with_scheme.then_some("url-to-an-ipv6-literal");
    }
    if host
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'x' || b.is_ascii_hexdigit())
        && host.bytes().next().is_some_and(|b| b.is_ascii_digit())
    {
        if let Some(why) = numeric_host(host) {
            return with_scheme.then_some(why);
        }
    }
    internal_name(host).then_some(INTERNAL_NAME)
}

/// A host made of numbers: fine if it is a public address in four decimal parts.
fn numeric_host(host: &str) -> Option<&'static str> {
    let parts: Vec<&str> = host.split('.').collect();
    let plain = |p: &&str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    if parts.len() == 4 && parts.iter().all(plain) {
        let octets: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
        if octets.len() != 4 || octets.iter().any(|&o| o > 255) {
            return Some("url-to-a-misread-address");
        }
        let ip = Ipv4Addr::new(
            octets[0] as u8,
            octets[1] as u8,
            octets[2] as u8,
            octets[3] as u8,
        );
        return internal_ipv4(ip).then_some("url-to-an-internal-address");
    }
    if parts.iter().all(|p| !p.is_empty()) {
        // One integer, hexadecimal or octal parts, fewer than four parts.
        return Some("url-to-a-misread-address");
    }
    None
}

fn internal_ipv4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || o[0] == 0
        // Cloud metadata services outside the ranges above (Oracle, Alibaba).
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || ip == Ipv4Addr::new(100, 100, 100, 200)
}

/// Names of the host itself, its containers and its cluster, and public names that resolve
/// to loopback.
fn internal_name(host: &str) -> bool {
    const EXACT: &[&str] = &[
        "localhost",
        "localhost4",
        "localhost6",
        "ip6-localhost",
        "ip6-loopback",
        "ipv6-localhost",
        "ipv6-loopback",
        "instance-data",
        "lvh.me",
        "localtest.me",
    ];
    const SUFFIXES: &[&str] = &[
        ".localhost",
        ".localdomain",
        ".localdomain4",
        ".localdomain6",
        ".internal",
        ".cluster.local",
        ".svc",
        ".lvh.me",
        ".localtest.me",
    ];
    EXACT.contains(&host)
        || SUFFIXES.iter().any(|s| host.ends_with(s))
        || host.starts_with("metadata.")
        || host.starts_with("kubernetes.default")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_the_server_own_network_are_found_however_written() {
        for v in [
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/",
            "http:2852039166",
            "http:/2852039166",
            "http://0xa9fea9fe/",
            "http://0251.0376.0251.0376/",
            "http://169.16689662/",
            "http://[::ffff:a9fe:a9fe]",
            "http://[fe80::%zone1]",
            "http://127.0.0.1:8080/admin",
            "http:127.0.0.1",
            "https://metadata.packet.net/userdata",
            "http://localhost/",
            "localhost/",
            "gateway.docker.internal/",
            "kubernetes.default.svc.cluster.local/",
            "gopher://0x7f000001",
            "http://l\\o\\c\\a\\l\\h\\o\\s\\t/",
            "http://google.com:80 &@127.88.23.245:22/",
        ] {
            assert!(ssrf(v).is_some(), "{v}");
        }
    }

    #[test]
    fn ordinary_urls_and_words_are_not() {
        for v in [
            "https://www.example.com/page?x=1",
            "http://93.184.216.34/",
            "example.com/",
            "mylocalhost",
            "12:30:45",
            "user@[192.168.1.1]",
            "2026-01-01t10:00:00z",
            "this is a test? what do you think?",
        ] {
            assert_eq!(ssrf(v), None, "{v}");
        }
    }
}
