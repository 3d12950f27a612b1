//! `levee summary`: one pass over the packets, bounded memory, a [`Summary`] at the end.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use levee_capture::{RecordError, Recovery};
use levee_decode::{linktype, AppProtocol, IssueKind, Layer, Packet, Transport, TunnelKind};
use serde::Serialize;

use crate::sketch::{fmix64, mix_u128, DistinctCount, PortCounts, TopK};

/// Heavy-hitter table sizes: big enough that any talker above ~0.1 % of packets is exact within
/// the reported error bound.
const TOPK_CAPACITY: usize = 4096;
/// Buckets in the time series before they are widened (guards against absurd timestamps).
const MAX_SERIES_POINTS: usize = 100_000;
/// Damaged-record messages kept verbatim; the rest are only counted.
const MAX_DAMAGE_MESSAGES: usize = 50;

/// The protocol stack of a packet, compact enough to count per packet without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Stack {
    linktype: u32,
    vlan: bool,
    mpls: bool,
    pppoe: bool,
    tunnel: Option<(TunnelKind, u8)>,
    ip_version: u8,
    ip_proto: Option<u8>,
    later_fragment: bool,
    app: AppProtocol,
}

impl Stack {
    fn of(p: &Packet<'_>) -> Stack {
        let ip = p.ip.as_ref();
        Stack {
            linktype: p.linktype,
            vlan: p.vlan_count > 0,
            mpls: p.mpls_labels > 0,
            pppoe: p.pppoe_session.is_some(),
            tunnel: p.tunnel.map(|t| (t.kind, t.outer.version)),
            ip_version: ip.map_or(0, |i| i.version),
            ip_proto: ip.map(|i| i.proto),
            later_fragment: ip.is_some_and(|i| i.is_later_fragment()),
            app: if p.has_transport() {
                p.app_protocol()
            } else {
                AppProtocol::None
            },
        }
    }

    /// Path names from the outside in, e.g. `["eth", "ipv4", "tcp", "tls"]`.
    fn path(&self) -> Vec<String> {
        let mut v = vec![match self.linktype {
            linktype::ETHERNET => "eth".to_string(),
            lt => linktype::name(lt),
        }];
        if self.vlan {
            v.push("vlan".into());
        }
        if self.pppoe {
            v.push("pppoe".into());
        }
        if self.mpls {
            v.push("mpls".into());
        }
        if let Some((kind, outer)) = self.tunnel {
            v.push(format!("ipv{outer}"));
            v.push(kind.name().into());
        }
        if self.ip_version != 0 {
            v.push(format!("ipv{}", self.ip_version));
        } else {
            return v;
        }
        if self.later_fragment {
            v.push("fragment".into());
            return v;
        }
        if let Some(proto) = self.ip_proto {
            v.push(proto_name(proto));
        }
        if !matches!(self.app, AppProtocol::None) {
            v.push(self.app.name().into());
        }
        v
    }
}

/// Lower-case name of an IP protocol.
pub fn proto_name(proto: u8) -> String {
    match proto {
        1 => "icmp".into(),
        2 => "igmp".into(),
        4 => "ipip".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        41 => "ipv6".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        58 => "icmpv6".into(),
        89 => "ospf".into(),
        103 => "pim".into(),
        112 => "vrrp".into(),
        132 => "sctp".into(),
        n => format!("ip-proto-{n}"),
    }
}

/// Accumulates statistics packet by packet.
pub struct SummaryBuilder {
    packets: u64,
    wire_bytes: u64,
    captured_bytes: u64,
    /// Times of the first packet and the earliest and latest ones (meaningless while
    /// `packets` is 0).
    first_ts: i64,
    min_ts: i64,
    max_ts: i64,
    /// Index of each distinct stack in `stack_list`.
    stacks: HashMap<Stack, usize, foldhash::fast::FixedState>,
    last_stack: Option<(Stack, usize)>,
    stack_list: Vec<(Stack, u64, u64)>,
    // Addresses are counted as u128 (IPv4 as IPv4-mapped IPv6): one fixed-size word hashes
    // several times faster than the `IpAddr` enum.
    sources: TopK<u128>,
    destinations: TopK<u128>,
    conversations: TopK<(u128, u128)>,
    distinct_sources: DistinctCount,
    distinct_destinations: DistinctCount,
    /// The hashes of the last packet's source and destination.
    last_hashes: (u64, u64),
    // Exact per-port counts: 4 × 64 Ki counters are cheaper than any sketch.
    tcp_dst_ports: PortCounts,
    udp_dst_ports: PortCounts,
    tcp_src_ports: PortCounts,
    udp_src_ports: PortCounts,
    bucket_ns: i64,
    series: BTreeMap<i64, (u64, u64)>,
    cur_bucket: Option<(i64, u64, u64)>,
    /// Time range `[start, end)` of `cur_bucket`, in nanoseconds.
    cur_range: (i64, i64),
    truncated_by_snaplen: u64,
    undecoded: BTreeMap<(Layer, IssueKind), u64>,
    damage_by_kind: BTreeMap<&'static str, u64>,
    records_skipped: u64,
    files_stopped: u64,
    damage_messages: Vec<String>,
    damage_total: u64,
}

impl Default for SummaryBuilder {
    fn default() -> Self {
        Self::new(1_000_000_000)
    }
}

impl SummaryBuilder {
    /// `bucket_ns`: width of the time-series buckets (1 s by default).
    pub fn new(bucket_ns: i64) -> SummaryBuilder {
        SummaryBuilder {
            packets: 0,
            wire_bytes: 0,
            captured_bytes: 0,
            first_ts: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            stacks: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(1)),
            last_stack: None,
            stack_list: Vec::new(),
            sources: TopK::new(TOPK_CAPACITY),
            destinations: TopK::new(TOPK_CAPACITY),
            conversations: TopK::new(TOPK_CAPACITY),
            distinct_sources: DistinctCount::default(),
            distinct_destinations: DistinctCount::default(),
            last_hashes: (0, 0),
            tcp_dst_ports: PortCounts::default(),
            udp_dst_ports: PortCounts::default(),
            tcp_src_ports: PortCounts::default(),
            udp_src_ports: PortCounts::default(),
            bucket_ns: bucket_ns.max(1),
            series: BTreeMap::new(),
            cur_bucket: None,
            cur_range: (0, 0),
            truncated_by_snaplen: 0,
            undecoded: BTreeMap::new(),
            damage_by_kind: BTreeMap::new(),
            records_skipped: 0,
            files_stopped: 0,
            damage_messages: Vec::new(),
            damage_total: 0,
        }
    }

    /// Counts one decoded packet captured at `ts_nanos`.
    #[inline]
    pub fn add(&mut self, ts_nanos: i64, p: &Packet<'_>) {
        if self.packets == 0 {
            self.first_ts = ts_nanos;
        }
        // A flow record's part stands for `n` packets alike (see `Packet::count`).
        let n = p.count;
        self.packets += n;
        let wire = u64::from(p.wire_len) * n;
        self.wire_bytes += wire;
        self.captured_bytes += u64::from(p.cap_len) * n;
        self.min_ts = self.min_ts.min(ts_nanos);
        self.max_ts = self.max_ts.max(ts_nanos);
        if p.cap_len < p.wire_len {
            self.truncated_by_snaplen += n;
        }
        if let Some(issue) = p.issue {
            *self.undecoded.entry((issue.layer, issue.kind)).or_insert(0) += n;
        }
        self.count_stack(p, n, wire);
        self.count_time(ts_nanos, n, wire);
        if let Some(ip) = &p.ip {
            let (src, dst) = (addr_key(ip.src), addr_key(ip.dst));
            // One hash per address serves the top-k tables and the distinct counters.
            let (hs, hd) = (mix_u128(src), mix_u128(dst));
            self.sources.add_hashed(src, hs, n);
            self.destinations.add_hashed(dst, hd, n);
            // Adding a hash twice changes nothing: skip the register for a repeated address.
            if hs != self.last_hashes.0 {
                self.distinct_sources.add_hash(hs);
            }
            if hd != self.last_hashes.1 {
                self.distinct_destinations.add_hash(hd);
            }
            self.last_hashes = (hs, hd);
            let (a, b, ha, hb) = if src <= dst {
                (src, dst, hs, hd)
            } else {
                (dst, src, hd, hs)
            };
            self.conversations
                .add_hashed((a, b), fmix64(ha.rotate_left(17) ^ hb), n);
        }
        match p.transport {
            Transport::Tcp(t) => {
                count_port(&mut self.tcp_dst_ports, t.dst_port, n);
                count_port(&mut self.tcp_src_ports, t.src_port, n);
            }
            Transport::Udp(u) => {
                count_port(&mut self.udp_dst_ports, u.dst_port, n);
                count_port(&mut self.udp_src_ports, u.src_port, n);
            }
            _ => {}
        }
    }

    #[inline]
    fn count_stack(&mut self, p: &Packet<'_>, n: u64, wire: u64) {
        let stack = Stack::of(p);
        // Consecutive packets mostly share a stack: skip the hash lookup then.
        if let Some((last, idx)) = self.last_stack {
            if last == stack {
                let e = &mut self.stack_list[idx];
                e.1 += n;
                e.2 += wire;
                return;
            }
        }
        let idx = match self.stacks.get(&stack) {
            Some(&idx) => idx,
            None => {
                self.stack_list.push((stack, 0, 0));
                let idx = self.stack_list.len() - 1;
                self.stacks.insert(stack, idx);
                idx
            }
        };
        let e = &mut self.stack_list[idx];
        e.1 += n;
        e.2 += wire;
        self.last_stack = Some((stack, idx));
    }

    #[inline]
    fn count_time(&mut self, ts: i64, n: u64, wire: u64) {
        // Most packets fall in the current bucket: a range check, no division.
        if ts >= self.cur_range.0 && ts < self.cur_range.1 {
            if let Some((_, pk, by)) = &mut self.cur_bucket {
                *pk += n;
                *by += wire;
                return;
            }
        }
        self.flush_bucket();
        let bucket = ts.div_euclid(self.bucket_ns);
        self.cur_bucket = Some((bucket, n, wire));
        let start = bucket.saturating_mul(self.bucket_ns);
        self.cur_range = (start, start.saturating_add(self.bucket_ns));
    }

    fn flush_bucket(&mut self) {
        if let Some((b, pk, by)) = self.cur_bucket.take() {
            let e = self.series.entry(b).or_insert((0, 0));
            e.0 += pk;
            e.1 += by;
            if self.series.len() > MAX_SERIES_POINTS {
                self.widen_series();
            }
        }
    }

    /// Doubles the bucket width, merging neighbours, so the series stays bounded whatever the
    /// timestamps.
    fn widen_series(&mut self) {
        self.bucket_ns = self.bucket_ns.saturating_mul(2);
        let old = std::mem::take(&mut self.series);
        for (b, (pk, by)) in old {
            let e = self.series.entry(b.div_euclid(2)).or_insert((0, 0));
            e.0 += pk;
            e.1 += by;
        }
        if let Some((b, _, _)) = &mut self.cur_bucket {
            *b = b.div_euclid(2);
            let start = b.saturating_mul(self.bucket_ns);
            self.cur_range = (start, start.saturating_add(self.bucket_ns));
        }
    }

    /// Counts a damaged record reported by the capture reader.
    pub fn add_damage(&mut self, e: &RecordError) {
        self.damage_total += 1;
        *self.damage_by_kind.entry(e.problem.kind()).or_insert(0) += 1;
        match e.recovery {
            Recovery::Delivered => {}
            Recovery::Stopped => {
                self.records_skipped += 1;
                self.files_stopped += 1;
            }
            _ => self.records_skipped += 1,
        }
        if self.damage_messages.len() < MAX_DAMAGE_MESSAGES {
            self.damage_messages.push(e.to_string());
        }
    }

    /// Packets counted so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }
    /// The link types and the protocol hierarchy (each stack counted under every prefix of
    /// its path), with their packets and bytes.
    fn hierarchy(&self) -> (Vec<LinkTypeCount>, Vec<ProtocolCount>) {
        let mut link_counts: BTreeMap<u32, u64> = BTreeMap::new();
        for (s, pk, _) in &self.stack_list {
            *link_counts.entry(s.linktype).or_insert(0) += pk;
        }
        let link_types = link_counts
            .into_iter()
            .map(|(lt, packets)| LinkTypeCount {
                linktype: lt,
                name: linktype::name(lt),
                packets,
            })
            .collect();
        // Expand each stack into its prefixes to build the hierarchy.
        let mut tree: BTreeMap<Vec<String>, (u64, u64)> = BTreeMap::new();
        for (s, pk, by) in &self.stack_list {
            let path = s.path();
            for depth in 1..=path.len() {
                let e = tree.entry(path[..depth].to_vec()).or_insert((0, 0));
                e.0 += pk;
                e.1 += by;
            }
        }
        let protocols = tree
            .into_iter()
            .map(|(path, (packets, bytes))| ProtocolCount {
                depth: path.len() - 1,
                protocol: path.last().cloned().unwrap_or_default(),
                path: path.join(":"),
                packets,
                bytes,
                packet_share: share(packets, self.packets),
                byte_share: share(bytes, self.wire_bytes),
            })
            .collect();
        (link_types, protocols)
    }

    /// The summary, once every packet was added; `top_n` rows in each top list.
    pub fn finish(mut self, files: Vec<FileInfo>, top_n: usize) -> Summary {
        self.flush_bucket();
        let (link_types, protocols) = self.hierarchy();
        let talkers = |t: &TopK<u128>| -> Vec<Talker> {
            t.top(top_n)
                .into_iter()
                .map(|(ip, packets)| Talker {
                    ip: key_addr(ip).to_string(),
                    packets,
                    packet_share: share(packets, self.packets),
                })
                .collect()
        };
        let top_sources = talkers(&self.sources);
        let top_destinations = talkers(&self.destinations);
        let top_conversations = self
            .conversations
            .top(top_n)
            .into_iter()
            .map(|((a, b), packets)| Conversation {
                a: key_addr(a).to_string(),
                b: key_addr(b).to_string(),
                packets,
            })
            .collect();
        let ports = top_ports(&self.tcp_dst_ports, &self.udp_dst_ports, top_n);
        let source_ports = top_ports(&self.tcp_src_ports, &self.udp_src_ports, top_n);
        let bucket_s = self.bucket_ns as f64 / 1e9;
        let points = self
            .series
            .iter()
            .map(|(&b, &(packets, bytes))| SeriesPoint {
                t: b as f64 * bucket_s,
                packets,
                bytes,
                pps: packets as f64 / bucket_s,
                bps: bytes as f64 * 8.0 / bucket_s,
            })
            .collect::<Vec<_>>();
        let peak_pps = points.iter().map(|p| p.pps).fold(0.0, f64::max);
        let (start, end) = if self.packets > 0 {
            (Some(self.min_ts), Some(self.max_ts))
        } else {
            (None, None)
        };
        let span_s = match (start, end) {
            (Some(s), Some(e)) if e > s => (e - s) as f64 / 1e9,
            _ => 0.0,
        };
        // A capture shorter than a bucket would show a "peak" far below its real rate.
        let (mean_pps, mean_bps) = if span_s > 0.0 {
            (
                self.packets as f64 / span_s,
                self.wire_bytes as f64 * 8.0 / span_s,
            )
        } else {
            (0.0, 0.0)
        };
        let peak_bps = points.iter().map(|p| p.bps).fold(0.0, f64::max);
        let duration_s = match (start, end) {
            (Some(s), Some(e)) => (e - s) as f64 / 1e9,
            _ => 0.0,
        };
        let undecodable = self
            .undecoded
            .iter()
            .map(|((layer, kind), &packets)| DecodeIssueCount {
                layer: *layer,
                kind: *kind,
                packets,
            })
            .collect();
        Summary {
            files,
            packets: self.packets,
            bytes: self.wire_bytes,
            captured_bytes: self.captured_bytes,
            start: start.map(format_ts),
            end: end.map(format_ts),
            start_epoch: start.map(|s| s as f64 / 1e9),
            end_epoch: end.map(|e| e as f64 / 1e9),
            duration_s,
            out_of_order: self.packets > 0 && self.first_ts != self.min_ts,
            link_types,
            protocols,
            top_sources,
            top_destinations,
            top_destination_ports: ports,
            top_source_ports: source_ports,
            top_conversations,
            distinct_sources_estimate: self.distinct_sources.estimate(),
            distinct_destinations_estimate: self.distinct_destinations.estimate(),
            topk_error_bound: self
                .sources
                .error_bound()
                .max(self.destinations.error_bound())
                .max(self.conversations.error_bound()),
            series: Series {
                bucket_s,
                peak_pps,
                peak_bps,
                mean_pps,
                mean_bps,
                points,
            },
            damage: Damage {
                records_damaged: self.damage_total,
                records_skipped: self.records_skipped,
                files_stopped_early: self.files_stopped,
                by_kind: self
                    .damage_by_kind
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect(),
                messages: self.damage_messages,
            },
            decode: DecodeStats {
                truncated_by_snaplen: self.truncated_by_snaplen,
                undecodable,
            },
        }
    }
}

/// `x` as a share of `total`, rounded to four decimals (0 when there is no total).
fn share(x: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (x as f64 / total as f64 * 10_000.0).round() / 10_000.0
    }
}

/// The `top_n` busiest TCP and UDP ports of two tables, busiest first.
fn top_ports(tcp: &PortCounts, udp: &PortCounts, top_n: usize) -> Vec<PortCount> {
    // Keep only the `top_n` best while scanning: a spoofed flood has tens of thousands
    // of source ports, and sorting them all is wasted work.
    let order = |a: &PortCount, b: &PortCount| {
        b.packets
            .cmp(&a.packets)
            .then(a.proto.cmp(b.proto))
            .then(a.port.cmp(&b.port))
    };
    let mut best: Vec<PortCount> = Vec::with_capacity(top_n + 1);
    if top_n == 0 {
        return best;
    }
    for (proto, table) in [("tcp", tcp), ("udp", udp)] {
        for (port, packets) in table.nonzero() {
            if best.len() == top_n && packets <= best[top_n - 1].packets {
                continue;
            }
            let entry = PortCount {
                proto,
                port,
                packets,
            };
            let at = best.partition_point(|b| order(b, &entry).is_lt());
            best.insert(at, entry);
            best.truncate(top_n);
        }
    }
    best
}

/// An address as one integer: IPv6 as is, IPv4 as IPv4-mapped IPv6.
#[inline]
fn addr_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address back from [`addr_key`]. An IPv4-mapped IPv6 address on the wire (never routed)
/// would print as IPv4.
fn key_addr(k: u128) -> IpAddr {
    std::net::Ipv6Addr::from(k).to_canonical()
}

/// ISO 8601 UTC with microseconds, from nanoseconds since 1970 (levee's one timestamp
/// format, shared with the access logs).
pub use levee_logs::time::format_ts;

/// One capture file read.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    /// Its path (`-` for standard input).
    pub name: String,
    /// `pcap` or `pcapng` (with the pcap's time resolution).
    pub format: String,
    /// `none`, `gzip`, `zstd`, `xz` or `bzip2`.
    pub compression: String,
    /// Packets read from it.
    pub packets: u64,
    /// What it held when it is a capture of flow exports (its packets are then the export
    /// datagrams, and the traffic is what their records describe).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows: Option<FlowExports>,
}

/// What a capture of flow exports held: its records stand for the traffic.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowExports {
    /// Export datagrams read.
    pub datagrams: u64,
    /// Datagrams refused as damaged (each told as it was read).
    pub damaged_datagrams: u64,
    /// Packets of the capture that were not export datagrams.
    pub other_packets: u64,
    /// Flow records decoded (for sFlow, packet samples).
    pub records: u64,
    /// The export formats seen (`NetFlow v5`, `NetFlow v9`, `IPFIX`, `sFlow v5`).
    pub formats: Vec<String>,
    /// The exporters, by address (the first 64).
    pub exporters: Vec<String>,
    /// Packets and bytes the records counted, before scaling by their sampling rates.
    pub counted_packets: u64,
    /// See [`FlowExports::counted_packets`].
    pub counted_bytes: u64,
    /// The sampling rates, with the records at each; whether the export stated the rate or it
    /// was assumed (`--sampling-rate`, else 1).
    pub sampling: Vec<SamplingRate>,
    /// Data sets dropped because their template never came.
    pub unexplained_sets: u64,
}

/// Records sampled at one rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SamplingRate {
    /// One packet in this many was counted.
    pub rate: u64,
    /// Whether the export said so (else it was assumed).
    pub stated: bool,
    /// Records at this rate.
    pub records: u64,
}

impl FlowExports {
    /// Whether any figure is scaled from samples (an estimate).
    pub fn sampled(&self) -> bool {
        self.sampling.iter().any(|s| s.rate > 1)
    }

    /// What flows leave out, said once wherever flows are analysed.
    pub const LIMITS: &'static str = "flow records carry no payload, no per-packet TTL (unless \
        exported), TCP window, IP id or options, and not the order of a handshake's packets; \
        packet sizes are each record's mean; bytes are IP bytes, as exporters count them";
}

impl std::fmt::Display for FlowExports {
    /// `1,262 NetFlow v9 datagrams from 127.0.0.1: 37,840 flow records; sampling 1 in 1000
    /// (stated by the export): figures are estimates scaled to the wire`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::units::thousands;
        let exporters = match self.exporters.as_slice() {
            [one] => one.clone(),
            many => format!("{} exporters", many.len()),
        };
        if self.datagrams > 0 {
            write!(
                f,
                "{} {} datagrams from {exporters}: {} flow records",
                thousands(self.datagrams),
                self.formats.join(" and "),
                thousands(self.records)
            )?;
        } else {
            // Records another collector wrote (JSON): no datagram was read.
            write!(
                f,
                "{} flow records ({}) from {exporters}",
                thousands(self.records),
                self.formats.join(" and ")
            )?;
        }
        if self.damaged_datagrams > 0 {
            let what = if self.datagrams > 0 {
                "datagrams"
            } else {
                "records"
            };
            write!(
                f,
                " ({} damaged {what} skipped)",
                thousands(self.damaged_datagrams)
            )?;
        }
        if self.unexplained_sets > 0 {
            write!(
                f,
                " ({} data sets whose template never came)",
                thousands(self.unexplained_sets)
            )?;
        }
        let rates: Vec<String> = self
            .sampling
            .iter()
            .map(|s| {
                let how = if s.stated {
                    "stated by the export"
                } else {
                    "assumed: the export does not say; --sampling-rate N sets it"
                };
                format!("1 in {} ({how})", thousands(s.rate))
            })
            .collect();
        write!(f, "; sampling {}", rates.join(", "))?;
        if self.sampled() {
            write!(f, ": figures are estimates, scaled to the wire")?;
        }
        Ok(())
    }
}

/// Packets of one link type.
#[derive(Debug, Serialize)]
pub struct LinkTypeCount {
    /// The LINKTYPE_ value.
    pub linktype: u32,
    /// Its name.
    pub name: String,
    /// Its packets.
    pub packets: u64,
}

/// One node of the protocol hierarchy (like `tshark -z io,phs`).
#[derive(Debug, Serialize)]
pub struct ProtocolCount {
    /// The protocols from the link layer down, joined by `:` (`eth:ip:tcp:tls`).
    pub path: String,
    /// The last of them.
    pub protocol: String,
    /// How deep it is (0 for the link layer).
    pub depth: usize,
    /// Packets that reached it.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Share of all packets.
    pub packet_share: f64,
    /// Share of all bytes.
    pub byte_share: f64,
}

/// A busy address.
#[derive(Debug, Serialize)]
pub struct Talker {
    /// The address.
    pub ip: String,
    /// Its packets (sketch estimate).
    pub packets: u64,
    /// Share of all packets.
    pub packet_share: f64,
}

/// A busy pair of addresses, either direction.
#[derive(Debug, Serialize)]
pub struct Conversation {
    /// One address (the lower).
    pub a: String,
    /// The other.
    pub b: String,
    /// Their packets (sketch estimate).
    pub packets: u64,
}

/// A busy port.
#[derive(Debug, Serialize)]
pub struct PortCount {
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// The port.
    pub port: u16,
    /// Its packets.
    pub packets: u64,
}

/// One bucket of the rate series.
#[derive(Debug, Serialize)]
pub struct SeriesPoint {
    /// Bucket start, seconds since 1970.
    pub t: f64,
    /// Packets in the bucket.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Packets a second in the bucket.
    pub pps: f64,
    /// Bits a second in the bucket.
    pub bps: f64,
}

/// Packets and bits a second over the capture.
#[derive(Debug, Serialize)]
pub struct Series {
    /// Width of a bucket, in seconds.
    pub bucket_s: f64,
    /// The highest packet rate of a bucket.
    pub peak_pps: f64,
    /// The highest bit rate of a bucket.
    pub peak_bps: f64,
    /// Packets and bits per second over the whole capture (first to last packet).
    pub mean_pps: f64,
    /// Bits per second over the whole capture.
    pub mean_bps: f64,
    /// The buckets, in time order.
    pub points: Vec<SeriesPoint>,
}

/// Damaged records met while reading.
#[derive(Debug, Serialize)]
pub struct Damage {
    /// Records flagged as damaged and still read.
    pub records_damaged: u64,
    /// Records skipped.
    pub records_skipped: u64,
    /// Files whose reading stopped before their end.
    pub files_stopped_early: u64,
    /// Damaged records by kind of problem.
    pub by_kind: BTreeMap<String, u64>,
    /// The first problems, word for word (the rest are counted).
    pub messages: Vec<String>,
}

/// Packets whose decoding stopped early at one layer, for one reason.
#[derive(Debug, Serialize)]
pub struct DecodeIssueCount {
    /// The layer.
    pub layer: Layer,
    /// The reason.
    pub kind: IssueKind,
    /// The packets.
    pub packets: u64,
}

/// What decoding could not read.
#[derive(Debug, Serialize)]
pub struct DecodeStats {
    /// Packets cut short by the capture's snapshot length.
    pub truncated_by_snaplen: u64,
    /// Packets whose decoding stopped early, by layer and reason.
    pub undecodable: Vec<DecodeIssueCount>,
}

/// The result of `levee summary`; its JSON form is documented in `docs/summary-json.md`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The captures read.
    pub files: Vec<FileInfo>,
    /// Packets read.
    pub packets: u64,
    /// Bytes on the wire.
    pub bytes: u64,
    /// Bytes captured (at most the snapshot length of each packet).
    pub captured_bytes: u64,
    /// The earliest packet's time (UTC, RFC 3339).
    pub start: Option<String>,
    /// The latest packet's time (UTC, RFC 3339).
    pub end: Option<String>,
    /// The earliest packet's time, seconds since 1970.
    pub start_epoch: Option<f64>,
    /// The latest packet's time, seconds since 1970.
    pub end_epoch: Option<f64>,
    /// From the earliest packet to the latest, in seconds.
    pub duration_s: f64,
    /// Whether the first packet read is not the earliest (packets out of time order).
    pub out_of_order: bool,
    /// Packets by link type.
    pub link_types: Vec<LinkTypeCount>,
    /// The protocol hierarchy.
    pub protocols: Vec<ProtocolCount>,
    /// The busiest sources.
    pub top_sources: Vec<Talker>,
    /// The busiest destinations.
    pub top_destinations: Vec<Talker>,
    /// The busiest destination ports.
    pub top_destination_ports: Vec<PortCount>,
    /// The busiest source ports.
    pub top_source_ports: Vec<PortCount>,
    /// The busiest conversations.
    pub top_conversations: Vec<Conversation>,
    /// Distinct source addresses (estimated).
    pub distinct_sources_estimate: u64,
    /// Distinct destination addresses (estimated).
    pub distinct_destinations_estimate: u64,
    /// The most a count of a top list may differ from the truth.
    pub topk_error_bound: u64,
    /// Packets and bits a second, bucket by bucket.
    pub series: Series,
    /// Damaged records met while reading.
    pub damage: Damage,
    /// What decoding could not read.
    pub decode: DecodeStats,
}

/// Counts `n` packets on `port` (one, but for a part of a flow record).
#[inline(always)]
fn count_port(counts: &mut PortCounts, port: u16, n: u64) {
    if n == 1 {
        counts.add(port);
    } else {
        counts.add_n(port, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_utc() {
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_ts(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            format_ts(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn series_stays_bounded_under_wild_timestamps() {
        let mut b = SummaryBuilder::new(1_000_000_000);
        let frame = [0u8; 0];
        let p = levee_decode::decode(levee_decode::linktype::RAW, &frame, 0);
        for i in 0..(MAX_SERIES_POINTS as i64 * 3) {
            b.add(i * 7_000_000_000, &p);
        }
        let s = b.finish(vec![], 10);
        assert!(s.series.points.len() <= MAX_SERIES_POINTS + 1);
        assert_eq!(
            s.series.points.iter().map(|p| p.packets).sum::<u64>(),
            s.packets
        );
    }
}
