//! The per-packet pipeline in stages, on a synthetic spoofed SYN flood in a temporary file
//! (read as `levee summary` reads it, from the page cache):
//! reading frames, reading + decoding, reading + decoding + summarising. Throughput is in
//! packets. Run with `cargo bench -p levee-analyze`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use levee_analyze::SummaryBuilder;
use levee_capture::{CaptureReader, Item};

const PACKETS: u64 = 200_000;

fn capture() -> std::path::PathBuf {
    let cfg = levee_synth::SynthConfig {
        packets: PACKETS,
        ..Default::default()
    };
    let path = std::env::temp_dir().join(format!("levee-bench-{}.pcap", std::process::id()));
    let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("temp file"));
    levee_synth::generate(&cfg, file, std::io::sink()).expect("synth");
    path
}

fn pipeline(c: &mut Criterion) {
    let path = capture();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(PACKETS));
    g.sample_size(20);
    g.bench_function("read", |b| {
        b.iter(|| {
            let mut r = CaptureReader::open(&path).unwrap();
            let mut n = 0u64;
            while let Some(Item::Frame(f)) = r.next_item() {
                n += f.data.len() as u64;
            }
            n
        })
    });
    g.bench_function("read+decode", |b| {
        b.iter(|| {
            let mut r = CaptureReader::open(&path).unwrap();
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
            let mut r = CaptureReader::open(&path).unwrap();
            let mut s = SummaryBuilder::default();
            while let Some(Item::Frame(f)) = r.next_item() {
                let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
                s.add(f.ts_nanos, &p);
            }
            s.packets()
        })
    });
    g.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
