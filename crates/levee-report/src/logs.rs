//! The report of an access-log analysis: the layer-7 attacks, the clients behind them, the
//! rules (measured on the same requests, compiled for Cloudflare's WAF and for nginx) and how
//! many good clients they touch. The same three files as for captures (`report.html`,
//! `report.md`, `report.json`), with the document [`LogReport`] (schema in
//! `docs/report-json.md`, section "Logs").

use levee_l7::simulate::LogSimulation;
use levee_l7::{ClientReport, L7Analysis, Level, Named, VECTORS};
use levee_rules::compile::Target;
use levee_rules::RulesFile;
use serde::Serialize;

use crate::model::{EngineRule, MethodNote, Peak, Series, TimelineView, Window, REPORT_VERSION};

/// The engines HTTP rules are written for, in the order the report shows them.
pub const HTTP_ENGINES: &[Target] = &[
    Target::CloudflareWaf,
    Target::CloudflareRatelimit,
    Target::Nginx,
];

/// Clients listed per attack.
pub const CLIENT_ROWS: usize = 10;

/// Most buckets on the timeline.
pub const MAX_BUCKETS: u64 = 300;

/// The report of access logs (or of the HTTP requests of captures): `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct LogReport {
    /// Version of the schema ([`REPORT_VERSION`]).
    pub report_version: u32,
    /// The program and version that wrote the report.
    pub generator: String,
    /// The page's title.
    pub title: String,
    /// `log`: the report of access logs; `capture`: of the HTTP requests reassembled from
    /// captures (`--http`). The packet report of captures has no such field.
    pub input: &'static str,
    /// The logs read.
    pub files: Vec<LogSource>,
    /// The figures at the top.
    pub summary: LogSummary,
    /// The `levee analyze --json` document of the same logs (its layer-7 part).
    pub analysis: L7Analysis,
    /// Requests (in `packets`) and bytes per bucket, one series per attack vector and `other`.
    pub timeline: TimelineView,
    /// One per attack of the analysis, in the same order.
    pub attacks: Vec<LogAttackSection>,
    /// The rules applied and what they do.
    pub mitigation: LogMitigation,
    /// How each figure was computed (the report's appendix).
    pub method: Vec<MethodNote>,
}

/// One log read.
#[derive(Debug, Clone, Serialize)]
pub struct LogSource {
    /// The file (`-` for standard input).
    pub name: String,
    /// The format it was read in.
    pub format: String,
    /// Requests read.
    pub requests: u64,
    /// Lines that were not requests in that format.
    pub malformed: u64,
}

/// The figures at the top of the report.
#[derive(Debug, Clone, Serialize)]
pub struct LogSummary {
    /// Attacks found.
    pub attacks: usize,
    /// Distinct vectors, in order of first appearance.
    pub vectors: Vec<String>,
    /// Requests in the logs.
    pub requests: u64,
    /// Requests of clients judged part of an attack, and how many of them the rules stop.
    pub attack_requests: u64,
    /// Of them, requests the rules stop.
    pub attack_requests_stopped: u64,
    /// `attack_requests_stopped / attack_requests`.
    pub rules_stop_attack_share: f64,
    /// The attack with the highest request rate, and that rate (requests per second).
    pub largest_rps: Option<Peak>,
    /// Time during which at least one attack was under way (overlaps counted once).
    pub attack_duration_s: f64,
    /// The path the attacks requested most.
    pub main_target: Option<Named>,
    /// Clients judged malicious.
    pub clients_malicious: u64,
    /// Clients judged suspicious.
    pub clients_suspicious: u64,
    /// Clients judged good.
    pub clients_good: u64,
    /// Good clients the rules would limit or block, and their share of the good clients.
    pub good_clients_limited_or_blocked: u64,
    /// `good_clients_limited_or_blocked / clients_good`.
    pub good_clients_limited_share: f64,
}

/// What the report shows of one attack beyond the analysis's own figures.
#[derive(Debug, Clone, Serialize)]
pub struct LogAttackSection {
    /// The attack's id in the analysis.
    pub id: usize,
    /// Its vector.
    pub vector: String,
    /// A sentence saying what the attack is, for the customer.
    pub explanation: String,
    /// Requests of this vector the rules stop (attacks of one vector are counted together).
    pub stopped_requests: u64,
    /// `stopped_requests` over the vector's requests.
    pub stopped_share: f64,
    /// The busiest clients of the attack, with their verdict's reasons.
    pub clients: Vec<ClientReport>,
}

/// The rules applied and what they do, measured on the logs.
#[derive(Debug, Clone, Serialize)]
pub struct LogMitigation {
    /// `recommended` (the analysis's own rules) or `given` (`--rules FILE`).
    pub source: String,
    /// The rules file as TOML (`levee rules check` reads it).
    pub rules_toml: String,
    /// The rules measured on every request, beside the clients' verdicts.
    pub simulation: LogSimulation,
    /// The whole rules file for each HTTP engine.
    pub compiled: Vec<EngineRule>,
}

/// Requests per time bucket, gathered on the second pass.
pub struct LogTimeline {
    start_ns: i64,
    bucket_ns: i64,
    /// Per series (each of [`VECTORS`], then `other`): requests and bytes per bucket.
    requests: Vec<Vec<u64>>,
    bytes: Vec<Vec<u64>>,
    /// Per vector: first and last request time.
    span: Vec<(i64, i64)>,
}

/// A bucket width in seconds that keeps the timeline within [`MAX_BUCKETS`] buckets, on a
/// round step a reader expects (1 s .. 1 day).
pub fn bucket_seconds(span_s: u64) -> u64 {
    const STEPS: &[u64] = &[
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    ];
    STEPS
        .iter()
        .copied()
        .find(|&b| span_s / b < MAX_BUCKETS)
        .unwrap_or_else(|| span_s.div_ceil(MAX_BUCKETS - 1))
}

impl LogTimeline {
    /// A timeline from `start` to `end` (nanoseconds, the first and last request).
    pub fn new(start_ns: i64, end_ns: i64) -> LogTimeline {
        let span_s = ((end_ns - start_ns).max(0) / 1_000_000_000) as u64;
        let bucket_s = bucket_seconds(span_s);
        let bucket_ns = bucket_s as i64 * 1_000_000_000;
        // Buckets start on a multiple of their width, so the axis reads in round times.
        let start_ns = start_ns.div_euclid(bucket_ns) * bucket_ns;
        let n = ((end_ns - start_ns) / bucket_ns + 1) as usize;
        LogTimeline {
            start_ns,
            bucket_ns,
            requests: vec![vec![0; n]; VECTORS.len() + 1],
            bytes: vec![vec![0; n]; VECTORS.len() + 1],
            span: vec![(i64::MAX, i64::MIN); VECTORS.len()],
        }
    }

    /// Counts a request at `ts` of `bytes`, made by a client of the attack `vector` (an index
    /// of [`VECTORS`]) or of none.
    pub fn add(&mut self, ts: i64, bytes: u64, vector: Option<usize>) {
        let n = self.requests[0].len();
        let b = ((ts - self.start_ns).div_euclid(self.bucket_ns)).clamp(0, n as i64 - 1) as usize;
        let series = vector.unwrap_or(VECTORS.len());
        self.requests[series][b] += 1;
        self.bytes[series][b] += bytes;
        if let Some(v) = vector {
            let s = &mut self.span[v];
            *s = (s.0.min(ts), s.1.max(ts));
        }
    }

    /// The chart's data: a series per vector seen, then `other`; a window per attack.
    pub fn view(self, a: &L7Analysis) -> TimelineView {
        let bucket_s = self.bucket_ns as f64 / 1e9;
        let mut series = Vec::new();
        for (i, name) in VECTORS.iter().enumerate() {
            if self.requests[i].iter().any(|&n| n > 0) {
                series.push(Series {
                    name: (*name).to_string(),
                    packets: self.requests[i].clone(),
                    bytes: self.bytes[i].clone(),
                });
            }
        }
        series.push(Series {
            name: "other".into(),
            packets: self.requests[VECTORS.len()].clone(),
            bytes: self.bytes[VECTORS.len()].clone(),
        });
        let windows = a
            .attacks
            .iter()
            .filter_map(|at| {
                let v = VECTORS.iter().position(|v| *v == at.vector)?;
                let (first, last) = self.span[v];
                (first <= last).then(|| Window {
                    attack: at.id,
                    vector: at.vector.clone(),
                    start_epoch: first as f64 / 1e9,
                    end_epoch: last as f64 / 1e9,
                })
            })
            .collect();
        let n = self.requests[0].len();
        let peak = |of: &Vec<Vec<u64>>| {
            (0..n)
                .map(|b| of.iter().map(|s| s[b]).sum::<u64>())
                .max()
                .unwrap_or(0) as f64
                / bucket_s
        };
        TimelineView {
            bucket_s,
            start_epoch: self.start_ns as f64 / 1e9,
            peak_pps: peak(&self.requests),
            peak_bps: peak(&self.bytes) * 8.0,
            series,
            windows,
        }
    }
}

/// What a layer-7 attack is, for the customer.
pub fn explain(vector: &str) -> String {
    match vector {
        "http-flood" => "An HTTP flood: clients sending far more requests than any visitor does, to exhaust the servers or the application behind them.",
        "login-abuse" => "Login abuse (credential stuffing or password guessing): clients posting to the login endpoint again and again with failing attempts, without browsing the site.",
        "cache-busting" => "Cache busting: clients requesting the same pages with ever-changing query strings, so that each request misses the cache and reaches the origin.",
        "http-proxy-abuse" => "Open-proxy probing: requests for other sites (absolute URIs) or CONNECT tunnels, sent to find a server that relays traffic for the attacker.",
        "http-scanner" => "Vulnerability scanning: requests for known exploit paths, worm probes and sensitive files, or attempts of many kinds of injection, looking for a weakness to break in.",
        "sql-injection" => "SQL injection: requests whose parameters carry SQL (a quote that closes a string, then a condition, a UNION or a second statement), to read or change the database behind the application.",
        "command-injection" => "Command injection: requests carrying shell or Windows commands after a separator, to have the server run them.",
        "code-injection" => "Code injection: requests carrying PHP, Java, template, Node.js or LDAP expressions (or a Log4Shell lookup), to have the application evaluate them.",
        "xss" => "Cross-site scripting: requests carrying script or markup (tags, event handlers, javascript: URLs) meant to be reflected into a page and run in a visitor's browser.",
        "file-inclusion" => "File inclusion: requests that climb out of the web root (../) to system files, or name a remote file for the application to include.",
        "ssrf" => "Server-side request forgery: parameters naming URLs on the server's own network (loopback, private and cloud metadata addresses, however written), for the application to fetch.",
        "header-injection" => "Header injection: parameters carrying line breaks followed by headers or mail commands, to split the response or reach a mail server.",
        "slowloris" => "Slowloris: clients opening connections and sending a request's headers a line at a time without ever finishing them, so that each connection stays taken and the server runs out of them.",
        "bad-bot" => "Bad bots: automated clients posing as browsers or crawlers. Their user agent names a browser, but their header order, TLS handshake or cookies are a script's.",
        other => return format!("{other}: clients judged malicious for the reasons listed below."),
    }
    .to_string()
}

/// Everything a log report is made from.
pub struct LogInputs<'a> {
    /// `log` or `capture`.
    pub input: &'static str,
    /// The logs read.
    pub files: Vec<LogSource>,
    /// The layer-7 analysis of the logs.
    pub analysis: L7Analysis,
    /// Requests and bytes per bucket (see [`LogTimeline`]).
    pub timeline: TimelineView,
    /// The rules applied: the recommended ones, or the user's (`given`).
    pub applied: &'a RulesFile,
    /// Whether `applied` is the user's own file (`--rules`).
    pub applied_given: bool,
    /// The applied rules measured on the logs.
    pub simulation: LogSimulation,
}

/// Assembles the log report document.
pub fn build(inp: LogInputs<'_>) -> LogReport {
    let a = &inp.analysis;
    let sim = &inp.simulation;
    let stopped_of = |vector: &str| {
        sim.attacks
            .iter()
            .find(|s| s.vector == vector)
            .map_or((0, 0.0), |s| (s.stopped, s.share))
    };
    let attacks: Vec<LogAttackSection> = a
        .attacks
        .iter()
        .map(|at| {
            let (stopped_requests, stopped_share) = stopped_of(&at.vector);
            LogAttackSection {
                id: at.id,
                vector: at.vector.clone(),
                explanation: explain(&at.vector),
                stopped_requests,
                stopped_share,
                clients: a
                    .clients
                    .iter()
                    .filter(|c| c.vector.as_deref() == Some(at.vector.as_str()))
                    .take(CLIENT_ROWS)
                    .cloned()
                    .collect(),
            }
        })
        .collect();
    let attack_requests: u64 = sim.attacks.iter().map(|s| s.requests).sum();
    let attack_requests_stopped: u64 = sim.attacks.iter().map(|s| s.stopped).sum();
    let mut targets: Vec<Named> = Vec::new();
    for at in &a.attacks {
        for t in &at.targets {
            match targets.iter_mut().find(|x| x.name == t.name) {
                Some(x) => x.requests += t.requests,
                None => targets.push(t.clone()),
            }
        }
    }
    let main_target = targets
        .into_iter()
        .max_by(|x, y| x.requests.cmp(&y.requests).then(y.name.cmp(&x.name)));
    let summary = LogSummary {
        attacks: a.attacks.len(),
        vectors: a.attacks.iter().map(|x| x.vector.clone()).collect(),
        requests: a.requests,
        attack_requests,
        attack_requests_stopped,
        rules_stop_attack_share: share(attack_requests_stopped, attack_requests),
        largest_rps: a.attacks.iter().max_by_key(|x| x.peak_rps).map(|x| Peak {
            attack: x.id,
            vector: x.vector.clone(),
            value: x.peak_rps as f64,
        }),
        attack_duration_s: covered_seconds(&inp.timeline.windows),
        main_target,
        clients_malicious: a.verdicts.malicious,
        clients_suspicious: a.verdicts.suspicious,
        clients_good: a.verdicts.good,
        good_clients_limited_or_blocked: sim.good_clients.limited_or_blocked,
        good_clients_limited_share: sim.good_clients.share,
    };
    let origin = if inp.applied_given {
        sim.rules_file.clone()
    } else {
        "the recommended rules".to_string()
    };
    let compiled = crate::compile_all(inp.applied, HTTP_ENGINES, &origin, "");
    let names: Vec<&str> = inp.files.iter().map(|f| f.name.as_str()).collect();
    let method = method_notes(&inp.timeline);
    LogReport {
        report_version: REPORT_VERSION,
        generator: format!("levee {}", env!("CARGO_PKG_VERSION")),
        title: format!("Attack report: {}", names.join(", ")),
        input: inp.input,
        summary,
        timeline: inp.timeline,
        attacks,
        mitigation: LogMitigation {
            source: if inp.applied_given {
                "given"
            } else {
                "recommended"
            }
            .into(),
            rules_toml: inp.applied.to_toml(&format!(
                "Rules measured in this report ({origin}); `levee rules check` reads this file."
            )),
            simulation: inp.simulation,
            compiled,
        },
        method,
        files: inp.files,
        analysis: inp.analysis,
    }
}

fn share(a: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        a as f64 / of as f64
    }
}

/// Seconds covered by at least one window.
fn covered_seconds(windows: &[Window]) -> f64 {
    let mut spans: Vec<(f64, f64)> = windows
        .iter()
        .map(|w| (w.start_epoch, w.end_epoch.max(w.start_epoch)))
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (s, e) in spans {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total
}

fn method_notes(t: &TimelineView) -> Vec<MethodNote> {
    let note = |figure: &str, method: String| MethodNote {
        figure: figure.into(),
        method,
    };
    vec![
        note(
            "Verdicts",
            "Every client is profiled from its requests (rates, statuses, methods, path and query \
             diversity, pages against the assets they need, user agents, login attempts, requests \
             matching levee's list of exploit and probe tokens) and judged good, suspicious or \
             malicious with the reasons shown. Crawlers are believed only from their published \
             networks. Criteria: docs/l7.md."
                .into(),
        ),
        note(
            "Attacks",
            "The malicious clients grouped by what they do; each attack's requests, bytes, peak \
             rate, clients and targets are counted exactly on a second pass over the logs."
                .into(),
        ),
        note(
            "Timeline",
            format!(
                "Requests per {} bucket, stacked: one series per attack vector (the requests of \
                 the clients judged part of it) and `other` for everything else.",
                crate::page::duration(t.bucket_s)
            ),
        ),
        note(
            "Rules stop",
            "The rules applied in order, first match wins, to every request of the logs in log \
             order (rate limits as token buckets in log time); an attack's share is the share of \
             its requests dropped."
                .into(),
        ),
        note(
            "Good clients limited or blocked",
            "Clients judged good with at least one request dropped by the rules, over all clients \
             judged good."
                .into(),
        ),
    ]
}

/// The verdict as the report writes it.
pub fn level_name(l: Level) -> &'static str {
    match l {
        Level::Good => "good",
        Level::Suspicious => "suspicious",
        Level::Malicious => "malicious",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_the_timeline_short_and_round() {
        assert_eq!(bucket_seconds(0), 1);
        assert_eq!(bucket_seconds(120), 1);
        assert_eq!(bucket_seconds(599), 2);
        assert_eq!(bucket_seconds(600), 5);
        assert_eq!(bucket_seconds(3600), 15);
        assert_eq!(bucket_seconds(30 * 86400), 10800);
        assert_eq!(bucket_seconds(400 * 86400), 400 * 86400 / 299 + 1);
    }

    #[test]
    fn the_timeline_counts_each_request_once_in_its_series() {
        let s = 1_700_000_000 * 1_000_000_000i64;
        let mut t = LogTimeline::new(s, s + 90 * 1_000_000_000);
        t.add(s, 100, None);
        t.add(s + 1_000_000_000, 50, Some(0));
        t.add(s + 90 * 1_000_000_000, 50, Some(0));
        let a = L7Analysis::default();
        let v = t.view(&a);
        assert_eq!(v.bucket_s, 1.0);
        assert_eq!(v.series.len(), 2);
        assert_eq!(v.series[0].name, VECTORS[0]);
        assert_eq!(v.series[0].packets.iter().sum::<u64>(), 2);
        assert_eq!(v.series[1].name, "other");
        assert_eq!(v.series[1].bytes.iter().sum::<u64>(), 100);
        assert_eq!(v.peak_pps, 1.0);
    }

    #[test]
    fn covered_time_counts_overlaps_once() {
        let w = |s: f64, e: f64| Window {
            attack: 1,
            vector: "x".into(),
            start_epoch: s,
            end_epoch: e,
        };
        assert_eq!(
            covered_seconds(&[w(0.0, 10.0), w(5.0, 20.0), w(30.0, 31.0)]),
            21.0
        );
        assert_eq!(covered_seconds(&[]), 0.0);
    }

    #[test]
    fn every_vector_is_explained() {
        for v in VECTORS {
            assert!(!explain(v).contains("reasons listed"), "{v}");
        }
    }
}
