//! The rules engine with 100 rules on a synthetic spoofed SYN flood (read from a file in the
//! page cache): reading + decoding alone, then reading + decoding + applying the rules, first
//! match wins. Most rules match nothing, so every packet is checked against all of them (the
//! worst case for first-match). Last, the rules alone on packets decoded beforehand; and the
//! same with 20 of the 100 rules inspecting payloads (a slice, a search, a length behind a
//! header test) on traffic that carries some (DNS and NTP reflection beside a SYN flood).
//! Throughput is in packets. Run with
//! `cargo bench -p levee-rules`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use levee_capture::{CaptureReader, Item};

const PACKETS: u64 = 200_000;

/// 100 rules of the shapes analyze and people write: address sets, port and flag
/// combinations, TTL and length ranges, protocols, ICMP types.
fn rules_file(payload_rules: u32) -> levee_rules::RulesFile {
    let mut text = String::from("version = 1\n");
    for i in 0..100u32 {
        let (a, b) = (i % 200 + 20, (i * 7) % 250 + 1);
        let expr = match i % 5 {
            // Every fifth rule, while `payload_rules` last, inspects a payload.
            _ if i % 5 == 4 && i / 5 < payload_rules => match i % 3 {
                0 => format!(
                    "udp.srcport == 53 and udp.payload[2:2] == 0x{:04x}",
                    i * 257
                ),
                1 => format!(
                    "udp.srcport == 123 and udp.payload contains 0x{:08x}",
                    i * 7919
                ),
                _ => format!("ip.proto == 17 and len(udp.payload) == {}", 1000 + i),
            },
            0 => format!("ip.src in {{ {a}.{b}.0.0/16 {b}.{a}.3.0/24 }}"),
            1 => format!(
                "tcp.dstport == {} and tcp.flags == 0x02 and ip.ttl in {{{}..{}}}",
                1000 + i,
                a % 60,
                a % 60 + 5
            ),
            2 => format!("udp.srcport == {} and ip.len > {}", 100 + i, 200 + b),
            3 => format!("ip.dst == 10.{a}.{b}.1 and ip.proto == 17"),
            _ => format!("icmp.type == 8 and ip.len > {}", 500 + b),
        };
        text.push_str(&format!(
            "[[rule]]\nid = 'r{i}'\nexpression = '{expr}'\naction = 'block'\n"
        ));
    }
    levee_rules::RulesFile::parse("bench.toml", &text, None).expect("valid rules")
}

/// A synthetic capture of `scenario` in the temporary directory.
fn capture(scenario: &str) -> std::path::PathBuf {
    let cfg = levee_synth::SynthConfig {
        packets: PACKETS,
        scenario: levee_synth::Scenario::parse(scenario).expect("a scenario"),
        ..Default::default()
    };
    let path = std::env::temp_dir().join(format!(
        "levee-rules-bench-{scenario}-{}.pcap",
        std::process::id()
    ));
    let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("temp file"));
    levee_synth::generate(&cfg, file, std::io::sink()).expect("synth");
    path
}

/// The capture's packets, read and decoded beforehand (the frames kept for the packets to
/// borrow from).
fn frames(path: &std::path::Path) -> Vec<(u32, i64, Vec<u8>, u32)> {
    let mut frames = Vec::new();
    let mut r = CaptureReader::open(path).unwrap();
    while let Some(Item::Frame(f)) = r.next_item() {
        frames.push((f.linktype, f.ts_nanos, f.data.to_vec(), f.orig_len));
    }
    frames
}

/// The packets dropped when the rules are applied to the capture as it is read and decoded.
fn read_and_apply(path: &std::path::Path, rules: &levee_rules::RulesFile) -> u64 {
    let mut engine = levee_rules::Engine::new(rules);
    let mut r = CaptureReader::open(path).unwrap();
    let mut dropped = 0u64;
    while let Some(Item::Frame(f)) = r.next_item() {
        let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
        dropped += u64::from(engine.apply(f.ts_nanos, &p).dropped);
    }
    dropped
}

/// The packets dropped when the rules are applied to packets decoded beforehand.
fn apply(engine: &mut levee_rules::Engine, packets: &[(i64, levee_decode::Packet<'_>)]) -> u64 {
    let mut dropped = 0u64;
    for (ts, p) in packets {
        dropped += u64::from(engine.apply(*ts, p).dropped);
    }
    dropped
}

fn payloads(c: &mut Criterion) {
    let path = capture("multi");
    let rules = rules_file(20);
    let frames = frames(&path);
    let packets: Vec<_> = frames
        .iter()
        .map(|(lt, ts, data, len)| (*ts, levee_decode::decode(*lt, data, *len)))
        .collect();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(packets.len() as u64));
    g.sample_size(20);
    g.bench_function("read+decode+100 rules, 20 on payloads", |b| {
        b.iter(|| read_and_apply(&path, &rules))
    });
    for (name, rules) in [
        (
            "100 rules, none on payloads, on decoded packets",
            rules_file(0),
        ),
        (
            "100 rules, 20 on payloads, on decoded packets",
            rules.clone(),
        ),
    ] {
        let mut engine = levee_rules::Engine::new(&rules);
        g.bench_function(name, |b| b.iter(|| apply(&mut engine, &packets)));
    }
    g.finish();
    let _ = std::fs::remove_file(&path);
}

fn engine(c: &mut Criterion) {
    let path = capture("syn-flood");
    let rules = rules_file(0);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(PACKETS));
    g.sample_size(20);
    g.bench_function("read+decode", |b| {
        b.iter(|| {
            let mut r = CaptureReader::open(&path).unwrap();
            let mut n = 0u64;
            while let Some(Item::Frame(f)) = r.next_item() {
                let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
                n += u64::from(p.ip.as_ref().map_or(0, |ip| ip.ttl));
            }
            n
        })
    });
    g.bench_function("read+decode+100 rules", |b| {
        b.iter(|| read_and_apply(&path, &rules))
    });
    // The rules alone: packets read and decoded beforehand.
    let frames = frames(&path);
    let packets: Vec<_> = frames
        .iter()
        .map(|(lt, ts, data, len)| (*ts, levee_decode::decode(*lt, data, *len)))
        .collect();
    let mut engine = levee_rules::Engine::new(&rules);
    g.bench_function("100 rules on decoded packets", |b| {
        b.iter(|| apply(&mut engine, &packets))
    });
    g.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, engine, payloads);
criterion_main!(benches);
