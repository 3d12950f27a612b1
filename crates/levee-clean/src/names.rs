//! Names in payloads, replaced label by label with pseudonyms of the same length, so every
//! length field, DNS compression pointer and TCP sequence number stays true: DNS messages
//! (questions, records' owners and the names and addresses in CNAME, NS, PTR, DNAME, MX, SRV,
//! SOA, A and AAAA data), HTTP requests' Host, absolute targets, Referer and Origin, and TLS
//! ClientHellos' server name.
//!
//! A name keeps its public suffix (`com`, `co.uk`, `in-addr.arpa`: the public suffix list's)
//! and its labels of protocol (`_tcp`, `_ldap`); every other label becomes one of as many
//! letters, of the same case where the original has letters. The same label gives the same
//! pseudonym everywhere, so `mail.example.com` and `www.example.com` stay two names of one
//! domain. An address written as text in a Host, target or referer cannot keep its length
//! once anonymised: its digits are masked (`x`).
//!
//! Each function finds what it rewrites within `data[at..end]` and reports the spans it
//! changed, for the checksums.

use crate::rewriter::Rewriter;

/// A span of `data` that changed: where, and its bytes before.
pub type Changed = (usize, Vec<u8>);

/// Runs `rewrite` on `data[span]`, noting the span in `changed` when it changed it.
pub(crate) fn changing(
    data: &mut [u8],
    span: std::ops::Range<usize>,
    changed: &mut Vec<Changed>,
    rewrite: impl FnOnce(&mut [u8]),
) {
    let before = data[span.clone()].to_vec();
    rewrite(&mut data[span.clone()]);
    if data[span.clone()] != before[..] {
        changed.push((span.start, before));
    }
}

/// Rewrites the labels of the name at `at` in the DNS message `data[msg..end]` (pointers not
/// followed for writing: the name they point to is rewritten where it is written). Where the
/// name ends, or `None` when it is damaged.
fn dns_name(
    data: &mut [u8],
    msg: usize,
    at: usize,
    end: usize,
    r: &mut dyn Rewriter,
    changed: &mut Vec<Changed>,
) -> Option<usize> {
    // The whole name first (pointers followed), for its public suffix.
    let full = read_name(data, msg, at, end)?;
    let labels: Vec<&str> = full.split('.').filter(|l| !l.is_empty()).collect();
    let suffix_labels = public_suffix_labels(&full);
    let replaceable = labels.len().saturating_sub(suffix_labels);
    let mut o = at;
    let mut index = 0;
    loop {
        let len = usize::from(*data.get(o)?);
        if len == 0 {
            return Some(o + 1);
        }
        if len & 0xc0 == 0xc0 {
            return Some(o + 2).filter(|&e| e <= end);
        }
        if len & 0xc0 != 0 || o + 1 + len > end {
            return None;
        }
        if index < replaceable {
            changing(data, o + 1..o + 1 + len, changed, |l| r.label(l));
        }
        index += 1;
        o += 1 + len;
    }
}

/// The name at `at` (pointers followed, at most 64 jumps), lower-cased, dot-separated.
fn read_name(data: &[u8], msg: usize, at: usize, end: usize) -> Option<String> {
    let mut name = String::new();
    let mut o = at;
    for _ in 0..128 {
        let len = usize::from(*data.get(o).filter(|_| o < end)?);
        if len == 0 {
            return Some(name);
        }
        if len & 0xc0 == 0xc0 {
            let target = ((len & 0x3f) << 8) | usize::from(*data.get(o + 1)?);
            o = msg + target;
            continue;
        }
        let label = data
            .get(o + 1..o + 1 + len)
            .filter(|_| o + 1 + len <= end)?;
        if !name.is_empty() {
            name.push('.');
        }
        name.extend(label.iter().map(|b| b.to_ascii_lowercase() as char));
        o += 1 + len;
    }
    None
}

/// How many labels at the end of `name` are its public suffix.
fn public_suffix_labels(name: &str) -> usize {
    psl::suffix_str(name).map_or(1, |s| s.split('.').count())
}

/// Rewrites a DNS message at `data[msg..end]`: its names and its records' addresses.
pub fn dns(
    data: &mut [u8],
    msg: usize,
    end: usize,
    r: &mut dyn Rewriter,
    changed: &mut Vec<Changed>,
) {
    if end < msg + 12 || end > data.len() {
        return;
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([data[msg + i], data[msg + i + 1]]));
    let questions = count(4);
    let records = count(6) + count(8) + count(10);
    let mut o = msg + 12;
    for _ in 0..questions.min(64) {
        let Some(e) = dns_name(data, msg, o, end, r, changed) else {
            return;
        };
        o = e + 4;
    }
    for _ in 0..records.min(512) {
        let Some(e) = dns_name(data, msg, o, end, r, changed) else {
            return;
        };
        if e + 10 > end {
            return;
        }
        let rtype = u16::from_be_bytes([data[e], data[e + 1]]);
        let rdlen = usize::from(u16::from_be_bytes([data[e + 8], data[e + 9]]));
        let rdata = e + 10;
        if rdata + rdlen > end {
            return;
        }
        match (rtype, rdlen) {
            (1, 4) | (28, 16) => changing(data, rdata..rdata + rdlen, changed, |a| r.address(a)),
            (2 | 5 | 12 | 39, _) => {
                dns_name(data, msg, rdata, rdata + rdlen, r, changed);
            }
            (15, _) if rdlen > 2 => {
                dns_name(data, msg, rdata + 2, rdata + rdlen, r, changed);
            }
            (33, _) if rdlen > 6 => {
                dns_name(data, msg, rdata + 6, rdata + rdlen, r, changed);
            }
            (6, _) => {
                if let Some(e) = dns_name(data, msg, rdata, rdata + rdlen, r, changed) {
                    dns_name(data, msg, e, rdata + rdlen, r, changed);
                }
            }
            _ => {}
        }
        o = rdata + rdlen;
    }
}

/// Rewrites the labels of the host name in `data[at..end]` (a Host value, the authority of a
/// URL), up to its port; an address written as text gets its digits masked.
pub(crate) fn host_text(
    data: &mut [u8],
    at: usize,
    end: usize,
    r: &mut dyn Rewriter,
    changed: &mut Vec<Changed>,
) {
    let text = &data[at..end];
    let host_end = if text.first() == Some(&b'[') {
        text.iter()
            .position(|&b| b == b']')
            .map_or(text.len(), |p| p + 1)
    } else {
        text.iter().position(|&b| b == b':').unwrap_or(text.len())
    };
    let host = &text[..host_end];
    let before = host.to_vec();
    let is_address = std::str::from_utf8(host)
        .ok()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .is_some_and(|h| h.parse::<std::net::IpAddr>().is_ok())
        || is_masked(host);
    if is_address {
        r.masked(&mut data[at..at + host_end]);
    } else {
        let name: String = host
            .iter()
            .map(|b| b.to_ascii_lowercase() as char)
            .collect();
        let labels = name.split('.').filter(|l| !l.is_empty()).count();
        let replaceable = labels.saturating_sub(public_suffix_labels(&name));
        let mut o = at;
        for (i, label) in before.split(|&b| b == b'.').enumerate() {
            if i < replaceable && !label.is_empty() {
                r.label(&mut data[o..o + label.len()]);
            }
            o += label.len() + 1;
        }
    }
    if data[at..at + host_end] != before[..] {
        changed.push((at, before));
    }
}

/// Masks the digits of every address written as text in `data[at..end]` (a list such as
/// X-Forwarded-For's, or Forwarded's `for=` and `by=`).
fn mask_addresses(
    data: &mut [u8],
    at: usize,
    end: usize,
    r: &mut dyn Rewriter,
    changed: &mut Vec<Changed>,
) {
    let before = data[at..end].to_vec();
    let mut o = at;
    for token in before.split(|b| matches!(b, b' ' | b',' | b';' | b'=' | b'"')) {
        let text = String::from_utf8_lossy(token);
        let bare = text.trim_start_matches('[');
        let bare = bare.split(']').next().unwrap_or("");
        let v4 = bare.split(':').next().unwrap_or("");
        if bare.parse::<std::net::IpAddr>().is_ok()
            || v4.parse::<std::net::Ipv4Addr>().is_ok()
            || is_masked(token)
        {
            r.masked(&mut data[o..o + token.len()]);
        }
        o += token.len() + 1;
    }
    if data[at..end] != before[..] {
        changed.push((at, before));
    }
}

/// Whether `text` is an address masked by [`Rewriter::masked`] (`xxx.xx.x.xxx`), for the
/// restorer to find.
fn is_masked(text: &[u8]) -> bool {
    text.contains(&b'x')
        && text.iter().any(|b| matches!(b, b'.' | b':'))
        && text
            .iter()
            .all(|b| matches!(b, b'x' | b'.' | b':' | b'[' | b']'))
}

/// Rewrites the host of the URL at `data[at..end]` (`http://host:port/...`), if it has one.
pub(crate) fn url(
    data: &mut [u8],
    at: usize,
    end: usize,
    r: &mut dyn Rewriter,
    changed: &mut Vec<Changed>,
) {
    let text = &data[at..end];
    let Some(scheme_end) = text.windows(3).position(|w| w == b"://") else {
        return;
    };
    let start = scheme_end + 3;
    let stop = text[start..]
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#' | b' ' | b'\r' | b'\n'))
        .map_or(text.len(), |p| start + p);
    // user:password@ before the host is left as it is found; the host follows the last @.
    let host_start = text[start..stop]
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(start, |p| start + p + 1);
    host_text(data, at + host_start, at + stop, r, changed);
}

/// Rewrites an HTTP request's head at `data[at..end]` (as far as this packet holds it).
pub fn http(
    data: &mut [u8],
    at: usize,
    end: usize,
    r: &mut dyn Rewriter,
    changed: &mut Vec<Changed>,
) {
    let head_end = data[at..end]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(end, |p| at + p + 2);
    let mut line_start = at;
    let mut first = true;
    while line_start < head_end {
        let line_end = data[line_start..head_end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head_end, |p| line_start + p);
        let line = &data[line_start..line_end];
        if first {
            // The request line: an absolute target names its host.
            if let Some(sp) = line.iter().position(|&b| b == b' ') {
                url(data, line_start + sp + 1, line_end, r, changed);
            }
            first = false;
        } else if let Some(colon) = line.iter().position(|&b| b == b':') {
            let field = line[..colon].to_ascii_lowercase();
            let mut v = line_start + colon + 1;
            while v < line_end && data[v] == b' ' {
                v += 1;
            }
            let v_end = line_end - usize::from(data[line_end - 1] == b'\r');
            match field.as_slice() {
                b"host" if v < v_end => host_text(data, v, v_end, r, changed),
                b"referer" | b"origin" if v < v_end => url(data, v, v_end, r, changed),
                b"x-forwarded-for" | b"x-real-ip" | b"forwarded" | b"x-client-ip"
                | b"true-client-ip" | b"cf-connecting-ip" | b"x-originating-ip"
                    if v < v_end =>
                {
                    mask_addresses(data, v, v_end, r, changed)
                }
                _ => {}
            }
        }
        line_start = line_end + 1;
    }
}

/// Whether `data[at..end]` starts like an HTTP request.
pub fn is_http_request(data: &[u8], at: usize, end: usize) -> bool {
    const METHODS: [&[u8]; 9] = [
        b"GET ",
        b"POST ",
        b"HEAD ",
        b"PUT ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"CONNECT ",
        b"TRACE ",
    ];
    let text = &data[at..end];
    METHODS.iter().any(|m| text.starts_with(m))
}

/// Rewrites the server name of a TLS ClientHello at `data[at..end]`, if it is one.
pub fn tls_client_hello(
    data: &mut [u8],
    at: usize,
    end: usize,
    r: &mut dyn Rewriter,
    changed: &mut Vec<Changed>,
) {
    let byte = |o: usize| -> Option<usize> { (o < end).then(|| usize::from(data[o])) };
    let word = |o: usize| -> Option<usize> { Some((byte(o)? << 8) | byte(o + 1)?) };
    let find = || -> Option<(usize, usize)> {
        if byte(at)? != 0x16 || byte(at + 5)? != 1 {
            return None;
        }
        // Record header 5, handshake header 4, version 2, random 32.
        let mut o = at + 5 + 4 + 2 + 32;
        o += 1 + byte(o)?; // session id
        o += 2 + word(o)?; // cipher suites
        o += 1 + byte(o)?; // compression methods
        let extensions_end = (o + 2 + word(o)?).min(end);
        o += 2;
        while o + 4 <= extensions_end {
            let (kind, len) = (word(o)?, word(o + 2)?);
            if kind == 0 {
                // server_name: list length 2, then type 1, length 2, the name.
                let name_len = word(o + 4 + 3)?;
                let name = o + 4 + 5;
                return (name + name_len <= end).then_some((name, name + name_len));
            }
            o += 4 + len;
        }
        None
    };
    if let Some((start, stop)) = find() {
        host_text(data, start, stop, r, changed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upper-cases every label; addresses get their last byte set to 0x99.
    struct Loud;

    impl Rewriter for Loud {
        fn address(&mut self, a: &mut [u8]) {
            *a.last_mut().unwrap() = 0x99;
        }
        fn mac(&mut self, _: &mut [u8; 6]) {}
        fn label(&mut self, label: &mut [u8]) {
            label.make_ascii_uppercase();
        }
    }

    #[test]
    fn dns_names_keep_their_suffix_and_pointers_and_addresses_change() {
        // www.example.co.uk A?, answered: CNAME to web.example.co.uk (via a pointer), A.
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        for l in ["www", "example", "co", "uk"] {
            m.push(l.len() as u8);
            m.extend(l.as_bytes());
        }
        m.extend([0, 0, 1, 0, 1]);
        m.extend([
            0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'w', b'e', b'b', 0xc0, 16,
        ]);
        m.extend([0xc0, 39, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        let mut changed = Vec::new();
        let end = m.len();
        dns(&mut m, 0, end, &mut Loud, &mut changed);
        let text = String::from_utf8_lossy(&m).to_string();
        assert!(
            text.contains("WWW") && text.contains("EXAMPLE") && text.contains("WEB"),
            "{text}"
        );
        assert!(text.contains("co") && text.contains("uk"), "{text}");
        assert_eq!(&m[end - 4..], &[192, 0, 2, 0x99]);
        assert_eq!(changed.len(), 4);
    }

    #[test]
    fn http_hosts_targets_and_referers_change_and_addresses_are_masked() {
        let head = b"GET http://shop.example.com:8080/a?b HTTP/1.1\r\nHost: shop.example.com:8080\r\nReferer: https://user@news.example.org/x\r\nX-Forwarded-For: 192.0.2.1\r\n\r\nbody";
        let mut d = head.to_vec();
        let mut changed = Vec::new();
        let end = d.len();
        http(&mut d, 0, end, &mut Loud, &mut changed);
        let text = String::from_utf8(d).unwrap();
        assert_eq!(
            text,
            "GET http://SHOP.EXAMPLE.com:8080/a?b HTTP/1.1\r\nHost: SHOP.EXAMPLE.com:8080\r\nReferer: https://user@NEWS.EXAMPLE.org/x\r\nX-Forwarded-For: xxx.x.x.x\r\n\r\nbody"
        );
        let mut d = b"GET / HTTP/1.1\r\nHost: 192.0.2.10\r\n\r\n".to_vec();
        let end = d.len();
        http(&mut d, 0, end, &mut Loud, &mut changed);
        assert!(String::from_utf8(d)
            .unwrap()
            .contains("Host: xxx.x.x.xx\r\n"));
    }
}
