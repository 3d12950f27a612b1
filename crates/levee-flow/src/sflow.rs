//! sFlow version 5: packets sampled 1 in N by the agent, each sent with the first bytes of its
//! headers, and counter samples.
//!
//! A datagram is a header (version 5, the agent's address, sequence and uptime) and samples.
//! Flow samples (format 1) and expanded flow samples (format 3) carry the sampling rate and
//! records; levee reads the raw packet header record (format 1) with its own packet decoder
//! and the sampled IPv4 and IPv6 records (formats 3 and 4), and skips the others by their
//! length. Counter samples (formats 2 and 4) are counted, not read. Every length is checked
//! against what is left before anything is read: a damaged sample ends the datagram with an
//! error naming its offset, after the samples before it were given.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use levee_decode::{linktype, Transport};

use crate::{u32_at, FlowError, FlowRecord, Format, SampledHeader};

/// The most samples one datagram may declare: a 64 KiB datagram holds far fewer.
const MAX_SAMPLES: u32 = 4096;
/// The most records one sample may declare.
const MAX_RECORDS: u32 = 256;
/// The most header bytes kept of a sampled packet (agents send 128 by default).
const MAX_HEADER: usize = 256;

/// Whether `b` starts like an sFlow v5 datagram (version 5 as 32 bits, an IPv4 or IPv6
/// agent).
pub(crate) fn is_sflow(b: &[u8]) -> bool {
    u32_at(b, 0) == Some(5) && matches!(u32_at(b, 4), Some(1 | 2))
}

/// What a datagram held besides flow records.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SflowCounts {
    /// Counter samples (not read).
    pub counter_samples: u64,
    /// Flow samples whose records held no header levee reads.
    pub unread_samples: u64,
}

/// A cursor over the 32-bit words of a datagram.
struct Words<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Words<'a> {
    fn u32(&mut self, what: &'static str) -> Result<u32, FlowError> {
        let v = u32_at(self.b, self.at).ok_or(FlowError::Truncated {
            offset: self.b.len(),
            what,
        })?;
        self.at += 4;
        Ok(v)
    }

    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FlowError> {
        let s = self
            .at
            .checked_add(n)
            .and_then(|end| self.b.get(self.at..end))
            .ok_or(FlowError::Truncated {
                offset: self.b.len(),
                what,
            })?;
        self.at += n;
        Ok(s)
    }

    fn address(&mut self) -> Result<IpAddr, FlowError> {
        let at = self.at;
        match self.u32("an address type")? {
            1 => {
                let b = self.bytes(4, "an IPv4 address")?;
                Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
            }
            2 => {
                let b: [u8; 16] = self
                    .bytes(16, "an IPv6 address")?
                    .try_into()
                    .expect("16 bytes");
                Ok(IpAddr::V6(Ipv6Addr::from(b)))
            }
            _ => Err(FlowError::Malformed {
                offset: at,
                what: "an address type other than IPv4 (1) or IPv6 (2)",
            }),
        }
    }
}

/// The flow records of an sFlow v5 datagram sent by `exporter` (the agent's own address in
/// the datagram names it; the sender's is what a collector sees, and what the other versions
/// use).
pub(crate) fn decode(
    b: &[u8],
    exporter: IpAddr,
    out: &mut Vec<FlowRecord>,
    counts: &mut SflowCounts,
) -> Result<(), FlowError> {
    let mut w = Words { b, at: 0 };
    w.u32("the sFlow version")?;
    w.address()?;
    let sub_agent = w.u32("the sub-agent id")?;
    w.u32("the sequence number")?;
    w.u32("the uptime")?;
    let at = w.at;
    let samples = w.u32("the sample count")?;
    if samples > MAX_SAMPLES {
        return Err(FlowError::Malformed {
            offset: at,
            what: "an sFlow sample count above 4096",
        });
    }
    for _ in 0..samples {
        let at = w.at;
        let format = w.u32("a sample's format")?;
        let len = w.u32("a sample's length")? as usize;
        let body = w.bytes(len, "a sample")?;
        // Enterprise 0 (sFlow's own): the top 20 bits are the enterprise.
        if format >> 12 != 0 {
            continue;
        }
        match format & 0xfff {
            1 | 3 => {
                let expanded = format & 0xfff == 3;
                let before = out.len();
                flow_sample(body, at + 8, expanded, exporter, sub_agent, out)?;
                if out.len() == before {
                    counts.unread_samples += 1;
                }
            }
            2 | 4 => counts.counter_samples += 1,
            _ => {}
        }
    }
    Ok(())
}

/// The records of one flow sample (`base`: its offset in the datagram, for errors).
fn flow_sample(
    b: &[u8],
    base: usize,
    expanded: bool,
    exporter: IpAddr,
    sub_agent: u32,
    out: &mut Vec<FlowRecord>,
) -> Result<(), FlowError> {
    let offset = |e: FlowError| match e {
        FlowError::Truncated { offset, what } => FlowError::Truncated {
            offset: base + offset,
            what,
        },
        FlowError::Malformed { offset, what } => FlowError::Malformed {
            offset: base + offset,
            what,
        },
        other => other,
    };
    let mut w = Words { b, at: 0 };
    let mut sample = || -> Result<(), FlowError> {
        w.u32("a flow sample's sequence number")?;
        // The source (type and index): one word, two when expanded.
        for _ in 0..if expanded { 2 } else { 1 } {
            w.u32("a flow sample's source")?;
        }
        let rate = w.u32("a flow sample's sampling rate")?;
        w.u32("a flow sample's pool")?;
        w.u32("a flow sample's drops")?;
        // Input and output interfaces: one word each, two when expanded.
        let interfaces = if expanded { 4 } else { 2 };
        for _ in 0..interfaces {
            w.u32("a flow sample's interfaces")?;
        }
        let at = w.at;
        let records = w.u32("a flow sample's record count")?;
        if records > MAX_RECORDS {
            return Err(FlowError::Malformed {
                offset: at,
                what: "a flow sample with more than 256 records",
            });
        }
        let mut record = FlowRecord::empty(Format::SflowV5, exporter, sub_agent);
        record.packets = 1;
        record.sampling = rate.max(1);
        record.sampling_known = rate > 0;
        let mut read = false;
        for _ in 0..records {
            let format = w.u32("a flow record's format")?;
            let len = w.u32("a flow record's length")? as usize;
            let at = w.at;
            let body = w.bytes(len, "a flow record")?;
            if format >> 12 != 0 {
                continue;
            }
            // The first record levee reads describes the packet; a raw header is preferred.
            match format & 0xfff {
                1 if record.header.is_none() => read |= raw_header(body, at, &mut record)?,
                3 if !read => read = sampled_ip(body, at, false, &mut record)?,
                4 if !read => read = sampled_ip(body, at, true, &mut record)?,
                _ => {}
            }
        }
        if read {
            out.push(record);
        }
        Ok(())
    };
    sample().map_err(offset)
}

/// A raw packet header record: the first bytes of the sampled frame, decoded by levee's
/// packet decoder. Returns whether it described an IP packet.
fn raw_header(b: &[u8], base: usize, r: &mut FlowRecord) -> Result<bool, FlowError> {
    let mut w = Words { b, at: 0 };
    let protocol = w.u32("a raw header's protocol")?;
    let frame_len = w.u32("a raw header's frame length")?;
    let stripped = w.u32("a raw header's stripped bytes")?;
    let header_len = w.u32("a raw header's length")? as usize;
    let header = w
        .bytes(header_len, "a raw header")
        .map_err(|_| FlowError::Truncated {
            offset: base + b.len(),
            what: "a raw header shorter than its length",
        })?;
    let lt = match protocol {
        1 => linktype::ETHERNET,
        11 => linktype::IPV4,
        12 => linktype::IPV6,
        _ => return Ok(false),
    };
    let header = &header[..header.len().min(MAX_HEADER)];
    // The frame's length counts its FCS, which the agent strips (with any VLAN tag it took
    // off): without them, the length a capture of the same packet records.
    let wire = frame_len.saturating_sub(stripped).max(header.len() as u32);
    let described = levee_decode::with_decoded(lt, header, wire, |p| {
        let Some(ip) = p.ip.as_ref() else {
            return false;
        };
        describe(r, p, ip);
        true
    });
    // A frame without IP (ARP, say) describes no flow.
    if described {
        r.bytes = u64::from(wire);
        r.header = Some(SampledHeader {
            linktype: lt,
            wire_len: wire,
            bytes: header.to_vec(),
        });
    }
    Ok(described)
}

/// Fills a record's fields from a decoded sampled packet.
fn describe(r: &mut FlowRecord, p: &levee_decode::Packet<'_>, ip: &levee_decode::IpInfo) {
    r.src = Some(ip.src);
    r.dst = Some(ip.dst);
    r.protocol = ip.proto;
    r.tos = ip.tos;
    r.min_ttl = Some(ip.ttl);
    r.max_ttl = Some(ip.ttl);
    match p.transport {
        Transport::Tcp(t) => {
            r.src_port = t.src_port;
            r.dst_port = t.dst_port;
            r.tcp_flags = t.flags.0;
        }
        Transport::Udp(u) => {
            r.src_port = u.src_port;
            r.dst_port = u.dst_port;
        }
        Transport::Icmp(i) => r.dst_port = u16::from(i.icmp_type) << 8 | u16::from(i.code),
        _ => {}
    }
}

/// A sampled IPv4 (format 3) or IPv6 (format 4) record: the packet's fields without its bytes.
fn sampled_ip(b: &[u8], base: usize, v6: bool, r: &mut FlowRecord) -> Result<bool, FlowError> {
    let mut w = Words { b, at: 0 };
    let mut read = || -> Result<(), FlowError> {
        let len = w.u32("a sampled packet's length")?;
        let protocol = w.u32("a sampled packet's protocol")?;
        let (src, dst) = if v6 {
            let s: [u8; 16] = w.bytes(16, "an IPv6 source")?.try_into().expect("16");
            let d: [u8; 16] = w.bytes(16, "an IPv6 destination")?.try_into().expect("16");
            (IpAddr::V6(s.into()), IpAddr::V6(d.into()))
        } else {
            let s: [u8; 4] = w.bytes(4, "an IPv4 source")?.try_into().expect("4");
            let d: [u8; 4] = w.bytes(4, "an IPv4 destination")?.try_into().expect("4");
            (IpAddr::V4(s.into()), IpAddr::V4(d.into()))
        };
        r.src = Some(src);
        r.dst = Some(dst);
        r.src_port = w.u32("a sampled packet's source port")? as u16;
        r.dst_port = w.u32("a sampled packet's destination port")? as u16;
        r.tcp_flags = w.u32("a sampled packet's TCP flags")? as u16;
        r.tos = w.u32("a sampled packet's TOS")? as u8;
        r.protocol = protocol as u8;
        r.bytes = u64::from(len);
        Ok(())
    };
    read().map_err(|e| match e {
        FlowError::Truncated { what, .. } => FlowError::Truncated {
            offset: base + b.len(),
            what,
        },
        other => other,
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An sFlow datagram from agent 192.0.2.1 with one flow sample of the given records.
    fn datagram(rate: u32, records: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut sample = Vec::new();
        for v in [7u32, 3, rate, 1000, 0, 1, 2, records.len() as u32] {
            sample.extend(v.to_be_bytes());
        }
        for (format, body) in records {
            sample.extend(format.to_be_bytes());
            sample.extend((body.len() as u32).to_be_bytes());
            sample.extend(body);
        }
        let mut d = Vec::new();
        for v in [5u32, 1] {
            d.extend(v.to_be_bytes());
        }
        d.extend([192, 0, 2, 1]);
        for v in [0u32, 42, 1000, 2] {
            d.extend(v.to_be_bytes());
        }
        // A counter sample, skipped.
        d.extend(2u32.to_be_bytes());
        d.extend(8u32.to_be_bytes());
        d.extend([0; 8]);
        d.extend(1u32.to_be_bytes());
        d.extend((sample.len() as u32).to_be_bytes());
        d.extend(sample);
        d
    }

    /// A raw-header record of an IPv4 UDP packet 203.0.113.9:53 -> 198.51.100.7:4444, TTL 57,
    /// on a 1,200-byte Ethernet frame.
    fn udp_header() -> Vec<u8> {
        let mut frame = vec![0u8; 12];
        frame.extend([0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0x04, 0xa2, 0, 1, 0, 0, 57, 17, 0, 0, 203, 0, 113, 9, 198, 51, 100, 7,
        ];
        ip.extend([0, 53, 0x11, 0x5c, 0x04, 0x8e, 0, 0]);
        frame.extend(ip);
        frame.extend([0u8; 20]);
        let mut r = Vec::new();
        for v in [1u32, 1204, 4, frame.len() as u32] {
            r.extend(v.to_be_bytes());
        }
        r.extend(&frame);
        while r.len() % 4 != 0 {
            r.push(0);
        }
        r
    }

    #[test]
    fn a_raw_header_is_decoded_with_its_sampling_rate() {
        let d = datagram(512, &[(1, udp_header())]);
        assert!(is_sflow(&d));
        let (mut out, mut counts) = (Vec::new(), SflowCounts::default());
        let exporter = IpAddr::V4(Ipv4Addr::LOCALHOST);
        decode(&d, exporter, &mut out, &mut counts).unwrap();
        assert_eq!(counts.counter_samples, 1);
        let [r] = &out[..] else { panic!("{out:?}") };
        assert_eq!(r.src, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(r.dst, Some("198.51.100.7".parse().unwrap()));
        assert_eq!((r.src_port, r.dst_port, r.protocol), (53, 4444, 17));
        assert_eq!((r.packets, r.bytes), (1, 1200));
        assert_eq!((r.sampling, r.sampling_known), (512, true));
        assert_eq!(r.min_ttl, Some(57));
        let h = r.header.as_ref().unwrap();
        assert_eq!((h.linktype, h.wire_len), (linktype::ETHERNET, 1200));
    }

    #[test]
    fn a_sampled_ipv6_record_is_read() {
        let mut body = Vec::new();
        for v in [1500u32, 6] {
            body.extend(v.to_be_bytes());
        }
        body.extend("2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        body.extend("2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        for v in [443u32, 50000, 0x12, 0, 0] {
            body.extend(v.to_be_bytes());
        }
        let d = datagram(1000, &[(4, body)]);
        let (mut out, mut counts) = (Vec::new(), SflowCounts::default());
        decode(&d, IpAddr::V4(Ipv4Addr::LOCALHOST), &mut out, &mut counts).unwrap();
        let [r] = &out[..] else { panic!("{out:?}") };
        assert_eq!(r.dst, Some("2001:db8::2".parse().unwrap()));
        assert_eq!((r.src_port, r.dst_port, r.tcp_flags), (443, 50000, 0x12));
        assert_eq!((r.bytes, r.sampling), (1500, 1000));
        assert!(r.header.is_none());
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let d = datagram(512, &[(1, udp_header())]);
        let exporter = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for cut in 0..d.len() {
            let (mut out, mut counts) = (Vec::new(), SflowCounts::default());
            let e = decode(&d[..cut], exporter, &mut out, &mut counts);
            assert!(e.is_err(), "cut at {cut} decoded");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn absurd_counts_are_refused() {
        let mut d = datagram(512, &[(1, udp_header())]);
        d[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        let (mut out, mut counts) = (Vec::new(), SflowCounts::default());
        let e = decode(&d, IpAddr::V4(Ipv4Addr::LOCALHOST), &mut out, &mut counts);
        assert!(
            matches!(e, Err(FlowError::Malformed { offset: 24, .. })),
            "{e:?}"
        );
    }
}
