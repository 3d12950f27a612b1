//! TLS ClientHello: the record and handshake are parsed by `tls-parser`; the extensions are
//! walked here in wire order (the fingerprints need the order and the raw type numbers), with
//! `tls-parser` decoding the content of the ones we keep. Fingerprints:
//!
//! * JA3: `version,ciphers,extensions,groups,point_formats` in decimal, GREASE removed, MD5.
//! * JA4 (FoxIO): `t13d1516h2_<sha256(sorted ciphers)[..12]>_<sha256(sorted extensions without
//!   SNI/ALPN + "_" + signature algorithms in order)[..12]>`, GREASE removed.

use md5::{Digest, Md5};
use serde::Serialize;
use sha2::Sha256;
use tls_parser::{
    parse_tls_extension, parse_tls_plaintext, TlsExtension, TlsMessage, TlsMessageHandshake,
};

/// A TLS ClientHello: what it offers, and its JA3 and JA4 fingerprints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientHello {
    /// The legacy version field of the ClientHello.
    pub version: u16,
    /// Highest version offered in supported_versions, else `version`.
    pub max_version: u16,
    /// The server name asked for (SNI).
    pub sni: Option<String>,
    /// The application protocols offered (ALPN), in order.
    pub alpn: Vec<String>,
    /// The cipher suites offered, in order (GREASE included, as seen).
    pub ciphers: Vec<u16>,
    /// Extension types in wire order (GREASE included, as seen).
    pub extensions: Vec<u16>,
    /// The supported groups (elliptic curves), in order.
    pub groups: Vec<u16>,
    /// The EC point formats.
    pub point_formats: Vec<u8>,
    /// The signature algorithms, in order.
    pub signature_algorithms: Vec<u16>,
    /// The versions offered in supported_versions.
    pub supported_versions: Vec<u16>,
    /// The JA3 string (version, ciphers, extensions, groups, point formats; GREASE left out).
    pub ja3: String,
    /// The MD5 of the JA3 string, in hex.
    pub ja3_hash: String,
    /// The JA4 fingerprint.
    pub ja4: String,
}

/// GREASE values (RFC 8701): 0x0a0a, 0x1a1a ... 0xfafa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// A TLS handshake record carrying a ClientHello, judged from its first six bytes.
pub fn looks_like_handshake(b: &[u8]) -> bool {
    b.len() >= 6 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04 && b[5] == 0x01
}

/// The ClientHello of a TLS record that begins with one; `None` otherwise.
pub fn parse_client_hello(payload: &[u8]) -> Option<ClientHello> {
    let (_, record) = parse_tls_plaintext(payload).ok()?;
    let ch = record.msg.iter().find_map(|m| match m {
        TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) => Some(ch),
        _ => None,
    })?;
    let mut hello = ClientHello {
        version: ch.version.0,
        max_version: ch.version.0,
        sni: None,
        alpn: Vec::new(),
        ciphers: ch.ciphers.iter().map(|c| c.0).collect(),
        extensions: Vec::new(),
        groups: Vec::new(),
        point_formats: Vec::new(),
        signature_algorithms: Vec::new(),
        supported_versions: Vec::new(),
        ja3: String::new(),
        ja3_hash: String::new(),
        ja4: String::new(),
    };
    let mut ext = ch.ext.unwrap_or(&[]);
    while ext.len() >= 4 {
        let ty = u16::from_be_bytes([ext[0], ext[1]]);
        let len = u16::from_be_bytes([ext[2], ext[3]]) as usize;
        if ext.len() < 4 + len {
            break;
        }
        hello.extensions.push(ty);
        if let Ok((_, parsed)) = parse_tls_extension(&ext[..4 + len]) {
            match parsed {
                TlsExtension::SNI(names) => {
                    hello.sni = names
                        .first()
                        .map(|(_, n)| String::from_utf8_lossy(n).into_owned())
                }
                TlsExtension::ALPN(protos) => {
                    hello.alpn = protos
                        .iter()
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect()
                }
                TlsExtension::EllipticCurves(groups) => {
                    hello.groups = groups.iter().map(|g| g.0).collect()
                }
                TlsExtension::EcPointFormats(f) => hello.point_formats = f.to_vec(),
                TlsExtension::SignatureAlgorithms(s) => hello.signature_algorithms = s,
                TlsExtension::SupportedVersions(v) => {
                    hello.supported_versions = v.iter().map(|v| v.0).collect()
                }
                _ => {}
            }
        }
        ext = &ext[4 + len..];
    }
    if let Some(max) = hello
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
    {
        hello.max_version = max;
    }
    hello.ja3 = ja3_string(&hello);
    hello.ja3_hash = hex(&Md5::digest(hello.ja3.as_bytes()));
    hello.ja4 = ja4(&hello, 't');
    Some(hello)
}

fn join<T: ToString>(items: impl Iterator<Item = T>, sep: &str) -> String {
    items.map(|x| x.to_string()).collect::<Vec<_>>().join(sep)
}

fn ja3_string(h: &ClientHello) -> String {
    let nogrease = |v: &&u16| !is_grease(**v);
    format!(
        "{},{},{},{},{}",
        h.version,
        join(h.ciphers.iter().filter(nogrease), "-"),
        join(h.extensions.iter().filter(nogrease), "-"),
        join(h.groups.iter().filter(nogrease), "-"),
        join(h.point_formats.iter(), "-"),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".into();
    }
    hex(&Sha256::digest(s.as_bytes()))[..12].to_string()
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 | 0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last character of the first ALPN value; a non-alphanumeric end is replaced by the
/// hex digits of the first and last byte, as the JA4 specification says.
fn alpn_code(alpn: &[String]) -> String {
    let Some(first) = alpn.first() else {
        return "00".into();
    };
    let b = first.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {
            format!("{}{}", f as char, l as char)
        }
        (Some(&f), Some(&l)) => {
            let hf = format!("{f:02x}");
            let hl = format!("{l:02x}");
            format!("{}{}", &hf[..1], &hl[1..])
        }
        _ => "00".into(),
    }
}

/// JA4 fingerprint; `transport` is `t` for TCP, `q` for QUIC.
pub fn ja4(h: &ClientHello, transport: char) -> String {
    let ciphers: Vec<u16> = h
        .ciphers
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .collect();
    let exts: Vec<u16> = h
        .extensions
        .iter()
        .copied()
        .filter(|e| !is_grease(*e))
        .collect();
    let sni = if h.extensions.contains(&0x0000) {
        'd'
    } else {
        'i'
    };
    let a = format!(
        "{transport}{}{sni}{:02}{:02}{}",
        version_code(h.max_version),
        ciphers.len().min(99),
        exts.len().min(99),
        alpn_code(&h.alpn)
    );
    let mut sorted_ciphers = ciphers.clone();
    sorted_ciphers.sort_unstable();
    let b = sha12(&join(
        sorted_ciphers.iter().map(|c| format!("{c:04x}")),
        ",",
    ));
    let mut sorted_exts: Vec<u16> = exts
        .into_iter()
        .filter(|e| *e != 0x0000 && *e != 0x0010)
        .collect();
    sorted_exts.sort_unstable();
    let mut c_input = join(sorted_exts.iter().map(|e| format!("{e:04x}")), ",");
    let sigs: Vec<u16> = h
        .signature_algorithms
        .iter()
        .copied()
        .filter(|s| !is_grease(*s))
        .collect();
    if !sigs.is_empty() {
        c_input.push('_');
        c_input.push_str(&join(sigs.iter().map(|s| format!("{s:04x}")), ","));
    }
    let c = if sorted_exts.is_empty() {
        "000000000000".to_string()
    } else {
        sha12(&c_input)
    };
    format!("{a}_{b}_{c}")
}

#[cfg(test)]
mod tests {
    use super::*;

    use levee_synth::{client_hello_record as build, sni_extension as sni};

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x1301));
    }

    #[test]
    fn fingerprints_skip_grease_and_follow_the_spec() {
        let rec = build(
            &[0x1a1a, 0x1301, 0x1302, 0xc02b],
            &[
                (0x2a2a, vec![]),
                (0x0000, sni("www.example.com")),
                (0x0010, vec![0, 3, 2, b'h', b'2']),
                (0x000a, vec![0, 4, 0x00, 0x1d, 0x00, 0x17]),
                (0x000b, vec![1, 0]),
                (0x000d, vec![0, 4, 0x04, 0x03, 0x08, 0x04]),
                (0x002b, vec![4, 0x03, 0x04, 0x03, 0x03]),
            ],
        );
        let h = parse_client_hello(&rec).unwrap();
        assert_eq!(h.sni.as_deref(), Some("www.example.com"));
        assert_eq!(h.alpn, vec!["h2".to_string()]);
        assert_eq!(h.max_version, 0x0304);
        assert_eq!(h.ja3, "771,4865-4866-49195,0-16-10-11-13-43,29-23,0");
        assert_eq!(h.ja3_hash, hex(&Md5::digest(h.ja3.as_bytes())));
        let expected_b = sha12("1301,1302,c02b");
        let expected_c = sha12("000a,000b,000d,002b_0403,0804");
        assert_eq!(h.ja4, format!("t13d0306h2_{expected_b}_{expected_c}"));
    }

    #[test]
    fn garbage_is_not_a_client_hello() {
        assert!(parse_client_hello(&[0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0]).is_none());
        assert!(!looks_like_handshake(b"GET / HTTP/1.1"));
    }
}
