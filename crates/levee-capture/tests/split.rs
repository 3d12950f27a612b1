//! Reading a plain pcap file in parts: where each part starts, and that a part read from the
//! middle yields exactly the records a whole reading gives from there.

use std::path::{Path, PathBuf};

use levee_capture::{CaptureReader, Item, PcapWriter, SplitPcap};

/// Every frame of a reader as (offset, timestamp, data).
fn frames(mut r: CaptureReader) -> Vec<(u64, i64, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(item) = r.next_item() {
        if let Item::Frame(f) = item {
            out.push((f.offset, f.ts_nanos, f.data.to_vec()));
        }
    }
    out
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("levee-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A capture whose payloads are made to mislead a search: each carries copies of real record
/// headers (of the records before it) at varying places.
fn misleading_capture() -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), 1, 65_535).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut headers: Vec<[u8; 16]> = Vec::new();
    for i in 0..3_000u64 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 20 + (state % 1_400) as usize;
        let mut data: Vec<u8> = (0..len).map(|k| (k as u64 ^ state) as u8).collect();
        if let Some(h) = headers.last() {
            let at = (state >> 20) as usize % (len - 16);
            data[at..at + 16].copy_from_slice(h);
        }
        let ts = 1_700_000_000_000_000_000 + i as i64 * 1_000_000;
        w.write(ts, &data).unwrap();
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(len as u32).to_le_bytes());
        headers.push(h);
    }
    w.finish().unwrap()
}

fn check_parts_match_a_whole_reading(path: &Path, probes: u64) {
    let split = SplitPcap::open(path)
        .unwrap()
        .expect("a plain pcap can be split");
    let whole = frames(CaptureReader::open(path).unwrap());
    assert!(!whole.is_empty());
    assert_eq!(split.first_record(), whole[0].0);
    for k in 1..probes {
        let wanted = split.len() * k / probes;
        let found = split.record_start_near(wanted).unwrap();
        let first_true = whole.iter().position(|f| f.0 >= wanted);
        match (found, first_true) {
            (Some(at), Some(i)) => {
                assert_eq!(at, whole[i].0, "near {wanted}");
                let part = frames(split.reader_at(at).unwrap());
                assert_eq!(part, whole[i..], "the part from {at}");
            }
            (None, None) => {}
            (found, first_true) => {
                panic!("near {wanted}: found {found:?}, a record starts at {first_true:?}")
            }
        }
    }
}

#[test]
fn parts_start_on_true_records_despite_misleading_payloads() {
    let path = temp_file("misleading.pcap", &misleading_capture());
    check_parts_match_a_whole_reading(&path, 97);
}

#[test]
fn parts_of_real_captures_start_on_true_records() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    for name in [
        "attacks/pkt.TCP.synflood.spoofed.pcap",
        "attacks/amp.UDP.isakmp.pcap",
        "attacks/amp.TCP.reflection.SYNACK.pcap",
        "scans/masscan-tcp-0-1000.pcap",
    ] {
        check_parts_match_a_whole_reading(&data.join(name), 23);
    }
}

#[test]
fn only_plain_classic_pcap_files_split() {
    let plain = misleading_capture();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    let gz_path = temp_file("misleading.pcap.gz", &gz.finish().unwrap());
    assert!(SplitPcap::open(&gz_path).unwrap().is_none());
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let pcapng = data.join("tcpdump-tests/ahcp.pcapng");
    assert!(SplitPcap::open(&pcapng).unwrap().is_none());
    assert!(SplitPcap::open(Path::new("-")).unwrap().is_none());
}
