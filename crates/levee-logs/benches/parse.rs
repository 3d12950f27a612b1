//! Reading a combined-format log: 200 000 lines of varied clients, paths, statuses and user
//! agents, from a file in the page cache, every line parsed into a request. Throughput is in
//! lines. Run with `cargo bench -p levee-logs`.

use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use levee_logs::{Entry, FormatSpec, LogReader};

const LINES: u64 = 200_000;

fn log_file() -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    let mut w = std::io::BufWriter::new(&mut f);
    let agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Version/17.1 Mobile/15E148 Safari/604.1",
        "curl/8.4.0",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
    ];
    let paths = [
        "/",
        "/index.html",
        "/static/app.js",
        "/static/site.css",
        "/img/logo.png",
        "/login",
        "/search?q=shoes&page=2",
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..LINES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let secs = i / 2000;
        writeln!(
            w,
            "{}.{}.{}.{} - - [15/Jan/2026:12:{:02}:{:02} +0000] \"GET {} HTTP/1.1\" {} {} \"https://shop.example/\" \"{}\"",
            x >> 56,
            (x >> 48) & 255,
            (x >> 40) & 255,
            (x >> 32) & 255,
            secs / 60 % 60,
            secs % 60,
            paths[(x % 7) as usize],
            [200, 200, 200, 304, 404][(x % 5) as usize],
            x % 50_000,
            agents[(x >> 8) as usize % 4]
        )
        .expect("write");
    }
    drop(w);
    f
}

fn parse(c: &mut Criterion) {
    let file = log_file();
    let mut g = c.benchmark_group("logs");
    g.throughput(Throughput::Elements(LINES));
    g.sample_size(20);
    g.bench_function("read+parse combined", |b| {
        b.iter(|| {
            let mut r = LogReader::open(file.path(), FormatSpec::Auto).expect("open");
            let mut bytes = 0u64;
            while let Some(e) = r.next_entry() {
                if let Ok(Entry::Request(q)) = e {
                    bytes += q.bytes.unwrap_or(0) + q.target.len() as u64;
                }
            }
            bytes
        })
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
