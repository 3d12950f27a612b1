//! `levee analyze`, first pass: every packet is classified ([`crate::vector`]) and counted into
//! its class's statistics, together with the evidence that separates attacks from heavy but
//! legitimate traffic:
//!
//! * **unsolicited**: a response (SYN-ACK, a reflection service's UDP answer) whose request was
//!   never seen going the other way;
//! * **unanswered**: UDP, ICMP or other traffic nobody ever answered;
//! * **unknown connection**: ACK, RST or FIN for a connection whose handshake was never seen and
//!   whose other side never spoke;
//! * **handshakes completed**: SYNs followed by the client's ACK;
//! * **scans**: per source, how many new (destination, port) pairs and new destinations it
//!   probed.
//!
//! Flows are remembered in blocked Bloom filters and sources in sketches, so memory stays fixed
//! whatever the number of spoofed addresses. [`Analyzer::detect`] then decides, class by class,
//! which hold attacks ([`crate::detect`]).

use levee_decode::{App, Packet, TcpFlags, Transport};

use crate::bloom::BlockedBloom;
use crate::sketch::{fmix64, mix_u128, TopK};
use crate::stats::{is_bogon, len_bin, Bucket, ClassStats};
use crate::vector::{addr_bits, Class, Classifier};

/// Settings of an analysis; the defaults are what `levee analyze` uses.
#[derive(Debug, Clone)]
pub struct AnalyzeConfig {
    /// Width of the time buckets rates are measured in.
    pub bucket_ns: i64,
    /// An attack must reach this many packets per second in some bucket.
    pub min_pps: f64,
    /// An attack must hold at least this many packets.
    pub min_packets: u64,
    /// A flood (not a reflection) must come from at least this many distinct sources, unless
    /// its rate rose at least `baseline_factor` times over the class's earlier traffic.
    pub min_flood_sources: u64,
    /// A reflection must come from at least this many distinct reflectors.
    pub min_reflectors: u64,
    /// Share of a class's packets in the attack window that must carry its evidence.
    pub min_evidence: f64,
    /// Rise over the class's own earlier traffic that counts as a change.
    pub baseline_factor: f64,
    /// A source probing at least this many new ports (or destinations) is a scanner.
    pub min_scan_probes: u64,
    /// Entries in the top lists of the report.
    pub top_n: usize,
    /// log2 of the size in bytes of each flow filter.
    pub bloom_log2_bytes: u32,
}

impl Default for AnalyzeConfig {
    fn default() -> Self {
        AnalyzeConfig {
            bucket_ns: 1_000_000_000,
            min_pps: 1000.0,
            min_packets: 500,
            min_flood_sources: 50,
            min_reflectors: 20,
            min_evidence: 0.8,
            baseline_factor: 10.0,
            min_scan_probes: 100,
            top_n: 10,
            bloom_log2_bytes: 23,
        }
    }
}

/// The most buckets a series keeps before halving its resolution.
const MAX_BUCKETS: usize = 1 << 14;

/// First-pass state.
pub struct Analyzer {
    pub(crate) config: AnalyzeConfig,
    classifier: Classifier,
    pub(crate) classes: Vec<Option<Box<ClassStats>>>,
    /// Every directional flow seen (5-tuple hash).
    flows: BlockedBloom,
    /// Directional flows that sent a SYN or a SYN-ACK.
    handshakes: BlockedBloom,
    /// Flows whose handshake completion was already counted.
    completed: BlockedBloom,
    /// (source, destination, port) and (source, destination) probes, for scans.
    probes: BlockedBloom,
    pub(crate) port_probes: TopK<u128>,
    pub(crate) host_probes: TopK<u128>,
    /// Completed handshakes per source, to tell scanners from busy clients.
    pub(crate) source_completions: TopK<u128>,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// Index 0 of every series is this bucket number (timestamp / bucket width).
    pub(crate) base_bucket: Option<i64>,
    pub(crate) bucket_ns: i64,
    pub(crate) total_series: Vec<Bucket>,
}

#[inline]
fn flow_hash(src: u128, dst: u128, sport: u16, dport: u16, proto: u8) -> u64 {
    fmix64(
        mix_u128(src)
            ^ mix_u128(dst).rotate_left(23)
            ^ (u64::from(sport) << 16 | u64::from(dport)) << 8
            ^ u64::from(proto),
    )
}

impl Analyzer {
    pub fn new(config: AnalyzeConfig) -> Analyzer {
        let bits = config.bloom_log2_bytes;
        Analyzer {
            bucket_ns: config.bucket_ns.max(1),
            classes: (0..Class::COUNT).map(|_| None).collect(),
            classifier: Classifier::default(),
            flows: BlockedBloom::new(bits),
            handshakes: BlockedBloom::new(bits),
            completed: BlockedBloom::new(bits - 2),
            probes: BlockedBloom::new(bits),
            port_probes: TopK::new(256),
            host_probes: TopK::new(256),
            source_completions: TopK::new(256),
            packets: 0,
            bytes: 0,
            start: i64::MAX,
            end: i64::MIN,
            base_bucket: None,
            total_series: Vec::new(),
            config,
        }
    }

    pub fn config(&self) -> &AnalyzeConfig {
        &self.config
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The series index of a timestamp, halving every series' resolution when it would not
    /// fit. Timestamps before the first bucket (out of order) count in the first bucket.
    fn bucket_index(&mut self, ts: i64) -> usize {
        let b = ts.div_euclid(self.bucket_ns);
        let base = *self.base_bucket.get_or_insert(b);
        let idx = (b - base).max(0) as u64;
        if idx >= MAX_BUCKETS as u64 {
            self.bucket_ns = self.bucket_ns.saturating_mul(2);
            let new_base = base.div_euclid(2);
            // Keep pairs aligned: an odd base shifts everything by one before halving.
            if base.rem_euclid(2) == 1 {
                self.shift_series_by_one();
            }
            self.base_bucket = Some(new_base);
            for c in self.classes.iter_mut().flatten() {
                c.coarsen();
            }
            coarsen_total(&mut self.total_series);
            return self.bucket_index(ts);
        }
        idx as usize
    }

    fn shift_series_by_one(&mut self) {
        for c in self.classes.iter_mut().flatten() {
            c.series.insert(0, Bucket::default());
        }
        self.total_series.insert(0, Bucket::default());
    }

    /// Counts one packet captured at `ts_nanos`.
    pub fn add(&mut self, ts_nanos: i64, p: &Packet<'_>) {
        self.packets += 1;
        let wire = u64::from(p.wire_len);
        self.bytes += wire;
        self.start = self.start.min(ts_nanos);
        self.end = self.end.max(ts_nanos);
        let class = self.classifier.classify(p);
        let idx = self.bucket_index(ts_nanos);
        if idx >= self.total_series.len() {
            self.total_series.resize(idx + 1, Bucket::default());
        }
        self.total_series[idx].packets += 1;
        self.total_series[idx].bytes += wire;

        let Some(ip) = p.ip.as_ref() else {
            let c = self.class_mut(class);
            c.packets += 1;
            c.bytes += wire;
            return;
        };
        let src = addr_bits(ip.src);
        let dst = addr_bits(ip.dst);
        let (sport, dport) = p.ports().unwrap_or((0, 0));
        let key = flow_hash(src, dst, sport, dport, ip.proto);
        let reverse = flow_hash(dst, src, dport, sport, ip.proto);
        let answered = self.flows.contains(reverse);
        self.flows.insert(key);

        // The evidence bit of this packet, by class.
        let flagged = match class {
            Class::Syn => {
                self.handshakes.insert(key);
                self.note_probe(src, dst, dport, ip.proto);
                true
            }
            Class::SynAck => {
                self.handshakes.insert(key);
                !answered
            }
            Class::Ack | Class::Rst | Class::Fin => {
                let known = self.handshakes.contains(key);
                if known && class == Class::Ack && !self.completed.insert(key) {
                    self.class_mut(Class::Syn).completed += 1;
                    self.source_completions.add_hashed(src, mix_u128(src), 1);
                }
                !known && !answered
            }
            Class::Udp | Class::Quic | Class::Icmp => {
                if !answered {
                    self.note_probe(src, dst, dport, ip.proto);
                }
                !answered
            }
            _ => !answered,
        };

        let c = self.class_mut(class);
        c.packets += 1;
        c.bytes += wire;
        c.first_ts = c.first_ts.min(ts_nanos);
        c.last_ts = c.last_ts.max(ts_nanos);
        let b = c.bucket(idx);
        b.packets += 1;
        b.bytes += wire;
        b.flagged += u64::from(flagged);
        c.flagged += u64::from(flagged);
        let hs = mix_u128(src);
        let hd = mix_u128(dst);
        c.distinct_sources.add_hash(hs);
        c.distinct_destinations.add_hash(hd);
        c.sources.add_hashed(src, hs, 1);
        c.destinations.add_hashed(dst, hd, 1);
        let prefix = if ip.version == 4 {
            dst & !0xff
        } else {
            dst & !((1u128 << 80) - 1)
        };
        c.destination_prefixes
            .add_hashed(prefix, mix_u128(prefix), 1);
        c.ttl[ip.ttl as usize] += 1;
        c.protocols[ip.proto as usize] += 1;
        c.ipv6 += u64::from(ip.version == 6);
        c.bogon_sources += u64::from(is_bogon(src));
        if ip.is_later_fragment() {
            c.later_fragments += 1;
            return;
        }
        c.lengths[len_bin(ip.len)] += 1;
        c.ip_ids.add(ip.id, 1);
        match &p.transport {
            Transport::Tcp(t) => {
                c.dst_ports[t.dst_port as usize] += 1;
                c.src_ports[t.src_port as usize] += 1;
                c.tcp_flags[(t.flags.0 & 0xff) as usize] += 1;
                c.windows.add(t.window, 1);
            }
            Transport::Udp(u) => {
                c.dst_ports[u.dst_port as usize] += 1;
                c.src_ports[u.src_port as usize] += 1;
            }
            Transport::Icmp(i) => c.icmp_types[i.icmp_type as usize] += 1,
            _ => {}
        }
        if let Some(dns) = c.dns.as_deref_mut() {
            if let App::Dns(d) = p.app() {
                if let Some(name) = d.qname.as_deref() {
                    dns.add(name, d.qtype);
                }
            }
        }
    }

    /// Counts a probe: a source reaching a (destination, port) it had not tried before (a
    /// retransmission or a second connection to the same port is not a new probe), and whether
    /// the destination itself is new for that source.
    fn note_probe(&mut self, src: u128, dst: u128, dport: u16, proto: u8) {
        let hs = mix_u128(src);
        let hd = mix_u128(dst).rotate_left(7);
        let port_key = fmix64(hs ^ hd ^ (u64::from(dport) << 8 | u64::from(proto)) ^ 0x5ca9);
        if self.probes.insert(port_key) {
            return;
        }
        self.port_probes.add_hashed(src, hs, 1);
        if !self.probes.insert(fmix64(hs ^ hd ^ 0x4057_0000_0000)) {
            self.host_probes.add_hashed(src, hs, 1);
        }
    }

    fn class_mut(&mut self, class: Class) -> &mut ClassStats {
        self.classes[class.index()].get_or_insert_with(|| {
            let dns = class == Class::DnsQuery || class.service().is_some_and(|s| s.port == 53);
            Box::new(ClassStats::new(dns))
        })
    }

    pub(crate) fn class(&self, class: Class) -> Option<&ClassStats> {
        self.classes[class.index()].as_deref()
    }

    /// Whether any flow filter is so full that its answers are unreliable.
    pub(crate) fn filter_saturation(&self) -> f64 {
        self.flows
            .false_positive_rate()
            .max(self.handshakes.false_positive_rate())
    }

    /// The classifier to use in the second pass: a fresh one, so later fragments are joined to
    /// their first fragments exactly as in the first pass.
    pub fn second_pass_classifier() -> Classifier {
        Classifier::default()
    }
}

fn coarsen_total(series: &mut Vec<Bucket>) {
    let n = series.len().div_ceil(2);
    for i in 0..n {
        let mut b = series[2 * i];
        if let Some(next) = series.get(2 * i + 1) {
            b.packets += next.packets;
            b.bytes += next.bytes;
            b.flagged += next.flagged;
        }
        series[i] = b;
    }
    series.truncate(n);
}

/// Whether TCP flags are a pure SYN (for callers building signatures).
pub fn is_pure_syn(flags: TcpFlags) -> bool {
    flags.0 & 0x3f == TcpFlags::SYN
}
