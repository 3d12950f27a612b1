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

/// What one answer record of a response holds, for those whose data names something: an
/// address (A, AAAA) or a name (CNAME, NS, PTR, MX's exchange, SRV's target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerData {
    /// An A or AAAA record's address.
    Address(std::net::IpAddr),
    /// A name a record points to, lower-cased, without the trailing dot.
    Name(String),
}

/// One resource record: the name it is for and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The owner name, lower-cased, without the trailing dot.
    pub name: String,
    /// The record type (1 A, 5 CNAME, 28 AAAA...).
    pub rtype: u16,
    /// The data, for the record types that name an address or a host.
    pub data: AnswerData,
}

/// The records of a DNS message's answer, authority and additional sections that name an
/// address or a host (A, AAAA, CNAME, NS, PTR, MX, SRV), in order; others are passed over. A
/// damaged record ends the list (what came before it is kept). Not part of [`parse`], whose
/// callers need the header only.
pub fn records(msg: &[u8]) -> Vec<Answer> {
    let mut out = Vec::new();
    if msg.len() < 12 {
        return out;
    }
    let u16_at = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
    let qdcount = u16_at(4);
    let records = u32::from(u16_at(6)) + u32::from(u16_at(8)) + u32::from(u16_at(10));
    let mut pos = 12;
    for _ in 0..qdcount {
        match skip_name(msg, pos) {
            Some(after) => pos = after + 4,
            None => return out,
        }
    }
    for _ in 0..records {
        let Some((name, after)) = read_name(msg, pos) else {
            break;
        };
        if after + 10 > msg.len() {
            break;
        }
        let rtype = u16_at(after);
        let rdlen = u16_at(after + 8) as usize;
        let rdata_at = after + 10;
        let Some(rdata) = msg.get(rdata_at..rdata_at + rdlen) else {
            break;
        };
        let data = match (rtype, rdlen) {
            (1, 4) => Some(AnswerData::Address(std::net::IpAddr::from(
                <[u8; 4]>::try_from(rdata).expect("4 bytes"),
            ))),
            (28, 16) => Some(AnswerData::Address(std::net::IpAddr::from(
                <[u8; 16]>::try_from(rdata).expect("16 bytes"),
            ))),
            // The name is read from the whole message: it may point back into it.
            (2 | 5 | 12, _) => read_name(msg, rdata_at).map(|(n, _)| AnswerData::Name(n)),
            (15, 3..) => read_name(msg, rdata_at + 2).map(|(n, _)| AnswerData::Name(n)),
            (33, 7..) => read_name(msg, rdata_at + 6).map(|(n, _)| AnswerData::Name(n)),
            _ => None,
        };
        if let Some(data) = data {
            out.push(Answer { name, rtype, data });
        }
        pos = rdata_at + rdlen;
    }
    out
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
    fn records_name_addresses_and_hosts_and_stop_at_damage() {
        // www.example.com A: a CNAME to cdn.example.net, its A and a TXT passed over in the
        // answers, and an AAAA in the additional section.
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 1];
        m.extend(b"\x03www\x07example\x03com\x00");
        m.extend([0, 1, 0, 1]);
        m.extend([0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 17]);
        m.extend(b"\x03cdn\x07example\x03net\x00");
        let cdn = 12 + 17 + 4 + 12;
        m.extend([0xc0, cdn as u8, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
        m.extend([
            0xc0, cdn as u8, 0, 16, 0, 1, 0, 0, 0, 60, 0, 3, 2, b'h', b'i',
        ]);
        m.extend([0xc0, cdn as u8, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
        m.extend([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let a = records(&m);
        let data: Vec<(&str, AnswerData)> =
            a.iter().map(|a| (&a.name[..], a.data.clone())).collect();
        assert_eq!(
            data,
            [
                (
                    "www.example.com",
                    AnswerData::Name("cdn.example.net".into())
                ),
                (
                    "cdn.example.net",
                    AnswerData::Address("192.0.2.7".parse().unwrap())
                ),
                (
                    "cdn.example.net",
                    AnswerData::Address("2001:db8::1".parse().unwrap())
                ),
            ]
        );
        // Cut inside the AAAA record: the records before it are kept.
        m.truncate(m.len() - 3);
        assert_eq!(records(&m).len(), 2);
        assert!(records(&m[..11]).is_empty());
    }

    #[test]
    fn compression_loops_are_refused() {
        let mut m = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend([0xc0, 12]); // points at itself
        assert_eq!(parse(&m).unwrap().qname, None);
        assert!(read_name(&m, 12).is_none());
    }
}
