//! What a report shows of each attack beyond its counts, gathered in the second pass when asked
//! for ([`crate::Plan::collect_details`]): a timeline of the whole capture at a resolution fit
//! for a chart, exact TTL, length and port histograms of each attack's packets, its heaviest
//! sources (a bounded sketch, for country and AS lookups) and a few decoded sample packets.
//!
//! `levee analyze` does not pay for this: the collector only exists when a report asks.

use std::net::IpAddr;

use levee_decode::{Packet, Transport};
use serde::Serialize;

use crate::sketch::TopK;
use crate::stats::{bin_high, bin_low, len_bin, LEN_BINS};
use crate::vector::addr_from_bits;

/// Sample packets kept per attack.
pub const SAMPLES_PER_ATTACK: usize = 3;

/// The timeline has at most about this many points, whatever the capture's length.
pub const TIMELINE_POINTS: i64 = 600;

/// Heaviest sources followed per attack.
const SOURCE_TOPK: usize = 1024;

/// Payload bytes shown with a sample packet.
const SAMPLE_PAYLOAD: usize = 64;

/// Whether a sample packet leaves a field out: each TCP flag on its own (`tcp.flags.str` says
/// them all), the JA3 string the JA3 hash stands for, and the payload fields (its first
/// bytes are shown apart).
fn left_out_of_samples(name: &str) -> bool {
    levee_rules::field::tcp_flag_bit(name).is_some()
        || name == "tls.ja3_string"
        || levee_decode::field_def(name).is_some_and(|f| f.kind == levee_decode::FieldKind::Bytes)
}

/// The width of a timeline bucket for a capture spanning `span_ns`: a round (1, 2 or 5 ×
/// 10^k) duration giving about [`TIMELINE_POINTS`] points, never finer than a millisecond. It
/// is independent of the analysis bucket: a three-second capture still gets a readable chart,
/// and a day-long one stays small.
pub fn timeline_bucket(span_ns: i64) -> i64 {
    let needed = (span_ns.max(0) / TIMELINE_POINTS).max(1_000_000);
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            let c = step.saturating_mul(m);
            if c >= needed {
                return c;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// One decoded packet of an attack, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Capture time, nanoseconds since the epoch.
    #[serde(skip)]
    pub ts_nanos: i64,
    /// Capture time (UTC, RFC 3339).
    pub time: String,
    /// Every field the packet has, by its rule-language name, in `levee fields --list` order.
    pub fields: Vec<(String, String)>,
    /// The first bytes after the transport header, in hex.
    pub payload_hex: String,
    /// Bytes after the transport header.
    pub payload_len: usize,
}

impl Sample {
    fn of(ts: i64, p: &Packet<'_>) -> Sample {
        let names: Vec<&str> = levee_decode::FIELDS
            .iter()
            .map(|f| f.name)
            .filter(|n| !left_out_of_samples(n))
            .collect();
        let fields = names
            .iter()
            .zip(p.fields(&names))
            .filter_map(|(n, v)| v.map(|v| (n.to_string(), v.to_string())))
            .collect();
        let shown = &p.payload[..p.payload.len().min(SAMPLE_PAYLOAD)];
        Sample {
            ts_nanos: ts,
            time: crate::summary::format_ts(ts),
            fields,
            payload_hex: shown.iter().map(|b| format!("{b:02x}")).collect(),
            payload_len: p.payload.len(),
        }
    }
}

/// Per-attack collector of one thread.
struct AttackCollector {
    series: Vec<(u64, u64)>,
    ttl: Box<[u64; 256]>,
    lengths: Vec<u64>,
    /// Exact per-port counts; allocated on the first TCP or UDP packet.
    src_ports: Vec<u64>,
    dst_ports: Vec<u64>,
    sources: TopK<u128>,
    samples: Vec<Sample>,
}

impl AttackCollector {
    fn new() -> AttackCollector {
        AttackCollector {
            series: Vec::new(),
            ttl: Box::new([0; 256]),
            lengths: vec![0; LEN_BINS],
            src_ports: Vec::new(),
            dst_ports: Vec::new(),
            sources: TopK::new(SOURCE_TOPK),
            samples: Vec::new(),
        }
    }

    fn merge(&mut self, o: AttackCollector) {
        add_series(&mut self.series, &o.series);
        for (a, b) in self.ttl.iter_mut().zip(o.ttl.iter()) {
            *a += b;
        }
        for (a, b) in self.lengths.iter_mut().zip(&o.lengths) {
            *a += b;
        }
        for (mine, theirs) in [
            (&mut self.src_ports, o.src_ports),
            (&mut self.dst_ports, o.dst_ports),
        ] {
            if mine.is_empty() {
                *mine = theirs;
            } else {
                for (a, b) in mine.iter_mut().zip(theirs) {
                    *a += b;
                }
            }
        }
        self.sources.merge(&o.sources);
        self.samples.extend(o.samples);
        sort_samples(&mut self.samples);
        self.samples.truncate(SAMPLES_PER_ATTACK);
    }
}

fn add_series(into: &mut Vec<(u64, u64)>, from: &[(u64, u64)]) {
    if from.len() > into.len() {
        into.resize(from.len(), (0, 0));
    }
    for (a, b) in into.iter_mut().zip(from) {
        a.0 += b.0;
        a.1 += b.1;
    }
}

#[inline]
fn count_at(series: &mut Vec<(u64, u64)>, idx: usize, n: u64, bytes: u64) {
    if idx >= series.len() {
        series.resize(idx + 1, (0, 0));
    }
    series[idx].0 += n;
    series[idx].1 += bytes;
}

/// The second pass's collector of one thread.
pub(crate) struct Collector {
    bucket_ns: i64,
    /// Bucket number of the first packet of the capture.
    base: i64,
    /// Buckets past this are not kept (a damaged timestamp far in the future must not grow the
    /// series without bound).
    max_buckets: usize,
    total: Vec<(u64, u64)>,
    attacks: Vec<AttackCollector>,
    /// Whether packets carry their TTL (flow records do not).
    pub(crate) ttl_known: bool,
}

impl Collector {
    pub(crate) fn new(findings: usize, start_ns: i64, end_ns: i64) -> Collector {
        let bucket_ns = timeline_bucket(end_ns - start_ns);
        let base = start_ns.div_euclid(bucket_ns);
        let max_buckets = ((end_ns.div_euclid(bucket_ns) - base).max(0) as usize + 1)
            .min(4 * TIMELINE_POINTS as usize);
        Collector {
            bucket_ns,
            base,
            max_buckets,
            total: Vec::new(),
            attacks: (0..findings).map(|_| AttackCollector::new()).collect(),
            ttl_known: true,
        }
    }

    /// A fresh collector of the same shape, for another thread.
    pub(crate) fn fresh(&self) -> Collector {
        Collector {
            bucket_ns: self.bucket_ns,
            base: self.base,
            max_buckets: self.max_buckets,
            total: Vec::new(),
            attacks: (0..self.attacks.len())
                .map(|_| AttackCollector::new())
                .collect(),
            ttl_known: self.ttl_known,
        }
    }

    /// Counts one packet; `members[i]` says whether it belongs to finding `i`.
    #[inline]
    pub(crate) fn add(&mut self, ts: i64, p: &Packet<'_>, members: &[bool]) {
        let idx = (ts.div_euclid(self.bucket_ns) - self.base).max(0) as usize;
        let in_range = idx < self.max_buckets;
        // A flow record's part stands for `n` packets alike (see `Packet::count`).
        let n = p.count;
        let bytes = u64::from(p.wire_len) * n;
        if in_range {
            count_at(&mut self.total, idx, n, bytes);
        }
        for (a, _) in self.attacks.iter_mut().zip(members).filter(|(_, &m)| m) {
            if in_range {
                count_at(&mut a.series, idx, n, bytes);
            }
            let Some(ip) = p.ip.as_ref() else { continue };
            if self.ttl_known {
                a.ttl[usize::from(ip.ttl)] += n;
            }
            a.lengths[len_bin(ip.len)] += n;
            let ports = match p.transport {
                Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
                Transport::Udp(u) => Some((u.src_port, u.dst_port)),
                _ => None,
            };
            if let Some((sp, dp)) = ports {
                if a.src_ports.is_empty() {
                    a.src_ports = vec![0; 65536];
                    a.dst_ports = vec![0; 65536];
                }
                a.src_ports[usize::from(sp)] += n;
                a.dst_ports[usize::from(dp)] += n;
            }
            a.sources.add(crate::vector::addr_bits(ip.src), n);
            if a.samples.len() < SAMPLES_PER_ATTACK {
                a.samples.push(Sample::of(ts, p));
            }
        }
    }

    pub(crate) fn merge(&mut self, o: Collector) {
        add_series(&mut self.total, &o.total);
        for (a, b) in self.attacks.iter_mut().zip(o.attacks) {
            a.merge(b);
        }
    }

    pub(crate) fn finish(&self) -> Details {
        let len = self.total.len();
        let column = |s: &[(u64, u64)], bytes: bool| -> Vec<u64> {
            (0..len)
                .map(|i| s.get(i).map_or(0, |x| if bytes { x.1 } else { x.0 }))
                .collect()
        };
        Details {
            timeline: Timeline {
                bucket_s: self.bucket_ns as f64 / 1e9,
                start_epoch: (self.base * self.bucket_ns) as f64 / 1e9,
                packets: column(&self.total, false),
                bytes: column(&self.total, true),
                attack_packets: self
                    .attacks
                    .iter()
                    .map(|a| column(&a.series, false))
                    .collect(),
                attack_bytes: self
                    .attacks
                    .iter()
                    .map(|a| column(&a.series, true))
                    .collect(),
            },
            attacks: self.attacks.iter().map(attack_details).collect(),
        }
    }
}

fn attack_details(a: &AttackCollector) -> AttackDetails {
    let ports = |v: &[u64]| -> PortHistogram {
        let mut nonzero: Vec<(u16, u64)> = v
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(p, &c)| (p as u16, c))
            .collect();
        let distinct = nonzero.len() as u64;
        let total = nonzero.iter().map(|x| x.1).sum();
        nonzero.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        nonzero.truncate(PORTS_SHOWN);
        PortHistogram {
            distinct,
            packets: total,
            top: nonzero,
        }
    };
    AttackDetails {
        ttl: a
            .ttl
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(t, &c)| (t as u8, c))
            .collect(),
        lengths: a
            .lengths
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(b, &c)| LengthBin {
                low: bin_low(b),
                high: bin_high(b),
                packets: c,
            })
            .collect(),
        source_ports: ports(&a.src_ports),
        destination_ports: ports(&a.dst_ports),
        sources: a
            .sources
            .top(SOURCE_TOPK)
            .into_iter()
            .map(|(s, c)| (addr_from_bits(s), c))
            .collect(),
        sources_total: a.sources.total(),
        sources_error: a.sources.error_bound(),
        samples: {
            let mut samples = a.samples.clone();
            sort_samples(&mut samples);
            samples
        },
    }
}

/// Samples in time order, packets of the same time by their contents: the same order however
/// many threads gathered them (a thread's packets reach the merge after another's).
fn sort_samples(samples: &mut [Sample]) {
    samples.sort_by(|a, b| {
        (a.ts_nanos, &a.fields, &a.payload_hex).cmp(&(b.ts_nanos, &b.fields, &b.payload_hex))
    });
}

/// Ports listed per histogram.
const PORTS_SHOWN: usize = 20;

/// Everything [`crate::Plan::details`] returns: the timeline and, per finding, its details.
#[derive(Debug, Clone)]
pub struct Details {
    /// Packets and bytes per bucket, in all and per finding.
    pub timeline: Timeline,
    /// Indexed by finding ([`crate::report::Attack::finding`]).
    pub attacks: Vec<AttackDetails>,
}

/// Packets and bytes per bucket over the whole capture, in all and per finding.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Width of a bucket, in seconds.
    pub bucket_s: f64,
    /// Start of the first bucket (seconds since the epoch).
    pub start_epoch: f64,
    /// Packets per bucket.
    pub packets: Vec<u64>,
    /// Bytes per bucket.
    pub bytes: Vec<u64>,
    /// Per finding, the same buckets.
    pub attack_packets: Vec<Vec<u64>>,
    /// Per finding, bytes per bucket.
    pub attack_bytes: Vec<Vec<u64>>,
}

/// Exact histograms of one attack's packets, its heaviest sources and sample packets.
#[derive(Debug, Clone)]
pub struct AttackDetails {
    /// (TTL, packets) for every TTL seen.
    pub ttl: Vec<(u8, u64)>,
    /// IP total length bins (exact below 2048 bytes) holding packets.
    pub lengths: Vec<LengthBin>,
    /// Source ports, exact.
    pub source_ports: PortHistogram,
    /// Destination ports, exact.
    pub destination_ports: PortHistogram,
    /// The heaviest sources (lower-bound counts), heaviest first.
    pub sources: Vec<(IpAddr, u64)>,
    /// Packets the source sketch counted (the attack's packets with an IP header).
    pub sources_total: u64,
    /// The most any source's count may be below its true count.
    pub sources_error: u64,
    /// A few of the attack's packets, decoded.
    pub samples: Vec<Sample>,
}

/// A bar of the IP length histogram.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LengthBin {
    /// Its lowest length.
    pub low: u32,
    /// Its highest length.
    pub high: u32,
    /// Packets of a length in `low..=high`.
    pub packets: u64,
}

/// The ports of an attack's packets.
#[derive(Debug, Clone, Serialize)]
pub struct PortHistogram {
    /// Distinct ports seen.
    pub distinct: u64,
    /// Packets that had ports (TCP or UDP).
    pub packets: u64,
    /// The busiest ports, busiest first.
    pub top: Vec<(u16, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_bucket_is_a_round_duration_giving_about_600_points() {
        let s = 1_000_000_000;
        // Three seconds: 5 ms.
        assert_eq!(timeline_bucket(3 * s), 5_000_000);
        // Ten minutes: 1 s.
        assert_eq!(timeline_bucket(600 * s), s);
        // One hour: 6 s → 10 s.
        assert_eq!(timeline_bucket(3600 * s), 10 * s);
        // One day: 144 s → 200 s.
        assert_eq!(timeline_bucket(86_400 * s), 200 * s);
        // Never finer than a millisecond.
        assert_eq!(timeline_bucket(0), 1_000_000);
        for span in [0, 1, 12345, 10 * s, 1_000_000 * s] {
            let b = timeline_bucket(span);
            assert!(span / b <= TIMELINE_POINTS, "{span} → {b}");
        }
    }

    #[test]
    fn collector_counts_members_only_and_bounds_the_series() {
        let s = 1_000_000_000i64;
        let mut c = Collector::new(2, 100 * s, 106 * s);
        let frame = levee_synth_free_udp_frame();
        let p = levee_decode::decode(1, &frame, frame.len() as u32);
        c.add(100 * s, &p, &[true, false]);
        c.add(105 * s, &p, &[true, true]);
        // A timestamp far past the end is counted in the histograms but not the timeline.
        c.add(100_000 * s, &p, &[true, false]);
        let d = c.finish();
        assert_eq!(d.timeline.packets.iter().sum::<u64>(), 2);
        assert_eq!(d.timeline.bucket_s, 0.01);
        assert_eq!(d.timeline.attack_packets[0].iter().sum::<u64>(), 2);
        assert_eq!(d.timeline.attack_packets[0][500], 1);
        assert_eq!(d.timeline.attack_packets[1][500], 1);
        assert_eq!(d.timeline.attack_packets[1].iter().sum::<u64>(), 1);
        assert_eq!(d.attacks[0].ttl, vec![(64, 3)]);
        assert_eq!(d.attacks[0].source_ports.top, vec![(53, 3)]);
        assert_eq!(d.attacks[0].destination_ports.top, vec![(4444, 3)]);
        assert_eq!(d.attacks[1].samples.len(), 1);
        assert_eq!(d.attacks[0].samples.len(), 3);
        let f = &d.attacks[1].samples[0].fields;
        assert!(f.contains(&("ip.src".into(), "192.0.2.1".into())), "{f:?}");
        assert!(f.contains(&("udp.srcport".into(), "53".into())), "{f:?}");
        assert_eq!(d.attacks[1].samples[0].payload_hex, "deadbeef");
    }

    /// An Ethernet/IPv4/UDP frame 192.0.2.1:53 → 198.51.100.2:4444, TTL 64, payload
    /// de ad be ef.
    fn levee_synth_free_udp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let payload = [0xde, 0xad, 0xbe, 0xef];
        let total = 20 + 8 + payload.len() as u16;
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, 17]);
        f.extend_from_slice(&[0, 0, 192, 0, 2, 1, 198, 51, 100, 2]);
        let udp_len = 8 + payload.len() as u16;
        f.extend_from_slice(&[0, 53, 0x11, 0x5c, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
        f.extend_from_slice(&payload);
        f
    }
}
