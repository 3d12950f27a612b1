//! The monitor's memory under a flood from ten million sources. Alone in its test binary: the
//! peak memory of child processes (`getrusage(RUSAGE_CHILDREN)`) is the largest of every
//! child the process waited for.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::*;

/// The largest resident set, in KiB, of the children waited for so far.
#[allow(unsafe_code)] // getrusage, a C call with no safe wrapper in std
fn children_max_rss_kib() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    usage.ru_maxrss as u64
}

/// A pcap stream of `n` TCP SYNs to 10.0.0.1:80 at 1 Mpps, each from a source address of its
/// own (a bijective mix of its index), written to `out`.
fn spoofed_flood(n: u32, out: &mut impl Write) -> std::io::Result<()> {
    let mut header = Vec::new();
    header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&65_535u32.to_le_bytes());
    header.extend_from_slice(&1u32.to_le_bytes());
    out.write_all(&header)?;
    let t0 = 1_768_478_400u32;
    let mut record = [0u8; 16 + 54];
    record[8..12].copy_from_slice(&54u32.to_le_bytes());
    record[12..16].copy_from_slice(&54u32.to_le_bytes());
    let frame = &mut record[16..];
    frame[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = 14;
    frame[ip] = 0x45;
    frame[ip + 2..ip + 4].copy_from_slice(&40u16.to_be_bytes());
    frame[ip + 8] = 64;
    frame[ip + 9] = 6;
    frame[ip + 16..ip + 20].copy_from_slice(&[10, 0, 0, 1]);
    let tcp = ip + 20;
    frame[tcp + 2..tcp + 4].copy_from_slice(&80u16.to_be_bytes());
    frame[tcp + 12] = 0x50;
    frame[tcp + 13] = 0x02;
    frame[tcp + 14..tcp + 16].copy_from_slice(&1024u16.to_be_bytes());
    for i in 0..n {
        let (sec, usec) = (t0 + i / 1_000_000, i % 1_000_000);
        let src = i.wrapping_mul(0x9e37_79b1).rotate_left(13) ^ 0x5bd1_e995;
        let rec = &mut record;
        rec[0..4].copy_from_slice(&sec.to_le_bytes());
        rec[4..8].copy_from_slice(&usec.to_le_bytes());
        let f = &mut rec[16..];
        f[ip + 4..ip + 6].copy_from_slice(&(i as u16).to_be_bytes());
        f[ip + 12..ip + 16].copy_from_slice(&src.to_be_bytes());
        f[tcp..tcp + 2].copy_from_slice(&(1024 + (i % 60_000) as u16).to_be_bytes());
        f[tcp + 4..tcp + 8].copy_from_slice(&i.to_be_bytes());
        f[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
        let sum = f[ip..ip + 20]
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = (sum & 0xffff) + (sum >> 16);
        let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
        f[ip + 10..ip + 12].copy_from_slice(&sum.to_be_bytes());
        out.write_all(rec)?;
    }
    out.flush()
}

/// Ten million SYNs, each from its own address, streamed into `levee monitor --read -`: the
/// flood is told, with its millions of sources counted, and the monitor never holds more than
/// 256 MiB.
#[test]
fn a_flood_from_ten_million_sources_is_monitored_in_bounded_memory() {
    let dir = scratch("memory-monitor");
    let packets = 10_000_000;
    let mut child = levee()
        .args([
            "monitor", "--read", "-", "--quiet", "5", "--alerts", "-", "--db",
        ])
        .arg(dir.join("incidents.db"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
    let writer = std::thread::spawn(move || spoofed_flood(packets, &mut stdin));
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap().expect("the flood is written");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let rss_mib = children_max_rss_kib() / 1024;
    eprintln!("levee monitor, 10 M spoofed sources: peak {rss_mib} MiB; {err}");
    let alerts: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let end = alerts
        .iter()
        .find(|a| a["alert"] == "end" && a["incident"]["vector"] == "syn-flood")
        .unwrap_or_else(|| panic!("no syn-flood told: {alerts:#?}"));
    let incident = &end["incident"];
    assert_eq!(incident["target"], "10.0.0.1");
    assert_eq!(incident["spoofed_likely"], true);
    let sources = incident["sources"].as_u64().unwrap();
    assert!(
        (9_500_000..=10_500_000).contains(&sources),
        "~10 M sources estimated: {sources}"
    );
    assert!(rss_mib <= 256, "peak {rss_mib} MiB");
}
