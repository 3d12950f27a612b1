//! Flow records other collectors wrote as JSON: nfdump's `nfdump -o json` (one array of
//! objects, `in_packets`, `src4_addr`, `first` ...) and goflow2's JSON lines (one object a
//! line, `packets`, `src_addr`, `time_flow_start_ns` ...).
//!
//! Each object becomes a [`FlowRecord`]. An object that lacks what a flow needs (addresses,
//! packets), or a goflow2 line that is not JSON, is an error naming its record and byte
//! offset, and the others are read. nfdump's array is read element by element, never whole:
//! a syntax error in it ends the reading there, after the records before it were given.
//!
//! Times: goflow2 gives nanoseconds since 1970 (or RFC 3339). nfdump prints the local time of
//! the machine that ran it, without a zone: it is read as UTC (run nfdump with `TZ=UTC`).
//! Sampling: goflow2's `sampling_rate` (0: not known); nfdump's counters are as nfcapd stored
//! them, scaled when it knew the rate, so no rate is taken from them.

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::{Map, Value};

use crate::{FlowRecord, Format};

/// The collector whose JSON a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonFlavor {
    /// `nfdump -o json`.
    Nfdump,
    /// goflow2's JSON lines.
    Goflow2,
}

/// A record that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {record} (offset {offset}): {what}")]
pub struct JsonError {
    /// The record's number, from 1.
    pub record: u64,
    /// Byte offset of the record (goflow2: of its line; nfdump: where the reading was).
    pub offset: u64,
    /// What is wrong.
    pub what: String,
}

/// Which collector's JSON `head` (a file's first bytes) starts, if any.
pub fn sniff(head: &[u8]) -> Option<JsonFlavor> {
    let text = std::str::from_utf8(head)
        .or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
        .ok()?;
    let start = text.trim_start();
    let has = |k: &str| text.contains(&format!("\"{k}\""));
    if start.starts_with('[') && has("in_packets") && (has("src4_addr") || has("src6_addr")) {
        return Some(JsonFlavor::Nfdump);
    }
    if start.starts_with('{')
        && has("src_addr")
        && has("packets")
        && (has("time_received_ns") || has("sampler_address") || has("time_flow_start_ns"))
    {
        return Some(JsonFlavor::Goflow2);
    }
    None
}

/// Reads every record of `input`, in order, to `each`.
pub fn read(
    input: &mut dyn BufRead,
    flavor: JsonFlavor,
    each: &mut dyn FnMut(Result<FlowRecord, JsonError>),
) {
    match flavor {
        JsonFlavor::Goflow2 => read_lines(input, each),
        JsonFlavor::Nfdump => read_array(input, each),
    }
}

fn read_lines(input: &mut dyn BufRead, each: &mut dyn FnMut(Result<FlowRecord, JsonError>)) {
    let (mut line, mut offset, mut record) = (String::new(), 0u64, 0u64);
    loop {
        line.clear();
        let n = match input.read_line(&mut line) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                each(Err(JsonError {
                    record: record + 1,
                    offset,
                    what: format!("cannot read on: {e}"),
                }));
                return;
            }
        };
        if !line.trim().is_empty() {
            record += 1;
            let r = serde_json::from_str::<Map<String, Value>>(&line)
                .map_err(|e| format!("not a JSON object: {e}"))
                .and_then(|o| goflow2(&o));
            each(r.map_err(|what| JsonError {
                record,
                offset,
                what,
            }));
        }
        offset += n as u64;
    }
}

fn read_array(input: &mut dyn BufRead, each: &mut dyn FnMut(Result<FlowRecord, JsonError>)) {
    use serde::de::{Deserializer, SeqAccess, Visitor};

    struct Records<'a> {
        each: &'a mut dyn FnMut(Result<FlowRecord, JsonError>),
        record: u64,
    }

    impl<'de> Visitor<'de> for &mut Records<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of flow records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(o) = seq.next_element::<Map<String, Value>>()? {
                self.record += 1;
                let record = self.record;
                (self.each)(nfdump(&o).map_err(|what| JsonError {
                    record,
                    offset: 0,
                    what,
                }));
            }
            Ok(())
        }
    }

    let mut records = Records { each, record: 0 };
    let mut de = serde_json::Deserializer::from_reader(input);
    if let Err(e) = de.deserialize_seq(&mut records) {
        let record = records.record + 1;
        (records.each)(Err(JsonError {
            record,
            offset: 0,
            what: format!("the array of records ends here: {e}"),
        }));
    }
}

fn num(o: &Map<String, Value>, key: &str) -> Option<u64> {
    match o.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn addr(o: &Map<String, Value>, key: &str) -> Option<IpAddr> {
    o.get(key)?.as_str()?.parse().ok()
}

/// An IP protocol by number or by name (`TCP`, `udp`, `ICMPv6`...).
fn protocol(v: &Value) -> Option<u8> {
    if let Some(n) = v.as_u64() {
        return u8::try_from(n).ok();
    }
    let s = v.as_str()?;
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    Some(match s.to_ascii_uppercase().as_str() {
        "ICMP" => 1,
        "IGMP" => 2,
        "TCP" => 6,
        "UDP" => 17,
        "GRE" => 47,
        "ESP" => 50,
        "AH" => 51,
        "ICMPV6" | "IPV6-ICMP" | "ICMP6" => 58,
        "SCTP" => 132,
        _ => return None,
    })
}

/// nfdump's flags string (`...A..S.`: a letter per flag, C E U A P R S F) or a number.
fn tcp_flags(v: &Value) -> u16 {
    if let Some(n) = v.as_u64() {
        return n as u16;
    }
    v.as_str().map_or(0, |s| {
        s.chars().fold(0, |f, c| {
            f | match c {
                'F' => 0x01,
                'S' => 0x02,
                'R' => 0x04,
                'P' => 0x08,
                'A' => 0x10,
                'U' => 0x20,
                'E' => 0x40,
                'C' => 0x80,
                _ => 0,
            }
        })
    })
}

/// A time in ns since 1970: a number of ns, or RFC 3339, or nfdump's zoneless local time
/// (read as UTC).
fn time_ns(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_u64() {
        return i64::try_from(n).ok().filter(|&n| n > 0);
    }
    let s = v.as_str()?;
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return i64::try_from(t.as_nanosecond()).ok();
    }
    let civil: jiff::civil::DateTime = s.parse().ok()?;
    let t = civil.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    i64::try_from(t.as_nanosecond()).ok().filter(|&n| n > 0)
}

/// The fields both collectors name alike, and the checks every record passes.
fn finish(mut r: FlowRecord, o: &Map<String, Value>) -> Result<FlowRecord, String> {
    r.src_port = num(o, "src_port").unwrap_or(0) as u16;
    r.dst_port = num(o, "dst_port").unwrap_or(0) as u16;
    if matches!(r.protocol, 1 | 58) {
        if let (Some(t), Some(c)) = (num(o, "icmp_type"), num(o, "icmp_code")) {
            r.dst_port = (t as u16) << 8 | c as u16 & 0xff;
        }
    }
    r.tcp_flags = o.get("tcp_flags").map_or(0, tcp_flags);
    if r.src.is_none() || r.dst.is_none() {
        return Err("no source or destination address".into());
    }
    if r.src.map(|a| a.is_ipv4()) != r.dst.map(|a| a.is_ipv4()) {
        return Err("source and destination of different IP versions".into());
    }
    if r.packets == 0 {
        return Err("no packet count".into());
    }
    Ok(r)
}

fn nfdump(o: &Map<String, Value>) -> Result<FlowRecord, String> {
    let exporter = addr(o, "ip4_router")
        .or_else(|| addr(o, "ip6_router"))
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let domain = num(o, "export_sysid").unwrap_or(0) as u32;
    let mut r = FlowRecord::empty(Format::NfdumpJson, exporter, domain);
    r.src = addr(o, "src4_addr").or_else(|| addr(o, "src6_addr"));
    r.dst = addr(o, "dst4_addr").or_else(|| addr(o, "dst6_addr"));
    r.packets = num(o, "in_packets").unwrap_or(0);
    r.bytes = num(o, "in_bytes").unwrap_or(0);
    r.protocol = o.get("proto").and_then(protocol).unwrap_or(0);
    r.tos = num(o, "src_tos").unwrap_or(0) as u8;
    r.start_ns = o.get("first").and_then(time_ns);
    r.end_ns = o.get("last").and_then(time_ns);
    finish(r, o)
}

fn goflow2(o: &Map<String, Value>) -> Result<FlowRecord, String> {
    let exporter = addr(o, "sampler_address").unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let domain = num(o, "observation_domain_id").unwrap_or(0) as u32;
    let mut r = FlowRecord::empty(Format::Goflow2Json, exporter, domain);
    r.src = addr(o, "src_addr");
    r.dst = addr(o, "dst_addr");
    r.packets = num(o, "packets").unwrap_or(0);
    r.bytes = num(o, "bytes").unwrap_or(0);
    r.protocol = match o.get("proto") {
        Some(v) => protocol(v).ok_or_else(|| format!("unknown protocol {v}"))?,
        None => 0,
    };
    r.tos = num(o, "ip_tos").unwrap_or(0) as u8;
    r.start_ns = o.get("time_flow_start_ns").and_then(time_ns);
    r.end_ns = o.get("time_flow_end_ns").and_then(time_ns);
    if r.start_ns.is_none() && r.end_ns.is_none() {
        r.end_ns = o.get("time_received_ns").and_then(time_ns);
    }
    // sFlow samples carry the packet's TTL; flow exports rarely do (0: not exported).
    if let Some(ttl) = num(o, "ip_ttl").filter(|&t| t > 0) {
        r.min_ttl = Some(ttl as u8);
        r.max_ttl = Some(ttl as u8);
    }
    if let Some(rate) = num(o, "sampling_rate").filter(|&n| n > 0) {
        r.sampling = rate.min(u64::from(u32::MAX)) as u32;
        r.sampling_known = true;
    }
    finish(r, o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Result<FlowRecord, JsonError>> {
        let flavor = sniff(text.as_bytes()).expect("a flavor");
        let mut out = Vec::new();
        read(&mut text.as_bytes(), flavor, &mut |r| out.push(r));
        out
    }

    #[test]
    fn goflow2_lines_are_read_and_a_bad_line_is_told() {
        let text = r#"{"type":"IPFIX","time_received_ns":1767324720787460121,"sampling_rate":100,"sampler_address":"192.0.2.1","time_flow_start_ns":1767324720000000000,"time_flow_end_ns":1767324721000000000,"bytes":1400,"packets":10,"src_addr":"203.0.113.9","dst_addr":"10.10.10.10","etype":"IPv4","proto":"TCP","src_port":443,"dst_port":50001,"tcp_flags":18,"ip_ttl":0}
not json
{"type":"SFLOW_5","time_received_ns":1767324722000000000,"sampling_rate":0,"sampler_address":"192.0.2.2","bytes":1500,"packets":1,"src_addr":"2001:db8::1","dst_addr":"2001:db8::2","proto":58,"icmp_type":3,"icmp_code":4,"ip_ttl":57}
{"type":"IPFIX","sampler_address":"192.0.2.1","bytes":1,"packets":0,"src_addr":"203.0.113.9","dst_addr":"10.10.10.10","time_received_ns":1}
"#;
        let out = all(text);
        assert_eq!(out.len(), 4);
        let a = out[0].as_ref().unwrap();
        assert_eq!((a.protocol, a.src_port, a.tcp_flags), (6, 443, 18));
        assert_eq!(
            (a.packets, a.bytes, a.sampling, a.sampling_known),
            (10, 1400, 100, true)
        );
        assert_eq!(a.exporter, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(a.start_ns, Some(1767324720000000000));
        assert_eq!(a.min_ttl, None);
        let e = out[1].as_ref().unwrap_err();
        assert_eq!(
            (e.record, e.offset),
            (2, text.find("not json").unwrap() as u64)
        );
        let c = out[2].as_ref().unwrap();
        assert_eq!(
            (c.protocol, c.dst_port, c.min_ttl),
            (58, 3 << 8 | 4, Some(57))
        );
        assert!(!c.sampling_known);
        assert_eq!(c.end_ns, Some(1767324722000000000));
        assert!(out[3]
            .as_ref()
            .unwrap_err()
            .what
            .contains("no packet count"));
    }

    #[test]
    fn nfdump_arrays_are_read_element_by_element() {
        let text = r#"[
{
	"type" : "FLOW",
	"first" : "2021-04-28T10:30:21.099",
	"last" : "2021-04-28T10:30:22.100",
	"in_packets" : 3,
	"in_bytes" : 120,
	"proto" : 6,
	"tcp_flags" : "...A..S.",
	"src_port" : 41885,
	"dst_port" : 25565,
	"src4_addr" : "160.161.74.108",
	"dst4_addr" : "10.10.10.10",
	"ip4_router" : "127.0.0.1"
},
{
	"type" : "FLOW",
	"in_packets" : 1,
	"src6_addr" : "2001:db8::1"
},
{ "in_packets" : 2, "#;
        let out = all(text);
        assert_eq!(out.len(), 3);
        let a = out[0].as_ref().unwrap();
        assert_eq!(a.tcp_flags, 0x12);
        assert_eq!((a.packets, a.bytes, a.dst_port), (3, 120, 25565));
        // 2021-04-28T10:30:21.099 read as UTC.
        assert_eq!(a.start_ns, Some(1_619_605_821_099_000_000));
        assert_eq!(a.end_ns, Some(1_619_605_822_100_000_000));
        assert_eq!(a.format, Format::NfdumpJson);
        assert!(out[1].as_ref().unwrap_err().what.contains("address"));
        let e = out[2].as_ref().unwrap_err();
        assert_eq!(e.record, 3);
        assert!(e.what.contains("ends here"), "{e}");
    }

    #[test]
    fn other_json_is_not_taken_for_flows() {
        assert_eq!(
            sniff(br#"{"ClientIP":"1.2.3.4","ClientRequestPath":"/"}"#),
            None
        );
        assert_eq!(sniff(b"[1, 2, 3]"), None);
        assert_eq!(sniff(b"\x00\x01"), None);
    }
}
