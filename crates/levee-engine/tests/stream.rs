//! The streaming interface against the offline analysis: a capture fed to a [`Stream`] in
//! small chunks, as live traffic arrives, gives the attacks the offline analysis of the same
//! file gives, and told them as they happened.

use std::io::Read;
use std::path::{Path, PathBuf};

use levee_analyze::summary::FileInfo;
use levee_analyze::{Analysis, AnalyzeConfig};
use levee_capture::{CaptureReader, Item};
use levee_engine::{Event, Inputs, Passes, Silent, Stream, StreamConfig};

/// A reader that hands out at most `chunk` bytes a call: a capture arriving in pieces.
struct Chunked<R> {
    inner: R,
    chunk: usize,
}

impl<R: Read> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.inner.read(&mut buf[..n])
    }
}

fn sampling() -> AnalyzeConfig {
    AnalyzeConfig {
        sample_budget: Some(16 << 20),
        ..AnalyzeConfig::default()
    }
}

fn offline(path: &Path) -> Analysis {
    let (plan, reading) = levee_engine::analyze(
        &Inputs::new(vec![path.to_path_buf()]),
        sampling(),
        Passes::default(),
        &Silent,
    )
    .expect("the capture reads");
    plan.finish(reading.files, reading.damaged)
}

/// The capture fed to a stream `chunk` bytes at a time, events drained after every chunk.
fn streamed(path: &Path, chunk: usize) -> (Analysis, Vec<Event>) {
    let file = std::fs::File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let name = path.display().to_string();
    let mut reader =
        CaptureReader::from_read(name.clone(), Box::new(Chunked { inner: file, chunk })).unwrap();
    let mut stream = Stream::new(StreamConfig::new(sampling()));
    // As the offline run does for a plain file: the sample is sized by the bytes to come.
    stream.expect_input_bytes(size);
    let mut events = Vec::new();
    let mut damaged = 0;
    while let Some(item) = reader.next_item() {
        match item {
            Item::Frame(f) => stream.feed(f.ts_nanos, f.linktype, f.data, f.orig_len),
            Item::Damaged(_) => damaged += 1,
        }
        events.extend(stream.drain_events());
    }
    let files = vec![FileInfo {
        name,
        format: format!("{:?}", reader.format()).to_lowercase(),
        compression: format!("{:?}", reader.compression()).to_lowercase(),
        packets: reader.packets(),
        flows: None,
    }];
    let (analysis, last) = stream.finish(files, damaged);
    events.extend(last);
    (analysis, events)
}

fn attacks_json(a: &Analysis) -> serde_json::Value {
    serde_json::to_value(&a.attacks).unwrap()
}

/// The started events, and checks every attack told of was ended once, after it started.
fn started(events: &[Event]) -> Vec<&levee_engine::AttackEvent> {
    let starts: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::AttackStarted(a) => Some(a),
            _ => None,
        })
        .collect();
    for s in &starts {
        let ends: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::AttackEnded(a) if a.id == s.id => Some(a),
                _ => None,
            })
            .collect();
        assert_eq!(ends.len(), 1, "attack {} ends once: {events:#?}", s.id);
        assert!(ends[0].at_ns >= s.at_ns);
    }
    starts
}

/// Each attack of the analysis was told as started, with its vector, while the stream ran.
fn each_attack_was_started(analysis: &Analysis, events: &[Event]) {
    let starts = started(events);
    for a in &analysis.attacks {
        assert!(
            starts.iter().any(|s| s.vector == a.vector),
            "{} was never told as started: {starts:#?}",
            a.vector
        );
    }
}

fn shared_attack(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/attacks")
        .join(name)
}

/// The real attack captures, fed 1,500 bytes at a time: the same attacks, byte for byte in
/// the JSON, as the offline analysis, each told as started.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn real_captures_fed_in_chunks_give_the_offline_attacks() {
    for name in [
        "amp.TCP.reflection.SYNACK.pcap",
        "amp.UDP.bacnet.IOT.37810.pcapng",
        "amp.UDP.isakmp.pcap",
        "pkt.TCP.synflood.spoofed.pcap",
    ] {
        let path = shared_attack(name);
        let expected = offline(&path);
        let (got, events) = streamed(&path, 1_500);
        assert!(!expected.attacks.is_empty(), "{name}: an attack is found");
        assert_eq!(attacks_json(&got), attacks_json(&expected), "{name}");
        assert_eq!(got.capture.packets, expected.capture.packets, "{name}");
        each_attack_was_started(&got, &events);
        let windows = events
            .iter()
            .filter(|e| matches!(e, Event::Window(_)))
            .count();
        assert!(windows >= 1, "{name}: windows are summarised");
    }
}

/// One synthetic segment of traffic: `scenario` from `start_s` seconds on, `packets` long.
fn segment(scenario: &str, start_ns: i64, packets: u64, seed: u64) -> Vec<u8> {
    let cfg = levee_synth::SynthConfig {
        scenario: levee_synth::Scenario::parse(scenario).unwrap(),
        packets,
        seed,
        start_ns,
        ..Default::default()
    };
    let mut pcap = Vec::new();
    levee_synth::generate(&cfg, &mut pcap, std::io::sink()).unwrap();
    pcap
}

/// Ten seconds of web traffic, a SYN flood over it, then twenty seconds of web traffic again,
/// as three files: the stream tells the flood as started within two seconds of its first
/// packet and as ended within its quiet period of its last, while traffic still flows, and
/// nothing during the calm before; and at the end gives what the offline analysis of the
/// three files gives.
#[test]
fn an_attack_is_told_as_it_starts_and_as_it_ends() {
    const S: i64 = 1_000_000_000;
    let t0 = 1_768_478_400 * S;
    let dir = tempfile::tempdir().unwrap();
    let parts = [
        ("benign", t0, 20_000, 1),
        ("syn-flood", t0 + 10 * S, 100_000, 2),
        ("benign", t0 + 16 * S, 40_000, 3),
    ];
    let mut paths = Vec::new();
    let mut bytes = 0;
    for (i, &(scenario, start, packets, seed)) in parts.iter().enumerate() {
        let pcap = segment(scenario, start, packets, seed);
        bytes += pcap.len() as u64;
        let path = dir.path().join(format!("{i}-{scenario}.pcap"));
        std::fs::write(&path, pcap).unwrap();
        paths.push(path);
    }

    let (plan, reading) = levee_engine::analyze(
        &Inputs::new(paths.clone()),
        sampling(),
        Passes::default(),
        &Silent,
    )
    .unwrap();
    let expected = plan.finish(reading.files.clone(), 0);
    let flood = expected
        .attacks
        .iter()
        .find(|a| a.vector == "syn-flood")
        .expect("the offline analysis finds the flood");

    let quiet = 5 * S;
    let mut stream = Stream::new(StreamConfig {
        quiet_ns: quiet,
        ..StreamConfig::new(sampling())
    });
    stream.expect_input_bytes(bytes);
    let mut events = Vec::new();
    let mut last_ts = 0;
    for path in &paths {
        let file = std::fs::File::open(path).unwrap();
        let mut reader = CaptureReader::from_read(
            path.display().to_string(),
            Box::new(Chunked {
                inner: file,
                chunk: 4_096,
            }),
        )
        .unwrap();
        while let Some(item) = reader.next_item() {
            if let Item::Frame(f) = item {
                stream.feed(f.ts_nanos, f.linktype, f.data, f.orig_len);
                last_ts = f.ts_nanos;
            }
            events.extend(stream.drain_events());
        }
    }
    let (got, last) = stream.finish(reading.files, 0);
    events.extend(last);
    assert_eq!(attacks_json(&got), attacks_json(&expected));
    each_attack_was_started(&got, &events);

    let flood_start = (flood.start_epoch * 1e9) as i64;
    let flood_end = (flood.end_epoch * 1e9) as i64;
    let starts = started(&events);
    assert!(
        starts.iter().all(|s| s.at_ns >= t0 + 10 * S),
        "nothing is told during the calm: {starts:#?}"
    );
    let told = starts
        .iter()
        .find(|s| s.vector == "syn-flood")
        .expect("the flood is told");
    assert!(
        told.at_ns >= flood_start && told.at_ns <= flood_start + 2 * S,
        "the flood (from {flood_start}) is told within 2 s of its start, at {}",
        told.at_ns
    );
    let ended = events
        .iter()
        .find_map(|e| match e {
            Event::AttackEnded(a) if a.id == told.id => Some(a),
            _ => None,
        })
        .unwrap();
    assert!(
        ended.at_ns > flood_end && ended.at_ns <= flood_end + quiet + 2 * S,
        "the flood (to {flood_end}) is told as ended within its quiet period, at {}",
        ended.at_ns
    );
    assert!(
        ended.at_ns < last_ts,
        "told while traffic still flows (to {last_ts}): {events:#?}"
    );
    assert!(told.signature.is_some(), "a signature comes with the start");
}

/// A flood and then silence, as on a live link that goes quiet: moving time on with no packet
/// still decides at every window boundary, so the flood is told as ended within its quiet
/// period (not when the next packet happens to come), with one empty window's summary per
/// boundary; a jump far ahead decides once.
#[test]
fn a_silent_link_still_ends_attacks_on_time() {
    const S: i64 = 1_000_000_000;
    let t0 = 1_768_478_400 * S;
    let pcap = segment("syn-flood", t0, 50_000, 7);
    let mut reader =
        CaptureReader::from_read("flood".into(), Box::new(std::io::Cursor::new(pcap))).unwrap();
    let quiet = 3 * S;
    let mut stream = Stream::new(StreamConfig {
        quiet_ns: quiet,
        window_ns: S / 4,
        judge_within_ns: Some(S),
        profile_at_most_pps: Some(1 << 14),
        ..StreamConfig::new(AnalyzeConfig::default())
    });
    let mut last = 0;
    let mut events = Vec::new();
    while let Some(item) = reader.next_item() {
        if let Item::Frame(f) = item {
            stream.feed(f.ts_nanos, f.linktype, f.data, f.orig_len);
            last = f.ts_nanos;
        }
        events.extend(stream.drain_events());
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::AttackStarted(a) if a.vector == "syn-flood")),
        "the flood is told: {events:#?}"
    );
    // Silence: time moves on in 100 ms steps, as a live monitor's idle reads do.
    let mut ended_at = None;
    let mut empty_windows = 0;
    let mut now = last;
    while now < last + 2 * quiet && ended_at.is_none() {
        now += S / 10;
        stream.advance_to(now);
        for e in stream.drain_events() {
            match e {
                Event::AttackEnded(a) => ended_at = Some((a.at_ns, a.end_ns)),
                Event::Window(w) if w.packets == 0 => empty_windows += 1,
                _ => {}
            }
        }
    }
    let (ended_at, evidence_end) = ended_at.expect("the flood ends while the link is silent");
    // Its evidence runs to the end of the traffic (its last SYN is not the last packet: the
    // last handshakes' answers follow), and it ends at the first decision a quiet period after.
    assert!(
        evidence_end <= last && last - evidence_end < S / 10,
        "evidence ends {} ms before the last packet",
        (last - evidence_end) / 1_000_000
    );
    assert!(
        ended_at > evidence_end + quiet && ended_at <= evidence_end + quiet + S / 4,
        "ended {} ms after its evidence, quiet period {} ms",
        (ended_at - evidence_end) / 1_000_000,
        quiet / 1_000_000
    );
    assert!(
        empty_windows >= 11,
        "a decision per boundary: {empty_windows}"
    );
    // An hour later at once: one decision, not 14,400.
    stream.advance_to(now + 3600 * S);
    let windows = stream
        .drain_events()
        .filter(|e| matches!(e, Event::Window(_)))
        .count();
    assert_eq!(windows, 1);
}

/// A stream that never finishes (a monitor's) keeps one-second rates however long it runs:
/// a burst after six hours of traffic is measured at the peak it has on a fresh stream, not
/// on the two-second buckets an offline analysis of six hours uses (which made the same
/// burst's peak 30.0 kpps, against 11.3 kpps fresh, before the series rolled).
#[test]
fn a_monitor_stream_keeps_one_second_rates_after_hours() {
    const S: i64 = 1_000_000_000;
    let t0 = 1_768_478_400 * S;
    let config = || StreamConfig {
        window_ns: 60 * S,
        judge_within_ns: Some(S),
        profile_at_most_pps: Some(1 << 14),
        ..StreamConfig::new(AnalyzeConfig::default())
    };
    let frames = |pcap: Vec<u8>| {
        let mut reader =
            CaptureReader::from_read("x".into(), Box::new(std::io::Cursor::new(pcap))).unwrap();
        let mut out = Vec::new();
        while let Some(item) = reader.next_item() {
            if let Item::Frame(f) = item {
                out.push((f.ts_nanos, f.linktype, f.data.to_vec(), f.orig_len));
            }
        }
        out
    };
    let hours = 6 * 3600;
    // A burst of 0.8 s, whose peak depends on the buckets' width.
    let mut flood = frames(segment("syn-flood", t0 + hours * S, 50_000, 9));
    let first = flood[0].0;
    flood.retain(|f| f.0 < first + 8 * S / 10);
    let peak_of = |stream: &mut Stream| -> f64 {
        for (ts, lt, data, len) in &flood {
            stream.feed(*ts, *lt, data, *len);
        }
        stream.end_all();
        stream
            .drain_events()
            .filter_map(|e| match e {
                Event::AttackEnded(a) if a.vector == "syn-flood" => Some(a.peak_pps),
                _ => None,
            })
            .fold(0.0, f64::max)
    };
    let fresh = peak_of(&mut Stream::new(config()));
    // Six hours of one packet a second first.
    let calm = frames(segment("benign", t0, 2, 10));
    let mut long = Stream::new(config());
    for s in 0..hours {
        let (_, lt, data, len) = &calm[(s % 2) as usize];
        long.feed(t0 + s * S, *lt, data, *len);
        if s % 3600 == 0 {
            long.drain_events().for_each(drop);
        }
    }
    long.drain_events().for_each(drop);
    let after_hours = peak_of(&mut long);
    assert!(fresh > 10_000.0, "{fresh}");
    assert!(
        (after_hours - fresh).abs() <= fresh * 0.05,
        "peak {after_hours} after six hours, {fresh} fresh"
    );
}

/// A frame as read: time, link type, bytes, length on the wire.
type Frame = (i64, u32, Vec<u8>, u32);

/// The frames of a capture.
fn frames(pcap: &[u8]) -> Vec<Frame> {
    let mut reader = CaptureReader::from_bytes("segment", pcap.to_vec()).unwrap();
    let mut out = Vec::new();
    while let Some(Item::Frame(f)) = reader.next_item() {
        out.push((f.ts_nanos, f.linktype, f.data.to_vec(), f.orig_len));
    }
    out
}

/// `frames` with TCP port `from` changed to `to` on both ends (IPv4 over Ethernet; checksums
/// are not looked at by the analysis).
fn with_port(mut frames: Vec<Frame>, from: u16, to: u16) -> Vec<Frame> {
    for (_, _, data, _) in &mut frames {
        if data.len() >= 54 && data[12..14] == [8, 0] && data[23] == 6 {
            let l4 = 14 + usize::from(data[14] & 0x0f) * 4;
            for at in [l4, l4 + 2] {
                if data.len() >= at + 2 && data[at..at + 2] == from.to_be_bytes() {
                    data[at..at + 2].copy_from_slice(&to.to_be_bytes());
                }
            }
        }
    }
    frames
}

/// `frames` with IPv4 destination `from` changed to `to` (and sources `to` back to `from`,
/// the answers), over Ethernet.
fn with_host(mut frames: Vec<Frame>, from: [u8; 4], to: [u8; 4]) -> Vec<Frame> {
    for (_, _, data, _) in &mut frames {
        if data.len() >= 34 && data[12..14] == [8, 0] {
            if data[30..34] == from {
                data[30..34].copy_from_slice(&to);
            }
            if data[26..30] == from {
                data[26..30].copy_from_slice(&to);
            }
        }
    }
    frames
}

/// A stream as a monitor runs one: decisions every quarter second, a packet judged within a
/// second, profiles thinned, and so (never finished) ageing filters and profiles forgotten.
fn monitor_stream() -> Stream {
    Stream::new(monitor_stream_config())
}

fn monitor_stream_config() -> StreamConfig {
    StreamConfig {
        window_ns: 250_000_000,
        judge_within_ns: Some(1_000_000_000),
        profile_at_most_pps: Some(1 << 12),
        ..StreamConfig::new(AnalyzeConfig::default())
    }
}

/// A stream that never ends (a monitor's) describes each attack by its own packets: a SYN
/// flood on port 443 ten minutes after one on port 80 is given a rule for port 443 alone (a
/// blend of the two profiles gave `tcp.dstport in {80 443}`, which would also drop the web's
/// new connections), and its own sources.
#[test]
fn a_second_flood_of_a_class_is_described_by_its_own_packets() {
    const S: i64 = 1_000_000_000;
    let t0 = 1_768_478_400 * S;
    let first = frames(&segment("syn-flood", t0, 200_000, 7));
    let later = first.last().unwrap().0 + 600 * S;
    let second = with_port(frames(&segment("syn-flood", later, 60_000, 8)), 80, 443);
    let mut stream = monitor_stream();
    let mut told = Vec::new();
    for (ts, linktype, data, orig_len) in first.iter().chain(&second) {
        stream.feed(*ts, *linktype, data, *orig_len);
        for e in stream.drain_events() {
            if let Event::AttackStarted(a) | Event::AttackUpdated(a) = e {
                told.push(a);
            }
        }
    }
    let last_of = |id: u64| told.iter().rev().find(|a| a.id == id).unwrap();
    let (one, two) = (last_of(1), last_of(2));
    assert!(told.iter().all(|a| a.id <= 2), "two attacks: {told:#?}");
    let signature = |a: &levee_engine::AttackEvent| a.signature.clone().unwrap_or_default();
    assert!(signature(one).contains("tcp.dstport == 80"), "{one:#?}");
    assert!(signature(two).contains("tcp.dstport == 443"), "{two:#?}");
    assert!(!signature(two).contains("80"), "{two:#?}");
    // Its sources are its own: fewer than its packets, not the two floods' together.
    assert!(
        two.sources < 60_000 && two.sources < one.sources,
        "{} {}",
        two.sources,
        one.sources
    );
}

/// A stream that never ends (a monitor's) judges scanners on what they probed over the last
/// one to two minutes, not since it started: a port scan is told, and once its scanner is
/// gone (calm web traffic goes on), told as ended. Its probes used to count for ever, and the
/// scan never ended.
#[test]
fn a_scan_ends_once_its_scanner_is_gone() {
    const S: i64 = 1_000_000_000;
    let t0 = 1_768_478_400 * S;
    let scan = frames(&segment("port-scan", t0, 30_000, 7));
    let scan_end = scan.last().unwrap().0;
    let calm = frames(&segment("benign", scan_end + 5 * S, 500_000, 8));
    assert!(
        calm.last().unwrap().0 - scan_end > 200 * S,
        "minutes of calm"
    );
    let mut stream = monitor_stream();
    let mut told = Vec::new();
    for (ts, linktype, data, orig_len) in scan.iter().chain(&calm) {
        stream.feed(*ts, *linktype, data, *orig_len);
        told.extend(
            stream
                .drain_events()
                .filter(|e| !matches!(e, Event::Window(_))),
        );
    }
    assert!(
        told.iter().all(|e| match e {
            Event::AttackStarted(a) | Event::AttackUpdated(a) | Event::AttackEnded(a) =>
                a.id == 1 && a.vector == "port-scan",
            Event::Window(_) => false,
        }),
        "the scan alone: {told:#?}"
    );
    let ended = told
        .iter()
        .find_map(|e| match e {
            Event::AttackEnded(a) => Some(a),
            _ => None,
        })
        .expect("the scan ends");
    // Known to end within the generation of the scan tables (a minute) that held it last,
    // and told a quiet period (30 s) after that.
    let generation = levee_analyze::analyze::SCAN_GENERATION_NS;
    assert!(ended.end_ns <= scan_end + generation, "{ended:#?}");
    assert!(ended.at_ns <= scan_end + generation + 31 * S, "{ended:#?}");
}

/// `frames` with IPv4 destination `from` changed to `to` (Ethernet; checksums are not
/// looked at by the analysis).
fn with_destination(mut frames: Vec<Frame>, from: [u8; 4], to: [u8; 4]) -> Vec<Frame> {
    for (_, _, data, _) in &mut frames {
        if data.len() >= 34 && data[12..14] == [8, 0] && data[30..34] == from {
            data[30..34].copy_from_slice(&to);
        }
    }
    frames
}

/// A monitor's stream stops judging again, at every decision, the waiting packets of an
/// attack it already follows (see `Stream::settled`), and loses nothing by it: a second SYN
/// flood on another host, starting while the first goes on, is told no later than by a
/// stream that judges everything (one whose quiet period is too short to settle): its host
/// is named once its share of the class's profile counts (1.25 s after its first packet,
/// either way); and the first flood neither ends nor flaps while it lasts.
#[test]
fn a_followed_attack_is_not_judged_again_and_a_new_target_is_told_as_soon() {
    const S: i64 = 1_000_000_000;
    let t0 = 1_768_478_400 * S;
    let first = frames(&segment("syn-flood", t0, 300_000, 7));
    let second = with_destination(
        frames(&segment("syn-flood", t0 + 5 * S, 100_000, 8)),
        [10, 10, 10, 10],
        [10, 10, 10, 20],
    );
    let second_starts = second
        .iter()
        .find(|f| f.2[30..34] == [10, 10, 10, 20])
        .expect("the second flood is aimed at 10.10.10.20")
        .0;
    let first_ends = first.last().unwrap().0;
    assert!(first_ends > second_starts + 2 * S, "the floods overlap");
    let mut traffic: Vec<&Frame> = first.iter().chain(&second).collect();
    traffic.sort_by_key(|f| f.0);
    let run = |quiet_ns: i64| {
        let mut stream = Stream::new(StreamConfig {
            window_ns: S / 4,
            judge_within_ns: Some(S),
            profile_at_most_pps: Some(1 << 12),
            quiet_ns,
            ..StreamConfig::new(AnalyzeConfig::default())
        });
        let mut told = Vec::new();
        for (ts, linktype, data, orig_len) in &traffic {
            stream.feed(*ts, *linktype, data, *orig_len);
            told.extend(stream.drain_events().filter_map(|e| match e {
                Event::AttackStarted(a) | Event::AttackUpdated(a) => Some((false, a)),
                Event::AttackEnded(a) => Some((true, a)),
                Event::Window(_) => None,
            }));
        }
        let second_told = told
            .iter()
            .find(|(_, a)| a.targets.contains("10.10.10.20"))
            .map(|(_, a)| a.at_ns)
            .unwrap_or_else(|| panic!("the second flood is told: {told:#?}"));
        (second_told, told)
    };
    let (settling, told) = run(30 * S);
    let (judging_all, _) = run(2 * S);
    assert!(
        settling <= judging_all,
        "told at {} ms, {} ms judging everything",
        (settling - second_starts) / 1_000_000,
        (judging_all - second_starts) / 1_000_000
    );
    assert!(
        settling - second_starts < 2 * S,
        "told {} ms after its first packet",
        (settling - second_starts) / 1_000_000
    );
    let first_told: Vec<_> = told.iter().filter(|(_, a)| a.id == 1).collect();
    assert!(
        first_told
            .iter()
            .all(|(ended, a)| !ended || a.at_ns > first_ends),
        "the first flood ends only after its last packet: {first_told:#?}"
    );
    assert!(
        first_told.len() <= 6,
        "the first flood is told a few times, not at every decision: {first_told:#?}"
    );
}

/// A stream measures no candidate on the traffic, but tells the most specific signature that
/// spares levee's benign reference: for a flood of one datagram whose length also matches
/// QUIC Initials, the payload fingerprint, not the header signature that would also stop the
/// target's QUIC; a SYN flood's header signature as before.
#[test]
fn a_stream_tells_the_signature_that_spares_needed_traffic() {
    const S: i64 = 1_000_000_000;
    let t0 = 1_768_478_400 * S;
    let told = |scenario: &str| {
        let mut stream = monitor_stream();
        let mut signature = None;
        for (ts, linktype, data, orig_len) in frames(&segment(scenario, t0, 60_000, 3)) {
            stream.feed(ts, linktype, &data, orig_len);
            for e in stream.drain_events() {
                if let Event::AttackStarted(a) = e {
                    signature = signature.or(a.signature);
                }
            }
        }
        signature.unwrap_or_else(|| panic!("{scenario} is told"))
    };
    let payload = told("udp-payload-flood");
    assert!(
        payload.contains("udp.payload[0:4] == 0x7a0f01f3") && !payload.contains("ip.len"),
        "{payload}"
    );
    let syn = told("syn-flood");
    assert!(
        syn.contains("tcp.flags == 0x02") && !syn.contains("payload"),
        "{syn}"
    );
}

/// When the input ends, the packets still waiting in the delay line are judged and counted
/// before every attack ends: a flood the stream had settled on (and so decided on without its
/// last second) ends with all its sources, not those of all but its last second.
#[test]
fn an_attack_ending_with_the_input_counts_its_last_second() {
    let t0 = 1_768_478_400 * 1_000_000_000;
    // The flood's SYNs (to 10.10.10.10, over Ethernet) alone, at a steady 50,000 a second to
    // the end of the input, each from an address of its own as in a spoofed flood (which the
    // profile's sample is scaled up for: the sources of a flood whose sources repeat are
    // bounded by those counted on every packet instead).
    let mut flood = frames(&segment("syn-flood", t0, 200_000, 11));
    flood.retain(|(_, _, data, _)| {
        data.len() >= 54 && data[23] == 6 && data[47] == 0x02 && data[30..34] == [10; 4]
    });
    for (i, (ts, _, data, _)) in flood.iter_mut().enumerate() {
        *ts = t0 + i as i64 * 20_000;
        let src = (i as u32).wrapping_mul(0x9e37_79b1).rotate_left(13) ^ 0x5bd1_e995;
        data[26..30].copy_from_slice(&src.to_be_bytes());
    }
    let seconds = (flood.last().unwrap().0 - t0) as f64 / 1e9;
    assert!(seconds >= 3.0, "long enough to be settled on: {seconds} s");
    let mut stream = monitor_stream();
    for (ts, linktype, data, orig_len) in &flood {
        stream.feed(*ts, *linktype, data, *orig_len);
    }
    stream.end_all();
    let ended: Vec<_> = stream
        .drain_events()
        .filter_map(|e| match e {
            Event::AttackEnded(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(ended.len(), 1, "{ended:#?}");
    assert_eq!(ended[0].vector, "syn-flood");
    let (told, sent) = (ended[0].sources as f64, flood.len() as f64);
    assert!(
        (told - sent).abs() <= sent * 0.05,
        "{told} sources told, {sent} sent over {seconds:.1} s"
    );
}

/// A monitor's stream profiles a settled flood at its own, lower rate (see
/// `StreamConfig::profile_settled_at_most_pps`): the flood keeps the signature and, within a
/// few percent, the count of spoofed sources that a stream profiling it at its class's rate
/// tells, when a second SYN flood on another host and port joins it (profiled, unsettled, at
/// the class's rate).
#[test]
fn a_settled_flood_profiled_sparser_keeps_its_figures() {
    const S: i64 = 1_000_000_000;
    let t0 = 1_768_478_400 * S;
    let big = frames(&segment("syn-flood", t0, 400_000, 11));
    let small = with_host(
        with_port(
            frames(&segment("syn-flood", t0 + 8 * S, 30_000, 12)),
            80,
            443,
        ),
        [10, 10, 10, 10],
        [10, 10, 10, 20],
    );
    let mut traffic: Vec<&Frame> = big.iter().chain(&small).collect();
    traffic.sort_by_key(|f| f.0);
    let run = |settled: Option<u64>| {
        let mut stream = Stream::new(StreamConfig {
            profile_settled_at_most_pps: settled,
            ..monitor_stream_config()
        });
        let mut told = Vec::new();
        for (ts, linktype, data, orig_len) in &traffic {
            stream.feed(*ts, *linktype, data, *orig_len);
            for e in stream.drain_events() {
                if let Event::AttackStarted(a) | Event::AttackUpdated(a) = e {
                    told.push(a);
                }
            }
        }
        assert!(told.iter().all(|a| a.id == 1), "one attack: {told:#?}");
        (
            told.pop().expect("the flood is told"),
            stream.profiled_one_in(),
        )
    };
    let (whole, whole_one_in) = run(None);
    let (sparser, sparser_one_in) = run(Some(1 << 10));
    // Drawn sparser once settled (a quarter of the rate: two to four times as sparse, as the
    // draws round their rates to powers of two).
    assert!(
        sparser_one_in >= 2 * whole_one_in,
        "one in {sparser_one_in} against one in {whole_one_in}"
    );
    assert_eq!(sparser.vector, "syn-flood");
    assert_eq!(sparser.signature, whole.signature, "{sparser:#?}");
    let signature = sparser.signature.clone().unwrap_or_default();
    assert!(
        signature.contains("10.10.10.20") && signature.contains("443"),
        "the second flood is in it: {signature}"
    );
    let off = sparser.sources.abs_diff(whole.sources) as f64 / whole.sources as f64;
    assert!(
        off < 0.05,
        "sources {} against {}",
        sparser.sources,
        whole.sources
    );
    // Told when last updated (as the second flood joined): a spoofed count, in the hundred
    // thousands.
    assert!(
        sparser.spoofed_likely && sparser.sources > 100_000,
        "{sparser:#?}"
    );
}
