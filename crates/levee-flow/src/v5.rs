//! NetFlow v5: a 24-byte header, then up to 30 records of 48 bytes each.

use std::net::{IpAddr, Ipv4Addr};

use crate::{u16_at, u32_at, FlowError, FlowRecord, Format};

const HEADER: usize = 24;
const RECORD: usize = 48;
/// The most records a v5 datagram holds.
const MAX_RECORDS: usize = 30;

/// The wall time (ns since 1970) of an uptime in ms, given the header's uptime and clock.
pub(crate) fn wall_ns(export_ns: i64, uptime_ms: u32, at_ms: u32) -> i64 {
    // Uptime wraps after 49.7 days: the difference is taken modulo 2^32.
    export_ns - i64::from(uptime_ms.wrapping_sub(at_ms)) * 1_000_000
}

/// The records of a v5 datagram.
pub(crate) fn decode(b: &[u8], exporter: IpAddr) -> Result<Vec<FlowRecord>, FlowError> {
    let truncated = |offset, what| FlowError::Truncated { offset, what };
    if b.len() < HEADER {
        return Err(truncated(b.len(), "the v5 header"));
    }
    let count = usize::from(u16_at(b, 2).unwrap_or(0));
    if count > MAX_RECORDS {
        return Err(FlowError::Malformed {
            offset: 2,
            what: "a v5 count above 30 records",
        });
    }
    let uptime = u32_at(b, 4).unwrap_or(0);
    let export_ns = i64::from(u32_at(b, 8).unwrap_or(0)) * 1_000_000_000
        + i64::from(u32_at(b, 12).unwrap_or(0));
    let engine = u32::from(u16_at(b, 20).unwrap_or(0));
    // The top two bits are the sampling mode; the other fourteen its interval.
    let interval = u16_at(b, 22).unwrap_or(0) & 0x3fff;
    let mut records = Vec::with_capacity(count);
    for i in 0..count {
        let at = HEADER + i * RECORD;
        let Some(r) = b.get(at..at + RECORD) else {
            return Err(truncated(b.len(), "a v5 record"));
        };
        let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(r[o], r[o + 1], r[o + 2], r[o + 3]));
        let mut rec = FlowRecord::empty(Format::NetflowV5, exporter, engine);
        rec.src = Some(ip(0));
        rec.dst = Some(ip(4));
        rec.packets = u64::from(u32_at(r, 16).unwrap_or(0));
        rec.bytes = u64::from(u32_at(r, 20).unwrap_or(0));
        rec.start_ns = Some(wall_ns(export_ns, uptime, u32_at(r, 24).unwrap_or(0)));
        rec.end_ns = Some(wall_ns(export_ns, uptime, u32_at(r, 28).unwrap_or(0)));
        rec.src_port = u16_at(r, 32).unwrap_or(0);
        rec.dst_port = u16_at(r, 34).unwrap_or(0);
        rec.tcp_flags = u16::from(r[37]);
        rec.protocol = r[38];
        rec.tos = r[39];
        if interval > 1 {
            rec.sampling = u32::from(interval);
            rec.sampling_known = true;
        }
        records.push(rec);
    }
    Ok(records)
}
