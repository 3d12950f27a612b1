//! The monitor on synthetic traffic: a SYN flood between two stretches of web traffic is one
//! incident, alerted as it starts and as it ends, carrying each engine's rule; web traffic
//! alone raises nothing; a monitor killed during the attack and started again continues the
//! same incident and writes the gap in its history.

use std::path::Path;
use std::str::FromStr;

use levee_analyze::AnalyzeConfig;
use levee_capture::{CaptureReader, Item};
use levee_incidents::{Status, Store};
use levee_monitor::{JsonLines, Monitor, MonitorConfig, Quiet};
use serde_json::Value;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_768_478_400 * S;

type Frames = Vec<(i64, u32, Vec<u8>, u32)>;

/// One synthetic segment of traffic as frames (ts, linktype, bytes, wire length), with the
/// time of its first attack packet (from the labels levee synth writes).
fn labelled_segment(
    scenario: &str,
    start_ns: i64,
    packets: u64,
    seed: u64,
) -> (Frames, Option<i64>) {
    let cfg = levee_synth::SynthConfig {
        scenario: levee_synth::Scenario::parse(scenario).unwrap(),
        packets,
        seed,
        start_ns,
        ..Default::default()
    };
    let mut pcap = Vec::new();
    let mut labels = Vec::new();
    levee_synth::generate(&cfg, &mut pcap, &mut labels).unwrap();
    let first_attack: Option<usize> = String::from_utf8(labels)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.contains(",attack:"))
        .map(|l| l.split(',').next().unwrap().parse().unwrap());
    let mut reader = CaptureReader::from_bytes("synth", pcap).unwrap();
    let mut out = Vec::new();
    while let Some(item) = reader.next_item() {
        if let Item::Frame(f) = item {
            out.push((f.ts_nanos, f.linktype, f.data.to_vec(), f.orig_len));
        }
    }
    let first_ns = first_attack.map(|i| out[i].0);
    (out, first_ns)
}

fn segment(scenario: &str, start_ns: i64, packets: u64, seed: u64) -> Frames {
    labelled_segment(scenario, start_ns, packets, seed).0
}

/// Web traffic for ten seconds, a SYN flood, web traffic again; and the flood's first
/// packet's time.
fn flood_between_calm_from() -> (Frames, i64) {
    let mut frames = segment("benign", T0, 20_000, 1);
    let (flood, first) = labelled_segment("syn-flood", T0 + 10 * S, 100_000, 2);
    frames.extend(flood);
    frames.extend(segment("benign", T0 + 16 * S, 40_000, 3));
    frames.sort_by_key(|f| f.0);
    (frames, first.expect("the flood is labelled"))
}

fn flood_between_calm() -> Frames {
    flood_between_calm_from().0
}

fn monitor<'w>(db: &Path, alerts: &Path, quiet: &'w mut Quiet) -> Monitor<'w> {
    let store = Store::open(db).unwrap();
    let sinks: Vec<Box<dyn levee_monitor::AlertSink>> =
        vec![Box::new(JsonLines::append(alerts).unwrap())];
    Monitor::new(
        MonitorConfig::new(AnalyzeConfig::default()),
        store,
        sinks,
        quiet,
    )
    .unwrap()
}

fn alert_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_flood_is_one_incident_alerted_as_it_starts_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (db, alerts) = (
        dir.path().join("incidents.db"),
        dir.path().join("alerts.jsonl"),
    );
    let mut quiet = Quiet;
    let mut m = monitor(&db, &alerts, &mut quiet);
    let (frames, first_attack_ns) = flood_between_calm_from();
    for (ts, lt, data, len) in frames {
        m.feed(ts, lt, &data, len).unwrap();
    }
    let stats = m.finish().unwrap();
    assert_eq!(stats.incidents_opened, 1, "{stats:?}");
    assert_eq!(stats.alert_failures, 0);

    let lines = alert_lines(&alerts);
    let kinds: Vec<&str> = lines.iter().map(|a| a["alert"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"start"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"end"), "{kinds:?}");
    assert!(
        kinds[1..kinds.len() - 1].iter().all(|k| *k == "escalation"),
        "{kinds:?}"
    );
    let start = &lines[0];
    assert_eq!(start["incident"]["vector"], "syn-flood");
    assert_eq!(start["incident"]["target"], "10.10.10.10");
    assert!(lines
        .iter()
        .all(|a| a["incident"]["id"] == start["incident"]["id"]));
    // Told within a second of traffic time after the flood's first packet.
    let told = &lines[0]["traffic_time"];
    let told_ns: i64 = lines[0]["incident"]["end_ns"].as_i64().unwrap();
    let decided = jiff::Timestamp::from_str(told.as_str().unwrap())
        .unwrap()
        .as_nanosecond() as i64;
    assert!(decided >= told_ns, "decided after the evidence it rests on");
    let latency = decided - first_attack_ns;
    eprintln!(
        "start alert {:.3} s (traffic time) after the first attack packet",
        latency as f64 / 1e9
    );
    assert!(
        (0..S).contains(&latency),
        "{told}: {latency} ns after the first attack packet"
    );

    let store = Store::open(&db).unwrap();
    let all = store.list(None, true).unwrap();
    assert_eq!(all.len(), 1);
    let inc = &all[0];
    assert_eq!((inc.status, inc.active), (Status::Open, false));
    assert!(inc.spoofed_likely, "{inc:?}");
    assert!(inc.peak_pps > 10_000.0, "{inc:?}");
    let sig = inc.signature.as_deref().unwrap();
    assert!(
        sig.contains("ip.dst == 10.10.10.10") && sig.contains("tcp.flags"),
        "{sig}"
    );
    for engine in ["levee", "nftables", "iptables", "bpf", "cloudflare"] {
        assert!(
            inc.rules.contains_key(engine),
            "{engine}: {:?}",
            inc.rules.keys()
        );
    }
    assert!(inc.rules["nftables"].contains("ip daddr 10.10.10.10"));
    let history: Vec<String> = store
        .history(inc.id)
        .unwrap()
        .into_iter()
        .map(|h| h.change)
        .collect();
    assert_eq!(history.first().map(String::as_str), Some("started"));
    assert_eq!(history.last().map(String::as_str), Some("ended"));
}

#[test]
fn web_traffic_alone_raises_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, alerts) = (
        dir.path().join("incidents.db"),
        dir.path().join("alerts.jsonl"),
    );
    let mut quiet = Quiet;
    let mut m = monitor(&db, &alerts, &mut quiet);
    for (ts, lt, data, len) in segment("benign", T0, 60_000, 4) {
        m.feed(ts, lt, &data, len).unwrap();
    }
    let stats = m.finish().unwrap();
    assert_eq!((stats.alerts, stats.incidents_opened), (0, 0), "{stats:?}");
    assert!(stats.windows > 10, "{stats:?}");
    assert!(alert_lines(&alerts).is_empty());
    assert!(Store::open(&db)
        .unwrap()
        .list(None, true)
        .unwrap()
        .is_empty());
}

#[test]
fn a_monitor_killed_during_the_flood_continues_its_incident_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (db, alerts) = (
        dir.path().join("incidents.db"),
        dir.path().join("alerts.jsonl"),
    );
    let frames = flood_between_calm();
    let cut = T0 + 13 * S;
    {
        let mut quiet = Quiet;
        let mut m = monitor(&db, &alerts, &mut quiet);
        for (ts, lt, data, len) in frames.iter().filter(|f| f.0 < cut) {
            m.feed(*ts, *lt, data, *len).unwrap();
        }
        // Dropped without `finish`: the process died with the attack going on.
    }
    let before = alert_lines(&alerts);
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["alert"], "start");
    let id = before[0]["incident"]["id"].clone();

    let mut quiet = Quiet;
    let mut m = monitor(&db, &alerts, &mut quiet);
    for (ts, lt, data, len) in frames.iter().filter(|f| f.0 >= cut) {
        m.feed(*ts, *lt, data, *len).unwrap();
    }
    let stats = m.finish().unwrap();
    assert_eq!(
        (stats.resumed_after_restart, stats.incidents_opened),
        (1, 0),
        "{stats:?}"
    );
    let after = alert_lines(&alerts);
    // No second start: the same incident goes on, and ends.
    assert!(
        after[1..].iter().all(|a| a["alert"] != "start"),
        "{after:?}"
    );
    assert_eq!(after.last().unwrap()["alert"], "end");
    assert!(after.iter().all(|a| a["incident"]["id"] == id));

    let store = Store::open(&db).unwrap();
    assert_eq!(store.list(None, true).unwrap().len(), 1);
    let inc = store.get(id.as_i64().unwrap()).unwrap();
    assert_eq!(
        inc.start_ns,
        before[0]["incident"]["start_ns"].as_i64().unwrap(),
        "the start the first monitor saw is kept"
    );
    let history = store.history(inc.id).unwrap();
    let changes: Vec<&str> = history.iter().map(|h| h.change.as_str()).collect();
    let restarted = changes.iter().position(|c| *c == "restarted").unwrap();
    assert_eq!(changes.get(restarted + 1), Some(&"resumed"), "{changes:?}");
    assert!(history[restarted + 1]
        .detail
        .contains("no traffic of it was seen from"));
}

#[test]
fn an_incident_left_active_and_never_seen_again_ends_after_the_quiet_period() {
    let dir = tempfile::tempdir().unwrap();
    let (db, alerts) = (
        dir.path().join("incidents.db"),
        dir.path().join("alerts.jsonl"),
    );
    let frames = flood_between_calm();
    {
        let mut quiet = Quiet;
        let mut m = monitor(&db, &alerts, &mut quiet);
        for (ts, lt, data, len) in frames.iter().filter(|f| f.0 < T0 + 13 * S) {
            m.feed(*ts, *lt, data, *len).unwrap();
        }
    }
    // Restarted on calm traffic only: the incident ends once the quiet period has passed.
    let mut quiet = Quiet;
    let mut m = monitor(&db, &alerts, &mut quiet);
    // 100,000 packets: fifty seconds, past the 30-second quiet period.
    for (ts, lt, data, len) in segment("benign", T0 + 100 * S, 100_000, 5) {
        m.feed(ts, lt, &data, len).unwrap();
    }
    let lines = alert_lines(&alerts);
    let end = lines.last().unwrap();
    assert_eq!(end["alert"], "end", "{lines:?}");
    assert!(!end["incident"]["active"].as_bool().unwrap());
    let store = Store::open(&db).unwrap();
    let history = store
        .history(end["incident"]["id"].as_i64().unwrap())
        .unwrap();
    assert!(history
        .last()
        .unwrap()
        .detail
        .starts_with("not seen again by the restarted monitor"));
    m.finish().unwrap();
}

fn monitor_with<'w>(
    db: &Path,
    alerts: &Path,
    quiet: &'w mut Quiet,
    config: MonitorConfig,
) -> Monitor<'w> {
    let sinks: Vec<Box<dyn levee_monitor::AlertSink>> =
        vec![Box::new(JsonLines::append(alerts).unwrap())];
    Monitor::new(config, Store::open(db).unwrap(), sinks, quiet).unwrap()
}

fn protecting(networks: &str) -> MonitorConfig {
    let mut config = MonitorConfig::new(AnalyzeConfig::default());
    config.networks = Some(std::sync::Arc::new(
        levee_monitor::Networks::parse(networks, "networks.txt").unwrap(),
    ));
    config
}

/// Benign web traffic at `pps` for `seconds` from second `from` of the test's time.
fn calm(from: i64, seconds: i64, pps: f64, seed: u64) -> Frames {
    let cfg = levee_synth::SynthConfig {
        scenario: levee_synth::Scenario::parse("benign").unwrap(),
        packets: (pps * seconds as f64) as u64,
        seed,
        start_ns: T0 + from * S,
        benign_pps: pps,
        ..Default::default()
    };
    let mut pcap = Vec::new();
    levee_synth::generate(&cfg, &mut pcap, &mut Vec::new()).unwrap();
    let mut reader = CaptureReader::from_bytes("synth", pcap).unwrap();
    let mut out = Vec::new();
    while let Some(item) = reader.next_item() {
        if let Item::Frame(f) = item {
            out.push((f.ts_nanos, f.linktype, f.data.to_vec(), f.orig_len));
        }
    }
    out
}

/// Runs `frames` through a monitor protecting `networks`; its stats and incidents.
fn run_protecting(
    networks: &str,
    frames: &Frames,
    quiet_s: i64,
) -> (
    levee_monitor::MonitorStats,
    Vec<levee_incidents::Incident>,
    Vec<Value>,
) {
    let dir = tempfile::tempdir().unwrap();
    let (db, alerts) = (dir.path().join("i.db"), dir.path().join("a.jsonl"));
    let mut quiet = Quiet;
    let mut config = protecting(networks);
    config.quiet_ns = quiet_s * S;
    let mut m = monitor_with(&db, &alerts, &mut quiet, config);
    for (ts, lt, data, len) in frames {
        m.feed(*ts, *lt, data, *len).unwrap();
    }
    let stats = m.finish().unwrap();
    let mut incidents = Store::open(&db).unwrap().list(None, true).unwrap();
    incidents.reverse();
    (stats, incidents, alert_lines(&alerts))
}

#[test]
fn only_attacks_on_protected_networks_at_their_threshold_become_incidents() {
    let frames = flood_between_calm();
    // The flood's target is protected: an incident on its network, named in the alerts.
    let (stats, incidents, alerts) = run_protecting("10.10.10.0/24 customer-a\n", &frames, 30);
    assert_eq!(stats.incidents_opened, 1, "{stats:?}");
    assert_eq!(stats.attacks_ignored, 0);
    assert_eq!(incidents[0].vector, "syn-flood");
    assert_eq!(incidents[0].network.as_deref(), Some("customer-a"));
    assert_eq!(alerts[0]["incident"]["network"], "customer-a");
    // Its network's threshold is above the flood's peak: no incident, counted as ignored.
    let (stats, incidents, _) = run_protecting(
        "10.10.10.0/24 customer-a pps=1000000\n192.0.2.0/24 b pps=500\n",
        &frames,
        30,
    );
    assert!(incidents.is_empty(), "{incidents:?}");
    assert_eq!(stats.attacks_ignored, 1, "{stats:?}");
    // Not a protected network at all.
    let (stats, incidents, _) = run_protecting("192.0.2.0/24 other\n", &frames, 30);
    assert!(incidents.is_empty(), "{incidents:?}");
    assert_eq!(stats.attacks_ignored, 1, "{stats:?}");
    // Two networks' thresholds: each attack is judged by its own network's.
    let (stats, incidents, _) = run_protecting(
        "10.10.10.0/24 customer-a pps=2000\n10.10.0.0/16 parent pps=1000000\n",
        &frames,
        30,
    );
    assert_eq!(stats.incidents_opened, 1, "{stats:?}");
    assert_eq!(
        incidents[0].network.as_deref(),
        Some("customer-a"),
        "the longest prefix"
    );
}

#[test]
fn a_rise_over_a_networks_usual_rate_is_an_incident_until_evidence_explains_it() {
    // Web traffic at 200 packets a second for 90 s, twenty times that for 10 s, then calm.
    let mut frames = calm(0, 90, 200.0, 11);
    frames.extend(calm(90, 10, 4000.0, 12));
    frames.extend(calm(100, 30, 200.0, 13));
    frames.sort_by_key(|f| f.0);
    let (stats, incidents, alerts) = run_protecting("10.10.10.0/24 customer-a\n", &frames, 5);
    assert_eq!(stats.incidents_opened, 1, "{stats:?} {incidents:?}");
    let rise = &incidents[0];
    assert_eq!(rise.vector, "tcp-rise");
    assert_eq!(rise.target, "10.10.10.0/24");
    assert_eq!(rise.network.as_deref(), Some("customer-a"));
    assert!(
        rise.rules.is_empty() && rise.signature.is_none(),
        "{rise:?}"
    );
    assert!(rise.evidence[0].contains("times its usual"), "{rise:?}");
    assert_eq!(rise.start_ns, T0 + 90 * S, "{rise:?}");
    let kinds: Vec<&str> = alerts
        .iter()
        .map(|a| a["alert"].as_str().unwrap())
        .collect();
    assert_eq!(
        (kinds[0], *kinds.last().unwrap()),
        ("start", "end"),
        "{kinds:?}"
    );
    assert!(!rise.active);
    // Unprotected, the same traffic is nothing.
    let (stats, incidents, _) = run_protecting("192.0.2.0/24 other\n", &frames, 5);
    assert_eq!(stats.incidents_opened, 0, "{incidents:?}");

    // A SYN flood on the same network during the rise explains it: the rise ends, saying
    // so, and the flood is the incident that goes on.
    let (flood, _) = labelled_segment("syn-flood", T0 + 95 * S, 50_000, 14);
    frames.extend(flood);
    frames.sort_by_key(|f| f.0);
    let (_, incidents, _) = run_protecting("10.10.10.0/24 customer-a\n", &frames, 5);
    let vectors: Vec<&str> = incidents.iter().map(|i| i.vector.as_str()).collect();
    assert_eq!(vectors, ["tcp-rise", "syn-flood"], "{incidents:?}");
    let explained = &alerts_of_rise(&frames)[..];
    assert!(
        explained
            .iter()
            .any(|h| h.starts_with("ended: explained by incident 2 (syn-flood)")),
        "{explained:?}"
    );
}

/// The history of the first incident a monitor protecting 10.10.10.0/24 finds in `frames`.
fn alerts_of_rise(frames: &Frames) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let (db, alerts) = (dir.path().join("i.db"), dir.path().join("a.jsonl"));
    let mut quiet = Quiet;
    let mut config = protecting("10.10.10.0/24 customer-a\n");
    config.quiet_ns = 5 * S;
    let mut m = monitor_with(&db, &alerts, &mut quiet, config);
    for (ts, lt, data, len) in frames {
        m.feed(*ts, *lt, data, *len).unwrap();
    }
    m.finish().unwrap();
    Store::open(&db)
        .unwrap()
        .history(1)
        .unwrap()
        .into_iter()
        .map(|h| format!("{}: {}", h.change, h.detail))
        .collect()
}
