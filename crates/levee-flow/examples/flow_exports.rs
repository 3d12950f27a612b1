//! Flow exports for benchmarks (`bench/flows.sh`):
//!
//! * `flow_exports write OUT.pcap RECORDS [RATE]`: a capture of NetFlow v5 datagrams from one
//!   exporter, 30 records each: a spoofed SYN flood to 10.10.10.10:80, every record from a new
//!   source (one packet of 40 bytes), RATE records a second of traffic time (default 500,000).
//! * `flow_exports send CAPTURE ADDR:PORT RATE`: the export datagrams of a capture (any format) sent to a
//!   collector at RATE records a second (0: as fast as the socket takes them); prints what it
//!   sent and how long it took.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use levee_capture::{CaptureReader, Item, PcapWriter};
use levee_flow::collector::datagram_packet;
use levee_flow::Decoder;

const RECORDS_PER_DATAGRAM: u64 = 30;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["write", out, records] => write(out, records.parse().expect("RECORDS"), 500_000),
        ["write", out, records, rate] => write(
            out,
            records.parse().expect("RECORDS"),
            rate.parse().expect("RATE"),
        ),
        ["send", capture, to, rate] => send(
            capture,
            to.parse().expect("ADDR:PORT"),
            rate.parse().expect("RATE"),
        ),
        _ => {
            eprintln!(
                "usage: flow_exports write OUT.pcap RECORDS [RATE] | send CAPTURE ADDR:PORT RATE"
            );
            std::process::exit(2);
        }
    }
}

/// A v5 datagram of `n` records numbered from `first`, exported at `at_ms` of uptime.
fn v5(first: u64, n: u64, at_ms: u32, unix_s: u32, unix_ns: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(24 + 48 * n as usize);
    d.extend(5u16.to_be_bytes());
    d.extend((n as u16).to_be_bytes());
    d.extend(at_ms.to_be_bytes());
    d.extend(unix_s.to_be_bytes());
    d.extend(unix_ns.to_be_bytes());
    d.extend((first as u32).to_be_bytes());
    d.extend([0; 4]);
    for i in first..first + n {
        // Every record from its own source: a bijection of the record number, spread over
        // the public space.
        let src = ((i as u32).wrapping_mul(2_654_435_761)) | 0x0100_0000;
        d.extend(src.to_be_bytes());
        d.extend([10, 10, 10, 10]);
        d.extend([0; 8]);
        d.extend(1u32.to_be_bytes());
        d.extend(40u32.to_be_bytes());
        d.extend(at_ms.to_be_bytes());
        d.extend(at_ms.to_be_bytes());
        d.extend(((1024 + i % 60_000) as u16).to_be_bytes());
        d.extend(80u16.to_be_bytes());
        d.extend([0, 0x02, 6, 0]);
        d.extend([0; 8]);
    }
    d
}

fn write(out: &str, records: u64, rate: u64) {
    let start_s: u32 = 1_767_225_600;
    let exporter: SocketAddr = "192.0.2.1:2055".parse().unwrap();
    let collector: SocketAddr = "192.0.2.100:2055".parse().unwrap();
    let file = std::io::BufWriter::new(std::fs::File::create(out).expect("create OUT"));
    let mut w = PcapWriter::new(file, levee_decode::linktype::RAW, 65535).unwrap();
    let mut packet = Vec::new();
    let mut first = 0;
    while first < records {
        let n = RECORDS_PER_DATAGRAM.min(records - first);
        let ns = (first as u128 * 1_000_000_000 / rate.max(1) as u128) as u64;
        let at_ms = 100_000 + (ns / 1_000_000) as u32;
        let unix_s = start_s + (ns / 1_000_000_000) as u32;
        let d = v5(first, n, at_ms, unix_s, (ns % 1_000_000_000) as u32);
        datagram_packet(exporter, collector, &d, &mut packet);
        w.write(i64::from(start_s) * 1_000_000_000 + ns as i64, &packet)
            .unwrap();
        first += n;
    }
    w.finish().unwrap();
    eprintln!("wrote {records} records to {out}");
}

fn send(capture: &str, to: SocketAddr, rate: u64) {
    let mut reader = CaptureReader::open(std::path::Path::new(capture)).expect("open CAPTURE");
    // Each datagram with the records levee's decoder finds in it (any format: pacing by
    // records needs the templates of v9 and IPFIX).
    let mut datagrams: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut decoder = Decoder::new();
    let mut records = Vec::new();
    while let Some(item) = reader.next_item() {
        let Item::Frame(f) = item else { continue };
        levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
            if let (Some(_), Some(ip)) = (p.udp(), p.ip.as_ref()) {
                records.clear();
                let _ = decoder.decode(ip.src, p.payload, &mut records);
                datagrams.push((p.payload.to_vec(), records.len() as u64));
            }
        });
    }
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let total: u64 = datagrams.iter().map(|(_, n)| n).sum();
    let started = Instant::now();
    let mut sent = 0u64;
    for (d, records) in &datagrams {
        if rate > 0 {
            // Paced: the records sent so far are due at this time.
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            while started.elapsed() < due {
                std::hint::spin_loop();
            }
        }
        while socket.send_to(d, to).is_err() {
            std::thread::yield_now();
        }
        sent += records;
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "sent {} datagrams, {total} records in {s:.2} s: {:.0} records/s",
        datagrams.len(),
        total as f64 / s
    );
}
