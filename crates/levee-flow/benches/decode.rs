//! Flow records decoded a second: levee-flow against the `netflow_parser` crate on the same
//! datagrams, NetFlow v5 and IPFIX (one template, 28 records of the usual fields a datagram,
//! as routers send them). Run with `cargo bench -p levee-flow`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::IpAddr;

const DATAGRAMS: usize = 2000;
const IPFIX_RECORDS: usize = 28;

/// An IPFIX message: the template (every 20th message, as exporters refresh it) and a data
/// set of 28 records: addresses, ports, protocol, flags, packets, bytes, start and end.
fn ipfix(seq: u32) -> Vec<u8> {
    let fields: [(u16, u16); 10] = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (6, 1),
        (2, 8),
        (1, 8),
        (152, 8),
        (153, 8),
    ];
    let mut sets = Vec::new();
    if seq.is_multiple_of(20) {
        let mut t = vec![0, 2, 0, 0, 1, 0, 0, fields.len() as u8];
        for (id, len) in fields {
            t.extend(id.to_be_bytes());
            t.extend(len.to_be_bytes());
        }
        let l = t.len() as u16;
        t[2..4].copy_from_slice(&l.to_be_bytes());
        sets.extend(t);
    }
    let mut d = vec![1, 0, 0, 0];
    for i in 0..IPFIX_RECORDS as u32 {
        let n = seq.wrapping_mul(31).wrapping_add(i);
        d.extend(n.to_be_bytes());
        d.extend([203, 0, 113, 10]);
        d.extend(((n % 60000) as u16).to_be_bytes());
        d.extend(80u16.to_be_bytes());
        d.extend([6, 0x02]);
        d.extend(u64::from(n % 7 + 1).to_be_bytes());
        d.extend(u64::from(n % 7 + 1).wrapping_mul(60).to_be_bytes());
        d.extend(1_700_000_000_000u64.to_be_bytes());
        d.extend(1_700_000_000_500u64.to_be_bytes());
    }
    let l = d.len() as u16;
    d[2..4].copy_from_slice(&l.to_be_bytes());
    sets.extend(d);
    let mut m = vec![0, 10];
    m.extend(((sets.len() + 16) as u16).to_be_bytes());
    m.extend(1_700_000_001u32.to_be_bytes());
    m.extend(seq.to_be_bytes());
    m.extend(0u32.to_be_bytes());
    m.extend(sets);
    m
}

/// A NetFlow v5 datagram of 30 records.
fn v5(seq: u32) -> Vec<u8> {
    let mut m = vec![0, 5, 0, 30];
    m.extend(100_000u32.to_be_bytes());
    m.extend(1_700_000_001u32.to_be_bytes());
    m.extend(0u32.to_be_bytes());
    m.extend(seq.to_be_bytes());
    m.extend([0, 0, 0, 0]);
    for i in 0..30u32 {
        let n = seq.wrapping_mul(31).wrapping_add(i);
        m.extend(n.to_be_bytes());
        m.extend([203, 0, 113, 10, 0, 0, 0, 0, 0, 1, 0, 2]);
        m.extend((n % 7 + 1).to_be_bytes());
        m.extend(((n % 7 + 1) * 60).to_be_bytes());
        m.extend(99_000u32.to_be_bytes());
        m.extend(99_500u32.to_be_bytes());
        m.extend(((n % 60000) as u16).to_be_bytes());
        m.extend(80u16.to_be_bytes());
        m.extend([0, 0x02, 6, 0, 0, 0, 0, 0, 24, 24, 0, 0]);
    }
    m
}

fn decode(c: &mut Criterion) {
    let exporter = IpAddr::from([192, 0, 2, 1]);
    for (name, datagrams, records) in [
        (
            "ipfix",
            (0..DATAGRAMS as u32).map(ipfix).collect::<Vec<_>>(),
            IPFIX_RECORDS,
        ),
        ("v5", (0..DATAGRAMS as u32).map(v5).collect::<Vec<_>>(), 30),
    ] {
        let mut g = c.benchmark_group(format!("decode-{name}"));
        g.throughput(Throughput::Elements((DATAGRAMS * records) as u64));
        g.bench_function("levee-flow", |b| {
            b.iter(|| {
                let mut d = levee_flow::Decoder::new();
                let mut out = Vec::with_capacity(64);
                let mut n = 0;
                for m in &datagrams {
                    out.clear();
                    d.decode(exporter, m, &mut out).unwrap();
                    n += out.len();
                }
                assert_eq!(n, DATAGRAMS * records);
                n
            })
        });
        g.bench_function("netflow_parser", |b| {
            b.iter(|| {
                let mut p = netflow_parser::NetflowParser::default();
                let mut n = 0;
                for m in &datagrams {
                    n += p.parse_bytes(m).packets.len();
                }
                assert_eq!(n, DATAGRAMS);
                n
            })
        });
        g.finish();
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
