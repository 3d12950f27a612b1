//! Layer-7 analysis of a combined-format access log: the synthetic web shop of
//! `levee synth --http` (browsing, crawlers and the four attacks), from a file in the page
//! cache. First the first pass alone (read, parse, profile every client), then both passes
//! with the verdicts. Throughput is in log lines. Run with `cargo bench -p levee-l7`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use levee_logs::{Entry, FormatSpec, LogReader};

fn each_request(path: &std::path::Path, mut f: impl FnMut(&levee_logs::Request<'_>)) {
    let mut r = LogReader::open(path, FormatSpec::Auto).expect("open");
    while let Some(e) = r.next_entry() {
        if let Ok(Entry::Request(q)) = e {
            f(&q);
        }
    }
}

fn profile(c: &mut Criterion) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let cfg = levee_synth::http::HttpConfig {
        attacks: levee_synth::http::HTTP_ATTACKS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        duration_s: 600.0,
        sessions_per_s: 5.0,
        ..Default::default()
    };
    let stats = levee_synth::http::generate_http(
        &cfg,
        std::io::BufWriter::new(file.reopen().expect("reopen")),
        std::io::sink(),
    )
    .expect("synth");
    let mut g = c.benchmark_group("l7");
    g.throughput(Throughput::Elements(stats.lines));
    g.sample_size(10);
    g.bench_function("read+parse+profile", |b| {
        b.iter(|| {
            let mut a = levee_l7::Analyzer::new(levee_l7::L7Config::default());
            each_request(file.path(), |r| a.add(r));
            a.judge().finish().clients_profiled
        })
    });
    g.bench_function("both passes", |b| {
        b.iter(|| {
            let mut a = levee_l7::Analyzer::new(levee_l7::L7Config::default());
            each_request(file.path(), |r| a.add(r));
            let mut j = a.judge();
            each_request(file.path(), |r| j.add(r));
            j.finish().attacks.len()
        })
    });
    g.finish();
}

criterion_group!(benches, profile);
criterion_main!(benches);
