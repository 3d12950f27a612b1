//! Loading rules files of 10 000 and 100 000 rules: parsing and checking (`levee rules
//! check`), compiling for nftables (`levee rules compile`), and building the engine a
//! simulation runs. Each must grow linearly with the rules: before the line index and the atom
//! table by text, checking 20 000 rules took 5.6 s and building the engine for 100 000 took
//! 48 s. Run with `cargo bench -p levee-rules --bench loading`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use levee_rules::compile::{render, Target};
use levee_rules::RulesFile;

/// `n` distinct rules of the shape `analyze --rules-out` writes for many sources.
fn rules_text(n: u32) -> String {
    let mut text = String::from("version = 1\n");
    for i in 0..n {
        text.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\nexpression = \"ip.src == 10.{}.{}.{} and tcp.dstport == {}\"\naction = \"block\"\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255,
            i % 65_535 + 1
        ));
    }
    text
}

fn loading(c: &mut Criterion) {
    let mut g = c.benchmark_group("loading");
    g.sample_size(10);
    for n in [10_000u32, 100_000] {
        let text = rules_text(n);
        g.throughput(Throughput::Elements(u64::from(n)));
        g.bench_function(format!("check {n} rules"), |b| {
            b.iter(|| RulesFile::parse("bench.toml", &text, None).expect("valid rules"))
        });
        let file = RulesFile::parse("bench.toml", &text, None).expect("valid rules");
        g.bench_function(format!("compile {n} rules for nftables"), |b| {
            b.iter(|| render(&file, Target::Nftables, "bench.toml", "eth0").expect("compiles"))
        });
        g.bench_function(format!("engine of {n} rules"), |b| {
            b.iter(|| levee_rules::engine::Engine::new(&file))
        });
    }
    g.finish();
}

criterion_group!(benches, loading);
criterion_main!(benches);
