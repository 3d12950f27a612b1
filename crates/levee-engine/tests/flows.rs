//! Captures of flow exports analysed as the traffic their records stand for, on exports this
//! test writes (NetFlow v5, as a router would send them): a spoofed SYN flood of one-packet
//! flows under web connections of many packets each.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;

use levee_analyze::AnalyzeConfig;
use levee_capture::PcapWriter;
use levee_engine::flows::BadExport;
use levee_engine::{Inputs, Observer, Passes};
use levee_flow::collector::datagram_packet;

const VICTIM: Ipv4Addr = Ipv4Addr::new(10, 10, 10, 10);
const START_S: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// One NetFlow v5 record.
struct Flow {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    packets: u32,
    bytes: u32,
    /// First and last packet, ms after the start.
    first_ms: u32,
    last_ms: u32,
}

/// A v5 datagram of `flows`, exported at `at_ms` after the start, sampled 1 in `interval`.
fn v5(flows: &[Flow], at_ms: u32, interval: u16) -> Vec<u8> {
    let mut d = Vec::new();
    let uptime = 100_000 + at_ms; // the router booted 100 s before the start
    d.extend(5u16.to_be_bytes());
    d.extend((flows.len() as u16).to_be_bytes());
    d.extend(uptime.to_be_bytes());
    d.extend((START_S + at_ms / 1000).to_be_bytes());
    d.extend(((at_ms % 1000) * 1_000_000).to_be_bytes());
    d.extend(0u32.to_be_bytes()); // sequence
    d.extend([0, 0]); // engine
    d.extend((if interval > 1 { 0x4000 | interval } else { 0 }).to_be_bytes());
    for f in flows {
        d.extend(f.src.octets());
        d.extend(f.dst.octets());
        d.extend([0; 4]); // next hop
        d.extend([0; 4]); // interfaces
        d.extend(f.packets.to_be_bytes());
        d.extend(f.bytes.to_be_bytes());
        d.extend((100_000 + f.first_ms).to_be_bytes());
        d.extend((100_000 + f.last_ms).to_be_bytes());
        d.extend(f.sport.to_be_bytes());
        d.extend(f.dport.to_be_bytes());
        d.extend([0, f.flags, 6, 0]);
        d.extend([0; 8]); // AS numbers, masks, pad
    }
    d
}

/// Writes the export capture: 10 s of a SYN flood (2,000 spoofed one-packet flows a second
/// to port 80 of the victim) and 2,000 web connections of 120 packets each (4,000 packets a
/// second), lasting 60 s, from real clients; exported every 100 ms. `damage` cuts one datagram short.
fn write_exports(path: &Path, interval: u16, damage: bool) -> (u64, u64) {
    let exporter: SocketAddr = "192.0.2.1:2055".parse().unwrap();
    let collector: SocketAddr = "192.0.2.100:2055".parse().unwrap();
    let mut w = PcapWriter::new(
        std::fs::File::create(path).unwrap(),
        levee_decode::linktype::RAW,
        65535,
    )
    .unwrap();
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut pending: Vec<Flow> = Vec::new();
    let mut n = 0u32;
    let mut packet = Vec::new();
    for tick in 0..700u32 {
        let at_ms = tick * 100;
        if tick < 100 {
            for _ in 0..200 {
                n += 1;
                let src = Ipv4Addr::from(0x0b00_0000 + n.wrapping_mul(2_654_435_761) % 0x3000_0000);
                pending.push(Flow {
                    src,
                    dst: VICTIM,
                    sport: (1024 + n % 60000) as u16,
                    dport: 80,
                    flags: 0x02,
                    packets: 1,
                    bytes: 40,
                    first_ms: at_ms,
                    last_ms: at_ms,
                });
            }
        }
        if tick == 650 {
            for c in 0..2000u32 {
                pending.push(Flow {
                    src: Ipv4Addr::from(0xc633_6400 + c),
                    dst: VICTIM,
                    sport: 40000 + c as u16,
                    dport: 443,
                    flags: 0x1b, // SYN, ACK, PSH, FIN over the connection
                    packets: 120,
                    bytes: 120 * 700,
                    first_ms: 5_000,
                    last_ms: 65_000,
                });
            }
        }
        for (i, chunk) in pending.chunks(30).enumerate() {
            packets += chunk.iter().map(|f| u64::from(f.packets)).sum::<u64>();
            bytes += chunk.iter().map(|f| u64::from(f.bytes)).sum::<u64>();
            let mut d = v5(chunk, at_ms, interval);
            if damage && tick == 3 && i == 0 {
                d.truncate(100);
                packets -= 30;
                bytes -= 30 * 40;
            }
            datagram_packet(exporter, collector, &d, &mut packet);
            let ts = (i64::from(START_S) * 1000 + i64::from(at_ms)) * 1_000_000;
            w.write(ts, &packet).unwrap();
        }
        pending.clear();
    }
    w.finish().unwrap();
    (packets, bytes)
}

#[derive(Default)]
struct Told(Mutex<Vec<String>>);

impl Observer for Told {
    fn damage_shown(&self) -> usize {
        10
    }
    fn bad_export(&self, e: &BadExport) {
        self.0.lock().unwrap().push(e.to_string());
    }
}

fn analyse(path: &Path, sampling: u32) -> (levee_analyze::Analysis, levee_engine::Reading) {
    let mut inputs = Inputs::new(vec![path.to_path_buf()]);
    inputs.flow_sampling = sampling;
    assert!(inputs.has_flow_exports());
    let (plan, reading) = levee_engine::analyze(
        &inputs,
        AnalyzeConfig {
            sample_budget: Some(64 << 20),
            ..AnalyzeConfig::default()
        },
        Passes {
            threads: 4,
            details: false,
        },
        &levee_engine::Silent,
    )
    .unwrap();
    (plan.finish(reading.files.clone(), reading.damaged), reading)
}

#[test]
fn a_flood_of_flows_is_found_and_long_connections_are_not_taken_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exports.pcap");
    let (packets, bytes) = write_exports(&path, 1, false);
    // Asked for sampling and threads: flows are read whole, by one thread.
    let (a, reading) = analyse(&path, 1);
    assert_eq!(a.capture.packets, packets);
    assert_eq!(a.capture.bytes, bytes);
    let flows = reading.files[0].flows.as_ref().unwrap();
    assert_eq!(flows.records, 22_000);
    assert_eq!(flows.formats, ["NetFlow v5"]);
    assert_eq!(flows.exporters, ["192.0.2.1"]);
    assert!(!flows.sampled());
    // One attack: the flood, spoofed; the connections (whose flags, ORed over 120 packets,
    // hold SYN and FIN) are its ACKs, not a flood of SYN+FIN anomalies.
    let [attack] = &a.attacks[..] else {
        panic!("{:#?}", a.attacks)
    };
    assert_eq!(attack.vector, "syn-flood");
    assert_eq!(attack.packets, 20_000);
    assert_eq!(attack.targets[0].ip.as_deref(), Some("10.10.10.10"));
    assert!(attack.sources.spoofed_likely, "{:?}", attack.sources);
    assert!(
        (1900.0..=2100.0).contains(&attack.peak_pps),
        "peak {}",
        attack.peak_pps
    );
    // No TTL is claimed of flows, and the signature pins none.
    assert_eq!(attack.sources.ttl.distinct, 0);
    assert!(!attack.signature.expression.contains("ttl"));
    assert!(attack.signature.expression.contains("tcp.dstport == 80"));
    assert!(attack.signature.coverage >= 0.999);
    assert_eq!(attack.signature.collateral, 0.0);
}

#[test]
fn a_sampled_export_is_scaled_and_a_damaged_datagram_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sampled.pcap");
    let (packets, bytes) = write_exports(&path, 100, true);
    let told = Told::default();
    let mut inputs = Inputs::new(vec![path.clone()]);
    inputs.flow_sampling = 7; // the export states its rate: this is not used
    let mut total = (0u64, 0u64);
    let reading = levee_engine::read::for_each_packet(&inputs, &told, &mut (), |(), _, p| {
        total.0 += p.count;
        total.1 += p.count * u64::from(p.wire_len);
    })
    .unwrap();
    assert_eq!(total, (packets * 100, bytes * 100));
    let flows = reading.files[0].flows.as_ref().unwrap();
    assert_eq!(flows.damaged_datagrams, 1);
    assert_eq!(reading.damaged, 1);
    assert!(flows.sampled());
    assert_eq!(flows.sampling[0].rate, 100);
    assert!(flows.sampling[0].stated);
    let told = told.0.lock().unwrap();
    let [message] = &told[..] else {
        panic!("{told:?}")
    };
    assert!(
        message.contains("sampled.pcap: record ") && message.contains("192.0.2.1"),
        "{message}"
    );
}

#[test]
fn a_capture_of_traffic_is_not_taken_for_exports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traffic.pcap");
    let cfg = levee_synth::SynthConfig {
        packets: 2000,
        ..Default::default()
    };
    levee_synth::generate(&cfg, std::fs::File::create(&path).unwrap(), std::io::sink()).unwrap();
    assert!(!Inputs::new(vec![path]).has_flow_exports());
}
