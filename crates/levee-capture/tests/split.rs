//! Reading a plain pcap or pcapng file in parts: where each part starts, and that a part read from the
//! middle yields exactly the records a whole reading gives from there.

use std::path::{Path, PathBuf};

use levee_capture::{CaptureReader, Item, PcapWriter, PcapngWriter, SplitCapture};

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

/// Packets whose payloads are made to mislead a search: each carries a copy of the pcap record
/// header of the packet before it, and of its pcapng block header, at varying places.
fn misleading_packets() -> Vec<(i64, Vec<u8>)> {
    let mut packets: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut headers: Vec<[u8; 16]> = Vec::new();
    for i in 0..3_000u64 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 64 + (state % 1_400) as usize;
        let mut data: Vec<u8> = (0..len).map(|k| (k as u64 ^ state) as u8).collect();
        if let Some(h) = headers.last() {
            let at = (state >> 20) as usize % (len - 16);
            data[at..at + 16].copy_from_slice(h);
            // An enhanced packet block's header and trailing length, as if it held 16 bytes.
            let at = (state >> 40) as usize % (len - 48);
            data[at..at + 4].copy_from_slice(&6u32.to_le_bytes());
            data[at + 4..at + 8].copy_from_slice(&48u32.to_le_bytes());
            data[at + 44..at + 48].copy_from_slice(&48u32.to_le_bytes());
        }
        let ts = 1_700_000_000_000_000_000 + i as i64 * 1_000_000;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(len as u32).to_le_bytes());
        headers.push(h);
        packets.push((ts, data));
    }
    packets
}

fn misleading_capture() -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), 1, 65_535).unwrap();
    for (ts, data) in misleading_packets() {
        w.write(ts, &data).unwrap();
    }
    w.finish().unwrap()
}

/// The same packets as pcapng over two interfaces; with `late_interface`, the second is only
/// described halfway through (as capture tools do when an interface comes up later).
fn misleading_pcapng(late_interface: bool) -> Vec<u8> {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    w.add_interface(1, 65_535).unwrap();
    if !late_interface {
        w.add_interface(1, 65_535).unwrap();
    }
    let packets = misleading_packets();
    let half = packets.len() / 2;
    for (i, (ts, data)) in packets.iter().enumerate() {
        if late_interface && i == half {
            w.add_interface(1, 65_535).unwrap();
        }
        let iface = if late_interface && i < half {
            0
        } else {
            (i % 2) as u32
        };
        w.write(iface, *ts, data).unwrap();
    }
    w.finish().unwrap()
}

fn check_parts_match_a_whole_reading(path: &Path, probes: u64) {
    let split = SplitCapture::open(path)
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
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
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
fn parts_of_pcapng_start_on_true_blocks() {
    let path = temp_file("misleading.pcapng", &misleading_pcapng(false));
    check_parts_match_a_whole_reading(&path, 97);
}

/// An interface described in the middle of a pcapng file: no part starts where its packets
/// are (a reader from there would not know it), and a reader from the first packet that meets
/// its description says so, for the caller to distrust the parts after.
#[test]
fn a_pcapng_interface_described_late_is_noticed() {
    let path = temp_file("late.pcapng", &misleading_pcapng(true));
    let split = SplitCapture::open(&path).unwrap().unwrap();
    assert_eq!(split.record_start_near(split.len() * 3 / 4).unwrap(), None);
    let read_to = |to: u64| {
        let mut r = split.reader_at(split.first_record()).unwrap();
        let at_start = r.descriptions();
        while let Some(item) = r.next_item() {
            if matches!(item, Item::Frame(f) if f.offset >= to) {
                break;
            }
        }
        r.descriptions() - at_start
    };
    assert_eq!(read_to(split.len() / 4), 0);
    assert_eq!(read_to(split.len() * 3 / 4), 1);
}

#[test]
fn only_plain_files_split() {
    let plain = misleading_capture();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    let gz_path = temp_file("misleading.pcap.gz", &gz.finish().unwrap());
    assert!(SplitCapture::open(&gz_path).unwrap().is_none());
    let ng = misleading_pcapng(false);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &ng).unwrap();
    let gz_path = temp_file("misleading.pcapng.gz", &gz.finish().unwrap());
    assert!(SplitCapture::open(&gz_path).unwrap().is_none());
    assert!(SplitCapture::open(Path::new("-")).unwrap().is_none());
    let empty = temp_file(
        "empty.pcap",
        &PcapWriter::new(Vec::new(), 1, 65_535)
            .unwrap()
            .finish()
            .unwrap(),
    );
    assert!(SplitCapture::open(&empty).unwrap().is_none());
}
