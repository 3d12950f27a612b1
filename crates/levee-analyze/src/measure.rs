//! `levee analyze`, second pass: every attack's packets are counted (packets, bytes, start,
//! end, peak rates), and every signature candidate is evaluated on every packet, so coverage
//! (share of the attack it matches) and collateral (share of everything else it matches) are
//! measured on the capture itself. On a large capture the pass runs over the uniform sample the
//! first pass kept in memory ([`crate::sample`]), each packet counting for the packets it
//! stands for: the figures are then estimates, and the report says so.

use std::sync::Arc;

use levee_decode::Packet;

use crate::analyze::Analyzer;
use crate::detect::{bucket_rates, detect, sizes, Dismissal, Finding};
use crate::report::{
    Analysis, Attack, CaptureInfo, Dismissed, MeasuredExpression, PortCount, Settings, Signature,
    SourceCount, Sources, Target, TtlSummary,
};
use crate::stats::{ClassStats, SecondPeak, SECOND_NS};
use crate::summary::{format_ts, FileInfo};
use crate::target::TargetSpec;
use crate::units::{bits_rate, rate, short_span, span_words, thousands};
use crate::vector::{addr_bits, addr_from_bits, Class, Classifier};

/// Coverage a signature should reach.
pub const TARGET_COVERAGE: f64 = 0.95;

/// Collateral a signature reaching [`TARGET_COVERAGE`] should stay within.
pub const MAX_COLLATERAL: f64 = 0.001;

struct AttackCount {
    /// The watched sources (sorted) and, for each, its packets measured (not weighted) and the
    /// set of TTLs it used.
    ttl_watch: Vec<(u128, u64, [u64; 4])>,
    packets: u64,
    bytes: u64,
    first: i64,
    last: i64,
    series: Vec<(u64, u64)>,
    /// The busiest second's packets and bytes, whatever width the buckets grew to.
    second_packets: SecondPeak,
    second_bytes: SecondPeak,
    /// Per candidate: (matched attack packets, matched other packets).
    matched: Vec<(u64, u64)>,
    /// Every source of the attack's packets, while there are at most [`MAX_SCOPE_SOURCES`]
    /// (`None` past that: a spoofed flood's sources are never kept).
    sources: Option<hashbrown::HashSet<u128>>,
    /// Packets the attack's targets sent (to anyone): none in a capture of one direction.
    from_targets: u64,
}

/// Most sources an attack may have for its rule to be scoped to them.
const MAX_SCOPE_SOURCES: usize = 20_000;

/// The plan between the passes: what was found, and the counters the second pass fills.
pub struct Plan {
    analyzer: Analyzer,
    findings: Arc<Vec<Finding>>,
    dismissed: Vec<Dismissal>,
    meter: Meter,
}

/// Second-pass counters. One per thread in a parallel run, each judging evidence with the
/// first-pass filters of the same thread (which saw the same flows), summed at the end.
pub struct Meter {
    findings: Arc<Vec<Finding>>,
    classifier: Classifier,
    counts: Vec<AttackCount>,
    total_packets: u64,
    /// Packets of no finding: the traffic a signature's collateral is measured on (packets of
    /// another attack, the same kind of attack days later among them, are no collateral).
    unclaimed_packets: u64,
    /// Every candidate of every finding, evaluated together; `owners[i]` is the (finding,
    /// candidate) of the set's expression `i`.
    rules: Arc<levee_rules::RuleSet>,
    owners: Arc<Vec<(usize, usize)>>,
    memo: levee_rules::Memo,
    members: Vec<bool>,
    /// Packets measured, each counted once (with `total_packets` the packets they stand for).
    measured: u64,
    bucket_ns: i64,
    base: i64,
    /// What a report shows beyond the counts, when asked for.
    details: Option<crate::detail::Collector>,
}

impl Plan {
    /// Ends the first pass of `analyzer`: decides which classes hold attacks and prepares the
    /// second pass; the delay line is emptied first ([`Analyzer::finish_pass`]).
    pub fn from_first_pass(mut analyzer: Analyzer) -> Plan {
        analyzer.finish_pass();
        let (findings, dismissed) = detect(&analyzer);
        let mut exprs = Vec::new();
        let mut owners = Vec::new();
        for (fi, f) in findings.iter().enumerate() {
            for (ci, e) in f.candidates.iter().enumerate() {
                exprs.push(e.clone());
                owners.push((fi, ci));
            }
        }
        let findings = Arc::new(findings);
        let rules = Arc::new(levee_rules::RuleSet::new(&exprs));
        let meter = Meter::new(
            findings.clone(),
            rules,
            Arc::new(owners),
            analyzer.bucket_ns,
            analyzer.base_bucket.unwrap_or(0),
        );
        Plan {
            analyzer,
            findings,
            dismissed,
            meter,
        }
    }
}

/// A packet's class, with what the whole first pass learnt: a later fragment that came
/// before its first fragment belongs to its datagram's class.
#[inline]
fn settled(class: Class, p: &Packet<'_>, first_pass: &Analyzer) -> Class {
    match class {
        Class::Fragment => first_pass.classifier().late_class(p).unwrap_or(class),
        _ => class,
    }
}

impl Meter {
    fn new(
        findings: Arc<Vec<Finding>>,
        rules: Arc<levee_rules::RuleSet>,
        owners: Arc<Vec<(usize, usize)>>,
        bucket_ns: i64,
        base: i64,
    ) -> Meter {
        let counts = findings
            .iter()
            .map(|f| AttackCount {
                ttl_watch: {
                    let mut w: Vec<(u128, u64, [u64; 4])> =
                        f.watched_sources.iter().map(|&a| (a, 0, [0; 4])).collect();
                    w.sort_unstable_by_key(|e| e.0);
                    w
                },
                packets: 0,
                bytes: 0,
                first: i64::MAX,
                last: i64::MIN,
                series: Vec::new(),
                second_packets: SecondPeak::default(),
                second_bytes: SecondPeak::default(),
                matched: vec![(0, 0); f.candidates.len()],
                sources: Some(hashbrown::HashSet::new()),
                from_targets: 0,
            })
            .collect();
        Meter {
            members: vec![false; findings.len()],
            memo: rules.memo(),
            findings,
            classifier: Analyzer::second_pass_classifier(),
            counts,
            total_packets: 0,
            unclaimed_packets: 0,
            measured: 0,
            rules,
            owners,
            bucket_ns,
            base,
            details: None,
        }
    }

    /// Decides which findings the packet belongs to (see [`Plan::members`]) without counting
    /// it: for a later pass that only needs membership, such as a rules simulation.
    pub fn judge(&mut self, ts: i64, p: &Packet<'_>, first_pass: &Analyzer) {
        let class = settled(self.classifier.classify(p), p, first_pass);
        self.judge_as(ts, p, class, first_pass);
    }

    /// [`Meter::judge`] for a packet whose class is known.
    fn judge_as(&mut self, ts: i64, p: &Packet<'_>, class: Class, first_pass: &Analyzer) {
        let (src, dst) = match p.ip.as_ref() {
            Some(ip) => (addr_bits(ip.src), addr_bits(ip.dst)),
            None => (0, 0),
        };
        let mut evidence: Option<bool> = None;
        for (f, member) in self.findings.iter().zip(self.members.iter_mut()) {
            // The cheap tests first; the evidence (a filter lookup) last, and once.
            let any_class = f.classes.is_empty();
            *member = (any_class || f.classes.contains(&class))
                && ts >= f.window.0
                && ts <= f.window.1
                && p.ip.is_some()
                && f.targets.matches(src, dst)
                && (any_class || *evidence.get_or_insert_with(|| first_pass.is_evidence(class, p)))
                && f.zone.as_deref().is_none_or(|z| in_zone(p, z))
                && f.defined_by.as_ref().is_none_or(|e| e.matches(p));
        }
    }

    /// Counts one packet of the second pass; `first_pass` is the analyzer that saw the same
    /// packets in the first pass, whose filters judge the evidence.
    pub fn add(&mut self, ts: i64, p: &Packet<'_>, first_pass: &Analyzer) {
        let class = self.classifier.classify(p);
        self.count(ts, p, class, first_pass, p.count);
    }

    /// Measures the frames `sampled` kept, each for the packets it stands for, judged
    /// with the filters of `first_pass`.
    fn replay(&mut self, sampled: &Analyzer, first_pass: &Analyzer) {
        let Some(sample) = sampled.sample.as_ref() else {
            return;
        };
        let weight = sample.one_in();
        sample.for_each(|f| {
            let class = Class::from_index(usize::from(f.class));
            levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
                self.count(f.ts, p, class, first_pass, weight)
            });
        });
    }

    /// Counts one packet standing for `weight` packets.
    fn count(&mut self, ts: i64, p: &Packet<'_>, class: Class, first_pass: &Analyzer, weight: u64) {
        let class = settled(class, p, first_pass);
        self.total_packets += weight;
        self.measured += 1;
        self.judge_as(ts, p, class, first_pass);
        let claimed = self.members.contains(&true);
        if !claimed {
            self.unclaimed_packets += weight;
        }
        let src = p.ip.as_ref().map_or(0, |ip| addr_bits(ip.src));
        if p.ip.is_some() {
            for (f, count) in self.findings.iter().zip(self.counts.iter_mut()) {
                // A target as the source: `matches` tests its second address.
                if !matches!(f.targets, TargetSpec::FromSource(_)) && f.targets.matches(0, src) {
                    count.from_targets += weight;
                }
            }
        }
        let (w, base) = (self.bucket_ns, self.base);
        for (count, _) in self
            .counts
            .iter_mut()
            .zip(&self.members)
            .filter(|(_, &m)| m)
        {
            if !count.ttl_watch.is_empty() {
                if let Ok(i) = count.ttl_watch.binary_search_by_key(&src, |e| e.0) {
                    let ttl = p.ip.as_ref().map_or(0, |ip| ip.ttl);
                    let e = &mut count.ttl_watch[i];
                    // Packets seen, not stood for: "seen more than once" must be true.
                    e.1 += 1;
                    e.2[usize::from(ttl / 64)] |= 1 << (ttl % 64);
                }
            }
            if let Some(set) = count.sources.as_mut() {
                set.insert(src);
                if set.len() > MAX_SCOPE_SOURCES {
                    count.sources = None;
                }
            }
            count.packets += weight;
            count.bytes += weight * u64::from(p.wire_len);
            count.first = count.first.min(ts);
            count.last = count.last.max(ts);
            count.second_packets.note(ts, weight);
            count.second_bytes.note(ts, weight * u64::from(p.wire_len));
            let idx = (ts.div_euclid(w) - base).max(0) as usize;
            if idx < 1 << 16 {
                if idx >= count.series.len() {
                    count.series.resize(idx + 1, (0, 0));
                }
                count.series[idx].0 += weight;
                count.series[idx].1 += weight * u64::from(p.wire_len);
            }
        }
        let (owners, counts, members) = (&self.owners, &mut self.counts, &self.members);
        self.rules.for_each_match(p, &mut self.memo, |i| {
            let (fi, ci) = owners[i];
            let m = &mut counts[fi].matched[ci];
            if members[fi] {
                m.0 += weight;
            } else if !claimed {
                m.1 += weight;
            }
        });
        if let Some(d) = self.details.as_mut() {
            d.add(ts, p, &self.members);
        }
    }

    /// Adds another thread's counts.
    fn absorb(&mut self, o: Meter) {
        self.total_packets += o.total_packets;
        self.unclaimed_packets += o.unclaimed_packets;
        self.measured += o.measured;
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            a.packets += b.packets;
            a.bytes += b.bytes;
            a.first = a.first.min(b.first);
            a.last = a.last.max(b.last);
            a.second_packets.merge(&b.second_packets);
            a.second_bytes.merge(&b.second_bytes);
            if b.series.len() > a.series.len() {
                a.series.resize(b.series.len(), (0, 0));
            }
            for (x, y) in a.series.iter_mut().zip(b.series) {
                x.0 += y.0;
                x.1 += y.1;
            }
            for (x, y) in a.matched.iter_mut().zip(b.matched) {
                x.0 += y.0;
                x.1 += y.1;
            }
            a.from_targets += b.from_targets;
            a.sources = match (a.sources.take(), b.sources) {
                (Some(mut x), Some(y)) => {
                    x.extend(y);
                    (x.len() <= MAX_SCOPE_SOURCES).then_some(x)
                }
                _ => None,
            };
            for (x, y) in a.ttl_watch.iter_mut().zip(b.ttl_watch) {
                x.1 += y.1;
                for k in 0..4 {
                    x.2[k] |= y.2[k];
                }
            }
        }
        if let (Some(mine), Some(theirs)) = (self.details.as_mut(), o.details) {
            mine.merge(theirs);
        }
    }
}

impl Plan {
    /// Whether a second pass is needed (there is something to measure).
    pub fn needs_second_pass(&self) -> bool {
        !self.findings.is_empty()
    }

    /// Counts one packet of the second pass (the same packets, in the same order, as the first).
    pub fn add(&mut self, ts: i64, p: &Packet<'_>) {
        self.meter.add(ts, p, &self.analyzer);
    }

    /// Whether the first pass sampled its packets and kept them ([`crate::sample`]): then the
    /// second pass is [`Plan::replay`], not a second reading of the inputs.
    pub fn sampled(&self) -> bool {
        self.analyzer.sample.is_some()
    }

    /// The second pass of a sampling analysis: measures the frames the first pass kept.
    pub fn replay(&mut self) {
        self.meter.replay(&self.analyzer, &self.analyzer);
    }

    /// The second pass of a sampling analysis run on several threads: the frames this plan's
    /// analyzer kept and those each of `parts` kept are measured at once, a thread each, and
    /// the counts added. With `merged_filters` every frame is judged with this plan's flow
    /// filters (the parts read stretches of one capture, and their filters were merged into
    /// the plan's with [`Analyzer::merge_filters`]); without, each part's frames with its own
    /// filters (the parts saw different flows of the whole capture).
    pub fn replay_parts(&mut self, parts: &[Analyzer], merged_filters: bool) {
        let plan = &*self;
        let (own, theirs) = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .map(|part| {
                    scope.spawn(move || {
                        let mut m = plan.meter();
                        m.replay(part, if merged_filters { &plan.analyzer } else { part });
                        m
                    })
                })
                .collect();
            let mut own = plan.meter();
            own.replay(&plan.analyzer, &plan.analyzer);
            let theirs: Vec<Meter> = handles
                .into_iter()
                .map(|h| h.join().expect("a second-pass thread panicked"))
                .collect();
            (own, theirs)
        });
        self.absorb(own);
        for m in theirs {
            self.absorb(m);
        }
    }

    /// For the packet last given to [`Plan::add`], whether it belongs to each finding (in
    /// finding order; see [`crate::report::Attack::finding`]).
    pub fn members(&self) -> &[bool] {
        &self.meter.members
    }

    /// The first-pass analyzer (merged statistics; the flow filters of the thread that
    /// produced it).
    pub fn first_pass(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Whether the packet last given to [`Plan::judge`] or [`Plan::add`] belongs to each
    /// finding, decided without counting it (for a pass after the second).
    pub fn judge(&mut self, ts: i64, p: &Packet<'_>) {
        self.meter.judge(ts, p, &self.analyzer);
    }

    /// Makes the second pass also gather what a report shows ([`Plan::details`]): call before
    /// the second pass, and before [`Plan::meter`] in a parallel run.
    pub fn collect_details(&mut self) {
        let an = &self.analyzer;
        let mut details = crate::detail::Collector::new(self.findings.len(), an.start, an.end);
        details.ttl_known = !an.config.from_flows;
        self.meter.details = Some(details);
    }

    /// The timeline and per-finding details of the second pass; `None` unless
    /// [`Plan::collect_details`] was called before it.
    pub fn details(&self) -> Option<crate::detail::Details> {
        self.meter.details.as_ref().map(|d| d.finish())
    }

    /// A fresh set of second-pass counters for one thread of a parallel run.
    pub fn meter(&self) -> Meter {
        let mut m = Meter::new(
            self.findings.clone(),
            self.meter.rules.clone(),
            self.meter.owners.clone(),
            self.meter.bucket_ns,
            self.meter.base,
        );
        m.details = self.meter.details.as_ref().map(|d| d.fresh());
        m
    }

    /// Adds the counts of a thread's meter.
    pub fn absorb(&mut self, m: Meter) {
        self.meter.absorb(m);
    }

    /// Writes the analysis document.
    pub fn finish(&self, files: Vec<FileInfo>, damaged_records: u64) -> Analysis {
        let an = &self.analyzer;
        let cfg = an.config();
        let mut attacks = Vec::new();
        let mut backscatter: Vec<(usize, crate::report::Backscatter)> = Vec::new();
        for (fi, (f, count)) in self.findings.iter().zip(&self.meter.counts).enumerate() {
            if count.packets == 0 {
                continue;
            }
            if let Some(parent) = f
                .backscatter_of
                .filter(|&p| self.meter.counts[p].packets > 0)
            {
                backscatter.push((parent, self.backscatter(f, count, parent)));
                continue;
            }
            attacks.push(self.attack(fi, f, count));
        }
        for (parent, b) in backscatter {
            if let Some(a) = attacks.iter_mut().find(|a| a.finding == parent) {
                a.backscatter.push(b);
            }
        }
        attacks.sort_by(|a, b| {
            a.start_epoch
                .total_cmp(&b.start_epoch)
                .then(b.packets.cmp(&a.packets))
        });
        for (i, a) in attacks.iter_mut().enumerate() {
            a.id = i + 1;
        }
        let not_attacks = self
            .dismissed
            .iter()
            .map(|d| Dismissed {
                vector: d.class.vector().into(),
                packets: d.packets,
                peak_pps: d.peak_pps,
                distinct_sources: d.sources,
                reason: d.reason.to_string(),
            })
            .collect();
        let has = an.packets > 0;
        Analysis {
            capture: CaptureInfo {
                files,
                packets: an.packets,
                bytes: an.bytes,
                start: has.then(|| format_ts(an.start)),
                end: has.then(|| format_ts(an.end)),
                start_epoch: has.then(|| an.start as f64 / 1e9),
                end_epoch: has.then(|| an.end as f64 / 1e9),
                duration_s: if has {
                    (an.end - an.start) as f64 / 1e9
                } else {
                    0.0
                },
                damaged_records,
                undecoded_packets: an.class(Class::Undecoded).map_or(0, |c| c.packets),
            },
            settings: Settings {
                bucket_s: an.bucket_ns as f64 / 1e9,
                min_pps: cfg.min_pps,
                min_packets: cfg.min_packets,
                min_flood_sources: cfg.min_flood_sources,
                min_reflectors: cfg.min_reflectors,
                min_evidence: cfg.min_evidence,
                baseline_factor: cfg.baseline_factor,
                block_collateral: cfg.block_collateral,
                sampling_rate: cfg.wire_one_in.max(1),
            },
            sampling: crate::report::Sampling {
                one_in: an.sample_one_in(),
                measured_packets: self.meter.measured,
            },
            attacks,
            not_attacks,
            notes: self.notes(),
        }
    }

    /// The notes of the analysis: what limits what it says (saturated filters, sampling,
    /// coarse buckets, a capture of SYNs alone), and reflections too slow to be attacks.
    fn notes(&self) -> Vec<String> {
        let an = &self.analyzer;
        let cfg = an.config();
        let mut notes = Vec::new();
        if an.filter_saturation() > 0.05 {
            notes.push(format!(
                "the flow filters are {:.0}% likely to mistake a new flow for a known one at \
                 this size: unsolicited/unanswered shares are underestimated",
                an.filter_saturation() * 100.0
            ));
        }
        if cfg.wire_one_in > 1 {
            notes.push(format!(
                "the capture was sampled one packet in {} before it was saved (--sampling-rate): \
                 attack packets, bytes and rates are scaled to the wire and compared with the \
                 thresholds as such; distinct sources and targets are those the sample shows, \
                 and the capture's own totals are its packets",
                thousands(cfg.wire_one_in)
            ));
        }
        notes.extend(crate::detect::low_rate_hints(an, &self.findings));
        if an.bucket_ns > cfg.bucket_ns.max(1) {
            notes.push(format!(
                "the capture spans {}: its rates are charted in {} s buckets (a series keeps at \
                 most 16,384), not the {} s asked. Detection does not rest on them: an attack's \
                 window is bounded by its first and last packets, with no 5-minute silence in \
                 it, and its peak is its busiest second, counted exactly",
                span_words(an.end - an.start),
                an.bucket_ns as f64 / 1e9,
                cfg.bucket_ns as f64 / 1e9
            ));
        }
        if crate::detect::syn_only_capture(an) {
            notes.push(
                "the capture holds TCP SYNs and no other TCP packet (a capture filter, or one \
                 direction of the traffic): it cannot show whether a handshake completed, so a \
                 SYN flood found here rests on its volume and its sources alone"
                    .to_string(),
            );
        }
        // The rate of this thread's sample and of those merged into it (each thread's is final
        // once the inputs are read, before the merge).
        let one_in = an.sample_one_in();
        if one_in > 1 {
            notes.push(format!(
                "large capture: every packet was counted and followed, but one in {one_in} \
                 was profiled and measured ({} packets): attack packets, bytes, rates, \
                 coverage and collateral are estimates from that sample (--exact measures \
                 every packet, more slowly)",
                thousands(self.meter.measured)
            ));
        }
        notes
    }

    /// One finding measured: its window, volume, rates, targets, sources, signature and
    /// evidence.
    fn attack(&self, fi: usize, f: &Finding, count: &AttackCount) -> Attack {
        let an = &self.analyzer;
        let cfg = an.config();
        let (signature, scoped_note) = self.signature(f, count);
        let c = an.class(f.class);
        let rates = self.rates(f, count);
        let mut evidence: Vec<String> = f.evidence.iter().map(ToString::to_string).collect();
        // Evidence that rests on answers never seen means little in a capture that holds
        // no packet from the targets: say so, when every packet was measured (a sample
        // may miss a target's few packets).
        let scan = matches!(f.targets, TargetSpec::FromSource(_));
        let syn_only = f.class == Class::Syn && crate::detect::syn_only_capture(an);
        let answers_matter = !scan && !syn_only && f.class != Class::DnsQuery;
        if answers_matter && an.sample_one_in() == 1 && count.from_targets == 0 {
            evidence.push(
                "the capture holds no packet from the targets: one direction of the \
                 traffic (a tap on one side, or a filter), so whether they answered cannot \
                 be seen, and this rests on the volume, the sources and their headers"
                    .to_string(),
            );
        }
        evidence.extend(scoped_note);
        evidence.push(self.peak_evidence(&rates));
        let wire = cfg.wire_one_in.max(1);
        Attack {
            id: 0,
            finding: fi,
            vector: f.vector.clone(),
            carpet_of: f.carpet_of.clone(),
            start: format_ts(count.first),
            end: format_ts(count.last),
            start_epoch: count.first as f64 / 1e9,
            end_epoch: count.last as f64 / 1e9,
            duration_s: rates.span,
            packets: count.packets * wire,
            bytes: count.bytes * wire,
            peak_pps: rates.peak_pps,
            peak_bps: rates.peak_bps,
            mean_pps: rates.mean_pps,
            mean_bps: rates.mean_bps,
            share_of_capture: count.packets as f64 / an.packets.max(1) as f64,
            targets: c.map(|c| targets(f, c, cfg.top_n)).unwrap_or_default(),
            sources: {
                let mut s = sources(f, c, cfg.top_n, an);
                ttl_per_source(&count.ttl_watch, f, &mut s);
                s
            },
            packet_sizes: c.map(sizes).unwrap_or(crate::report::SizeSummary {
                min: 0,
                max: 0,
                median: 0,
                top: Vec::new(),
            }),
            signature,
            evidence,
            low_rate: f.low_rate.as_ref().map(ToString::to_string),
            backscatter: Vec::new(),
        }
    }

    /// The finding's signature: the best of its candidates measured on the attack, the other
    /// traffic and the benign reference, and why it was scoped to the attack's sources, if
    /// it was.
    fn signature(&self, f: &Finding, count: &AttackCount) -> (Signature, Option<String>) {
        let others = self.meter.unclaimed_packets;
        let reference = crate::reference::Reference::for_targets(&f.targets);
        let on_reference: Vec<crate::reference::ReferenceMatch> =
            f.candidates.iter().map(|e| reference.measure(e)).collect();
        let mut measured: Vec<MeasuredExpression> = f
            .candidates
            .iter()
            .zip(&count.matched)
            .zip(&on_reference)
            .map(|((e, &(a, o)), r)| MeasuredExpression {
                expression: e.to_string(),
                coverage: a as f64 / count.packets as f64,
                collateral: if others == 0 {
                    0.0
                } else {
                    o as f64 / others as f64
                },
                reference_collateral: r.share(),
            })
            .collect();
        let mut best = best_candidate(&measured, &on_reference);
        let volatile = volatile_choice(f, best, &measured, &on_reference);
        if let Some((choice, robust)) = &volatile {
            if choice.recommended == "robust" {
                best = *robust;
            }
        }
        let volatile = volatile.map(|(choice, _)| choice);
        let mut chosen = measured.remove(best);
        let (ma, mo) = count.matched[best];
        let mut on_ref = on_reference[best].clone();
        let mut scoped_note = None;
        // A header signature that also matches traffic networks need (the resets of the
        // victim's own connections look like a reset flood's) is scoped to the hosts that
        // sent the attack, when they are real hosts and every one of them is known: every
        // attack packet still matches, the reference no longer does.
        if on_ref.matched > 0 && !f.spoofed_likely && self.analyzer.sample_one_in() == 1 {
            if let Some(sources) = count.sources.as_ref().filter(|s| !s.is_empty()) {
                if let Some((expr, n)) = scoped(&f.candidates[best], sources) {
                    let m = reference.measure(&expr);
                    if m.matched == 0 {
                        measured.insert(0, chosen.clone());
                        chosen.expression = expr.to_string();
                        chosen.reference_collateral = 0.0;
                        on_ref = m;
                        scoped_note = Some(format!(
                            "signature scoped to the attack's {} source address(es) (as {n} \
                             prefix(es) holding no other address): without them it also \
                             matches traffic networks need, in levee's benign reference",
                            sources.len()
                        ));
                    }
                }
            }
        }
        let signature = Signature {
            expression: chosen.expression,
            coverage: chosen.coverage,
            collateral: chosen.collateral,
            attack_packets: count.packets,
            matched_attack_packets: ma,
            other_packets: others,
            matched_other_packets: mo,
            reference_collateral: on_ref.share(),
            reference_packets: on_ref.total,
            matched_reference_packets: on_ref.matched,
            reference_classes: on_ref
                .classes
                .iter()
                .map(|&(class, packets)| crate::report::ReferenceClass {
                    class: class.to_string(),
                    packets,
                })
                .collect(),
            volatile,
            alternatives: measured,
        };
        (signature, scoped_note)
    }

    /// The attack's peak and mean rates, on the wire, and its span in seconds.
    fn rates(&self, f: &Finding, count: &AttackCount) -> Rates {
        let an = &self.analyzer;
        let one_in = an.sample_one_in();
        // From a sample, a bucket's estimate can exceed the packets its classes held
        // (counted on every packet), and the highest of many noisy buckets would overstate
        // the peak: each bucket is capped by its classes' true count.
        let series: Vec<(u64, u64)> = if one_in > 1 && !f.classes.is_empty() {
            count
                .series
                .iter()
                .enumerate()
                .map(|(i, &(n, b))| {
                    let (cn, cb) = f
                        .classes
                        .iter()
                        .filter_map(|&k| an.class(k)?.series.get(i))
                        .fold((0, 0), |(x, y), bucket| {
                            (x + bucket.packets, y + bucket.bytes)
                        });
                    (n.min(cn), b.min(cb))
                })
                .collect()
        } else {
            count.series.clone()
        };
        let rates = bucket_rates(an, series.iter().map(|s| s.0));
        let brates = bucket_rates(an, series.iter().map(|s| s.1 * 8));
        let mut peak_pps = rates.iter().cloned().fold(0.0, f64::max);
        let mut peak_bps = brates.iter().cloned().fold(0.0, f64::max);
        let span = ((count.last - count.first) as f64 / 1e9).max(0.0);
        // Buckets wider than a second (a long capture's) would average a short attack
        // down: its peak is then its busiest second, counted exactly, and its mean is over
        // its own span.
        let coarse = an.bucket_ns > SECOND_NS;
        let capture_s = (an.end - an.start) as f64 / 1e9;
        let floor = if coarse {
            0.001
        } else {
            // The mean is taken over at least the time the peak was measured over (a
            // bucket, clipped to the capture).
            (an.bucket_ns as f64 / 1e9).min(capture_s)
        };
        if coarse {
            let (mut packets, mut bytes) = (count.second_packets.peak(), count.second_bytes.peak());
            // From a sample, a second holds a multiple of the sampling rate: no more than
            // the busiest second of the attack's classes, counted on every packet.
            let every: u64 = f
                .classes
                .iter()
                .filter_map(|&k| an.class(k))
                .map(|c| c.packets_second.peak())
                .sum();
            if one_in > 1 && !f.classes.is_empty() && every < packets {
                bytes = bytes * every / packets.max(1);
                packets = every;
            }
            peak_pps = peak_pps.max(packets as f64);
            peak_bps = peak_bps.max(bytes as f64 * 8.0);
        }
        let over = span.max(floor);
        let (mean_pps, mean_bps) = if over > 0.0 {
            (count.packets as f64 / over, count.bytes as f64 * 8.0 / over)
        } else {
            (peak_pps, peak_bps)
        };
        // Over a stretch shorter than the peak's bucket the mean is the rate: a peak below
        // the mean would contradict it.
        let (peak_pps, peak_bps) = (peak_pps.max(mean_pps), peak_bps.max(mean_bps));
        // A capture sampled before it was saved: its attack figures scaled to the wire.
        let wire = an.config().wire_one_in.max(1);
        let (peak_pps, peak_bps, mean_pps, mean_bps) = (
            peak_pps * wire as f64,
            peak_bps * wire as f64,
            mean_pps * wire as f64,
            mean_bps * wire as f64,
        );
        Rates {
            peak_pps,
            peak_bps,
            mean_pps,
            mean_bps,
            span,
            coarse,
            capture_s,
        }
    }

    /// How the attack's peak was measured, and what it is worth: a capture or an attack
    /// shorter than a bucket gives the rate of a short stretch, scaled to a second.
    fn peak_evidence(&self, r: &Rates) -> String {
        let an = &self.analyzer;
        let (peak_pps, peak_bps) = (r.peak_pps, r.peak_bps);
        if r.coarse && r.span < 1.0 {
            format!(
                "peak {} / {} over the attack's {}, less than a second: a rate scaled up \
                 from a short stretch, not a sustained one",
                rate(peak_pps),
                bits_rate(peak_bps),
                short_span(r.span.max(0.001))
            )
        } else if r.coarse {
            format!(
                "peak {} / {} in its busiest second (the capture's {} s span is charted in \
                 {} s buckets)",
                rate(peak_pps),
                bits_rate(peak_bps),
                thousands(((an.end - an.start) / SECOND_NS).max(0) as u64),
                an.bucket_ns as f64 / 1e9
            )
        } else if r.capture_s < an.bucket_ns as f64 / 1e9 {
            // A capture shorter than a bucket gives rates of that stretch, scaled to a
            // second: say so, for a 20 ms extract is no measure of a sustained rate.
            format!(
                "peak {} / {} over the capture's {}, less than one {} s bucket: a rate \
                 scaled up from a short stretch, not a sustained one",
                rate(peak_pps),
                bits_rate(peak_bps),
                short_span(r.capture_s),
                an.bucket_ns as f64 / 1e9
            )
        } else {
            format!(
                "peak {} / {} in {} s buckets",
                rate(peak_pps),
                bits_rate(peak_bps),
                an.bucket_ns as f64 / 1e9
            )
        }
    }
}

/// An attack's rates on the wire, and how they were measured.
struct Rates {
    peak_pps: f64,
    peak_bps: f64,
    mean_pps: f64,
    mean_bps: f64,
    /// From its first packet to its last, in seconds.
    span: f64,
    /// Buckets wider than a second: the peak is the busiest second.
    coarse: bool,
    /// The capture's span, in seconds.
    capture_s: f64,
}

/// The best of a finding's measured candidates: coverage reached and, where any such
/// candidate spares all of the benign reference, one that does; then the least collateral
/// (within one packet in ten thousand, and at most [`MAX_COLLATERAL`]); then the most
/// specific (earliest) within a point of the best coverage.
fn best_candidate(
    measured: &[MeasuredExpression],
    on_reference: &[crate::reference::ReferenceMatch],
) -> usize {
    let mut reached: Vec<usize> = (0..measured.len())
        .filter(|&i| measured[i].coverage >= TARGET_COVERAGE)
        .collect();
    let spares_reference = reached.iter().any(|&i| on_reference[i].matched == 0);
    if spares_reference {
        reached.retain(|&i| on_reference[i].matched == 0);
    }
    let least = reached
        .iter()
        .map(|&i| measured[i].collateral)
        .fold(f64::INFINITY, f64::min);
    if least > MAX_COLLATERAL {
        // No candidate both covers the attack and spares the rest: the best trade,
        // a point of collateral weighing ten of coverage (a rule blocking much good
        // traffic is worse than one letting a little attack through), among the candidates
        // that cover it and spare what networks need when there are such.
        let score = |i: usize| measured[i].coverage - 10.0 * measured[i].collateral;
        let pool: Vec<usize> = if spares_reference {
            reached
        } else {
            (0..measured.len()).collect()
        };
        pool.into_iter()
            .max_by(|&i, &j| score(i).total_cmp(&score(j)).then(j.cmp(&i)))
            .unwrap_or(0)
    } else {
        let cleanest: Vec<usize> = reached
            .iter()
            .copied()
            .filter(|&i| measured[i].collateral <= least + 1e-4)
            .collect();
        let most = cleanest
            .iter()
            .map(|&i| measured[i].coverage)
            .fold(0.0, f64::max);
        // A broader rule is only worth it for a real gain in coverage: a capture of
        // attack traffic alone shows no collateral for any candidate.
        cleanest
            .iter()
            .copied()
            .find(|&i| measured[i].coverage >= most - 0.01)
            .unwrap_or(reached[0])
    }
}

impl Plan {
    /// A finding measured as the backscatter of finding `parent` (see
    /// [`crate::detect::Finding::backscatter_of`]).
    fn backscatter(
        &self,
        f: &Finding,
        count: &AttackCount,
        parent: usize,
    ) -> crate::report::Backscatter {
        let an = &self.analyzer;
        let wire = an.config().wire_one_in.max(1);
        let parent = &self.findings[parent];
        let port = match parent.class.service() {
            Some(s) => format!("{} ({})", s.port, s.name),
            None => "the reflectors' source port".to_string(),
        };
        let (kind, why) = match f.class {
            Class::Icmp => (
                "icmp-errors",
                format!(
                    "ICMP errors to the {vector}'s targets about requests from them to port \
                     {port}: hosts that do not serve it, refusing the requests the attacker \
                     forged with the targets' address. No rule: one would also stop the errors \
                     about the targets' own traffic (path-MTU discovery among them)",
                    vector = parent.vector
                ),
            ),
            _ => (
                "resets",
                format!(
                    "resets to the {vector}'s targets from port {port}: hosts that do not \
                     serve it, refusing the requests the attacker forged with the targets' \
                     address. No rule: one would also stop the resets that end the targets' \
                     own connections to that port",
                    vector = parent.vector
                ),
            ),
        };
        crate::report::Backscatter {
            kind: kind.to_string(),
            looks_like: f.vector.clone(),
            packets: count.packets * wire,
            bytes: count.bytes * wire,
            distinct_sources: an.class(f.class).map_or(0, |c| c.evidence_sources()),
            start: format_ts(count.first),
            end: format_ts(count.last),
            why,
        }
    }
}

fn top_ports(c: &ClassStats, n: usize) -> (Vec<PortCount>, u64) {
    let mut v: Vec<PortCount> = c
        .dst_ports
        .nonzero()
        .map(|(port, packets)| PortCount { port, packets })
        .collect();
    let distinct = v.len() as u64;
    let busiest_first =
        |a: &PortCount, b: &PortCount| b.packets.cmp(&a.packets).then(a.port.cmp(&b.port));
    // Pick the `n` busiest out before sorting: the ports of a flood's class may be thousands.
    if v.len() > n {
        if n > 0 {
            v.select_nth_unstable_by(n - 1, busiest_first);
        }
        v.truncate(n);
    }
    v.sort_by(busiest_first);
    (v, distinct)
}

fn targets(f: &Finding, c: &ClassStats, n: usize) -> Vec<Target> {
    let (ports, distinct_ports) = top_ports(c, n.min(5));
    match &f.targets {
        TargetSpec::Hosts(h) => h
            .iter()
            .map(|&a| Target {
                ip: Some(addr_from_bits(a).to_string()),
                prefix: None,
                packets: c
                    .destinations
                    .top(64)
                    .into_iter()
                    .find(|(d, _)| *d == a)
                    .map_or(0, |(_, k)| k),
                ports: ports.clone(),
                distinct_ports,
            })
            .collect(),
        TargetSpec::Prefixes(ps) => ps
            .iter()
            .map(|&(net, len)| Target {
                ip: None,
                prefix: Some(format!("{}/{len}", addr_from_bits(net))),
                packets: c
                    .destination_prefixes
                    .top(64)
                    .into_iter()
                    .find(|(d, _)| *d == net)
                    .map_or(0, |(_, k)| k),
                ports: ports.clone(),
                distinct_ports,
            })
            .collect(),
        TargetSpec::FromSource(_) => c
            .destinations
            .top(n.min(5))
            .into_iter()
            .map(|(a, k)| Target {
                ip: Some(addr_from_bits(a).to_string()),
                prefix: None,
                packets: k,
                ports: ports.clone(),
                distinct_ports,
            })
            .collect(),
    }
}

fn sources(f: &Finding, c: Option<&ClassStats>, n: usize, an: &Analyzer) -> Sources {
    let Some(c) = c else {
        return Sources {
            distinct_estimate: 0,
            top: Vec::new(),
            spoofed_likely: false,
            evidence: Vec::new(),
            ttl_steady_share: None,
            bogon_share: 0.0,
            ttl: TtlSummary {
                min: 0,
                max: 0,
                distinct: 0,
                top: Vec::new(),
            },
        };
    };
    let top = match f.targets {
        TargetSpec::FromSource(s) => vec![SourceCount {
            ip: addr_from_bits(s).to_string(),
            packets: an
                .scan_tables()
                .port_probes
                .top(256)
                .into_iter()
                .find(|(x, _)| *x == s)
                .map_or(0, |(_, k)| k),
        }],
        // From a sample, a source seen once counts for the sampling rate's packets (twice that
        // when the top list's admission filter let it in): such entries say nothing about
        // which sources are busiest, and are left out.
        _ => c
            .sources
            .top(n)
            .into_iter()
            .filter(|&(_, k)| an.sample_one_in() == 1 || k > 2 * an.sample_one_in())
            .map(|(a, k)| SourceCount {
                ip: addr_from_bits(a).to_string(),
                packets: k,
            })
            .collect(),
    };
    let present: Vec<u8> = (0..=255u8).filter(|&t| c.ttl[t as usize] > 0).collect();
    let mut ttl_top: Vec<(u8, u64)> = present.iter().map(|&t| (t, c.ttl[t as usize])).collect();
    ttl_top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ttl_top.truncate(5);
    Sources {
        distinct_estimate: match f.targets {
            TargetSpec::FromSource(_) => 1,
            _ => c.evidence_sources(),
        },
        top,
        spoofed_likely: f.spoofed_likely,
        evidence: f.source_evidence.iter().map(ToString::to_string).collect(),
        ttl_steady_share: None,
        bogon_share: c.bogon_sources as f64 / c.profiled.max(1) as f64,
        ttl: TtlSummary {
            min: present.first().copied().unwrap_or(0),
            max: present.last().copied().unwrap_or(0),
            distinct: present.len() as u16,
            top: ttl_top,
        },
    }
}

/// Whether a DNS packet's question is the zone or under it.
fn in_zone(p: &Packet<'_>, zone: &str) -> bool {
    match p.app() {
        levee_decode::App::Dns(d) => d.qname.as_deref().is_some_and(|n| {
            let n = n.trim_end_matches('.').to_ascii_lowercase();
            n == zone || n.ends_with(&format!(".{zone}"))
        }),
        _ => false,
    }
}

/// What the TTLs of the busiest sources say: a real host keeps one TTL (its distance does not
/// change from packet to packet); a forged address used by several senders, or by a tool
/// drawing TTLs at random, does not.
fn ttl_per_source(watch: &[(u128, u64, [u64; 4])], f: &Finding, s: &mut Sources) {
    let repeated: Vec<&(u128, u64, [u64; 4])> = watch.iter().filter(|e| e.1 >= 2).collect();
    if repeated.len() < 5 {
        return;
    }
    let steady = repeated
        .iter()
        .filter(|e| {
            let bits: Vec<u32> = (0..256u32)
                .filter(|&t| e.2[(t / 64) as usize] >> (t % 64) & 1 == 1)
                .collect();
            // One TTL, or neighbours (a route change during the capture).
            bits.last()
                .zip(bits.first())
                .is_some_and(|(hi, lo)| hi - lo <= 2)
        })
        .count();
    let share = steady as f64 / repeated.len() as f64;
    s.ttl_steady_share = Some(share);
    let reflection = f.vector.ends_with("-reflection")
        || f.carpet_of
            .as_deref()
            .is_some_and(|v| v.ends_with("-reflection"));
    if share >= 0.8 {
        s.evidence.push(format!(
            "{steady} of the {} busiest sources seen more than once kept one TTL: real hosts at \
             fixed distances",
            repeated.len()
        ));
    } else if share <= 0.5 {
        s.evidence.push(format!(
            "{} of the {} busiest sources seen more than once changed TTL between packets: \
             their addresses are forged",
            repeated.len() - steady,
            repeated.len()
        ));
        if !reflection {
            s.spoofed_likely = true;
        }
    }
}

/// `e` restricted to `sources`, aggregated exactly (no address that was not a source), and
/// the number of prefixes; `None` when the expression would not parse.
fn scoped(
    e: &levee_rules::Expr,
    sources: &hashbrown::HashSet<u128>,
) -> Option<(levee_rules::Expr, usize)> {
    let addrs: Vec<std::net::IpAddr> = sources.iter().map(|&a| addr_from_bits(a)).collect();
    let agg =
        levee_rules::aggregate::aggregate(&addrs, &[], levee_rules::aggregate::Widening::EXACT);
    let items: Vec<String> = agg
        .prefixes
        .iter()
        .map(|p| {
            if p.net.prefix_len() == p.net.max_prefix_len() {
                p.net.addr().to_string()
            } else {
                p.net.to_string()
            }
        })
        .collect();
    let set = levee_rules::parse_plain(&format!("ip.src in {{{}}}", items.join(" "))).ok()?;
    Some((levee_rules::Expr::and(vec![e.clone(), set]), items.len()))
}

/// The signature `best` without its volatile fields, when it pins any and that variant was
/// measured: both, and which is the better rule (with the robust variant's index).
fn volatile_choice(
    f: &Finding,
    best: usize,
    measured: &[MeasuredExpression],
    on_reference: &[crate::reference::ReferenceMatch],
) -> Option<(crate::report::VolatileChoice, usize)> {
    use crate::signature::{without_volatile, VOLATILE_FIELDS};
    let chosen = &f.candidates[best];
    let stripped = without_volatile(chosen)?;
    let i = f.candidates.iter().position(|c| *c == stripped)?;
    let fields: Vec<String> = chosen
        .fields()
        .iter()
        .map(|x| x.name())
        .filter(|n| VOLATILE_FIELDS.contains(n))
        .map(str::to_string)
        .collect();
    let (pinned, robust) = (&measured[best], &measured[i]);
    let names = fields.join(", ");
    let (recommended, why) = if robust.coverage < TARGET_COVERAGE {
        (
            "pinned",
            format!(
                "without {names} it matches only {:.2}% of the attack",
                robust.coverage * 100.0
            ),
        )
    } else if robust.collateral > MAX_COLLATERAL || robust.collateral > pinned.collateral + 1e-4 {
        (
            "pinned",
            format!(
                "without {names} it also matches {:.3}% of the capture's other traffic",
                robust.collateral * 100.0
            ),
        )
    } else if on_reference[i].matched > on_reference[best].matched {
        (
            "pinned",
            format!(
                "without {names} it also matches {} packets of levee's benign reference",
                on_reference[i].matched
            ),
        )
    } else {
        (
            "robust",
            format!(
                "it stops as much of the attack and nothing more, and keeps stopping it when \
                 the attacker changes {names}, which cost nothing to vary"
            ),
        )
    };
    Some((
        crate::report::VolatileChoice {
            fields,
            pinned: pinned.clone(),
            robust: robust.clone(),
            recommended: recommended.to_string(),
            why,
        },
        i,
    ))
}
