//! The per-packet pipeline in stages, on a synthetic spoofed SYN flood held in memory:
//! reading frames, reading + decoding, reading + decoding + summarising. Throughput is in
//! packets. Run with `cargo bench -p levee-analyze`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use levee_analyze::SummaryBuilder;
use levee_capture::{CaptureReader, Item};

const PACKETS: u64 = 200_000;

fn capture() -> Vec<u8> {
    let cfg = levee_synth::SynthConfig {
        packets: PACKETS,
        ..Default::default()
    };
    let mut pcap = Vec::new();
    levee_synth::generate(&cfg, &mut pcap, std::io::sink()).expect("in-memory synth");
    pcap
}

fn pipeline(c: &mut Criterion) {
    let bytes = capture();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(PACKETS));
    g.sample_size(20);
    g.bench_function("read", |b| {
        b.iter(|| {
            let mut r = CaptureReader::from_bytes("bench", bytes.clone()).unwrap();
            let mut n = 0u64;
            while let Some(Item::Frame(f)) = r.next_item() {
                n += f.data.len() as u64;
            }
            n
        })
    });
    g.bench_function("read+decode", |b| {
        b.iter(|| {
            let mut r = CaptureReader::from_bytes("bench", bytes.clone()).unwrap();
            let mut n = 0u64;
            while let Some(Item::Frame(f)) = r.next_item() {
                let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
                n += p.tcp().map_or(0, |t| t.dst_port as u64);
            }
            n
        })
    });
    g.bench_function("read+decode+summary", |b| {
        b.iter(|| {
            let mut r = CaptureReader::from_bytes("bench", bytes.clone()).unwrap();
            let mut s = SummaryBuilder::default();
            while let Some(Item::Frame(f)) = r.next_item() {
                let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
                s.add(f.ts_nanos, &p);
            }
            s.packets()
        })
    });
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
