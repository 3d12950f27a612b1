//! DNS messages: header, first question, and the EDNS0 OPT record when the whole message was
//! captured. Written here rather than with a DNS crate because the crates parse whole messages
//! and refuse a message cut by IP fragmentation or the snapshot length, which is exactly the
//! case of DNS amplification traffic.

use serde::Serialize;

/// A DNS message's header and first question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dns {
    /// The message id.
    pub id: u16,
    /// True for a response.
    pub response: bool,
    /// The opcode (0 query, 4 notify, 5 update).
    pub opcode: u8,
    /// The response code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN...).
    pub rcode: u8,
    /// The 16-bit flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode).
    pub flags: u16,
    /// Questions.
    pub qdcount: u16,
    /// Answers.
    pub ancount: u16,
    /// Authority records.
    pub nscount: u16,
    /// Additional records.
    pub arcount: u16,
    /// First question name, lower-cased, without the trailing dot (`""` for the root).
    pub qname: Option<String>,
    /// The first question's type (1 A, 28 AAAA, 255 ANY...).
    pub qtype: Option<u16>,
    /// The first question's class.
    pub qclass: Option<u16>,
    /// UDP payload size announced in an EDNS0 OPT record.
    pub edns_udp_size: Option<u16>,
    /// Size of the DNS message as captured.
    pub size: usize,
}

/// Labels and pointer jumps beyond these are refused: a name has at most 127 labels.
const MAX_LABELS: usize = 128;
const MAX_JUMPS: usize = 32;

/// A DNS message (over UDP, or TCP without its length prefix); `None` when its header or first
/// question do not parse.
pub fn parse(msg: &[u8]) -> Option<Dns> {
    if msg.len() < 12 {
        return None;
    }
    let u16_at = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
    let flags = u16_at(2);
    let mut d = Dns {
        id: u16_at(0),
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xf) as u8,
        rcode: (flags & 0xf) as u8,
        flags,
        qdcount: u16_at(4),
        ancount: u16_at(6),
        nscount: u16_at(8),
        arcount: u16_at(10),
        qname: None,
        qtype: None,
        qclass: None,
        edns_udp_size: None,
        size: msg.len(),
    };
    let mut pos = 12;
    if d.qdcount > 0 {
        // A damaged name still leaves a useful header.
        let Some((name, after)) = read_name(msg, pos) else {
            return Some(d);
        };
        d.qname = Some(name);
        if after + 4 <= msg.len() {
            d.qtype = Some(u16_at(after));
            d.qclass = Some(u16_at(after + 2));
        }
        pos = after + 4;
        // Skip any further questions.
        for _ in 1..d.qdcount {
            pos = skip_name(msg, pos)? + 4;
        }
    }
    // Walk answers and authority records to reach the additional section's OPT record.
    let before_additional = d.ancount as usize + d.nscount as usize;
    for i in 0..before_additional + d.arcount as usize {
        let Some(after) = skip_name(msg, pos) else {
            break;
        };
        if after + 10 > msg.len() {
            break;
        }
        let rtype = u16_at(after);
        let rdlen = u16_at(after + 8) as usize;
        if i >= before_additional && rtype == 41 {
            d.edns_udp_size = Some(u16_at(after + 2));
            break;
        }
        pos = after + 10 + rdlen;
    }
    Some(d)
}

/// Reads a possibly compressed name starting at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    use std::io::Write;
    // Bytes first (all ASCII, made a string at the end): most names are short, so one
    // allocation, seldom grown.
    let mut name: Vec<u8> = Vec::with_capacity(64);
    let mut end_after = None;
    let mut jumps = 0;
    for _ in 0..MAX_LABELS {
        let len = *msg.get(pos)? as usize;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    let name = String::from_utf8(name).ok()?;
                    return Some((name, end_after.unwrap_or(pos + 1)));
                }
                let label = msg.get(pos + 1..pos + 1 + len)?;
                if !name.is_empty() {
                    name.push(b'.');
                }
                let plain = |c: &u8| matches!(c, 0x21..=0x7e) && *c != b'.' && *c != b'\\';
                if label.iter().all(plain) {
                    // The usual label: copied whole, then lower-cased where it lies.
                    let at = name.len();
                    name.extend_from_slice(label);
                    name[at..].make_ascii_lowercase();
                    pos += 1 + len;
                    continue;
                }
                for &c in label {
                    // Keep names printable and unambiguous, as dig does.
                    match c {
                        b'.' | b'\\' => {
                            name.push(b'\\');
                            name.push(c);
                        }
                        0x21..=0x7e => name.push(c.to_ascii_lowercase()),
                        _ => {
                            let _ = write!(name, "\\{c:03}");
                        }
                    }
                }
                pos += 1 + len;
            }
            0xc0 => {
                let target = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
                if end_after.is_none() {
                    end_after = Some(pos + 2);
                }
                jumps += 1;
                if jumps > MAX_JUMPS || target >= msg.len() {
                    return None;
                }
                pos = target;
            }
            _ => return None,
        }
    }
    None
}

fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..MAX_LABELS {
        let len = *msg.get(pos)? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => pos += 1 + len,
            0xc0 => return Some(pos + 2),
            _ => return None,
        }
    }
    None
}

/// Mnemonic of common query types.
pub fn type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        48 => "DNSKEY",
        65 => "HTTPS",
        255 => "ANY",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for EXAMPLE.com ANY with an EDNS0 OPT record announcing 4096 bytes.
    fn query() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        m.extend(b"\x07EXAMPLE\x03com\x00");
        m.extend([0, 255, 0, 1]);
        m.extend([0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
        m
    }

    #[test]
    fn query_with_edns() {
        let d = parse(&query()).unwrap();
        assert_eq!(d.id, 0x1234);
        assert!(!d.response);
        assert_eq!(d.qname.as_deref(), Some("example.com"));
        assert_eq!(d.qtype, Some(255));
        assert_eq!(d.edns_udp_size, Some(4096));
    }

    #[test]
    fn truncated_response_keeps_question() {
        let mut m = query();
        m[2] = 0x81;
        m[7] = 5; // five answers announced, none present
        m.truncate(12 + 13 + 4);
        let d = parse(&m).unwrap();
        assert!(d.response);
        assert_eq!(d.ancount, 5);
        assert_eq!(d.qname.as_deref(), Some("example.com"));
        assert_eq!(d.edns_udp_size, None);
    }

    #[test]
    fn odd_bytes_in_labels_are_escaped_as_dig_does() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend(b"\x05A.B\\c\x03x\x00Y\x02Co\x00");
        m.extend([0, 1, 0, 1]);
        let d = parse(&m).unwrap();
        assert_eq!(d.qname.as_deref(), Some("a\\.b\\\\c.x\\000y.co"));
        // A compressed name: its labels read at the pointer, lower-cased alike.
        let mut m = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        m.extend(b"\x03WWW\x07Example\x03COM\x00");
        m.extend([0, 1, 0, 1]);
        m.extend(b"\x04mail\xc0\x10");
        assert_eq!(read_name(&m, 12).unwrap().0, "www.example.com");
        assert_eq!(read_name(&m, 33).unwrap().0, "mail.example.com");
    }

    #[test]
    fn compression_loops_are_refused() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend([0xc0, 12]); // points at itself
        assert_eq!(parse(&m).unwrap().qname, None);
        assert!(read_name(&m, 12).is_none());
    }
}
