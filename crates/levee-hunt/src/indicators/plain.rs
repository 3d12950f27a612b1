//! Plain lists: one indicator a line, as threat reports and feeds give them.
//!
//! Blank lines and lines starting with `#` are skipped. A line may name its kind with a
//! prefix (`ua:`, `ja3:`, `ja4:`, `sni:`, `domain:`, `url:`, `path:`, `ip:`, `cidr:`, `md5:`,
//! or any type [`super::typed`] knows, such as MISP's `ip-dst:`); without one the kind is
//! told by the value's shape:
//!
//! | shape | kind |
//! | --- | --- |
//! | an address (`192.0.2.1`, `2001:db8::1`, `192.0.2.1:443`) | address |
//! | a network (`192.0.2.0/24`) | network |
//! | `SCHEME://...` | URL |
//! | `/...` | path |
//! | a JA4 (`t13d1516h2_8daaf6152771_b186095e22b6`) | JA4 |
//! | 32 hexadecimal digits | MD5 (matched as a JA3 hash and a file's) |
//! | 40, 64 hexadecimal digits | SHA-1, SHA-256 of a file |
//! | a domain name | domain (and its subdomains) |
//! | anything with a space or a `/` | user agent |
//!
//! Anything else is kept as unusable, with the line, rather than guessed.

use super::{normalise, refang, typed, Indicator, IndicatorFile, Kind, Unusable};

/// Reads the list `text` of `file` into `out`.
pub fn read(file: &str, text: &str, out: &mut IndicatorFile) -> Result<(), String> {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let source = format!("{file}:{}", i + 1);
        let (type_name, value) = prefixed(line).unwrap_or(("", line));
        let found = if type_name.is_empty() {
            guess(value)
        } else {
            typed(type_name, value)
        };
        match found {
            Ok(kinds) => {
                for (kind, value) in kinds {
                    out.indicators.push(Indicator {
                        kind,
                        value,
                        source: source.clone(),
                        label: None,
                        valid_from: None,
                        valid_until: None,
                    });
                }
            }
            Err(why) => out.unusable.push(Unusable {
                source,
                kind: if type_name.is_empty() {
                    "(none)"
                } else {
                    type_name
                }
                .to_string(),
                value: value.to_string(),
                why,
            }),
        }
    }
    Ok(())
}

/// A line's `TYPE:` prefix, when it starts with a type levee knows (so that `http://` or an
/// IPv6 address is not taken for one).
fn prefixed(line: &str) -> Option<(&str, &str)> {
    let (t, v) = line.split_once(':')?;
    (super::knows_type(t) && !v.starts_with("//")).then(|| (t, v.trim()))
}

/// The kind a value without a prefix has, by its shape (see the module's table).
pub(super) fn guess(value: &str) -> Result<Vec<(Kind, String)>, String> {
    let v = refang(value);
    let as_kind = |k: Kind| normalise(k, &v).map(|n| vec![(k, n)]);
    let hex = v.bytes().all(|b| b.is_ascii_hexdigit());
    if let Ok(n) = normalise(Kind::Address, &v) {
        return Ok(vec![(Kind::Address, n)]);
    }
    if let Some((ip, port)) = v.rsplit_once(':') {
        if port.parse::<u16>().is_ok() {
            if let Ok(n) = normalise(Kind::Address, ip) {
                return Ok(vec![(Kind::Address, n)]);
            }
        }
    }
    if v.contains('/') && v.parse::<ipnet::IpNet>().is_ok() {
        as_kind(Kind::Network)
    } else if !v.contains(char::is_whitespace) && super::url_key(&v).is_some() {
        as_kind(Kind::Url)
    } else if v.starts_with('/') {
        as_kind(Kind::Path)
    } else if super::is_ja4(&v) {
        as_kind(Kind::Ja4)
    } else if hex && v.len() == 32 {
        as_kind(Kind::Md5)
    } else if hex && v.len() == 40 {
        as_kind(Kind::Sha1)
    } else if hex && v.len() == 64 {
        as_kind(Kind::Sha256)
    } else if hex && v.len() == 128 {
        Err(super::FILE_HASH.into())
    } else if super::is_domain(&v.to_ascii_lowercase()) {
        as_kind(Kind::Domain)
    } else if v.contains([' ', '/']) {
        as_kind(Kind::UserAgent)
    } else {
        Err("cannot tell what kind of indicator this is: prefix it with its kind (ip:, domain:, url:, path:, ua:, ja3:, ja4:, sni:, md5:, sha1:, sha256:)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> (Vec<(Kind, String)>, Vec<String>) {
        let mut out = IndicatorFile::default();
        read("iocs.txt", text, &mut out).unwrap();
        (
            out.indicators
                .into_iter()
                .map(|i| (i.kind, i.value))
                .collect(),
            out.unusable.into_iter().map(|u| u.source).collect(),
        )
    }

    #[test]
    fn shapes_tell_the_kind_and_prefixes_name_it() {
        let (found, unusable) = kinds(
            "# a report's indicators\n\
             192.0.2[.]1\n\
             198.51.100.7:8443\n\
             2001:db8::/32\n\
             hxxp://evil.example/gate.php\n\
             /wp-content/x.php\n\
             Evil.Example\n\
             e7d705a3286e19ea42f587b344ee6865\n\
             t13d1516h2_8daaf6152771_b186095e22b6\n\
             ua:curl/8.0\n\
             sqlmap/1.7 (https://sqlmap.org)\n\
             sni:cdn.evil.example\n\
             ip-dst:203.0.113.9\n\
             \n\
             what\n",
        );
        assert_eq!(
            found,
            [
                (Kind::Address, "192.0.2.1".into()),
                (Kind::Address, "198.51.100.7".into()),
                (Kind::Network, "2001:db8::/32".into()),
                (Kind::Url, "evil.example/gate.php".into()),
                (Kind::Path, "/wp-content/x.php".into()),
                (Kind::Domain, "evil.example".into()),
                (Kind::Md5, "e7d705a3286e19ea42f587b344ee6865".into()),
                (Kind::Ja4, "t13d1516h2_8daaf6152771_b186095e22b6".into()),
                (Kind::UserAgent, "curl/8.0".into()),
                (Kind::UserAgent, "sqlmap/1.7 (https://sqlmap.org)".into()),
                (Kind::Sni, "cdn.evil.example".into()),
                (Kind::Address, "203.0.113.9".into()),
            ]
        );
        assert_eq!(unusable, ["iocs.txt:15"]);
    }
}
