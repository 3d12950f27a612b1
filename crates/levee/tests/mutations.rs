//! Robustness on damaged real captures: thousands of mutated copies (random byte changes,
//! lengths set to extremes, truncation) of real captures go through the reader, the decoder and
//! every named field. Nothing may panic or loop; the fuzz targets in `fuzz/` do the same without
//! a time limit.

mod common;

use common::Rng;
use levee_capture::{CaptureReader, Item};

fn exercise(bytes: Vec<u8>) -> (usize, usize) {
    let len = bytes.len();
    let Ok(mut r) = CaptureReader::from_bytes("mutant", bytes) else {
        return (0, 0);
    };
    let (mut frames, mut damaged) = (0, 0);
    while let Some(item) = r.next_item() {
        match item {
            Item::Frame(f) => {
                let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
                for def in levee_decode::FIELDS {
                    let _ = p.field(def.name);
                }
                frames += 1;
            }
            Item::Damaged(_) => damaged += 1,
        }
        assert!(
            frames + damaged <= len + 1,
            "reader yields more items than bytes"
        );
    }
    (frames, damaged)
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn mutated_real_captures_never_panic() {
    let Some(shared) = common::require_shared("mutated_real_captures_never_panic") else {
        return;
    };
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(shared.join("attacks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for name in [
        "erspan-type-ii-1.pcap",
        "various_gre.pcap",
        "dns_udp.pcap",
        "edns-opts.pcap",
        "vxlan.pcap",
        "pppoes.pcap",
        "mpls-traceroute.pcap",
        "ipv6-routing-header.pcap",
        "ntp-mode7.pcap",
        "802.1ad_QinQ.pcap",
    ] {
        files.push(shared.join("tcpdump-tests").join(name));
    }
    files.sort();
    let mut rng = Rng(0x1e7e_e5ee_d000_0001);
    let mut runs = 0;
    for f in &files {
        let original = std::fs::read(f).unwrap();
        // Keep the per-file work bounded: mutate a prefix of large captures.
        let base: Vec<u8> = original[..original.len().min(64 << 10)].to_vec();
        for _ in 0..150 {
            let mut m = base.clone();
            match rng.below(4) {
                0 => {
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(m.len());
                        m[at] = rng.next() as u8;
                    }
                }
                1 => {
                    // An extreme 32-bit length at a 4-byte aligned spot.
                    let at = rng.below(m.len() / 4) * 4;
                    let v: u32 = [0, 1, 12, 0xffff, 0x7fff_ffff, 0xffff_fffc][rng.below(6)];
                    if at + 4 <= m.len() {
                        m[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                }
                2 => m.truncate(rng.below(m.len())),
                _ => {
                    for _ in 0..1 + rng.below(64) {
                        let at = rng.below(m.len());
                        m[at] ^= 1 << rng.below(8);
                    }
                }
            }
            exercise(m);
            runs += 1;
        }
    }
    eprintln!("{runs} mutated captures read");
    assert!(runs >= 2000);
}
