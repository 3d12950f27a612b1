//! The analysis fed packet by packet, for traffic that never ends.
//!
//! A [`Stream`] takes frames in time order ([`Stream::feed`]) and queues [`Event`]s: a
//! [`WindowSummary`] at the end of every window of stream time, and, at the same moments,
//! what detection finds in everything fed so far, as attacks that start, update (a higher
//! peak, other targets, a sharper signature) and end once their evidence has been quiet for
//! [`StreamConfig::quiet_ns`]. Time is the packets' own: a capture replayed as fast as it can
//! be read gives the same events as the same traffic live, and a live caller with no packet
//! coming moves time on itself ([`Stream::advance_to`]).
//!
//! A stream cannot be read twice, so it always samples: the first pass keeps a uniform
//! sample of the frames in its memory budget and measures the attacks on it at the end, as
//! `levee analyze` does by default. At the end ([`Stream::finish`]) it gives the analysis an
//! offline run of the same packets gives, byte for byte: the offline analysis on one thread
//! *is* a stream without events.
//!
//! Detection at a window's end judges everything but the last quarter-second or so of
//! traffic, which waits in the first pass's delay line for answers that may still come.

use std::collections::VecDeque;

use levee_analyze::detect::Finding;
use levee_analyze::summary::FileInfo;
use levee_analyze::vector::Class;
use levee_analyze::{Analysis, AnalyzeConfig, Analyzer, Plan};
use serde::Serialize;

/// The sample a stream keeps when its analysis settings give none: `levee analyze`'s default.
pub const DEFAULT_SAMPLE_BUDGET: usize = 16 << 20;

/// A stream that never finishes forgets an ended attack this long after its end: by then the
/// buckets its evidence was counted in are gone (a monitor's series keep 2.3 to 4.5 hours),
/// so detection cannot find it again and call it new.
const FORGET_ENDED_NS: i64 = 12 * 3600 * 1_000_000_000;

/// An attack's waiting packets are left out of provisional judgements (see
/// `Stream::settled`) once it has gone on for this many delays, and only when the quiet
/// period is at least `SETTLED_QUIET_DELAYS` delays.
const SETTLED_AFTER_DELAYS: i64 = 2;
const SETTLED_QUIET_DELAYS: i64 = 3;

/// A rise of the peak rate by this factor is an update worth telling.
const PEAK_RISE: f64 = 1.1;

/// How a stream analyses and when it tells.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The analysis's settings; without a sample budget, [`DEFAULT_SAMPLE_BUDGET`].
    pub analysis: AnalyzeConfig,
    /// Width of the windows summarised, in nanoseconds of stream time.
    pub window_ns: i64,
    /// Run detection at the end of every window and queue attack events. Off, the stream only
    /// analyses (the offline analysis).
    pub events: bool,
    /// An attack ends when its evidence has been quiet this long.
    pub quiet_ns: i64,
    /// Judge each packet at most this long after it arrived, when answers to it have had that
    /// long to come (see `Analyzer::limit_delay`). `None`, the offline analysis's choice:
    /// as late as the delay line has room, which at a low rate can be many seconds and makes
    /// every decision re-judge all of them. A live monitor bounds it.
    pub judge_within_ns: Option<i64>,
    /// Keep no sample, and profile at most about this many packets a second of each class
    /// (see `Analyzer::thin_profiles`): for a caller that never finishes the stream (a monitor),
    /// whose sample would only grow sparser as the traffic goes on. [`Stream::finish`] then
    /// gives attacks that are found but not measured, for nothing was kept to measure them on.
    /// Its rates keep their one-second resolution however long it runs: the last hours are
    /// kept (see `Analyzer::keep_recent_series`), not every hour at a coarser grain; and its
    /// flow filters age rather than fill (see `Analyzer::age_filters`).
    /// `None`: the sample of [`StreamConfig::analysis`] (or [`DEFAULT_SAMPLE_BUDGET`]).
    pub profile_at_most_pps: Option<u64>,
    /// With `profile_at_most_pps`: the packets to an attack the stream follows, once it is
    /// settled (see `Stream::settled`), are profiled at most this many a second, apart from
    /// the rest of their class (see `Analyzer::thin_settled_profiles`). `None`: as their class.
    pub profile_settled_at_most_pps: Option<u64>,
}

impl StreamConfig {
    /// One-second windows, events on, attacks ending after 30 quiet seconds.
    pub fn new(analysis: AnalyzeConfig) -> StreamConfig {
        StreamConfig {
            analysis,
            window_ns: 1_000_000_000,
            events: true,
            quiet_ns: 30_000_000_000,
            judge_within_ns: None,
            profile_at_most_pps: None,
            profile_settled_at_most_pps: None,
        }
    }
}

/// What one window of stream time held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowSummary {
    /// `[start_ns, end_ns)`, nanoseconds since the Unix epoch.
    pub start_ns: i64,
    /// The window's end (excluded).
    pub end_ns: i64,
    /// Packets in the window.
    pub packets: u64,
    /// Bytes on the wire (original lengths).
    pub bytes: u64,
}

impl WindowSummary {
    /// Packets a second over the window.
    pub fn pps(&self) -> f64 {
        self.packets as f64 * 1e9 / (self.end_ns - self.start_ns).max(1) as f64
    }

    /// Bits a second over the window.
    pub fn bps(&self) -> f64 {
        self.bytes as f64 * 8e9 / (self.end_ns - self.start_ns).max(1) as f64
    }
}

/// An attack as a stream knows it at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackEvent {
    /// The stream's number for the attack, the same in all its events.
    pub id: u64,
    /// Stream time at which this was decided (a window's end).
    pub at_ns: i64,
    /// The attack vector (`syn-flood`, `dns-reflection`...).
    pub vector: String,
    /// Its targets as a person reads them (see `TargetSpec`'s `Display`).
    pub targets: String,
    /// Its targets as detection holds them: addresses to look up (in a list of protected
    /// networks, say) without reading them back from [`AttackEvent::targets`].
    #[serde(skip)]
    pub target: levee_analyze::target::TargetSpec,
    /// First and last moment of its evidence so far.
    pub start_ns: i64,
    /// Last moment of its evidence so far.
    pub end_ns: i64,
    /// Peak rate of its evidence so far, packets a second on the wire.
    pub peak_pps: f64,
    /// Distinct sources of its evidence so far, estimated.
    pub sources: u64,
    /// Whether its sources are likely spoofed.
    pub spoofed_likely: bool,
    /// The rule expression that matches it so far: the most specific, without the fields an
    /// attacker varies for free (TTL, TCP window) when that variant exists, which is what
    /// `levee analyze` recommends unless its measurement shows the pinned one is needed.
    /// Not measured: a stream has no second pass.
    pub signature: Option<String>,
    /// Why it is an attack, one line each.
    pub evidence: Vec<levee_analyze::evidence::Evidence>,
    /// Found below the volume thresholds, on its evidence alone: why.
    pub low_rate: Option<levee_analyze::evidence::LowRate>,
}

/// What a stream tells, in the order it happens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A window of stream time ended.
    Window(WindowSummary),
    /// An attack was found that the stream had not told of.
    AttackStarted(AttackEvent),
    /// An attack grew: a higher peak, other targets, a sharper signature.
    AttackUpdated(AttackEvent),
    /// An attack's evidence has been quiet for the quiet period, or the stream ended.
    AttackEnded(AttackEvent),
}

/// An attack the stream has told of.
#[derive(Debug)]
struct Known {
    class: Class,
    /// For a scan: its source, which tells one scanner from another.
    scanner: Option<String>,
    last: AttackEvent,
    ended: bool,
    /// The targets it was first told with: those whose waiting packets a decision may leave
    /// out once the attack has gone on long enough (see [`Stream::settled`]). Targets added
    /// later are judged as ever: settling a target as soon as it is named would leave its
    /// first second out, and its share, and so its naming, would come and go.
    first_targets: levee_analyze::target::TargetSpec,
}

impl Known {
    /// Whether `f` is this attack: the same class, over the same stretch of time (or within
    /// the quiet period of it).
    fn is(&self, f: &Finding, class_scanner: &Option<String>, quiet_ns: i64) -> bool {
        self.class == f.class
            && self.scanner == *class_scanner
            && f.window.0 <= self.last.end_ns.saturating_add(quiet_ns)
            && f.window.1 >= self.last.start_ns.saturating_sub(quiet_ns)
    }
}

/// The window being counted: `[end_ns - window_ns, end_ns)`.
#[derive(Debug, Clone, Copy)]
struct Open {
    end_ns: i64,
    packets: u64,
    bytes: u64,
}

/// The analysis fed packet by packet (see the module's overview).
pub struct Stream {
    config: StreamConfig,
    analyzer: Analyzer,
    /// The window being counted; before the first packet, an empty one ending at `i64::MIN`,
    /// which every packet is past.
    window: Open,
    events: VecDeque<Event>,
    known: Vec<Known>,
    next_id: u64,
    /// The latest stream time known: the end of the last window closed, or later when a live
    /// caller moved time on.
    now: i64,
    /// The end of the last window closed: when its events were decided.
    decided: i64,
    told: ToldSignatures,
}

impl Stream {
    /// A stream with nothing fed yet.
    pub fn new(config: StreamConfig) -> Stream {
        let mut config = config;
        config.window_ns = config.window_ns.max(1);
        if config.profile_at_most_pps.is_some() {
            config.analysis.sample_budget = None;
        } else {
            config
                .analysis
                .sample_budget
                .get_or_insert(DEFAULT_SAMPLE_BUDGET);
        }
        let mut analyzer = Analyzer::new(config.analysis.clone());
        if let Some(within) = config.judge_within_ns {
            analyzer.limit_delay(within);
        }
        if let Some(max_pps) = config.profile_at_most_pps {
            analyzer.thin_profiles(max_pps);
            if let Some(settled) = config.profile_settled_at_most_pps {
                analyzer.thin_settled_profiles(settled);
            }
            // A stream that never finishes keeps one-second rates for ever, and filters that
            // never fill: what it learnt of a flow is known for twice as long as a packet
            // waits for its answer.
            analyzer.keep_recent_series();
            analyzer.age_filters(2 * config.judge_within_ns.unwrap_or(1_000_000_000));
        }
        Stream {
            analyzer,
            config,
            window: Open {
                end_ns: i64::MIN,
                packets: 0,
                bytes: 0,
            },
            events: VecDeque::new(),
            known: Vec::new(),
            next_id: 1,
            now: i64::MIN,
            decided: i64::MIN,
            told: ToldSignatures::default(),
        }
    }

    /// Tells the stream how many bytes of uncompressed capture files it will be fed, so it
    /// samples at the rate that fills its budget (see `Analyzer::expect_input_bytes`).
    pub fn expect_input_bytes(&mut self, bytes: u64) {
        self.analyzer.expect_input_bytes(bytes);
    }

    /// Adds one frame, as read from a capture or an interface. Frames are expected in time
    /// order; one a little earlier than the last counts in the current window, and one older
    /// than a window already closed counts in the analysis but in no window's summary.
    #[inline]
    pub fn feed(&mut self, ts_nanos: i64, linktype: u32, data: &[u8], orig_len: u32) {
        if ts_nanos >= self.window.end_ns {
            self.roll_to(ts_nanos);
        }
        self.window.packets += 1;
        self.window.bytes += u64::from(orig_len);
        self.analyzer.add_frame(ts_nanos, linktype, data, orig_len);
    }

    /// Adds one packet already decoded, or made from a flow record (which stands for
    /// [`levee_decode::Packet::count`] packets): for a stream fed by a flow collector.
    /// Every one is profiled (flow records are far fewer than the packets they stand for).
    #[inline]
    pub fn feed_packet(&mut self, ts_nanos: i64, p: &levee_decode::Packet<'_>) {
        if ts_nanos >= self.window.end_ns {
            self.roll_to(ts_nanos);
        }
        let n = p.count.max(1);
        self.window.packets += n;
        self.window.bytes += n.saturating_mul(u64::from(p.wire_len));
        self.analyzer.add(ts_nanos, p);
    }

    /// Moves stream time on to `now_ns` with no packet, as when a live link goes quiet: the
    /// window counted is closed once `now_ns` is past its end, and then each later window
    /// boundary passed is a decision of its own (an empty window's summary, and detection), so
    /// attacks end on time on a silent link. A caller that jumps far ahead gets one decision
    /// at the last boundary passed, not one per window skipped.
    pub fn advance_to(&mut self, now_ns: i64) {
        if self.window.end_ns == i64::MIN {
            return; // nothing fed yet: no time to move on from
        }
        self.analyzer.judge_waited(now_ns);
        if now_ns >= self.window.end_ns {
            self.close();
            let w = self.config.window_ns;
            let boundary = now_ns.div_euclid(w).saturating_mul(w);
            if boundary > self.decided {
                self.window = Open {
                    end_ns: boundary,
                    packets: 0,
                    bytes: 0,
                };
                self.close();
            }
        }
        self.now = self.now.max(now_ns);
    }

    /// The next event, oldest first.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether an event is queued (a caller fed per packet asks before taking them).
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Every event queued so far, oldest first.
    pub fn drain_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.events.drain(..)
    }

    /// Changes, from the next decision on, the thresholds detection judges by (see
    /// `Analyzer::retune`) and the quiet period that ends an attack.
    pub fn retune(&mut self, analysis: &levee_analyze::AnalyzeConfig, quiet_ns: i64) {
        self.analyzer.retune(analysis);
        self.config.quiet_ns = quiet_ns;
    }

    /// One packet in how many was profiled, at the sparsest so far (thinned profiles: the
    /// sparsest rate any class or settled attack was drawn at).
    pub fn profiled_one_in(&self) -> u64 {
        self.analyzer.sample_one_in()
    }

    /// Packets fed so far.
    pub fn packets(&self) -> u64 {
        self.analyzer.packets()
    }

    /// The input ended: the last window is closed, detection runs on everything, and every
    /// attack still going ends. Returns the events this queued and the analysis (the same an
    /// offline run of the same packets gives), named after `files` with `damaged_records`.
    pub fn finish(mut self, files: Vec<FileInfo>, damaged_records: u64) -> (Analysis, Vec<Event>) {
        self.end_all();
        let events = self.events.drain(..).collect();
        let analysis = self.into_plan().finish(files, damaged_records);
        (analysis, events)
    }

    /// The input ended, for a caller that wants no analysis of it (a monitor): the last
    /// window is closed, detection runs, and every attack still going ends; the events are
    /// queued. Packets fed after this start new windows and attacks.
    ///
    /// No answer can come any more to the packets still waiting in the delay line: they are
    /// judged for good first, so the last decision counts them. Otherwise an attack the
    /// stream had settled on ends with its figures a delay behind (a flood from 10 million
    /// sources told as 9 million, its last second left out).
    pub fn end_all(&mut self) {
        self.analyzer.judge_waited(i64::MAX);
        if self.window.end_ns > self.decided {
            self.close();
        } else if self.config.events && self.known.iter().any(|k| !k.ended) {
            // The last window was decided already (a live link gone quiet): decided again
            // with what was just judged.
            self.detect_at(self.decided);
        }
        if self.config.events {
            let at = self.now.max(self.decided);
            for k in self.known.iter_mut().filter(|k| !k.ended) {
                k.ended = true;
                k.last.at_ns = at;
                self.events.push_back(Event::AttackEnded(k.last.clone()));
            }
        }
    }

    /// The first pass ended and the sample measured: the plan an offline analysis finishes
    /// (and a report judges its later pass by). Queued events are dropped.
    pub fn into_plan(self) -> Plan {
        let mut plan = Plan::from_first_pass(self.analyzer);
        if plan.needs_second_pass() {
            plan.replay();
        }
        plan
    }

    /// Closes the open window for a frame at `ts`, and opens the window `ts` falls in. A
    /// stretch with no packet at all opens no window: a quiet hour is one gap, not 3,600
    /// empty summaries.
    #[cold]
    fn roll_to(&mut self, ts: i64) {
        if self.window.end_ns != i64::MIN {
            self.close();
        }
        let w = self.config.window_ns;
        self.window = Open {
            end_ns: ts.div_euclid(w).saturating_add(1).saturating_mul(w),
            packets: 0,
            bytes: 0,
        };
    }

    /// Closes the open window (the stream has moved past it or ended): its summary, and at
    /// its end detection. The window counted stays as it was until another opens.
    fn close(&mut self) {
        let Open {
            end_ns,
            packets,
            bytes,
        } = self.window;
        if end_ns <= self.decided {
            return;
        }
        self.decided = end_ns;
        self.now = self.now.max(end_ns);
        self.events.push_back(Event::Window(WindowSummary {
            start_ns: end_ns - self.config.window_ns,
            end_ns,
            packets,
            bytes,
        }));
        if self.config.events {
            self.detect_at(end_ns);
        }
    }

    /// Whether detection at `at` may leave the packets of attack `k` still waiting in the delay
    /// line out of its provisional judgement (see `Analyzer::with_delay_judged`): an attack
    /// going on for twice the delay already has a delay's worth of its packets profiled for
    /// good, and leaving its last stretch out only holds its figures a delay behind. A
    /// decision's cost is then the traffic it has not settled, not a whole second of a flood
    /// judged again four times a second. Only with a bounded delay well inside the quiet
    /// period, so the lag cannot make a flood look quiet.
    fn settled(&self, k: &Known, at: i64) -> bool {
        let Some(delay) = self.config.judge_within_ns else {
            return false;
        };
        !k.ended
            && self.config.quiet_ns >= SETTLED_QUIET_DELAYS * delay
            && at.saturating_sub(k.last.start_ns) >= SETTLED_AFTER_DELAYS * delay
    }

    /// Detection on everything fed so far, as attack events at stream time `at`.
    fn detect_at(&mut self, at: i64) {
        let settled: Vec<(Class, &levee_analyze::target::TargetSpec)> = self
            .known
            .iter()
            .filter(|k| self.settled(k, at))
            .map(|k| (k.class, &k.first_targets))
            .collect();
        let (findings, _) = levee_analyze::detect::findings_so_far(&mut self.analyzer, &settled);
        let quiet = self.config.quiet_ns;
        for f in findings.iter().filter(|f| f.backscatter_of.is_none()) {
            let scanner = matches!(f.targets, levee_analyze::target::TargetSpec::FromSource(_))
                .then(|| f.targets.to_string());
            let now = AttackEvent {
                id: 0,
                at_ns: at,
                vector: f.vector.clone(),
                targets: f.targets.to_string(),
                target: f.targets.clone(),
                start_ns: f.window.0,
                end_ns: f.window.1,
                peak_pps: f.peak_pps,
                sources: f.sources,
                spoofed_likely: f.spoofed_likely,
                signature: self.told.of(f),
                evidence: f.evidence.clone(),
                low_rate: f.low_rate.clone(),
            };
            match self.known.iter_mut().find(|k| k.is(f, &scanner, quiet)) {
                Some(k) if k.ended => {
                    // The attack told as ended: still found as it was (detection judges the
                    // whole stream), or back after its quiet period, as a new attack.
                    if f.window.1 > k.last.end_ns.saturating_add(quiet) {
                        let id = self.next_id;
                        self.next_id += 1;
                        k.ended = false;
                        k.first_targets = now.target.clone();
                        k.last = AttackEvent { id, ..now };
                        self.events.push_back(Event::AttackStarted(k.last.clone()));
                    }
                }
                Some(k) => {
                    let changed = now.peak_pps > k.last.peak_pps * PEAK_RISE
                        || now.vector != k.last.vector
                        || now.targets != k.last.targets
                        || now.signature != k.last.signature;
                    let grown = AttackEvent {
                        id: k.last.id,
                        start_ns: now.start_ns.min(k.last.start_ns),
                        end_ns: now.end_ns.max(k.last.end_ns),
                        peak_pps: now.peak_pps.max(k.last.peak_pps),
                        sources: now.sources.max(k.last.sources),
                        ..now
                    };
                    k.last = grown;
                    if changed {
                        self.events.push_back(Event::AttackUpdated(k.last.clone()));
                    }
                }
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let k = Known {
                        class: f.class,
                        scanner,
                        first_targets: now.target.clone(),
                        last: AttackEvent { id, ..now },
                        ended: false,
                    };
                    self.events.push_back(Event::AttackStarted(k.last.clone()));
                    self.known.push(k);
                }
            }
        }
        let mut ended = Vec::new();
        for k in self.known.iter_mut().filter(|k| !k.ended) {
            if at.saturating_sub(k.last.end_ns) > quiet {
                k.ended = true;
                k.last.at_ns = at;
                self.events.push_back(Event::AttackEnded(k.last.clone()));
                ended.push(k.class);
            }
        }
        if self.config.profile_at_most_pps.is_some() {
            // A stream that never ends describes each attack by its own packets: a class
            // whose attacks are all over forgets its profile.
            for class in ended {
                if !self.known.iter().any(|k| k.class == class && !k.ended) {
                    self.analyzer.forget_profile(class);
                }
            }
            self.known
                .retain(|k| !k.ended || at.saturating_sub(k.last.end_ns) <= FORGET_ENDED_NS);
        }
    }
}

/// Signatures told, by the finding's targets and candidates they were chosen from (see
/// [`told_signature`]): a going attack's candidates repeat decision after decision, and
/// measuring them on the benign reference each time would cost more than the decision. Found
/// by comparing the candidates themselves, most recently told first: writing them out as a
/// text key at every decision cost more than the comparison.
#[derive(Default)]
struct ToldSignatures {
    chosen: std::collections::VecDeque<(ToldFrom, Option<String>)>,
}

/// What a told signature was chosen from.
#[derive(PartialEq)]
struct ToldFrom {
    targets: levee_analyze::target::TargetSpec,
    candidates: Vec<levee_rules::Expr>,
    defined_by: Option<levee_rules::Expr>,
}

/// Most choices [`ToldSignatures`] keeps; the least recently told go first.
const TOLD_SIGNATURES: usize = 256;

impl ToldSignatures {
    fn of(&mut self, f: &Finding) -> Option<String> {
        let same = |from: &ToldFrom| {
            from.targets == f.targets
                && from.candidates == f.candidates
                && from.defined_by == f.defined_by
        };
        if let Some(at) = self.chosen.iter().position(|(from, _)| same(from)) {
            let hit = self.chosen.remove(at).expect("found above");
            let told = hit.1.clone();
            self.chosen.push_front(hit);
            return told;
        }
        if self.chosen.len() >= TOLD_SIGNATURES {
            self.chosen.pop_back();
        }
        let told = told_signature(f);
        let from = ToldFrom {
            targets: f.targets.clone(),
            candidates: f.candidates.clone(),
            defined_by: f.defined_by.clone(),
        };
        self.chosen.push_front((from, told.clone()));
        told
    }
}

/// The signature an event tells (see [`AttackEvent::signature`]): the most specific candidate
/// that spares levee's benign reference (traffic every network needs, addressed to the
/// targets), or the most specific when none does: a stream measures no candidate on the
/// traffic, but a header signature that also stops QUIC or the target's DNS answers is
/// passed over for one that does not (a payload fingerprint). Without the fields an attacker
/// varies for free when that is a candidate too and spares as much. An attack defined by its
/// payload (`Finding::defined_by`: other one-way traffic shares its class) tells only a
/// candidate on the payload: a header signature would also stop that traffic.
fn told_signature(f: &Finding) -> Option<String> {
    let reference = levee_analyze::reference::Reference::for_targets(&f.targets);
    let spares = |e: &levee_rules::Expr| reference.measure(e).matched == 0;
    let allowed = |e: &levee_rules::Expr| {
        f.defined_by.is_none() || e.fields().iter().any(|field| field.is_payload())
    };
    let chosen = f
        .candidates
        .iter()
        .filter(|c| allowed(c))
        .find(|c| spares(c))
        .or(f.candidates.iter().find(|c| allowed(c)))?;
    let robust = levee_analyze::signature::without_volatile(chosen)
        .filter(|r| f.candidates.contains(r) && (spares(r) || !spares(chosen)))
        .unwrap_or_else(|| chosen.clone());
    Some(robust.to_string())
}
