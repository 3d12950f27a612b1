//! TCP: the fixed header through `etherparse`, the options walked here to give MSS, window
//! scale, SACK-permitted, timestamps and a p0f-style signature of the option order (which tells
//! operating systems and packet generators apart: Linux sends `mss,sok,ts,nop,ws`, many flood
//! tools send no options or a lone `mss`).

use etherparse::TcpHeaderSlice;

use crate::bytes::be16;
use crate::{IssueKind, Layer, Packet, TcpInfo, Transport};

/// TCP flag bits as on the wire (NS is bit 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// FIN: no more data from the sender.
    pub const FIN: u16 = 0x001;
    /// SYN: synchronise sequence numbers (opens a connection).
    pub const SYN: u16 = 0x002;
    /// RST: reset the connection.
    pub const RST: u16 = 0x004;
    /// PSH: push the data to the application.
    pub const PSH: u16 = 0x008;
    /// ACK: the acknowledgement number is valid.
    pub const ACK: u16 = 0x010;
    /// URG: the urgent pointer is valid.
    pub const URG: u16 = 0x020;
    /// ECE: ECN echo.
    pub const ECE: u16 = 0x040;
    /// CWR: congestion window reduced.
    pub const CWR: u16 = 0x080;
    /// NS: ECN nonce (RFC 3540, historic).
    pub const NS: u16 = 0x100;

    /// Whether a flag (one of the constants above) is set.
    #[inline]
    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }

    /// tcpdump's notation: `S`, `S.`, `F.`, `R`, `P.`, `.` for a bare ACK, `none` for none.
    pub fn short(self) -> String {
        let mut s = String::new();
        for (bit, c) in [
            (Self::FIN, 'F'),
            (Self::SYN, 'S'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
        ] {
            if self.has(bit) {
                s.push(c);
            }
        }
        if self.has(Self::ACK) {
            s.push('.');
        }
        if s.is_empty() {
            s.push_str("none");
        }
        s
    }
}

/// Option kinds kept for the signature; a header holds at most 40 option bytes.
const MAX_SIG: usize = 20;

/// The TCP options that matter for fingerprints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2).
    pub mss: Option<u16>,
    /// Window scale shift (kind 3).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4).
    pub sack_permitted: bool,
    /// Timestamp value and echo reply (kind 8).
    pub timestamp: Option<(u32, u32)>,
    /// Option kinds in order, for the signature.
    kinds: [u8; MAX_SIG],
    count: u8,
    /// Bytes after an end-of-list option (p0f's `eol+N`).
    eol_pad: u8,
    /// The option area could not be walked to its end.
    pub malformed: bool,
}

impl TcpOptions {
    /// p0f's option layout notation: `mss,nop,ws,nop,nop,ts,sok,eol+0`; empty when no options.
    pub fn signature(&self) -> String {
        let mut parts: Vec<String> = Vec::with_capacity(self.count as usize);
        for &k in &self.kinds[..self.count as usize] {
            parts.push(match k {
                0 => format!("eol+{}", self.eol_pad),
                1 => "nop".into(),
                2 => "mss".into(),
                3 => "ws".into(),
                4 => "sok".into(),
                5 => "sack".into(),
                8 => "ts".into(),
                other => format!("?{other}"),
            });
        }
        parts.join(",")
    }

    /// Number of options seen.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the header holds no option.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(crate) fn parse(mut b: &[u8]) -> TcpOptions {
        let mut o = TcpOptions::default();
        while let Some(&kind) = b.first() {
            if (o.count as usize) < MAX_SIG {
                o.kinds[o.count as usize] = kind;
                o.count += 1;
            }
            match kind {
                0 => {
                    o.eol_pad = (b.len() - 1) as u8;
                    break;
                }
                1 => {
                    b = &b[1..];
                    continue;
                }
                _ => {}
            }
            let Some(&len) = b.get(1) else {
                o.malformed = true;
                break;
            };
            let len = len as usize;
            if len < 2 || len > b.len() {
                o.malformed = true;
                break;
            }
            let body = &b[2..len];
            match (kind, body.len()) {
                (2, 2) => o.mss = Some(be16(body, 0)),
                (3, 1) => o.window_scale = Some(body[0]),
                (4, 0) => o.sack_permitted = true,
                (8, 8) => {
                    o.timestamp = Some((
                        u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                        u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                    ))
                }
                _ => {}
            }
            b = &b[len..];
        }
        o
    }
}

#[inline]
pub(crate) fn decode_tcp<'a>(p: &mut Packet<'a>, data: &'a [u8]) {
    match TcpHeaderSlice::from_slice(data) {
        Ok(h) => {
            let hl = h.slice().len();
            let info = TcpInfo {
                src_port: h.source_port(),
                dst_port: h.destination_port(),
                seq: h.sequence_number(),
                ack: h.acknowledgment_number(),
                flags: TcpFlags(be16(data, 12) & 0x01ff),
                window: h.window_size(),
                header_len: hl as u8,
                options: TcpOptions::parse(h.options()),
            };
            p.transport = Transport::Tcp(info);
            p.payload = &data[hl..];
        }
        Err(etherparse::err::tcp::HeaderSliceError::Len(_)) if data.len() >= 20 => {
            // The snapshot length cut the options: the fixed header is still worth having.
            p.transport = Transport::Tcp(fixed_header(data, TcpOptions::parse(&data[20..])));
            p.payload = &[];
            p.fail(Layer::Transport, IssueKind::Truncated);
        }
        Err(etherparse::err::tcp::HeaderSliceError::Len(_)) => {
            p.fail(Layer::Transport, IssueKind::Truncated)
        }
        Err(_) => {
            // A data offset below 5 words: ports and flags are still there, the rest is not.
            if data.len() >= 20 {
                p.transport = Transport::Tcp(fixed_header(data, TcpOptions::default()));
            }
            // Where the data would start is not known: none is taken for it.
            p.payload = &[];
            p.fail(Layer::Transport, IssueKind::Malformed)
        }
    }
}

/// The 20 fixed bytes of a TCP header that `etherparse` would not take whole. `data` must hold
/// at least 20 bytes.
fn fixed_header(data: &[u8], options: TcpOptions) -> TcpInfo {
    TcpInfo {
        src_port: be16(data, 0),
        dst_port: be16(data, 2),
        seq: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        ack: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
        flags: TcpFlags(be16(data, 12) & 0x01ff),
        window: be16(data, 14),
        header_len: (data[12] >> 4) * 4,
        options,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_syn_options_signature() {
        // mss 1460, sackOK, ts 1 0, nop, wscale 7: what Linux puts in a SYN.
        let opts = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let o = TcpOptions::parse(&opts);
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.window_scale, Some(7));
        assert!(o.sack_permitted);
        assert_eq!(o.timestamp, Some((1, 0)));
        assert_eq!(o.signature(), "mss,sok,ts,nop,ws");
    }

    #[test]
    fn options_with_bad_length_are_flagged_not_fatal() {
        let o = TcpOptions::parse(&[2, 40, 1, 1]);
        assert!(o.malformed);
        assert_eq!(o.mss, None);
        let o = TcpOptions::parse(&[1, 1, 0, 0, 0]);
        assert_eq!(o.signature(), "nop,nop,eol+2");
    }

    #[test]
    fn flags_in_tcpdump_notation() {
        assert_eq!(TcpFlags(TcpFlags::SYN).short(), "S");
        assert_eq!(TcpFlags(TcpFlags::SYN | TcpFlags::ACK).short(), "S.");
        assert_eq!(TcpFlags(TcpFlags::ACK).short(), ".");
        assert_eq!(TcpFlags(0).short(), "none");
    }
}
