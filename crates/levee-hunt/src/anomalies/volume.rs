//! **outbound-volume**: data leaving, exfiltration or staging, shows as a host sending far
//! more than it usually does.
//!
//! A host is inside when its address is private ([`super::is_internal`]); its outbound bytes
//! are those it sends to addresses that are not, counted per minute (packets' lengths on the
//! wire; a flow record's bytes, scaled by its sampling, in the minute it ended, as exporters
//! send them). Its baseline is the mean of its minutes weighted to the recent (α = 0.1, idle
//! minutes counting as none), starting from its first minute. A minute is judged once the
//! host has [`HISTORY_MINUTES`] minutes behind it, against a baseline of at least 1 MB: a
//! minute of [`MIN_BYTES`] or more at 10 times the baseline or more is a spike, and the
//! host's worst is the finding.
//!
//! score = min(100, 30 × log10(minute / baseline)): 30 at 10 times, 60 at 100, 90 at 1,000.
//! The evidence names the minute, its bytes, the baseline and the destinations that took the
//! most. Bounded: [`MAX_HOSTS`] hosts, each with its [`TOP_DESTINATIONS`] biggest destinations
//! of the minute.

use std::collections::HashMap;
use std::net::IpAddr;

use levee_decode::Packet;

use super::{is_internal, stays_on_the_link, Finding, FindingKind};

/// Inside hosts followed at most.
pub const MAX_HOSTS: usize = 1 << 16;
/// Minutes of a host's history before its minutes are judged.
pub const HISTORY_MINUTES: i64 = 10;
/// Bytes of a minute below which it is no spike.
pub const MIN_BYTES: u64 = 10_000_000;
/// Destinations kept per host and minute.
pub const TOP_DESTINATIONS: usize = 8;
/// The least baseline a minute is compared with, bytes.
const FLOOR_BYTES: f64 = 1_000_000.0;
/// The weight of a new minute in the baseline.
const ALPHA: f64 = 0.1;
const MINUTE_NS: i64 = 60_000_000_000;

/// A host's worst minute.
struct Spike {
    minute: i64,
    bytes: u64,
    baseline: f64,
    to: Vec<(IpAddr, u64)>,
}

impl Spike {
    fn ratio(&self) -> f64 {
        self.bytes as f64 / self.baseline.max(FLOOR_BYTES)
    }
}

/// One inside host's outbound bytes.
struct Host {
    first_minute: i64,
    minute: i64,
    bytes: u64,
    /// The minute's biggest destinations; beyond [`TOP_DESTINATIONS`], bytes to others count
    /// in `bytes` only.
    to: Vec<(IpAddr, u64)>,
    /// `None` until the first minute ends.
    baseline: Option<f64>,
    worst: Option<Spike>,
}

impl Host {
    fn add(&mut self, minute: i64, dst: IpAddr, bytes: u64) {
        // Flow records may end slightly out of order: a late one counts in the current minute.
        if minute > self.minute {
            self.close(minute);
        }
        self.bytes += bytes;
        if let Some(d) = self.to.iter_mut().find(|(a, _)| *a == dst) {
            d.1 += bytes;
        } else if self.to.len() < TOP_DESTINATIONS {
            self.to.push((dst, bytes));
        }
    }

    /// Ends the current minute, judging it, and starts `next`.
    fn close(&mut self, next: i64) {
        let bytes = self.bytes as f64;
        match self.baseline {
            None => self.baseline = Some(bytes),
            Some(baseline) => {
                let spike = Spike {
                    minute: self.minute,
                    bytes: self.bytes,
                    baseline,
                    to: std::mem::take(&mut self.to),
                };
                let judged = self.minute - self.first_minute >= HISTORY_MINUTES
                    && spike.bytes >= MIN_BYTES
                    && spike.ratio() >= 10.0;
                if judged
                    && self
                        .worst
                        .as_ref()
                        .map_or(true, |w| spike.ratio() > w.ratio())
                {
                    self.worst = Some(spike);
                }
                self.baseline = Some(ALPHA * bytes + (1.0 - ALPHA) * baseline);
            }
        }
        let idle = (next - self.minute - 1).clamp(0, 10_000) as i32;
        if let Some(b) = self.baseline.as_mut() {
            *b *= (1.0 - ALPHA).powi(idle);
        }
        self.minute = next;
        self.bytes = 0;
        self.to.clear();
    }
}

/// The outbound bytes of every inside host, per minute.
#[derive(Default)]
pub struct Volume {
    hosts: HashMap<IpAddr, Host, foldhash::fast::FixedState>,
}

impl Volume {
    /// Notes a packet at `ts`.
    #[inline]
    pub fn packet(&mut self, ts: i64, p: &Packet<'_>) {
        let Some(ip) = p.ip.as_ref() else { return };
        self.add(ts, ip.src, ip.dst, u64::from(p.wire_len));
    }

    /// Notes a flow record.
    pub fn flow(&mut self, r: &levee_flow::FlowRecord) {
        let (Some(src), Some(dst), Some(ts)) = (r.src, r.dst, r.end_ns.or(r.start_ns)) else {
            return;
        };
        self.add(
            ts,
            src,
            dst,
            r.bytes.saturating_mul(u64::from(r.sampling.max(1))),
        );
    }

    fn add(&mut self, ts: i64, src: IpAddr, dst: IpAddr, bytes: u64) {
        if !is_internal(src) || is_internal(dst) || stays_on_the_link(dst) {
            return;
        }
        let minute = ts.div_euclid(MINUTE_NS);
        if let Some(h) = self.hosts.get_mut(&src) {
            h.add(minute, dst, bytes);
            return;
        }
        if self.hosts.len() >= MAX_HOSTS {
            return;
        }
        let mut h = Host {
            first_minute: minute,
            minute,
            bytes: 0,
            to: Vec::new(),
            baseline: None,
            worst: None,
        };
        h.add(minute, dst, bytes);
        self.hosts.insert(src, h);
    }

    /// Each host's worst minute, when it is a spike.
    pub fn findings(mut self, file: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        for (host, h) in self.hosts.iter_mut() {
            let next = h.minute + 1;
            h.close(next);
            let Some(w) = h.worst.as_mut() else { continue };
            let ratio = w.ratio();
            let score = (30.0 * ratio.log10()).clamp(0.0, 100.0).round() as u8;
            w.to.sort_by_key(|d| std::cmp::Reverse(d.1));
            let to: Vec<String> =
                w.to.iter()
                    .take(3)
                    .map(|(a, b)| format!("{a} ({:.1} MB)", *b as f64 / 1e6))
                    .collect();
            out.push(Finding {
                kind: FindingKind::OutboundVolume,
                score,
                subject: format!("{host} -> outside"),
                evidence: format!(
                    "{:.1} MB out in one minute, {ratio:.0} times its baseline ({:.2} MB a minute, counted as 1 MB at least); most to {}",
                    w.bytes as f64 / 1e6,
                    w.baseline / 1e6,
                    to.join(", ")
                ),
                first_ns: w.minute * MINUTE_NS,
                last_ns: (w.minute + 1) * MINUTE_NS - 1,
                file: file.to_string(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(a: [u8; 4]) -> IpAddr {
        IpAddr::from(a)
    }

    #[test]
    fn a_minute_far_above_the_hosts_own_baseline_is_found() {
        let mut v = Volume::default();
        let m = MINUTE_NS;
        // 30 minutes of 2 MB a minute, then 300 MB in one, then quiet again.
        for minute in 0..30 {
            v.add(
                minute * m + 5,
                ip([10, 0, 0, 5]),
                ip([93, 184, 216, 34]),
                2_000_000,
            );
        }
        for i in 0..300 {
            v.add(
                30 * m + i,
                ip([10, 0, 0, 5]),
                ip([203, 0, 113, 9]),
                1_000_000,
            );
        }
        v.add(31 * m, ip([10, 0, 0, 5]), ip([93, 184, 216, 34]), 2_000_000);
        // Another host as busy all along, and inside traffic, which is not outbound.
        for minute in 0..32 {
            v.add(
                minute * m,
                ip([10, 0, 0, 6]),
                ip([198, 51, 100, 1]),
                300_000_000,
            );
            v.add(
                minute * m,
                ip([10, 0, 0, 7]),
                ip([10, 0, 0, 8]),
                900_000_000,
            );
        }
        let f = v.findings("x.pcap");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject, "10.0.0.5 -> outside");
        // 300 MB against 2 MB: 150 times, 30 × log10(150) = 65.
        assert_eq!(f[0].score, 65, "{f:?}");
        assert!(f[0].evidence.contains("203.0.113.9 (300.0 MB)"), "{f:?}");
    }

    #[test]
    fn a_host_too_new_to_have_a_baseline_is_not_judged() {
        let mut v = Volume::default();
        for minute in 0..5 {
            v.add(
                minute * MINUTE_NS,
                ip([10, 0, 0, 5]),
                ip([203, 0, 113, 9]),
                1_000,
            );
        }
        v.add(
            5 * MINUTE_NS,
            ip([10, 0, 0, 5]),
            ip([203, 0, 113, 9]),
            500_000_000,
        );
        assert!(v.findings("x.pcap").is_empty());
    }
}
