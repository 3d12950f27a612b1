//! The real flow exports of `../shared/data/flows` (Cisco NetFlow v9 and IPFIX, pmacct's test
//! captures) decode completely, record by record as tshark's `cflow` dissector reads them.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use levee_capture::{CaptureReader, Item};
use levee_flow::{Decoder, FlowRecord};

/// Every record of a capture of export datagrams, in order, with the decoder's statistics.
fn decoded(path: &Path) -> (Vec<FlowRecord>, levee_flow::templates::DecoderStats) {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut decoder = Decoder::new();
    let mut records = Vec::new();
    while let Some(item) = reader.next_item() {
        let Item::Frame(f) = item else { continue };
        levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
            let exporter = p.ip.unwrap().src;
            decoder.decode(exporter, p.payload, &mut records).unwrap();
        });
    }
    (records, decoder.stats())
}

/// The same records as tshark reads them: (source, destination, ports, protocol, packets,
/// bytes) per record.
fn tshark(path: &Path) -> Vec<(IpAddr, IpAddr, u16, u16, u8, u64, u64)> {
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-d",
            "udp.port==9991,cflow",
            "-d",
        ])
        .args(["udp.port==9992,cflow", "-T", "fields", "-E", "occurrence=a"])
        .args([
            "-E",
            "aggregator=,",
            "-e",
            "cflow.srcaddr",
            "-e",
            "cflow.dstaddr",
        ])
        .args([
            "-e",
            "cflow.srcaddrv6",
            "-e",
            "cflow.dstaddrv6",
            "-e",
            "cflow.srcport",
        ])
        .args([
            "-e",
            "cflow.dstport",
            "-e",
            "cflow.protocol",
            "-e",
            "cflow.packets",
        ])
        .args(["-e", "cflow.octets"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut rows = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let cols: Vec<Vec<&str>> = line
            .split('\t')
            .map(|c| c.split(',').filter(|s| !s.is_empty()).collect())
            .collect();
        let n = cols[4].len();
        for i in 0..n {
            // v9 records of this exporter carry both families, one of them all zeros.
            let pick = |v4: &Vec<&str>, v6: &Vec<&str>| -> IpAddr {
                let a = v4.get(i).map(|s| s.parse::<IpAddr>().unwrap());
                let b = v6.get(i).map(|s| s.parse::<IpAddr>().unwrap());
                match (a, b) {
                    (Some(a), Some(b)) if a.is_unspecified() => b,
                    (Some(a), _) => a,
                    (None, Some(b)) => b,
                    (None, None) => panic!("no address in {line}"),
                }
            };
            rows.push((
                pick(&cols[0], &cols[2]),
                pick(&cols[1], &cols[3]),
                cols[4][i].parse().unwrap(),
                cols[5][i].parse().unwrap(),
                cols[6][i].parse().unwrap(),
                cols[7][i].parse().unwrap(),
                cols[8][i].parse().unwrap(),
            ));
        }
    }
    rows
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
#[cfg_attr(not(levee_has_tshark), ignore = "needs tshark")]
fn the_shared_exports_decode_as_tshark_reads_them() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/flows");
    for name in [
        "100-IPFIXv10-CISCO.pcap",
        "101-NFv9-CISCO-cust_primitives.pcap",
        "104-IPFIXv10-IPv6-CISCO-sampling_option.pcap",
    ] {
        let path = dir.join(name);
        let (records, stats) = decoded(&path);
        assert_eq!(stats.dropped_sets, 0, "{name}: {stats:?}");
        let ours: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.src.unwrap(),
                    r.dst.unwrap(),
                    r.src_port,
                    r.dst_port,
                    r.protocol,
                    r.packets,
                    r.bytes,
                )
            })
            .collect();
        let theirs = tshark(&path);
        assert!(!theirs.is_empty(), "{name}: tshark decodes records");
        assert_eq!(ours, theirs, "{name}");
    }
}

/// The IPFIX exporter of `104-...sampling_option.pcap` describes its sampler in option data
/// (selector 1: random 1 out of 256); its records are 1 in 256, and say they know it.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn the_sampling_rate_comes_from_the_exporters_option_data() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/flows");
    let (records, stats) = decoded(&dir.join("104-IPFIXv10-IPv6-CISCO-sampling_option.pcap"));
    assert!(stats.option_records >= 1, "{stats:?}");
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!((r.sampling, r.sampling_known), (256, true), "{r:?}");
        assert_eq!(r.format, levee_flow::Format::Ipfix);
    }
    // The v9 exporter says nothing of sampling: 1, and not known.
    let (records, _) = decoded(&dir.join("101-NFv9-CISCO-cust_primitives.pcap"));
    assert!(records.iter().all(|r| r.sampling == 1 && !r.sampling_known));
    assert!(records
        .iter()
        .all(|r| r.start_ns.is_some() && r.start_ns <= r.end_ns));
}
