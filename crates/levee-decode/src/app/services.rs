//! UDP services abused for reflection and amplification: NTP (mode 7 MON_GETLIST), memcached,
//! SSDP, CLDAP and SNMP. Each parser reads only what identifies the message (request or
//! response, and which one), which is what detection and signatures need.

use serde::Serialize;

use super::ber;

/// An NTP packet's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ntp {
    /// The version (1..4).
    pub version: u8,
    /// 1..5 symmetric/client/server/broadcast, 6 control, 7 private.
    pub mode: u8,
    /// Mode 7 request code (20 = MON_GETLIST, 42 = MON_GETLIST_1).
    pub request_code: Option<u8>,
    /// Mode 6/7: the response bit.
    pub response: bool,
}

/// An NTP packet; `None` when it is empty or of no version 1 to 4.
pub fn parse_ntp(b: &[u8]) -> Option<Ntp> {
    let first = *b.first()?;
    let version = (first >> 3) & 0x7;
    let mode = first & 0x7;
    if version == 0 || version > 4 {
        return None;
    }
    let (request_code, response) = match mode {
        7 => (b.get(3).copied(), first & 0x80 != 0),
        6 => (None, b.get(1).is_some_and(|x| x & 0x80 != 0)),
        4 | 5 => (None, true),
        _ => (None, false),
    };
    Some(Ntp {
        version,
        mode,
        request_code,
        response,
    })
}

/// A memcached UDP frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Memcached {
    /// The frame header's request id.
    pub request_id: u16,
    /// The first word of the text after the 8-byte UDP frame header: `get`, `stats`, `VALUE`...
    pub command: String,
    /// Whether the frame is an answer (`VALUE`, `STAT`, `END`...).
    pub response: bool,
}

/// A memcached UDP frame (8-byte header, then text); `None` otherwise.
pub fn parse_memcached(b: &[u8]) -> Option<Memcached> {
    if b.len() < 9 || b[6] != 0 || b[7] != 0 {
        return None;
    }
    let text = &b[8..];
    let end = text
        .iter()
        .position(|&c| c == b' ' || c == b'\r' || c == b'\n')
        .unwrap_or(text.len())
        .min(16);
    let word = std::str::from_utf8(&text[..end]).ok()?;
    if word.is_empty() || !word.bytes().all(|c| c.is_ascii_alphabetic() || c == b'_') {
        return None;
    }
    let response = matches!(
        word,
        "VALUE" | "STAT" | "END" | "STORED" | "ERROR" | "NOT_FOUND" | "DELETED" | "VERSION"
    );
    Some(Memcached {
        request_id: u16::from_be_bytes([b[0], b[1]]),
        command: word.to_string(),
        response,
    })
}

/// What an SSDP message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SsdpKind {
    /// A search (`M-SEARCH *`): what reflection attacks send.
    MSearch,
    /// An announcement (`NOTIFY *`).
    Notify,
    /// An answer to a search (`HTTP/1.1 200 OK`): what reflection attacks receive.
    Response,
}

/// An SSDP message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ssdp {
    /// What it is.
    pub kind: SsdpKind,
    /// The ST (search target) or NT header value.
    pub target: Option<String>,
}

/// An SSDP message; `None` when it is none of the three kinds.
pub fn parse_ssdp(b: &[u8]) -> Option<Ssdp> {
    let kind = if b.starts_with(b"M-SEARCH ") {
        SsdpKind::MSearch
    } else if b.starts_with(b"NOTIFY ") {
        SsdpKind::Notify
    } else if b.starts_with(b"HTTP/1.") {
        SsdpKind::Response
    } else {
        return None;
    };
    let text = String::from_utf8_lossy(&b[..b.len().min(2048)]);
    let target = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("st") || name.eq_ignore_ascii_case("nt"))
            .then(|| value.trim().to_string())
    });
    Some(Ssdp { kind, target })
}

/// A CLDAP message's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cldap {
    /// The LDAP message id.
    pub message_id: i64,
    /// LDAP protocolOp application tag: 3 searchRequest, 4 searchResEntry, 5 searchResDone.
    pub op: u8,
}

impl Cldap {
    /// The operation's name (`searchRequest`, `searchResEntry`, `searchResDone`, `other`).
    pub fn op_name(&self) -> &'static str {
        match self.op {
            3 => "searchRequest",
            4 => "searchResEntry",
            5 => "searchResDone",
            _ => "other",
        }
    }
}

/// A CLDAP message (an LDAPMessage in BER); `None` otherwise.
pub fn parse_cldap(b: &[u8]) -> Option<Cldap> {
    let msg = ber::read(b, true)?;
    if msg.tag != 0x30 {
        return None;
    }
    let id = ber::read(msg.value, false)?;
    if id.tag != 0x02 {
        return None;
    }
    let op = ber::read(id.rest, true)?;
    // protocolOp is [APPLICATION n], constructed (0x60) or primitive (0x40).
    if op.tag & 0xc0 != 0x40 {
        return None;
    }
    Some(Cldap {
        message_id: ber::integer(id.value)?,
        op: op.tag & 0x1f,
    })
}

/// An SNMP message's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snmp {
    /// 0 = v1, 1 = v2c, 3 = v3.
    pub version: i64,
    /// The community string (v1, v2c).
    pub community: Option<String>,
    /// PDU tag: 0xa0 get, 0xa1 getnext, 0xa2 response, 0xa3 set, 0xa4 trap, 0xa5 getbulk,
    /// 0xa6 inform, 0xa7 trap v2, 0xa8 report (None for v3, whose PDU is encrypted or nested).
    pub pdu: Option<u8>,
}

impl Snmp {
    /// The PDU's name (`get`, `getbulk`, `response`...).
    pub fn pdu_name(&self) -> &'static str {
        match self.pdu {
            Some(0xa0) => "get-request",
            Some(0xa1) => "get-next-request",
            Some(0xa2) => "get-response",
            Some(0xa3) => "set-request",
            Some(0xa4) => "trap",
            Some(0xa5) => "getbulk-request",
            Some(0xa6) => "inform-request",
            Some(0xa7) => "snmpv2-trap",
            Some(0xa8) => "report",
            _ => "unknown",
        }
    }
}

/// An SNMP message (a BER sequence of version, community and PDU); `None` otherwise.
pub fn parse_snmp(b: &[u8]) -> Option<Snmp> {
    let msg = ber::read(b, true)?;
    if msg.tag != 0x30 {
        return None;
    }
    let ver = ber::read(msg.value, false)?;
    if ver.tag != 0x02 {
        return None;
    }
    let version = ber::integer(ver.value)?;
    if version == 3 {
        return Some(Snmp {
            version,
            community: None,
            pdu: None,
        });
    }
    let community = ber::read(ver.rest, false)?;
    if community.tag != 0x04 {
        return None;
    }
    let pdu = ber::read(community.rest, true).map(|t| t.tag);
    Some(Snmp {
        version,
        community: Some(String::from_utf8_lossy(community.value).into_owned()),
        pdu: pdu.filter(|t| (0xa0..=0xa8).contains(t)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_monlist_request_and_response() {
        let req = parse_ntp(&[0x17, 0x00, 0x03, 0x2a, 0, 0, 0, 0]).unwrap();
        assert_eq!(
            (req.mode, req.request_code, req.response),
            (7, Some(42), false)
        );
        let resp = parse_ntp(&[0x97, 0x00, 0x03, 0x2a, 0, 6, 0, 0x48]).unwrap();
        assert!(resp.response);
        assert!(parse_ntp(&[0x00]).is_none());
    }

    #[test]
    fn memcached_frames() {
        let mut b = vec![0, 1, 0, 0, 0, 1, 0, 0];
        b.extend(b"stats\r\n");
        let m = parse_memcached(&b).unwrap();
        assert_eq!(m.command, "stats");
        assert!(!m.response);
        let mut r = vec![0, 1, 0, 0, 0, 9, 0, 0];
        r.extend(b"STAT pid 1\r\n");
        assert!(parse_memcached(&r).unwrap().response);
    }

    #[test]
    fn ssdp_search_target() {
        let s = parse_ssdp(
            b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\n\r\n",
        )
        .unwrap();
        assert_eq!(s.kind, SsdpKind::MSearch);
        assert_eq!(s.target.as_deref(), Some("ssdp:all"));
    }

    #[test]
    fn cldap_search_request_and_snmp_get() {
        // LDAPMessage { messageID 1, searchRequest {...} }
        let cl = [0x30, 0x07, 0x02, 0x01, 0x01, 0x63, 0x02, 0x04, 0x00];
        let c = parse_cldap(&cl).unwrap();
        assert_eq!(c.op_name(), "searchRequest");
        // SNMP v2c, community "public", get-request
        let sn = [
            0x30, 0x0e, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0,
            0x01, 0x00,
        ];
        let s = parse_snmp(&sn).unwrap();
        assert_eq!(s.version, 1);
        assert_eq!(s.community.as_deref(), Some("public"));
        assert_eq!(s.pdu_name(), "get-request");
    }
}
