//! The capture reader on hand-built captures: every format variant, compression, merging, and
//! each kind of damage with the recovery the reader promises.

use std::io::Write;

use levee_capture::{
    CaptureReader, Item, MergedCapture, OpenError, PcapWriter, RecordProblem, Recovery,
};

/// Frames as (timestamp, linktype, data) and damage as messages, from a reader. The captures
/// here are timed in 1970 (small numbers are easy to check); the warning that such times are
/// implausible is kept apart from the damage, and tested on its own.
#[derive(Debug, Default)]
struct Read {
    frames: Vec<(i64, u32, Vec<u8>, u32)>,
    damage: Vec<(RecordProblem, Recovery, u64, u64)>,
    implausible_times: Vec<(u64, u64)>,
}

fn read_all(mut r: CaptureReader) -> Read {
    let mut out = Read::default();
    while let Some(item) = r.next_item() {
        match item {
            Item::Frame(f) => {
                out.frames
                    .push((f.ts_nanos, f.linktype, f.data.to_vec(), f.orig_len))
            }
            Item::Damaged(e) => {
                assert!(e.to_string().contains("test.cap"), "{e}");
                if let RecordProblem::ImplausibleTime { .. } = e.problem {
                    out.implausible_times.push((e.record, e.offset));
                } else {
                    out.damage.push((e.problem, e.recovery, e.record, e.offset))
                }
            }
        }
    }
    out
}

#[test]
fn implausible_times_are_told_once_per_run_and_the_packets_kept() {
    // Packets 0-2 in 1970, 3 in 2026, 4-5 in 1970 again, 6 in 2026, 7 in 2100.
    let times: [u32; 8] = [
        1_000,
        1_001,
        1_002,
        1_768_478_400,
        5,
        6,
        1_768_478_401,
        4_102_444_800,
    ];
    let mut b = pcap_le_header(0xa1b2c3d4);
    for (i, t) in times.iter().enumerate() {
        let p = packet(i as u8, 60);
        b.extend(t.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend((p.len() as u32).to_le_bytes());
        b.extend((p.len() as u32).to_le_bytes());
        b.extend(&p);
    }
    let r = read_bytes(b);
    assert_eq!(r.frames.len(), 8);
    assert!(r.damage.is_empty(), "{:?}", r.damage);
    let records: Vec<u64> = r.implausible_times.iter().map(|&(rec, _)| rec).collect();
    assert_eq!(records, [0, 4, 7]);
    assert_eq!(r.implausible_times[0].1, 24);
}

#[test]
fn a_zero_filled_run_is_one_damage_and_reading_goes_on_after_it() {
    let mut b = pcap_le(2);
    let zeros_at = b.len() as u64;
    b.extend(vec![0u8; 16 * 1000]);
    let mut rest = pcap_le(3);
    b.extend(rest.split_off(24));
    let r = read_bytes(b);
    assert_eq!(r.frames.len(), 5);
    assert_eq!(
        r.damage,
        [(
            RecordProblem::ZeroFilled {
                records: 1000,
                bytes: 16_000
            },
            Recovery::Skipped,
            2,
            zeros_at
        )]
    );
}

/// Every item with where it came from: frames as (index, offset, timestamp, bytes), damage
/// as its message.
fn items_with_positions(
    mut next: impl FnMut(&mut dyn FnMut(Item<'_>) -> std::ops::ControlFlow<()>),
) -> Vec<String> {
    let mut out = Vec::new();
    next(&mut |item| {
        out.push(match item {
            Item::Frame(f) => format!("{} {} {} {:?}", f.index, f.offset, f.ts_nanos, f.data),
            Item::Damaged(e) => e.to_string(),
        });
        std::ops::ControlFlow::Continue(())
    });
    out
}

/// The closure loop (`for_each_item`, which has its own fast path for pcap) hands out what
/// `next_item` does, with the same record numbers and offsets.
fn check_both_loops_agree(b: &[u8]) {
    let looped = items_with_positions(|each| {
        CaptureReader::from_bytes("test.cap", b.to_vec())
            .unwrap()
            .for_each_item(each)
    });
    let stepped = items_with_positions(|each| {
        let mut r = CaptureReader::from_bytes("test.cap", b.to_vec()).unwrap();
        while let Some(item) = r.next_item() {
            let _ = each(item);
        }
    });
    assert_eq!(looped, stepped, "for_each_item and next_item differ");
}

/// Reads a capture both from memory and from a file on disk (as `levee` opens it), and checks
/// that both readings agree before returning one; checks too that both reading loops agree.
fn read_bytes(b: Vec<u8>) -> Read {
    if CaptureReader::from_bytes("test.cap", b.clone()).is_ok() {
        check_both_loops_agree(&b);
    }
    let dir = std::env::temp_dir().join(format!(
        "levee-formats-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("test.cap");
    std::fs::write(&path, &b).unwrap();
    let streamed = read_all(CaptureReader::from_bytes("test.cap", b).unwrap());
    let mapped = CaptureReader::open(&path).map(read_all);
    std::fs::remove_dir_all(&dir).unwrap();
    if let Ok(mapped) = mapped {
        assert_eq!(
            format!("{mapped:?}"),
            format!("{streamed:?}"),
            "file and in-memory readings differ"
        );
    }
    streamed
}

fn packet(i: u8, len: usize) -> Vec<u8> {
    (0..len).map(|k| i.wrapping_add(k as u8)).collect()
}

/// A little-endian pcap global header with `magic` (microsecond, nanosecond or modified),
/// snapshot length 65535, Ethernet.
fn pcap_le_header(magic: u32) -> Vec<u8> {
    let mut b = vec![];
    b.extend(magic.to_le_bytes());
    b.extend(2u16.to_le_bytes());
    b.extend(4u16.to_le_bytes());
    b.extend([0; 8]);
    b.extend(65535u32.to_le_bytes());
    b.extend(1u32.to_le_bytes());
    b
}

/// A little-endian microsecond pcap of `n` packets written by hand.
fn pcap_le(n: u8) -> Vec<u8> {
    let mut b = pcap_le_header(0xa1b2c3d4);
    for i in 0..n {
        let p = packet(i, 60);
        b.extend((1_000 + i as u32).to_le_bytes());
        b.extend((500u32).to_le_bytes());
        b.extend((p.len() as u32).to_le_bytes());
        b.extend((p.len() as u32).to_le_bytes());
        b.extend(&p);
    }
    b
}

/// The same capture in big-endian nanosecond form.
fn pcap_be_ns(n: u8) -> Vec<u8> {
    let mut b = vec![];
    b.extend(0xa1b23c4du32.to_be_bytes());
    b.extend(2u16.to_be_bytes());
    b.extend(4u16.to_be_bytes());
    b.extend([0; 8]);
    b.extend(65535u32.to_be_bytes());
    b.extend(101u32.to_be_bytes());
    for i in 0..n {
        let p = packet(i, 40);
        b.extend((1_000 + i as u32).to_be_bytes());
        b.extend((500_000u32).to_be_bytes());
        b.extend((p.len() as u32).to_be_bytes());
        b.extend((p.len() as u32 + 10).to_be_bytes());
        b.extend(&p);
    }
    b
}

#[test]
fn classic_pcap_in_both_byte_orders_and_resolutions() {
    let le = read_bytes(pcap_le(3));
    assert!(le.damage.is_empty());
    assert_eq!(le.frames.len(), 3);
    assert_eq!(le.frames[1].0, 1_001_000_500_000);
    assert_eq!(le.frames[1].1, 1);
    assert_eq!(le.frames[2].2, packet(2, 60));

    let be = read_bytes(pcap_be_ns(2));
    assert!(be.damage.is_empty());
    assert_eq!(be.frames[0].0, 1_000_000_500_000);
    assert_eq!(be.frames[0].1, 101);
    assert_eq!(be.frames[1].3, 50, "original length kept");
}

#[test]
fn writer_output_reads_back() {
    let mut buf = Vec::new();
    let mut w = PcapWriter::new(&mut buf, 1, 100).unwrap();
    w.write(1_234_567_890_123_456_789, &packet(1, 80)).unwrap();
    w.write(1_234_567_891_000_000_001, &packet(2, 150)).unwrap();
    w.finish().unwrap();
    let r = read_bytes(buf);
    assert!(r.damage.is_empty());
    assert_eq!(r.frames[0].0, 1_234_567_890_123_456_789);
    assert_eq!(r.frames[1].2.len(), 100, "cut to the snapshot length");
    assert_eq!(r.frames[1].3, 150);
}

#[test]
fn not_a_capture_is_refused_with_its_name() {
    match CaptureReader::from_bytes("test.cap", b"GET / HTTP/1.1\r\n\r\n".to_vec()) {
        Err(OpenError::UnknownFormat { file, .. }) => assert_eq!(file, "test.cap"),
        other => panic!("{:?}", other.err()),
    }
    assert!(matches!(
        CaptureReader::from_bytes("test.cap", vec![]),
        Err(OpenError::Empty { .. })
    ));
    let short = pcap_le(0)[..10].to_vec();
    assert!(matches!(
        CaptureReader::from_bytes("test.cap", short),
        Err(OpenError::BadHeader { .. })
    ));
}

#[test]
fn modified_pcap_little_endian_is_read_and_big_endian_refused_clearly() {
    // The modified format adds 8 bytes (ifindex, protocol, type, pad) to each record header.
    let mut b = pcap_le_header(0xa1b2cd34);
    let p = packet(9, 42);
    b.extend(7u32.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b.extend((p.len() as u32).to_le_bytes());
    b.extend((p.len() as u32).to_le_bytes());
    b.extend([0; 8]);
    b.extend(&p);
    let r = read_bytes(b);
    assert!(r.damage.is_empty());
    assert_eq!(r.frames.len(), 1);
    assert_eq!(r.frames[0].2, p);

    let mut be = vec![0xa1, 0xb2, 0xcd, 0x34];
    be.extend([0; 20]);
    match CaptureReader::from_bytes("test.cap", be) {
        Err(OpenError::BadHeader { what, .. }) => assert!(what.contains("modified"), "{what}"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn truncated_last_record_is_reported_and_the_rest_kept() {
    let mut b = pcap_le(3);
    b.truncate(b.len() - 7);
    let r = read_bytes(b);
    assert_eq!(r.frames.len(), 2);
    assert_eq!(r.damage.len(), 1);
    let (problem, recovery, record, offset) = &r.damage[0];
    assert_eq!(
        *problem,
        RecordProblem::TruncatedRecord {
            needed: 76,
            available: 69
        }
    );
    assert_eq!(*recovery, Recovery::Stopped);
    assert_eq!(*record, 2);
    assert_eq!(*offset, 24 + 2 * 76);
}

#[test]
fn absurd_record_length_resynchronises_on_the_next_record() {
    let mut b = pcap_le(4);
    // Damage the captured length of record 1.
    let at = 24 + 76 + 8;
    b[at..at + 4].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let r = read_bytes(b);
    assert_eq!(r.damage.len(), 1, "{:?}", r.damage);
    assert!(matches!(
        r.damage[0].0,
        RecordProblem::CapturedLengthTooLarge { .. }
    ));
    assert_eq!(
        r.damage[0].1,
        Recovery::Resynchronised { skipped_bytes: 76 }
    );
    assert_eq!(
        r.damage[0].2, 1,
        "the damaged record's number, told before the next"
    );
    assert_eq!(r.damage[0].3, 24 + 76, "and its offset");
    let kept: Vec<u8> = r.frames.iter().map(|f| f.2[0]).collect();
    assert_eq!(kept, vec![0, 2, 3]);
}

/// A capture much larger than the reader's buffer, with damage in the middle: the closure
/// loop's fast path ends its runs at every buffer's end and at the damage, and numbers the
/// records and their offsets as the step-by-step reading does.
#[test]
fn a_long_capture_with_damage_reads_alike_in_both_loops() {
    let mut b = pcap_le_header(0xa1b2c3d4);
    let mut damaged_at = 0;
    for i in 0..20_000u32 {
        // Lengths that do not divide the buffer's size, so records straddle its end.
        let p = packet(i as u8, 40 + (i as usize * 7) % 1400);
        if i == 9_000 {
            damaged_at = b.len();
        }
        b.extend((1_000 + i).to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend((p.len() as u32).to_le_bytes());
        b.extend((p.len() as u32).to_le_bytes());
        b.extend(&p);
    }
    b[damaged_at + 8..damaged_at + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let r = read_bytes(b);
    assert_eq!(r.frames.len(), 19_999);
    assert_eq!(r.damage.len(), 1);
    assert_eq!(r.damage[0].2, 9_000, "record number of the damage");
}

#[test]
fn caplen_beyond_snaplen_is_a_warning_not_a_loss() {
    let mut b = pcap_le(2);
    b[16..20].copy_from_slice(&20u32.to_le_bytes());
    let r = read_bytes(b);
    assert_eq!(r.frames.len(), 2);
    assert_eq!(r.damage.len(), 2);
    assert!(r.damage.iter().all(|d| d.1 == Recovery::Delivered));
    assert_eq!(r.damage[1].2, 1, "record index of the second warning");
}

// --- pcapng -------------------------------------------------------------------------------

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let len = (body.len() + 12) as u32;
    let mut b = kind.to_le_bytes().to_vec();
    b.extend(len.to_le_bytes());
    b.extend(body);
    b.extend(len.to_le_bytes());
    b
}

fn shb() -> Vec<u8> {
    let mut body = 0x1a2b3c4du32.to_le_bytes().to_vec();
    body.extend(1u16.to_le_bytes());
    body.extend(0u16.to_le_bytes());
    body.extend((-1i64).to_le_bytes());
    // A comment option, which readers must skip.
    body.extend(1u16.to_le_bytes());
    body.extend(5u16.to_le_bytes());
    body.extend(b"hello\0\0\0");
    body.extend([0, 0, 0, 0]);
    block(0x0A0D0D0A, &body)
}

fn idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = linktype.to_le_bytes().to_vec();
    body.extend(0u16.to_le_bytes());
    body.extend(0u32.to_le_bytes());
    if let Some(r) = tsresol {
        body.extend(9u16.to_le_bytes());
        body.extend(1u16.to_le_bytes());
        body.extend([r, 0, 0, 0]);
        body.extend([0, 0, 0, 0]);
    }
    block(1, &body)
}

fn epb(iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
    let mut body = iface.to_le_bytes().to_vec();
    body.extend(((ts >> 32) as u32).to_le_bytes());
    body.extend((ts as u32).to_le_bytes());
    body.extend((data.len() as u32).to_le_bytes());
    body.extend((data.len() as u32).to_le_bytes());
    body.extend(data);
    block(6, &body)
}

fn spb(data: &[u8]) -> Vec<u8> {
    let mut body = (data.len() as u32).to_le_bytes().to_vec();
    body.extend(data);
    block(3, &body)
}

#[test]
fn pcapng_with_two_interfaces_of_different_link_types() {
    let mut b = shb();
    b.extend(idb(1, None));
    b.extend(idb(101, Some(9)));
    b.extend(epb(0, 1_000_000_000_123, &packet(1, 60)));
    b.extend(block(5, &[0; 12])); // interface statistics: skipped
    b.extend(epb(1, 2_000_000_000_000_000_456, &packet(2, 33)));
    b.extend(spb(&packet(3, 42)));
    let r = read_bytes(b);
    assert!(r.damage.is_empty(), "{:?}", r.damage);
    assert_eq!(r.frames.len(), 3);
    assert_eq!(
        r.frames[0].0, 1_000_000_000_123_000,
        "microseconds by default"
    );
    assert_eq!(r.frames[0].1, 1);
    assert_eq!(
        r.frames[1].0, 2_000_000_000_000_000_456,
        "nanoseconds via if_tsresol"
    );
    assert_eq!(r.frames[1].1, 101);
    assert_eq!(r.frames[1].2, packet(2, 33), "padding removed");
    assert_eq!(r.frames[2].2, packet(3, 42));
}

#[test]
fn pcapng_bad_block_length_resynchronises() {
    let mut b = shb();
    b.extend(idb(1, None));
    b.extend(epb(0, 1, &packet(1, 60)));
    let bad_at = b.len();
    b.extend(epb(0, 2, &packet(2, 60)));
    b.extend(epb(0, 3, &packet(3, 60)));
    b[bad_at + 4..bad_at + 8].copy_from_slice(&13u32.to_le_bytes());
    let r = read_bytes(b);
    assert_eq!(r.frames.len(), 2);
    assert_eq!(r.frames[1].2[0], 3);
    assert_eq!(r.damage.len(), 1);
    assert_eq!(r.damage[0].0, RecordProblem::BadBlockLength { length: 13 });
    assert_eq!(r.damage[0].3, bad_at as u64);
    assert!(matches!(r.damage[0].1, Recovery::Resynchronised { .. }));
}

#[test]
fn pcapng_packet_on_undeclared_interface_is_skipped() {
    let mut b = shb();
    b.extend(idb(1, None));
    b.extend(epb(7, 1, &packet(1, 60)));
    b.extend(epb(0, 2, &packet(2, 60)));
    let r = read_bytes(b);
    assert_eq!(r.frames.len(), 1);
    assert_eq!(
        r.damage[0].0,
        RecordProblem::UnknownInterface { interface: 7 }
    );
    assert_eq!(r.damage[0].1, Recovery::Skipped);
}

#[test]
fn gzip_and_zstd_read_like_the_plain_file() {
    let plain = pcap_le(5);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&plain[..], 3).unwrap();
    let expected = read_bytes(plain).frames;
    for (name, bytes) in [("gzip", gz), ("zstd", zst)] {
        let r = CaptureReader::from_bytes("test.cap", bytes).unwrap();
        assert_eq!(format!("{:?}", r.compression()).to_lowercase(), name);
        assert_eq!(read_all(r).frames, expected, "{name}");
    }
}

#[test]
fn files_on_disk_are_mapped_and_merged_in_time_order() {
    let dir = std::env::temp_dir().join(format!("levee-capture-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.pcap");
    let b = dir.join("b.pcap");
    // a: t = 1.0, 3.0, 5.0 ; b: t = 2.0, 4.0
    for (path, times) in [(&a, vec![1, 3, 5]), (&b, vec![2, 4])] {
        let mut w = PcapWriter::new(std::fs::File::create(path).unwrap(), 1, 65535).unwrap();
        for t in times {
            w.write(t * 1_000_000_000, &[t as u8; 20]).unwrap();
        }
        w.finish().unwrap();
    }
    let readers = vec![
        CaptureReader::open(&a).unwrap(),
        CaptureReader::open(&b).unwrap(),
    ];
    let mut m = MergedCapture::new(readers);
    let mut seen = vec![];
    while let Some(item) = m.next_item() {
        match item {
            Item::Frame(f) => seen.push((f.data[0], f.file, f.index)),
            // The hand-built captures are timed in 1970.
            Item::Damaged(e) if matches!(e.problem, RecordProblem::ImplausibleTime { .. }) => {}
            Item::Damaged(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        seen,
        vec![(1, 0, 0), (2, 1, 0), (3, 0, 1), (4, 1, 1), (5, 0, 2)]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_prefix_of_a_capture_reads_without_panic() {
    let mut b = shb();
    b.extend(idb(1, None));
    for i in 0..4 {
        b.extend(epb(0, i, &packet(i as u8, 50 + i as usize)));
    }
    for cut in 0..b.len() {
        if let Ok(r) = CaptureReader::from_bytes("test.cap", b[..cut].to_vec()) {
            let _ = read_all(r);
        }
    }
    let p = pcap_le(4);
    for cut in 0..p.len() {
        if let Ok(r) = CaptureReader::from_bytes("test.cap", p[..cut].to_vec()) {
            let _ = read_all(r);
        }
    }
}
