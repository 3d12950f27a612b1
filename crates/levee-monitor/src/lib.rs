//! `levee monitor`: traffic that does not end, watched as it comes.
//!
//! A [`Monitor`] feeds packets to the engine's streaming analysis ([`levee_engine::Stream`]:
//! one-second windows, the same detection, vectors, evidence and signatures as `levee
//! analyze`) and turns its attack events into incidents ([`levee_incidents::Store`]): one per
//! vector and target while it lasts, with the rule for each engine
//! ([`rules::for_engines`]). Each state change is committed to the database first, then
//! given to every [`AlertSink`]: a sink that fails is counted and told to the [`Watcher`],
//! and never stops detection.
//!
//! After a restart, the incidents the database holds as active are marked so in their
//! history; the first attack the stream finds on the same vector and target continues one,
//! and those not found again within the quiet period end ("not seen again").
//!
//! Inputs: a capture played as fast as it can be read or at its own pace ([`play`]), so
//! every behaviour is testable without a network; an interface on Linux ([`watch`]); flow
//! exports from routers ([`collect`]); an access log followed as it is written
//! ([`logs::follow`]), its clients judged as `levee analyze` judges a log's.

#![warn(missing_docs)]

pub mod alerts;
pub mod baseline;
pub mod collect;
pub mod endpoint;
pub mod evidence;
pub mod logs;
pub mod networks;
pub mod rules;

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use levee_analyze::AnalyzeConfig;
use levee_capture::{CaptureReader, Item};
use levee_engine::stream::{AttackEvent, Event, Stream, StreamConfig, WindowSummary};
use levee_incidents::{Alert, Observation, Store, StoreError};

pub use alerts::{AlertSink, JsonLines, Syslog, Webhook};
pub use networks::{Network, Networks, NetworksError};

use baseline::{Baselines, RiseEvent, PROTOCOLS};
use levee_analyze::target::TargetSpec;

/// How often detection runs, in traffic time.
pub const DECIDE_EVERY_NS: i64 = 250_000_000;

/// How long a packet waits for its answer before it is judged for good: a round trip of a
/// second is generous on any path a monitor watches, and what is still waiting is judged
/// anew at every decision, so a bound keeps each decision's cost to a second of traffic.
pub const JUDGE_WITHIN_NS: i64 = 1_000_000_000;

/// Packets a second of each class profiled at most: above, a random share of them, weighted
/// (every packet is still counted, and followed in the flow filters). A second of 4,096 tells
/// a share of a flood's packets (a port, a length, a TTL) to within 0.8 % (one standard
/// error), and profiling costs the same at 20 kpps as at 10 Mpps: at 16,384 (before), the
/// 5-million-packet bench at 20 kpps spent a third of its time profiling.
pub const PROFILE_AT_MOST_PPS: u64 = 1 << 12;

/// Packets a second profiled at most of an attack the monitor follows, once settled (two
/// seconds in): its profile holds those seconds at [`PROFILE_AT_MOST_PPS`] and goes on
/// gathering, ten seconds more at this rate telling a share to within 0.5 %; the CPU a
/// sustained flood took in profiling is the monitor's again (on the 5-million-packet
/// benchmark, a fifth of its time). The rest of the class is profiled at its own rate.
pub const PROFILE_SETTLED_AT_MOST_PPS: u64 = 1 << 10;

/// How long a stopping monitor waits for its sinks to deliver queued alerts (a webhook's
/// retries take up to 3.75 s an alert).
const SINK_CLOSE: Duration = Duration::from_secs(15);

/// What stopped a monitor.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The incident database failed: no state change may be alerted that it did not keep.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The evidence directory cannot be made.
    #[error("evidence directory {dir}: {source}")]
    Evidence {
        /// The directory.
        dir: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The access log cannot be read on.
    #[error("{file}: {why}")]
    Log {
        /// The log, as named.
        file: String,
        /// What is wrong.
        why: String,
    },
    /// The flow collector's socket failed.
    #[error("flow collector {addr}: {source}")]
    Collect {
        /// The address it listens on.
        addr: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The metrics endpoint cannot listen.
    #[error("metrics endpoint {addr}: {source}")]
    Metrics {
        /// The address asked for.
        addr: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The interface cannot be read.
    #[cfg(target_os = "linux")]
    #[error(transparent)]
    Live(#[from] levee_capture::live::LiveError),
}

/// How a monitor detects and where it keeps what it finds.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// The analysis's settings (thresholds), as `levee analyze` takes them.
    pub analysis: AnalyzeConfig,
    /// An attack ends when its evidence has been quiet this long (ns).
    pub quiet_ns: i64,
    /// The device the nftables rule of an incident hooks.
    pub device: String,
    /// Detection runs at the end of every stretch of traffic time this long (ns).
    pub decide_every_ns: i64,
    /// Where each incident's packets are written as a capture (see [`evidence`]); none
    /// kept when `None`.
    pub evidence_dir: Option<std::path::PathBuf>,
    /// A file the counters are written to in Prometheus's text format (for node_exporter's
    /// textfile collector), replaced whole at most once a second and at the end.
    pub metrics_file: Option<std::path::PathBuf>,
    /// Where the counters are served over HTTP (`GET /metrics`), updated as often as the
    /// metrics file.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The protected networks: when given, only attacks on them become incidents, each
    /// judged by its network's threshold, and traffic to each is learnt per protocol for
    /// rises over its usual rate ([`baseline`]).
    pub networks: Option<Arc<Networks>>,
}

impl MonitorConfig {
    /// `levee analyze`'s thresholds, attacks ending after 30 quiet seconds, rules for eth0.
    pub fn new(analysis: AnalyzeConfig) -> MonitorConfig {
        MonitorConfig {
            analysis,
            quiet_ns: 30_000_000_000,
            device: "eth0".into(),
            decide_every_ns: DECIDE_EVERY_NS,
            evidence_dir: None,
            metrics_file: None,
            metrics_listen: None,
            networks: None,
        }
    }

    /// The thresholds the stream detects by: the monitor's, down to the lowest a protected
    /// network sets (each attack is then judged by its own network's).
    fn detection(&self) -> AnalyzeConfig {
        let mut analysis = self.analysis.clone();
        if let Some(lowest) = self.networks.as_ref().and_then(|n| n.lowest_pps()) {
            analysis.min_pps = analysis.min_pps.min(lowest);
        }
        analysis
    }

    /// Each protected network's threshold, for the baselines.
    fn thresholds(&self, networks: &Networks) -> Vec<f64> {
        networks
            .list()
            .iter()
            .map(|n| n.min_pps.unwrap_or(self.analysis.min_pps))
            .collect()
    }

    fn baselines(&self) -> Option<Baselines> {
        let networks = self.networks.as_ref()?;
        Some(Baselines::new(
            self.thresholds(networks),
            self.analysis.baseline_factor,
            self.quiet_ns,
        ))
    }
}

/// What a monitor tells as it runs, besides its alerts' sinks.
pub trait Watcher {
    /// An alert was committed (and is being sent to the sinks).
    fn alert(&mut self, _alert: &Alert) {}
    /// A window of traffic time ended.
    fn window(&mut self, _window: &WindowSummary) {}
    /// A sink could not take an alert.
    fn alert_failed(&mut self, _sink: &str, _why: &str) {}
    /// An incident's capture could not be written.
    fn evidence_failed(&mut self, _incident: i64, _why: &str) {}
    /// The metrics file could not be written.
    fn metrics_failed(&mut self, _path: &str, _why: &str) {}
    /// A record of the input was damaged and skipped.
    fn damaged(&mut self, _what: &str) {}
    /// Incident `incident`'s attack ended and its capture (`--evidence`) is whole: the moment
    /// to make its report. Called from the monitor's loop: a watcher that takes long (a
    /// report) does it on a thread of its own.
    fn sample_closed(&mut self, _incident: i64, _capture: &std::path::Path) {}
    /// The kernel dropped `new` packets of a live input since it last told (`total` in all):
    /// the figures of that stretch are low.
    fn kernel_drops(&mut self, _new: u64, _total: u64) {}
}

/// A watcher that tells nothing.
pub struct Quiet;
impl Watcher for Quiet {}

/// A monitor's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MonitorStats {
    /// Packets fed.
    pub packets: u64,
    /// Requests fed (an access log).
    pub requests: u64,
    /// Bytes on the wire fed.
    pub bytes: u64,
    /// Windows closed.
    pub windows: u64,
    /// Damaged input records skipped.
    pub damaged: u64,
    /// Incidents opened.
    pub incidents_opened: u64,
    /// Alerts committed.
    pub alerts: u64,
    /// Alert deliveries a sink refused.
    pub alert_failures: u64,
    /// Active incidents found again after a restart.
    pub resumed_after_restart: u64,
    /// With protected networks: attacks found on other targets, or under their network's
    /// threshold, that became no incident.
    pub attacks_ignored: u64,
    /// Of a live input: packets the kernel received for the monitor, dropped ones included.
    pub kernel_packets: u64,
    /// Of a live input: packets the kernel dropped because the monitor fell behind.
    pub kernel_drops: u64,
}

/// An attack of the stream told as an incident.
#[derive(Debug, Clone, Copy)]
struct Active {
    /// The incident.
    id: i64,
    /// The protected network it is on (an index in the list), if there is a list.
    network: Option<usize>,
}

/// Traffic in, incidents and alerts out (see the crate's overview).
pub struct Monitor<'w> {
    config: MonitorConfig,
    stream: Stream,
    store: Store,
    sinks: Vec<Box<dyn AlertSink>>,
    watcher: &'w mut dyn Watcher,
    /// The stream's attack ids and their incidents.
    incidents: HashMap<u64, Active>,
    /// The stream's attacks that are no incident (protected networks): not on one, or under
    /// its threshold so far.
    ignored: HashSet<u64>,
    /// Traffic to each protected network by protocol, against its usual rate.
    baselines: Option<Baselines>,
    /// The rises told as incidents: (network, protocol) and the incident.
    rises: HashMap<(usize, usize), i64>,
    /// An access log's requests, judged (`--log`), and the site they are named after.
    web: Option<(levee_l7::stream::L7Stream, String)>,
    /// The web attacks told as incidents.
    web_incidents: HashMap<u64, i64>,
    /// Incidents active when the monitor started, not found again yet.
    orphans: Vec<i64>,
    /// Traffic time of the first packet.
    first_ns: Option<i64>,
    /// The last packets, and the incidents' captures (with an evidence directory).
    evidence: Option<(Box<evidence::Recent>, evidence::Samples)>,
    /// When the metrics were last written (file) and published (endpoint).
    metrics_written: Option<Instant>,
    /// The HTTP endpoint serving them.
    endpoint: Option<endpoint::MetricsEndpoint>,
    stats: MonitorStats,
}

impl<'w> Monitor<'w> {
    /// A monitor keeping incidents in `store` and sending alerts to `sinks`.
    pub fn new(
        config: MonitorConfig,
        mut store: Store,
        sinks: Vec<Box<dyn AlertSink>>,
        watcher: &'w mut dyn Watcher,
    ) -> Result<Monitor<'w>, MonitorError> {
        let orphans = store.monitor_restarted()?;
        let evidence = match &config.evidence_dir {
            Some(dir) => Some((
                // A monitor fed by flow exports keeps their datagrams whole.
                Box::new(if config.analysis.from_flows {
                    evidence::Recent::for_exports()
                } else {
                    evidence::Recent::new()
                }),
                evidence::Samples::new(dir).map_err(|e| MonitorError::Evidence {
                    dir: dir.display().to_string(),
                    source: e,
                })?,
            )),
            None => None,
        };
        let endpoint = match config.metrics_listen {
            Some(addr) => Some(endpoint::MetricsEndpoint::serve(addr).map_err(|source| {
                MonitorError::Metrics {
                    addr: addr.to_string(),
                    source,
                }
            })?),
            None => None,
        };
        let mut stream_config = StreamConfig::new(config.detection());
        stream_config.quiet_ns = config.quiet_ns;
        stream_config.window_ns = config.decide_every_ns.max(1);
        stream_config.judge_within_ns = Some(JUDGE_WITHIN_NS);
        stream_config.profile_at_most_pps = Some(PROFILE_AT_MOST_PPS);
        stream_config.profile_settled_at_most_pps = Some(PROFILE_SETTLED_AT_MOST_PPS);
        Ok(Monitor {
            stream: Stream::new(stream_config),
            baselines: config.baselines(),
            config,
            store,
            sinks,
            watcher,
            incidents: HashMap::new(),
            ignored: HashSet::new(),
            rises: HashMap::new(),
            web: None,
            web_incidents: HashMap::new(),
            orphans,
            first_ns: None,
            evidence,
            metrics_written: None,
            endpoint,
            stats: MonitorStats::default(),
        })
    }

    /// Feeds one frame (traffic time `ts_nanos`); tells what its window's end decided.
    // Inlined into the reader's loop (see `play`): the call cost 20 instructions a packet.
    #[inline(always)]
    pub fn feed(
        &mut self,
        ts_nanos: i64,
        linktype: u32,
        data: &[u8],
        orig_len: u32,
    ) -> Result<(), MonitorError> {
        self.first_ns.get_or_insert(ts_nanos);
        self.stats.packets += 1;
        self.stats.bytes += u64::from(orig_len);
        self.stream.feed(ts_nanos, linktype, data, orig_len);
        if self.baselines.is_some() {
            if let Some((dst, proto)) = levee_decode::destination_and_protocol(linktype, data) {
                self.learn(ts_nanos, dst, proto, 1);
            }
        }
        self.keep_evidence(ts_nanos, linktype, data, orig_len);
        // Events come with a decision, a few times a second: most packets bring none.
        if self.stream.has_events() || self.baselines.as_ref().is_some_and(|b| b.has_events()) {
            self.handle_events()?;
        }
        Ok(())
    }

    /// Feeds one packet a flow record stands for (`--collect`: see [`collect`]), counted,
    /// detected on and learnt as [`Packet::count`](levee_decode::Packet::count) captured
    /// ones. The analysis must have been told its packets come from flows
    /// (`AnalyzeConfig::from_flows`).
    pub fn feed_flow(
        &mut self,
        ts_nanos: i64,
        p: &levee_decode::Packet<'_>,
    ) -> Result<(), MonitorError> {
        self.first_ns.get_or_insert(ts_nanos);
        let n = p.count.max(1);
        self.stats.packets += n;
        self.stats.bytes += n.saturating_mul(u64::from(p.wire_len));
        self.stream.feed_packet(ts_nanos, p);
        if let (Some(ip), true) = (&p.ip, self.baselines.is_some()) {
            self.learn(ts_nanos, ip.dst, ip.proto, n);
        }
        self.handle_events()
    }

    /// Judges the requests of the access log `site` from now on ([`logs::follow`] calls it).
    pub fn serve_log(&mut self, site: &str) {
        let stream = levee_l7::stream::L7Stream::new(Default::default(), self.config.quiet_ns);
        self.web = Some((stream, site.to_string()));
    }

    /// Feeds one request of the access log (see [`Monitor::serve_log`]).
    pub fn feed_request(&mut self, r: &levee_logs::Request<'_>) -> Result<(), MonitorError> {
        self.stats.requests += 1;
        if let Some(ts) = r.ts {
            self.first_ns.get_or_insert(ts);
        }
        if self.web.is_none() {
            self.serve_log("the access log");
        }
        if let Some((web, _)) = &mut self.web {
            web.feed(r);
        }
        if self.stats.requests.is_multiple_of(1024) {
            self.tick_metrics();
        }
        self.handle_web("none of its clients sent a request for the quiet period")
    }

    /// What the access log's judgement told: web attacks as incidents, each with the rule
    /// that blocks its clients.
    fn handle_web(&mut self, end_why: &str) -> Result<(), MonitorError> {
        loop {
            let Some((web, site)) = &mut self.web else {
                return Ok(());
            };
            let Some(e) = web.next_event() else {
                return Ok(());
            };
            let site = site.clone();
            match e {
                levee_l7::stream::L7Event::Started(a) => {
                    let o = self.web_observation(&a, &site);
                    let id = self.open(&o)?;
                    self.web_incidents.insert(a.id, id);
                }
                levee_l7::stream::L7Event::Updated(a) => {
                    if let Some(&id) = self.web_incidents.get(&a.id) {
                        let o = self.web_observation(&a, &site);
                        self.grew(id, &o)?;
                    }
                }
                levee_l7::stream::L7Event::Ended(a) => {
                    if let Some(id) = self.web_incidents.remove(&a.id) {
                        let o = self.web_observation(&a, &site);
                        self.close(id, &o, end_why)?;
                    }
                }
            }
        }
    }

    /// A web attack as an incident sees it: its rate in requests a second, its clients for
    /// sources, and the rule blocking them (nginx's too).
    fn web_observation(&self, a: &levee_l7::stream::L7AttackEvent, site: &str) -> Observation {
        let signature = (!a.addresses.is_empty()).then(|| {
            let list: Vec<String> = a.addresses.iter().map(|ip| ip.to_string()).collect();
            format!("ip.src in {{ {} }}", list.join(" "))
        });
        let rules = signature.as_deref().map_or_else(Default::default, |s| {
            rules::for_web(
                &format!("{}-{}", a.vector, a.id),
                &format!(
                    "the {} client(s) of {} on {} (levee monitor)",
                    a.addresses.len(),
                    a.vector,
                    site
                ),
                s,
                &self.config.device,
            )
        });
        let mut evidence = a.evidence.clone();
        evidence.push(format!(
            "{} requests from {} clients so far, peak {} requests a second (the incident's \
             rates are requests for a web attack)",
            a.requests, a.clients, a.peak_rps
        ));
        Observation {
            vector: a.vector.to_string(),
            target: site.to_string(),
            measure: levee_incidents::Measure::Requests,
            network: None,
            start_ns: a.start_ns,
            end_ns: a.end_ns,
            at_ns: a.at_ns,
            peak_pps: a.peak_rps as f64,
            sources: a.clients,
            spoofed_likely: false,
            signature,
            rules,
            evidence,
        }
    }

    /// Counts `packets` to `dst` for its protected network's baseline, if it is in one.
    #[inline]
    fn learn(&mut self, ts_nanos: i64, dst: std::net::IpAddr, proto: u8, packets: u64) {
        if let (Some(baselines), Some(networks)) = (&mut self.baselines, &self.config.networks) {
            if let Some((i, _)) = networks.find(levee_analyze::vector::addr_bits(dst)) {
                baselines.count(ts_nanos, i, baseline::protocol_index(proto), packets);
            }
        }
    }

    /// Keeps a frame in the evidence (`--evidence`) without counting it: each frame fed, and
    /// for a flow-fed monitor each export datagram, so an incident's capture holds the
    /// exports around it, which `levee report` reads as the traffic they stand for.
    // Inlined into the per-packet loop: without --evidence, one test of an `Option` (a call
    // of its own cost 18 instructions a packet).
    #[inline(always)]
    pub fn keep_evidence(&mut self, ts_nanos: i64, linktype: u32, data: &[u8], orig_len: u32) {
        if self.evidence.is_some() {
            self.keep_evidence_now(ts_nanos, linktype, data, orig_len);
        }
    }

    fn keep_evidence_now(&mut self, ts_nanos: i64, linktype: u32, data: &[u8], orig_len: u32) {
        if let Some((recent, samples)) = &mut self.evidence {
            recent.push(ts_nanos, linktype, data, orig_len);
            if samples.any_open() {
                for (id, e) in samples.add(ts_nanos, linktype, data, orig_len) {
                    self.watcher.evidence_failed(id, &e.to_string());
                }
            }
        }
    }

    /// Moves traffic time on with no packet (a quiet link).
    pub fn advance_to(&mut self, now_ns: i64) -> Result<(), MonitorError> {
        self.stream.advance_to(now_ns);
        if let Some(b) = &mut self.baselines {
            b.advance_to(now_ns);
        }
        if let Some((web, _)) = &mut self.web {
            web.advance_to(now_ns);
        }
        self.tick_metrics();
        self.handle_events()?;
        self.handle_web("none of its clients sent a request for the quiet period")
    }

    /// The kernel's counters of a live input, as they stand (cumulative).
    pub fn kernel_counters(&mut self, packets: u64, drops: u64) {
        if drops > self.stats.kernel_drops {
            self.watcher
                .kernel_drops(drops - self.stats.kernel_drops, drops);
        }
        self.stats.kernel_packets = packets;
        self.stats.kernel_drops = drops;
    }

    /// A damaged input record was skipped.
    pub fn damaged(&mut self, what: &str) {
        self.stats.damaged += 1;
        self.watcher.damaged(what);
    }

    /// The input ended: every attack still going ends ("the input ended").
    pub fn finish(mut self) -> Result<MonitorStats, MonitorError> {
        self.stream.end_all();
        let quiet = self.config.quiet_ns;
        while let Some(e) = self.stream.next_event() {
            self.handle(e, "the input ended", quiet)?;
        }
        if let Some(b) = &mut self.baselines {
            b.end_all();
        }
        self.handle_rises("the input ended")?;
        if let Some((web, _)) = &mut self.web {
            web.end_all();
        }
        self.handle_web("the input ended")?;
        let orphans = std::mem::take(&mut self.orphans);
        self.end_stored(&orphans, "the input ended")?;
        self.finish_samples()?;
        self.close_sinks();
        Ok(self.stats)
    }

    /// Begins incident `id`'s capture with the recent packets (unless one is open).
    fn start_sample(&mut self, id: i64) -> Result<(), MonitorError> {
        let Some((recent, samples)) = &mut self.evidence else {
            return Ok(());
        };
        match samples.start(id, recent) {
            Ok(Some((path, packets))) => self.store.monitor_history(
                id,
                "sample",
                &format!(
                    "capture {} begun with the {packets} packets before and as it started",
                    path.display()
                ),
            )?,
            Ok(None) => {}
            Err(e) => self.watcher.evidence_failed(id, &e.to_string()),
        }
        Ok(())
    }

    /// Closes incident `id`'s capture and records it; `ended`: because its attack ended (not
    /// because the monitor stops), which the watcher is told.
    fn finish_sample(&mut self, id: i64, ended: bool) -> Result<(), MonitorError> {
        let Some((_, samples)) = &mut self.evidence else {
            return Ok(());
        };
        match samples.finish(id) {
            Some(Ok((path, packets))) => {
                self.store.sample_written(
                    id,
                    &path.display().to_string(),
                    &format!("{packets} packets (at most {})", evidence::SAMPLE_PACKETS),
                )?;
                if ended {
                    self.watcher.sample_closed(id, &path);
                }
            }
            Some(Err(e)) => self.watcher.evidence_failed(id, &e.to_string()),
            None => {}
        }
        Ok(())
    }

    /// Closes every open capture (the monitor stops).
    fn finish_samples(&mut self) -> Result<(), MonitorError> {
        let ids = self
            .evidence
            .as_ref()
            .map(|(_, s)| s.open_ids())
            .unwrap_or_default();
        for id in ids {
            self.finish_sample(id, false)?;
        }
        Ok(())
    }

    /// Gives the sinks time to deliver what they queued, counts what they could not, and
    /// writes the last metrics.
    fn close_sinks(&mut self) {
        for sink in &mut self.sinks {
            sink.close(SINK_CLOSE);
        }
        self.poll_failures();
        self.write_metrics();
    }

    /// The counters in Prometheus's text exposition format.
    pub fn metrics_text(&self) -> String {
        let s = &self.stats;
        let rows: [(&str, &str, &str, u64); 13] = [
            (
                "levee_packets_total",
                "counter",
                "Packets fed to the monitor.",
                s.packets,
            ),
            (
                "levee_requests_total",
                "counter",
                "Requests of an access log fed to the monitor.",
                s.requests,
            ),
            (
                "levee_bytes_total",
                "counter",
                "Bytes on the wire fed to the monitor.",
                s.bytes,
            ),
            (
                "levee_windows_total",
                "counter",
                "Decisions taken (windows of traffic time closed).",
                s.windows,
            ),
            (
                "levee_damaged_records_total",
                "counter",
                "Damaged input records skipped.",
                s.damaged,
            ),
            (
                "levee_incidents_opened_total",
                "counter",
                "Incidents opened.",
                s.incidents_opened,
            ),
            (
                "levee_incidents_active",
                "gauge",
                "Incidents whose attack goes on.",
                (self.incidents.len() + self.rises.len() + self.web_incidents.len()) as u64,
            ),
            (
                "levee_alerts_total",
                "counter",
                "Alerts committed.",
                s.alerts,
            ),
            (
                "levee_alert_failures_total",
                "counter",
                "Alert deliveries that failed.",
                s.alert_failures,
            ),
            (
                "levee_incidents_resumed_after_restart_total",
                "counter",
                "Active incidents found again after a restart.",
                s.resumed_after_restart,
            ),
            (
                "levee_attacks_ignored_total",
                "counter",
                "Attacks on unprotected targets, or under their network's threshold (--networks), that ended as no incident.",
                s.attacks_ignored,
            ),
            (
                "levee_kernel_packets_total",
                "counter",
                "Packets the kernel received for a live input, dropped ones included.",
                s.kernel_packets,
            ),
            (
                "levee_kernel_drops_total",
                "counter",
                "Packets of a live input the kernel dropped because the monitor fell behind.",
                s.kernel_drops,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        out
    }

    /// Replaces the metrics file whole (written beside it, then renamed over it).
    /// The input is idle and traffic time unknown (nothing read yet): the metrics are
    /// written and published as every second.
    pub fn idle(&mut self) {
        self.tick_metrics();
    }

    /// Writes and publishes the metrics if a second has passed since they last were.
    fn tick_metrics(&mut self) {
        if self
            .metrics_written
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.write_metrics();
        }
    }

    fn write_metrics(&mut self) {
        if self.config.metrics_file.is_none() && self.endpoint.is_none() {
            return;
        }
        self.metrics_written = Some(Instant::now());
        let text = self.metrics_text();
        if let Some(e) = &self.endpoint {
            e.publish(text.clone());
        }
        let Some(path) = &self.config.metrics_file else {
            return;
        };
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)) {
            self.watcher
                .metrics_failed(&path.display().to_string(), &e.to_string());
        }
    }

    fn poll_failures(&mut self) {
        for sink in &mut self.sinks {
            for why in sink.failures() {
                self.stats.alert_failures += 1;
                self.watcher.alert_failed(sink.name(), &why);
            }
        }
    }

    /// The monitor is stopped (SIGTERM) with the traffic going on: attacks are not called
    /// ended; each active incident's history says the monitor stopped, and a monitor started
    /// again continues it.
    pub fn stop(mut self, why: &str) -> Result<MonitorStats, MonitorError> {
        self.store.monitor_stopped(why)?;
        self.finish_samples()?;
        self.close_sinks();
        Ok(self.stats)
    }

    /// Takes new settings while it runs (a reloaded configuration): the detection thresholds,
    /// the quiet period, the device rules are written for and the metrics file from the next
    /// decision on, and `sinks` in place of the alert sinks, which deliver what they hold
    /// in the background. The evidence directory, the database and the input stay as they were (a restart
    /// changes them); returns the settings that could not change and were given otherwise.
    pub fn reconfigure(
        &mut self,
        config: MonitorConfig,
        sinks: Vec<Box<dyn AlertSink>>,
    ) -> Vec<&'static str> {
        let mut kept = Vec::new();
        if config.evidence_dir != self.config.evidence_dir {
            kept.push("evidence");
        }
        if config.decide_every_ns != self.config.decide_every_ns {
            kept.push("decide_every");
        }
        if config.metrics_listen != self.config.metrics_listen {
            kept.push("metrics_listen");
        }
        self.stream.retune(&config.detection(), config.quiet_ns);
        if let Some((web, _)) = &mut self.web {
            web.set_quiet(config.quiet_ns);
        }
        let networks_changed = config.networks != self.config.networks;
        self.config.analysis = config.analysis;
        self.config.quiet_ns = config.quiet_ns;
        self.config.device = config.device;
        self.config.metrics_file = config.metrics_file;
        self.config.networks = config.networks;
        if networks_changed {
            // Learnt again for the new list; the rises told of the old one end.
            self.baselines = self.config.baselines();
            let told: Vec<i64> = self.rises.drain().map(|(_, id)| id).collect();
            if let Err(e) = self.end_stored(&told, "the protected networks changed") {
                self.watcher.damaged(&format!("incident database: {e}"));
            }
        } else if let (Some(b), Some(n)) = (&mut self.baselines, &self.config.networks) {
            b.retune(
                self.config.thresholds(n),
                self.config.analysis.baseline_factor,
                self.config.quiet_ns,
            );
        }
        self.poll_failures();
        // Not waited for: a webhook's thread goes on delivering what it holds in the
        // background, while the traffic keeps coming.
        for mut old in std::mem::replace(&mut self.sinks, sinks) {
            old.close(Duration::ZERO);
        }
        kept
    }

    /// Where the metrics endpoint listens, if it does.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.endpoint.as_ref().map(|e| e.local_addr())
    }

    /// Counters so far.
    pub fn stats(&self) -> &MonitorStats {
        &self.stats
    }

    fn handle_events(&mut self) -> Result<(), MonitorError> {
        let quiet = self.config.quiet_ns;
        while let Some(e) = self.stream.next_event() {
            self.handle(e, "its evidence was quiet for the quiet period", quiet)?;
        }
        self.handle_rises("its rate was back under the rise for the quiet period")
    }

    fn handle(&mut self, e: Event, end_why: &str, quiet_ns: i64) -> Result<(), MonitorError> {
        match e {
            Event::Window(w) => {
                self.stats.windows += 1;
                self.watcher.window(&w);
                self.tick_metrics();
                // Incidents active before a restart that no attack continued within the
                // quiet period have ended.
                if !self.orphans.is_empty()
                    && self
                        .first_ns
                        .is_some_and(|f| w.end_ns.saturating_sub(f) > quiet_ns)
                {
                    let orphans = std::mem::take(&mut self.orphans);
                    self.end_stored(&orphans, "not seen again by the restarted monitor")?;
                }
            }
            Event::AttackStarted(a) => self.attack_found(&a)?,
            Event::AttackUpdated(a) => match self.incidents.get(&a.id) {
                Some(active) => {
                    let (id, network) = (active.id, active.network);
                    let o = self.observation(&a, network);
                    self.grew(id, &o)?;
                }
                // Not an incident yet: it may have reached its network's threshold.
                None => self.attack_found(&a)?,
            },
            Event::AttackEnded(a) => {
                if let Some(active) = self.incidents.remove(&a.id) {
                    let o = self.observation(&a, active.network);
                    self.close(active.id, &o, end_why)?;
                }
                if self.ignored.remove(&a.id) {
                    self.stats.attacks_ignored += 1;
                }
            }
        }
        Ok(())
    }

    /// An attack the stream found (or grew) that is no incident yet: one if it is on a
    /// protected network (when there are any) at its threshold.
    fn attack_found(&mut self, a: &AttackEvent) -> Result<(), MonitorError> {
        let Some(network) = self.admitted(a) else {
            self.ignored.insert(a.id);
            return Ok(());
        };
        self.ignored.remove(&a.id);
        let o = self.observation(a, network);
        let id = self.open(&o)?;
        self.incidents.insert(a.id, Active { id, network });
        if let Some(n) = network {
            self.explain_rises(n, id, &a.vector)?;
        }
        Ok(())
    }

    /// Whether an attack is an incident, and on which protected network: without a list of
    /// them, every attack is (on none). With one, an attack is on the network of its first
    /// target that is in one, and must reach that network's threshold (or have been found
    /// below every threshold on its evidence alone); a scan, named by its source, is one
    /// when the source is outside them. The rate compared is the attack's, all its targets
    /// together, as detection measured it.
    fn admitted(&self, a: &AttackEvent) -> Option<Option<usize>> {
        let Some(networks) = &self.config.networks else {
            return Some(None);
        };
        let found = match &a.target {
            TargetSpec::Hosts(hosts) => hosts.iter().find_map(|&h| networks.find(h)),
            TargetSpec::Prefixes(prefixes) => {
                prefixes.iter().find_map(|&(net, _)| networks.find(net))
            }
            TargetSpec::FromSource(source) => {
                return networks.find(*source).is_none().then_some(None);
            }
        };
        let (i, network) = found?;
        let threshold = network.min_pps.unwrap_or(self.config.analysis.min_pps);
        (a.peak_pps >= threshold || a.low_rate.is_some()).then_some(Some(i))
    }

    /// Commits what an incident's attack grew to, and alerts if it escalated.
    fn grew(&mut self, id: i64, o: &Observation) -> Result<(), MonitorError> {
        let alert = self.store.updated(id, o)?;
        self.send(alert);
        Ok(())
    }

    /// Ends an incident's attack (`why`), alerts, and closes its capture.
    fn close(&mut self, id: i64, o: &Observation, why: &str) -> Result<(), MonitorError> {
        let alert = self.store.ended(id, o, why)?;
        self.send(alert);
        self.finish_sample(id, true)
    }

    /// Opens an incident (or continues one, after a restart or a short quiet spell) for what
    /// was observed, alerts, and begins its capture.
    fn open(&mut self, o: &Observation) -> Result<i64, MonitorError> {
        let (id, alert) = self.store.started(o)?;
        if let Some(pos) = self.orphans.iter().position(|&i| i == id) {
            self.orphans.swap_remove(pos);
            self.stats.resumed_after_restart += 1;
        } else if alert.as_ref().is_some_and(|al| !al.resumed) {
            self.stats.incidents_opened += 1;
        }
        self.send(alert);
        self.start_sample(id)?;
        Ok(id)
    }

    /// What the baselines told: rises as incidents, unless an attack found by its evidence
    /// already explains the network's traffic.
    fn handle_rises(&mut self, end_why: &str) -> Result<(), MonitorError> {
        while let Some(e) = self.baselines.as_mut().and_then(|b| b.next_event()) {
            match e {
                RiseEvent::Started(r) => {
                    if self
                        .incidents
                        .values()
                        .any(|a| a.network == Some(r.network))
                    {
                        continue;
                    }
                    let o = self.rise_observation(&r);
                    let id = self.open(&o)?;
                    self.rises.insert((r.network, r.protocol), id);
                }
                RiseEvent::Updated(r) => {
                    if let Some(&id) = self.rises.get(&(r.network, r.protocol)) {
                        let o = self.rise_observation(&r);
                        self.grew(id, &o)?;
                    }
                }
                RiseEvent::Ended(r) => {
                    if let Some(id) = self.rises.remove(&(r.network, r.protocol)) {
                        let o = self.rise_observation(&r);
                        self.close(id, &o, end_why)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// An attack found by its evidence on network `network` (incident `by`) explains the
    /// rises told on that network: they end, saying so.
    fn explain_rises(&mut self, network: usize, by: i64, vector: &str) -> Result<(), MonitorError> {
        let explained: Vec<i64> = self
            .rises
            .iter()
            .filter(|((n, _), _)| *n == network)
            .map(|(_, &id)| id)
            .collect();
        self.rises.retain(|(n, _), _| *n != network);
        self.end_stored(
            &explained,
            &format!("explained by incident {by} ({vector}) on the same network"),
        )
    }

    /// Ends incidents as the database holds them (their attack is no longer followed).
    fn end_stored(&mut self, ids: &[i64], why: &str) -> Result<(), MonitorError> {
        for &id in ids {
            let inc = self.store.get(id)?;
            let o = Observation {
                vector: inc.vector.clone(),
                target: inc.target.clone(),
                measure: inc.measure,
                network: None,
                start_ns: inc.start_ns,
                end_ns: inc.end_ns,
                at_ns: inc.end_ns,
                peak_pps: inc.peak_pps,
                sources: inc.sources,
                spoofed_likely: inc.spoofed_likely,
                signature: None,
                rules: Default::default(),
                evidence: Vec::new(),
            };
            self.close(id, &o, why)?;
        }
        Ok(())
    }

    /// A rise as an incident sees it: no signature and no rule (a rate says more traffic
    /// came, not which packets are the attack's).
    fn rise_observation(&self, r: &baseline::Rise) -> Observation {
        let networks = self
            .config
            .networks
            .as_ref()
            .expect("rises are told only with protected networks");
        let n = &networks.list()[r.network];
        let protocol = PROTOCOLS[r.protocol];
        Observation {
            vector: format!("{protocol}-rise"),
            target: n.prefix.to_string(),
            measure: levee_incidents::Measure::Packets,
            network: Some(n.name.clone()),
            start_ns: r.start_ns,
            end_ns: r.end_ns,
            at_ns: r.at_ns,
            peak_pps: r.peak_pps,
            sources: 0,
            spoofed_likely: false,
            signature: None,
            rules: Default::default(),
            evidence: vec![format!(
                "{} traffic to {} ({}) rose to {}, {:.0} times its usual {} (learnt over the \
                 last minutes), with no evidence of a known vector: no rule is written for a \
                 rate; `levee analyze` the incident's capture for one",
                protocol.to_uppercase(),
                n.name,
                n.prefix,
                levee_analyze::units::rate(r.peak_pps),
                r.peak_pps / r.usual_pps.max(1.0),
                levee_analyze::units::rate(r.usual_pps),
            )],
        }
    }

    fn observation(&self, a: &AttackEvent, network: Option<usize>) -> Observation {
        let rules = a.signature.as_deref().map_or_else(Default::default, |s| {
            rules::for_engines(
                &format!("{}-{}", a.vector, a.id),
                &format!("{} on {} (levee monitor)", a.vector, a.targets),
                s,
                &self.config.device,
            )
        });
        Observation {
            vector: a.vector.clone(),
            target: a.targets.clone(),
            measure: levee_incidents::Measure::Packets,
            network: network.and_then(|i| {
                let networks = self.config.networks.as_ref()?;
                Some(networks.list().get(i)?.name.clone())
            }),
            start_ns: a.start_ns,
            end_ns: a.end_ns,
            at_ns: a.at_ns,
            peak_pps: a.peak_pps,
            sources: a.sources,
            spoofed_likely: a.spoofed_likely,
            signature: a.signature.clone(),
            rules,
            evidence: a.evidence.iter().map(|e| e.to_string()).collect(),
        }
    }

    /// Gives a committed alert to the watcher and every sink.
    fn send(&mut self, alert: Option<Alert>) {
        let Some(alert) = alert else { return };
        self.stats.alerts += 1;
        self.watcher.alert(&alert);
        for sink in &mut self.sinks {
            if let Err(why) = sink.send(&alert) {
                self.stats.alert_failures += 1;
                self.watcher.alert_failed(sink.name(), &why);
            }
        }
        self.poll_failures();
    }
}

/// How a capture is played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// As fast as it can be read.
    Fast,
    /// At its own pace: each packet fed when as much wall time has passed since the first as
    /// traffic time did (quiet stretches too: windows close as they would live).
    Realtime,
}

/// What a running monitor is told from outside while it reads: to stop (SIGTERM), or to take
/// new settings (SIGHUP).
pub trait Control {
    /// Whether to stop now; asked before every packet.
    fn stopped(&self) -> bool;
    /// A moment to change the monitor's settings ([`Monitor::reconfigure`]): every few
    /// thousand packets and whenever the input is idle.
    fn between(&mut self, _monitor: &mut Monitor<'_>) {}
}

/// A stop flag alone (set by a signal handler).
impl Control for AtomicBool {
    fn stopped(&self) -> bool {
        self.load(Ordering::Relaxed)
    }
}

/// Packets between two calls of [`Control::between`].
pub(crate) const BETWEEN_EVERY: u32 = 4096;

/// Plays the capture `reader` reads into `monitor` at `pace`, until its end or until
/// `control` says stop. Damaged records are skipped and told.
pub fn play(
    monitor: &mut Monitor<'_>,
    mut reader: CaptureReader,
    pace: Pace,
    control: &mut dyn Control,
) -> Result<(), MonitorError> {
    let mut pacing = (pace == Pace::Realtime).then(|| Pacing {
        started: Instant::now(),
        first: None,
    });
    let mut since_between = 0u32;
    let mut outcome = Ok(());
    // The reader's own loop: handing each frame back as an `Option` cost a third of the
    // reading's instructions. The closure is inlined into it: the reader calls it from two
    // places, and as a call of its own (the frame handed over in memory) it was 34
    // instructions a packet, 3 % of the 5-million-packet bench.
    reader.for_each_item(
        #[inline(always)]
        |item| {
            // Asked every 64 packets (a call through the trait per packet was 1 % of a run).
            if since_between.is_multiple_of(64) && control.stopped() {
                return ControlFlow::Break(());
            }
            since_between += 1;
            if since_between == BETWEEN_EVERY {
                since_between = 0;
                control.between(monitor);
            }
            match item {
                Item::Frame(f) => {
                    if let Some(pacing) = &mut pacing {
                        if let Err(e) = pacing.wait_for(f.ts_nanos, monitor, control)? {
                            outcome = Err(e);
                            return ControlFlow::Break(());
                        }
                    }
                    if let Err(e) = monitor.feed(f.ts_nanos, f.linktype, f.data, f.orig_len) {
                        outcome = Err(e);
                        return ControlFlow::Break(());
                    }
                }
                Item::Damaged(e) => monitor.damaged(&e.to_string()),
            }
            ControlFlow::Continue(())
        },
    );
    outcome
}

/// A capture played at its own pace (`--realtime`): when it started on the wall clock, and
/// the traffic time of its first frame.
struct Pacing {
    started: Instant,
    first: Option<i64>,
}

impl Pacing {
    /// Waits until the frame at `ts_nanos` is due, moving traffic time on as the wall clock
    /// does meanwhile, so an attack's end and the windows are told when they would be live.
    /// Breaks when `control` says stop; a monitor's error is handed back to be told.
    // Out of the loop `play` runs for every frame, which then costs one test when the
    // capture is played as fast as possible.
    #[inline(never)]
    fn wait_for(
        &mut self,
        ts_nanos: i64,
        monitor: &mut Monitor<'_>,
        control: &mut dyn Control,
    ) -> ControlFlow<(), Result<(), MonitorError>> {
        let first = *self.first.get_or_insert(ts_nanos);
        let due = Duration::from_nanos(ts_nanos.saturating_sub(first).max(0) as u64);
        while self.started.elapsed() < due {
            if control.stopped() {
                return ControlFlow::Break(());
            }
            control.between(monitor);
            let wait = due
                .saturating_sub(self.started.elapsed())
                .min(Duration::from_millis(100));
            std::thread::sleep(wait);
            let now = first + self.started.elapsed().as_nanos().min(i64::MAX as u128) as i64;
            if let Err(e) = monitor.advance_to(now.min(ts_nanos)) {
                return ControlFlow::Continue(Err(e));
            }
        }
        ControlFlow::Continue(Ok(()))
    }
}

/// How far behind the wall clock a live monitor moves traffic time on when no packet comes:
/// packets the kernel holds in a block it has not handed over yet (up to the block timeout)
/// still fall in the window they belong to.
#[cfg(target_os = "linux")]
const LIVE_LAG: Duration = Duration::from_millis(50);

/// Feeds what `live` receives into `monitor` until `control` says stop: traffic time moves
/// on with the wall clock when the link is quiet, and the kernel's counters are read every
/// second.
#[cfg(target_os = "linux")]
pub fn watch(
    monitor: &mut Monitor<'_>,
    live: &mut levee_capture::live::LiveCapture,
    control: &mut dyn Control,
) -> Result<(), MonitorError> {
    let mut counted = Instant::now();
    let mut since_between = 0u32;
    loop {
        if control.stopped() {
            break;
        }
        match live.next_frame(Duration::from_millis(100))? {
            Some(f) => {
                monitor.feed(f.ts_nanos, f.linktype, f.data, f.orig_len)?;
                since_between += 1;
                if since_between == BETWEEN_EVERY {
                    since_between = 0;
                    control.between(monitor);
                }
            }
            None => {
                monitor.advance_to(wall_ns() - LIVE_LAG.as_nanos() as i64)?;
                control.between(monitor);
            }
        }
        if counted.elapsed() >= Duration::from_secs(1) {
            counted = Instant::now();
            let k = live.stats()?;
            monitor.kernel_counters(k.packets, k.drops);
        }
    }
    let k = live.stats()?;
    monitor.kernel_counters(k.packets, k.drops);
    Ok(())
}

/// The wall clock, ns since the Unix epoch.
pub(crate) fn wall_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}
