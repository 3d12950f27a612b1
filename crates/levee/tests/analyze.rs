//! `levee analyze` end to end: the real attack captures, every synthesised vector checked
//! against its labels, heavy benign traffic and real benign captures that must not raise an
//! alarm, and the JSON document's shape.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use levee_capture::{CaptureReader, Item};
use serde_json::Value;

fn analyze_json(args: &[&str], files: &[&Path]) -> Value {
    let mut cmd = levee();
    cmd.arg("analyze").arg("--json").args(args).args(files);
    let o = run(&mut cmd);
    assert!(
        matches!(o.status.code(), Some(0) | Some(4)),
        "analyze {files:?} failed: {}",
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", stdout(&o)))
}

fn vectors(a: &Value) -> BTreeSet<String> {
    a["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["vector"].as_str().unwrap().to_string())
        .collect()
}

fn attack<'a>(a: &'a Value, vector: &str) -> &'a Value {
    a["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["vector"] == vector)
        .unwrap_or_else(|| panic!("no {vector} in {}", a["attacks"]))
}

fn real(name: &str) -> Option<PathBuf> {
    require_shared(name).map(|d| d.join("attacks").join(name))
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn real_spoofed_syn_flood_on_25565() {
    let Some(f) = real("pkt.TCP.synflood.spoofed.pcap") else {
        return;
    };
    let a = analyze_json(&[], &[&f]);
    assert_eq!(vectors(&a), BTreeSet::from(["syn-flood".to_string()]));
    let s = attack(&a, "syn-flood");
    assert_eq!(s["targets"][0]["ip"], "10.10.10.10");
    assert_eq!(s["targets"][0]["ports"][0]["port"], 25565);
    assert_eq!(s["sources"]["spoofed_likely"], true);
    let ev = s["sources"]["evidence"].to_string();
    assert!(ev.contains("distinct sources"), "{ev}");
    assert!(s["sources"]["distinct_estimate"].as_u64().unwrap() > 30_000);
    assert!(s["signature"]["coverage"].as_f64().unwrap() >= 0.95);
    let expr = s["signature"]["expression"].as_str().unwrap();
    assert!(expr.contains("tcp.dstport == 25565"), "{expr}");
    assert!(s["peak_pps"].as_f64().unwrap() > 10_000.0);
    assert_eq!(a["capture"]["packets"], 37_841);
    // The capture holds nothing but SYNs: it cannot show a handshake, and says so instead of
    // counting every SYN as "never completed".
    let evidence = s["evidence"].to_string();
    assert!(
        evidence.contains("whether their handshakes completed cannot be seen"),
        "{evidence}"
    );
    assert!(!evidence.contains("never followed"), "{evidence}");
    let notes = a["notes"].to_string();
    assert!(
        notes.contains("holds TCP SYNs and no other TCP packet"),
        "{notes}"
    );
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn real_reflections_are_named_by_their_service() {
    for (file, want) in [
        ("amp.UDP.isakmp.pcap", vec!["isakmp-reflection"]),
        ("amp.TCP.reflection.SYNACK.pcap", vec!["synack-reflection"]),
        (
            "amp.UDP.bacnet.IOT.37810.pcapng",
            vec!["bacnet-reflection", "dvr-reflection"],
        ),
    ] {
        let Some(f) = real(file) else { return };
        let a = analyze_json(&[], &[&f]);
        let found = vectors(&a);
        for v in &want {
            assert!(found.contains(*v), "{file}: {found:?}");
            let at = attack(&a, v);
            let cov = at["signature"]["coverage"].as_f64().unwrap();
            assert!(cov >= 0.95, "{file} {v}: coverage {cov}");
            assert_eq!(
                at["sources"]["spoofed_likely"], false,
                "reflectors are real hosts"
            );
            assert!(at["sources"]["distinct_estimate"].as_u64().unwrap() >= 1000);
        }
    }
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn real_masscan_is_a_port_scan_from_one_source() {
    let Some(d) = require_shared("masscan") else {
        return;
    };
    let a = analyze_json(&[], &[&d.join("scans/masscan-tcp-0-1000.pcap")]);
    assert_eq!(vectors(&a), BTreeSet::from(["port-scan".to_string()]));
    let s = attack(&a, "port-scan");
    assert_eq!(s["sources"]["top"][0]["ip"], "172.31.15.102");
    assert_eq!(s["sources"]["distinct_estimate"], 1);
    assert_eq!(s["targets"][0]["ip"], "198.124.152.15");
    assert!(s["targets"][0]["distinct_ports"].as_u64().unwrap() >= 1000);
}

/// Share of the packets labelled `label` that `expr` matches, and share of the benign ones.
fn score(capture: &Path, expr: &str, label: &str) -> (f64, f64, u64) {
    let runs = synth_labels(&PathBuf::from(format!("{}.labels.csv", capture.display())));
    let e =
        levee_rules::parse_plain(expr).unwrap_or_else(|err| panic!("{}", err.render("sig", expr)));
    let mut r = CaptureReader::open(capture).unwrap();
    let (mut att, mut att_hit, mut ben, mut ben_hit) = (0u64, 0u64, 0u64, 0u64);
    let mut run = 0;
    while let Some(item) = r.next_item() {
        let Item::Frame(f) = item else {
            panic!("synth wrote a damaged record")
        };
        while runs[run].1 < f.index {
            run += 1;
        }
        let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
        let hit = e.matches(&p);
        if runs[run].2 == label {
            att += 1;
            att_hit += u64::from(hit);
        } else if runs[run].2 == "benign" {
            ben += 1;
            ben_hit += u64::from(hit);
        }
    }
    (
        att_hit as f64 / att as f64,
        ben_hit as f64 / ben as f64,
        ben_hit,
    )
}

fn synth(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(format!("{name}.pcap"));
    let o = run(levee()
        .args(["synth", "--force", "--out"])
        .arg(&out)
        .args(args));
    assert!(o.status.success(), "synth {args:?}: {}", stderr(&o));
    out
}

#[test]
fn every_synthesised_vector_is_found_and_its_signature_holds_on_the_labels() {
    let dir = scratch("analyze-vectors");
    let names = stdout(&run(levee().args(["synth", "--list"])));
    let list: Vec<&str> = names
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("scenarios:")
        .split_whitespace()
        .filter(|n| !matches!(*n, "benign" | "multi"))
        .collect();
    assert!(list.len() >= 34, "{list:?}");
    let mut failures = Vec::new();
    for v in list {
        let cap = synth(
            &dir,
            v,
            &[
                "--scenario",
                v,
                "--packets",
                "30000",
                "--attack-share",
                "0.5",
            ],
        );
        let a = analyze_json(&[], &[&cap]);
        let found = vectors(&a);
        // The vector analyze reports it as, which its labels name (a flood told apart by its
        // payload is a `udp-flood`).
        let runs = synth_labels(&PathBuf::from(format!("{}.labels.csv", cap.display())));
        let label = runs
            .iter()
            .map(|r| r.2.as_str())
            .find(|l| l.starts_with("attack:"))
            .unwrap_or_else(|| panic!("{v}: no attack label"))
            .to_string();
        let reported = label.trim_start_matches("attack:");
        if found != BTreeSet::from([reported.to_string()]) {
            failures.push(format!("{v}: found {found:?}"));
            continue;
        }
        let expr = attack(&a, reported)["signature"]["expression"]
            .as_str()
            .unwrap()
            .to_string();
        let (coverage, collateral, benign_hits) = score(&cap, &expr, &label);
        if coverage < 0.95 || collateral > 0.001 {
            failures.push(format!(
                "{v}: `{expr}` covers {coverage:.4} of the labelled attack and {collateral:.5} \
                 ({benign_hits} packets) of benign traffic"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A flood whose headers alone also match real traffic (the same datagram, 1,200 bytes as a
/// QUIC Initial, to random ports from forged sources) gets a payload signature: the bytes
/// its datagrams share, told in its evidence, covering all of it and none of the benign
/// traffic or of the benign reference, where every header signature also stops QUIC.
#[test]
fn a_flood_told_apart_by_its_payload_gets_a_payload_signature() {
    let dir = scratch("analyze-payload-flood");
    let cap = synth(
        &dir,
        "udp-payload-flood",
        &["--scenario", "udp-payload-flood", "--packets", "40000"],
    );
    let a = analyze_json(&[], &[&cap]);
    assert_eq!(vectors(&a), BTreeSet::from(["udp-flood".to_string()]));
    let flood = attack(&a, "udp-flood");
    let sig = &flood["signature"];
    let expr = sig["expression"].as_str().unwrap();
    assert!(
        expr.contains("udp.payload[0:4] == 0x7a0f01f3"),
        "a payload signature: {expr}"
    );
    assert_eq!(sig["matched_reference_packets"], 0, "{sig}");
    let (coverage, collateral, _) = score(&cap, expr, "attack:udp-flood");
    assert!(
        coverage >= 0.99 && collateral == 0.0,
        "{coverage} {collateral}"
    );
    // Every header-only candidate also matched traffic networks need.
    for alt in sig["alternatives"].as_array().unwrap() {
        let e = alt["expression"].as_str().unwrap();
        if !e.contains("payload") {
            assert!(alt["reference_collateral"].as_f64().unwrap() > 0.0, "{alt}");
        }
    }
    let evidence = flood["evidence"].to_string();
    assert!(
        evidence.contains("same 16 bytes at payload offset 0: 0x7a0f01f3755494ce"),
        "{evidence}"
    );
}

#[test]
fn a_multi_vector_attack_comes_out_as_separate_attacks() {
    let dir = scratch("analyze-multi");
    let cap = synth(
        &dir,
        "multi",
        &["--scenario", "multi", "--packets", "60000"],
    );
    let a = analyze_json(&[], &[&cap]);
    assert_eq!(
        vectors(&a),
        BTreeSet::from(["dns-reflection", "ntp-reflection", "syn-flood"].map(String::from))
    );
    for v in ["dns-reflection", "ntp-reflection", "syn-flood"] {
        let expr = attack(&a, v)["signature"]["expression"].as_str().unwrap();
        let (coverage, collateral, _) = score(&cap, expr, &format!("attack:{v}"));
        assert!(
            coverage >= 0.95 && collateral <= 0.001,
            "{v}: {expr} {coverage} {collateral}"
        );
    }
    // Large DNS responses arrive fragmented: the later fragments belong to the attack.
    let dns = attack(&a, "dns-reflection")["signature"]["expression"]
        .as_str()
        .unwrap();
    assert!(dns.contains("ip.frag_offset > 0"), "{dns}");
}

#[test]
fn heavy_benign_traffic_is_not_an_attack() {
    let dir = scratch("analyze-benign");
    for bg in ["web", "download", "speedtest", "backup", "resolver"] {
        let cap = synth(
            &dir,
            bg,
            &[
                "--scenario",
                "benign",
                "--background",
                bg,
                "--packets",
                "200000",
                "--benign-pps",
                "40000",
            ],
        );
        let a = analyze_json(&[], &[&cap]);
        assert_eq!(
            a["attacks"].as_array().unwrap().len(),
            0,
            "{bg}: {}",
            a["attacks"]
        );
        // And it was heavy enough to be looked at.
        assert!(
            !a["not_attacks"].as_array().unwrap().is_empty(),
            "{bg}: nothing reached the volume of an attack"
        );
    }
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn real_benign_captures_raise_no_alarm_even_with_low_thresholds() {
    let Some(d) = require_shared("tcpdump-tests benign") else {
        return;
    };
    let files = tcpdump_corpus(&d, &["pcap", "pcapng"]);
    assert!(files.len() > 700);
    let mut alarms = Vec::new();
    for f in &files {
        let o = run(levee()
            .args([
                "analyze",
                "--json",
                "--min-pps",
                "50",
                "--min-packets",
                "20",
            ])
            .args(["--min-sources", "20", "--min-reflectors", "10"])
            .arg(f));
        if !matches!(o.status.code(), Some(0) | Some(3) | Some(4)) {
            alarms.push(format!(
                "{}: exit {:?} {}",
                f.display(),
                o.status,
                stderr(&o)
            ));
            continue;
        }
        if o.stdout.is_empty() {
            continue; // unreadable input: nothing analysed
        }
        let a: Value = serde_json::from_slice(&o.stdout).unwrap();
        if !a["attacks"].as_array().unwrap().is_empty() {
            alarms.push(format!("{}: {:?}", f.display(), vectors(&a)));
        }
        // Nor a hint of a reflection attack under the thresholds.
        let notes = a["notes"].to_string();
        if notes.contains("--sampling-rate N") {
            alarms.push(format!("{}: {notes}", f.display()));
        }
    }
    assert!(alarms.is_empty(), "{}", alarms.join("\n"));
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn a_real_attack_mixed_with_benign_traffic_keeps_its_signature_and_shows_collateral() {
    let Some(f) = real("amp.UDP.isakmp.pcap") else {
        return;
    };
    let dir = scratch("analyze-mixed");
    // Benign web traffic to the same victim over the same second.
    let benign = synth(
        &dir,
        "benign",
        &[
            "--scenario",
            "benign",
            "--packets",
            "8000",
            "--benign-pps",
            "20000",
            "--start",
            "1623699901.0",
        ],
    );
    let a = analyze_json(&[], &[&f, &benign]);
    assert_eq!(
        vectors(&a),
        BTreeSet::from(["isakmp-reflection".to_string()])
    );
    let s = &attack(&a, "isakmp-reflection")["signature"];
    assert_eq!(s["attack_packets"], 3984);
    assert_eq!(s["other_packets"], 8000);
    assert!(s["coverage"].as_f64().unwrap() >= 0.95);
    assert!(s["collateral"].as_f64().unwrap() <= 0.001);
    assert_eq!(a["capture"]["files"].as_array().unwrap().len(), 2);
}

#[test]
fn json_document_has_the_documented_fields() {
    let dir = scratch("analyze-schema");
    let cap = synth(&dir, "syn", &["--packets", "20000"]);
    let a = analyze_json(&[], &[&cap]);
    for k in ["packets", "bytes", "start", "end"] {
        assert!(!a["capture"][k].is_null(), "capture.{k}");
    }
    let at = &a["attacks"][0];
    for k in [
        "vector",
        "start",
        "end",
        "packets",
        "bytes",
        "peak_pps",
        "peak_bps",
        "targets",
        "sources",
        "signature",
        "evidence",
    ] {
        assert!(!at[k].is_null(), "attacks[0].{k}");
    }
    assert!(at["targets"][0]["ip"].is_string());
    assert!(at["targets"][0]["ports"].is_array());
    for k in ["distinct_estimate", "top", "spoofed_likely", "evidence"] {
        assert!(!at["sources"][k].is_null(), "sources.{k}");
    }
    for k in ["expression", "coverage", "collateral"] {
        assert!(!at["signature"][k].is_null(), "signature.{k}");
    }
    // Every documented top-level and attack field appears in docs/analyze-json.md.
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/analyze-json.md"),
    )
    .unwrap();
    for k in at
        .as_object()
        .unwrap()
        .keys()
        .chain(a.as_object().unwrap().keys())
    {
        assert!(
            doc.contains(&format!("`{k}`")) || doc.contains(&format!("`{k}[]`")),
            "docs/analyze-json.md lacks `{k}`"
        );
    }
}

#[test]
fn standard_input_is_analysed_like_a_file() {
    let dir = scratch("analyze-stdin");
    let cap = synth(&dir, "syn", &["--packets", "20000"]);
    let from_file = analyze_json(&[], &[&cap]);
    let o = run(levee()
        .args(["analyze", "--json", "-"])
        .stdin(std::fs::File::open(&cap).unwrap()));
    assert!(o.status.success(), "{}", stderr(&o));
    let from_stdin: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(from_stdin["attacks"], from_file["attacks"]);
    assert_eq!(from_stdin["capture"]["files"][0]["name"], "-");
}

#[test]
fn text_output_names_the_attack_and_its_rule() {
    let dir = scratch("analyze-text");
    let cap = synth(&dir, "syn", &["--packets", "20000"]);
    let o = run(levee().arg("analyze").arg(&cap));
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.contains("Attack 1: syn-flood"), "{text}");
    assert!(
        text.contains("signature  ip.dst == 10.10.10.10 and tcp.flags == 0x02"),
        "{text}"
    );
    assert!(text.contains("spoofed: likely"), "{text}");
}

#[test]
fn analyze_json_matches_the_golden_file() {
    let dir = scratch("analyze-golden");
    synth(&dir, "small", &["--scenario", "multi", "--packets", "6000"]);
    let o = run(levee()
        .current_dir(&dir)
        .args(["analyze", "--json", "--top", "3", "small.pcap"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let got = stdout(&o);
    assert_golden("analyze-small.json", &got);
}

/// A synthesised DNS + NTP + SYN mix of 60 000 packets, then (when `../shared` is there) the
/// real BACnet/DVR reflection and spoofed SYN flood captures and the `more` real ones.
fn multi_and_real_attacks(scratch_name: &str, more: &[&str]) -> Vec<PathBuf> {
    let dir = scratch(scratch_name);
    let cap = synth(
        &dir,
        "multi",
        &["--scenario", "multi", "--packets", "60000"],
    );
    let mut inputs: Vec<PathBuf> = vec![cap];
    if let Some(d) = shared_data() {
        for name in [
            "amp.UDP.bacnet.IOT.37810.pcapng",
            "pkt.TCP.synflood.spoofed.pcap",
        ]
        .iter()
        .chain(more)
        {
            inputs.push(d.join("attacks").join(name));
        }
    }
    inputs
}

/// Several threads find what one finds, with the same counts: dealing packets out by flow
/// (`--exact`), and reading a plain pcap file in parts, one per thread (a sampling analysis;
/// here with room for every packet, so nothing is estimated).
#[test]
fn two_threads_find_the_same_attacks_with_the_same_counts() {
    let inputs = multi_and_real_attacks("analyze-threads", &["amp.TCP.reflection.SYNACK.pcap"]);
    let modes: [&[&str]; 3] = [
        &["--exact", "--threads", "2"],
        &["--sample-mib", "64", "--threads", "2"],
        &["--sample-mib", "64", "--threads", "4"],
    ];
    for (f, mode) in inputs
        .iter()
        .flat_map(|f| modes.iter().map(move |m| (f, m)))
    {
        let one = analyze_json(&["--exact"], &[f]);
        let two = analyze_json(mode, &[f]);
        assert_eq!(one["sampling"]["one_in"], 1);
        assert_eq!(two["sampling"]["one_in"], 1);
        let what = format!("{} {mode:?}", f.display());
        assert_eq!(vectors(&one), vectors(&two), "{what}");
        assert_eq!(one["capture"], two["capture"]);
        for (a, b) in one["attacks"]
            .as_array()
            .unwrap()
            .iter()
            .zip(two["attacks"].as_array().unwrap())
        {
            // Each thread's flow filters hold fewer flows, so a handful of false positives
            // may differ; everything else is counted exactly.
            let (pa, pb) = (
                a["packets"].as_i64().unwrap(),
                b["packets"].as_i64().unwrap(),
            );
            assert!((pa - pb).abs() <= 3, "{what}: {pa} vs {pb}");
            assert_eq!(
                a["signature"]["expression"], b["signature"]["expression"],
                "{what}"
            );
            let (ca, cb) = (
                a["signature"]["coverage"].as_f64().unwrap(),
                b["signature"]["coverage"].as_f64().unwrap(),
            );
            assert!((ca - cb).abs() < 0.001, "{what}: {ca} vs {cb}");
            assert_eq!(a["start"], b["start"], "{what}");
        }
    }
}

/// A large capture is profiled and measured on a sample: the same attacks come out, with
/// counts within the sampling error of the exact ones, and signatures that still cover them.
/// Run on real captures with a sample budget small enough to force sampling, on one thread and
/// on two.
#[test]
fn sampled_analysis_agrees_with_the_exact_one() {
    let inputs = multi_and_real_attacks("analyze-sampled", &["amp.UDP.isakmp.pcap"]);
    for f in &inputs {
        let exact = analyze_json(&["--exact"], &[f]);
        for threads in ["1", "2"] {
            let sampled = analyze_json(&["--sample-mib", "1", "--threads", threads], &[f]);
            let what = format!("{} on {threads} thread(s)", f.display());
            let k = sampled["sampling"]["one_in"].as_u64().unwrap();
            assert!(k > 1, "{what}: not sampled");
            assert!(sampled["sampling"]["measured_packets"].as_u64().unwrap() > 0);
            assert!(
                sampled["notes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|n| n.as_str().unwrap().contains(&format!("one in {k}"))),
                "{what}: no note on sampling"
            );
            // Capture totals are counted on every packet.
            assert_eq!(exact["capture"], sampled["capture"], "{what}");
            assert_eq!(vectors(&exact), vectors(&sampled), "{what}");
            for v in vectors(&exact) {
                let (e, s) = (attack(&exact, &v), attack(&sampled, &v));
                let (pe, ps) = (
                    e["packets"].as_u64().unwrap() as f64,
                    s["packets"].as_u64().unwrap() as f64,
                );
                // Four standard deviations of a count sampled at one in k.
                let tolerance = 4.0 * (k as f64 * pe).sqrt() + k as f64;
                assert!(
                    (pe - ps).abs() <= tolerance,
                    "{what}: {v}: {ps} packets, exactly {pe} (k = {k})"
                );
                // Signatures are built from the sample's histograms: judged where the sample
                // holds enough of the attack for them to mean something (a class of a few
                // dozen sampled packets can show a stray port as a tenth of its traffic).
                if pe / (k as f64) < 500.0 {
                    continue;
                }
                // A candidate just above 95 % may measure just below it in a sample.
                let (cov_e, cov_s) = (
                    e["signature"]["coverage"].as_f64().unwrap(),
                    s["signature"]["coverage"].as_f64().unwrap(),
                );
                assert!(
                    cov_s >= cov_e.min(0.95) - 0.05,
                    "{what}: {v}: coverage {cov_s}, exactly {cov_e}"
                );
                let (ce, cs) = (
                    e["signature"]["collateral"].as_f64().unwrap(),
                    s["signature"]["collateral"].as_f64().unwrap(),
                );
                assert!(
                    cs <= ce + 0.01,
                    "{what}: {v}: collateral {cs}, exactly {ce}"
                );
            }
        }
    }
}

/// Damage in any part of a file read in parts is reported as a reading of the whole file
/// reports it (same record numbers and offsets), and the analysis goes on around it.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn damage_is_reported_alike_when_a_file_is_read_in_parts() {
    let Some(f) = real("pkt.TCP.synflood.spoofed.pcap") else {
        return;
    };
    let mut bytes = std::fs::read(&f).unwrap();
    // Record offsets, by walking the little-endian record headers.
    let mut offsets = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        offsets.push(at);
        at += 16 + u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    // An impossible captured length in the first quarter and in the last.
    for k in [offsets.len() / 4, offsets.len() * 7 / 8] {
        let at = offsets[k] + 8;
        bytes[at..at + 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    }
    let dir = scratch("analyze-damaged-parts");
    let damaged = dir.join("damaged.pcap");
    std::fs::write(&damaged, &bytes).unwrap();
    let messages = |threads: &str| {
        let mut cmd = levee();
        cmd.args(["analyze", "--json", "--threads", threads])
            .arg(&damaged);
        let o = run(&mut cmd);
        assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
        let a: Value = serde_json::from_slice(&o.stdout).unwrap();
        (stderr(&o), a["capture"]["packets"].clone(), vectors(&a))
    };
    let one = messages("1");
    assert_eq!(one.0.lines().count(), 2, "{}", one.0);
    for threads in ["2", "3"] {
        assert_eq!(messages(threads), one, "{threads} threads");
    }
}

/// A pcapng file is read in parts on several threads like a pcap file, with the same result as
/// one thread; one that describes an interface after its first packets (which later parts
/// would not know) is read again the usual way, with the same result again.
#[test]
fn pcapng_on_two_threads_agrees_with_one_thread() {
    let dir = scratch("analyze-pcapng-threads");
    let cap = synth(
        &dir,
        "multi",
        &["--scenario", "multi", "--packets", "20000"],
    );
    let mut frames = Vec::new();
    let mut r = CaptureReader::open(&cap).unwrap();
    while let Some(item) = r.next_item() {
        if let Item::Frame(f) = item {
            frames.push((f.ts_nanos, f.data.to_vec()));
        }
    }
    let from_pcap = analyze_json(&["--sample-mib", "64"], &[&cap]);
    for late_interface in [false, true] {
        let ng = dir.join(format!("multi-late-{late_interface}.pcapng"));
        let mut w = levee_capture::PcapngWriter::new(Vec::new()).unwrap();
        w.add_interface(1, 65_535).unwrap();
        // Described a quarter of the way in, then used for one packet in fifty: the middle
        // of the file still looks like a place to start a part.
        let quarter = frames.len() / 4;
        for (i, (ts, data)) in frames.iter().enumerate() {
            if late_interface && i == quarter {
                w.add_interface(1, 65_535).unwrap();
            }
            let iface = u32::from(late_interface && i >= quarter && i % 50 == 0);
            w.write(iface, *ts, data).unwrap();
        }
        std::fs::write(&ng, w.finish().unwrap()).unwrap();
        let one = analyze_json(&["--sample-mib", "64"], &[&ng]);
        let what = format!("late interface: {late_interface}");
        assert_eq!(
            one["capture"]["packets"], from_pcap["capture"]["packets"],
            "{what}"
        );
        assert_eq!(vectors(&one), vectors(&from_pcap), "{what}");
        let two = analyze_json(&["--sample-mib", "64", "--threads", "2"], &[&ng]);
        assert_eq!(one["capture"], two["capture"], "{what}");
        assert_eq!(two["capture"]["damaged_records"], 0, "{what}");
        assert_eq!(vectors(&one), vectors(&two), "{what}");
        for v in vectors(&one) {
            let (a, b) = (attack(&one, &v), attack(&two, &v));
            let (pa, pb) = (
                a["packets"].as_i64().unwrap(),
                b["packets"].as_i64().unwrap(),
            );
            assert!((pa - pb).abs() <= 3, "{what}: {v}: {pa} vs {pb}");
            assert_eq!(
                a["signature"]["expression"], b["signature"]["expression"],
                "{what}: {v}"
            );
        }
    }
}

/// The frames of each part (a capture, a shift in seconds, at most that many frames) written
/// one part after the other to `out`, a pcap (Ethernet).
fn shifted_pcap(out: &Path, parts: &[(&Path, i64, Option<usize>)]) {
    let mut w =
        levee_capture::PcapWriter::new(std::fs::File::create(out).unwrap(), 1, 65535).unwrap();
    for &(cap, shift, limit) in parts {
        let mut reader = CaptureReader::open(cap).unwrap();
        let mut n = 0;
        reader.for_each_item(|item| {
            if let Item::Frame(f) = item {
                if limit.is_some_and(|l| n >= l) {
                    return std::ops::ControlFlow::Break(());
                }
                assert_eq!(f.linktype, 1, "{}: Ethernet expected", cap.display());
                w.write(f.ts_nanos + shift * 1_000_000_000, f.data).unwrap();
                n += 1;
            }
            std::ops::ControlFlow::Continue(())
        });
    }
    w.finish().unwrap();
}

/// Attacks of at least `min` packets, by vector, with their packet counts.
fn big_attacks(a: &Value, min: u64) -> Vec<(String, u64)> {
    a["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["packets"].as_u64().unwrap() >= min)
        .map(|x| {
            (
                x["vector"].as_str().unwrap().to_string(),
                x["packets"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Gaps of hours are gaps: a real attack followed by one of its packets a day later, or
/// preceded by a benign capture a year older, is found as it is alone, with the same vector,
/// packets, times and peak, although the capture spans a day or a year (its chart then has
/// buckets wider than a second, but an attack's window and peak are still read to the
/// second). Attacks of fewer than 1,000 packets are left out of the comparison: a bucket no
/// longer shorter than the capture does not stretch them to a per-second rate any more.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn a_day_or_a_year_of_silence_hides_no_attack() {
    let Some(data) = require_shared("long spans") else {
        return;
    };
    let dir = scratch("analyze-long-spans");
    let benign = data.join("tcpdump-tests/ipv4_tcp_http_xml.pcap");
    for name in [
        "amp.UDP.isakmp.pcap",
        "pkt.TCP.synflood.spoofed.pcap",
        "amp.TCP.reflection.SYNACK.pcap",
        "amp.UDP.bacnet.IOT.37810.pcapng",
    ] {
        let cap = data.join("attacks").join(name);
        let alone = analyze_json(&[], &[&cap]);
        let expected = big_attacks(&alone, 1000);
        assert!(!expected.is_empty(), "{name}: {}", alone["attacks"]);
        let day = dir.join(format!("{name}.day.pcap"));
        shifted_pcap(&day, &[(&cap, 0, None), (&cap, 86_400, Some(1))]);
        let year = dir.join(format!("{name}.year.pcap"));
        shifted_pcap(&year, &[(&benign, -365 * 86_400, None), (&cap, 0, None)]);
        for ((what, long), args) in [
            ("a packet a day later", &day),
            ("a year-old capture first", &year),
        ]
        .into_iter()
        // Two threads, with packets dealt out by flow, count each second together.
        .flat_map(|x| [(x, &[][..]), (x, &["--exact", "--threads", "2"][..])])
        {
            let got = analyze_json(args, &[long]);
            assert!(
                got["capture"]["duration_s"].as_f64().unwrap() >= 86_400.0,
                "{name} with {what}: {}",
                got["capture"]
            );
            assert_eq!(big_attacks(&got, 1000), expected, "{name} with {what}");
            for (a, b) in alone["attacks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| x["packets"].as_u64().unwrap() >= 1000)
                .zip(got["attacks"].as_array().unwrap())
            {
                assert_eq!(a["start"], b["start"], "{name} with {what}");
                assert_eq!(a["end"], b["end"], "{name} with {what}");
                // The peak is the busiest second either way (alone, a bucket at the capture's
                // edge may be read over less than a second): within 15 %, never below the mean.
                let (pa, pb) = (
                    a["peak_pps"].as_f64().unwrap(),
                    b["peak_pps"].as_f64().unwrap(),
                );
                assert!(
                    (pa - pb).abs() <= 0.15 * pa,
                    "{name} with {what} {args:?}: {pa} vs {pb}"
                );
                assert!(pb >= b["mean_pps"].as_f64().unwrap(), "{name} with {what}");
            }
        }
    }
}

/// The same attack twice, an hour apart (1 s buckets) or three days apart (buckets wider than
/// a second), is two attacks, each with the packets, start and end of its copy; the copies
/// a minute apart, with no silence of 5 minutes between them, are one.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn the_same_attack_again_after_a_silence_is_another_attack() {
    let Some(data) = require_shared("repeated attacks") else {
        return;
    };
    let dir = scratch("analyze-repeated");
    for name in ["amp.UDP.isakmp.pcap", "pkt.TCP.synflood.spoofed.pcap"] {
        let cap = data.join("attacks").join(name);
        let alone = analyze_json(&["--exact"], &[&cap]);
        let once = big_attacks(&alone, 1000);
        assert_eq!(once.len(), 1, "{name}: {once:?}");
        for (apart, copies) in [(3_600, 2), (3 * 86_400, 2), (60, 1)] {
            let twice = dir.join(format!("{name}.{apart}.pcap"));
            shifted_pcap(&twice, &[(&cap, 0, None), (&cap, apart, None)]);
            let rules = dir.join(format!("{name}.{apart}.rules"));
            let got = analyze_json(
                &["--exact", "--rules-out", rules.to_str().unwrap(), "--force"],
                &[&twice],
            );
            let found = big_attacks(&got, 1000);
            // One rule, which blocks: the other copy is no collateral of the first.
            let text = std::fs::read_to_string(&rules).unwrap();
            assert_eq!(text.matches("[[rule]]").count(), 1, "{text}");
            assert!(text.contains("action = \"block\""), "{text}");
            if copies == 2 {
                assert!(text.contains("The same signature stops"), "{text}");
                assert_eq!(
                    found,
                    [once.clone(), once.clone()].concat(),
                    "{name} {apart} s apart"
                );
                let attacks = got["attacks"].as_array().unwrap();
                let starts: Vec<f64> = attacks
                    .iter()
                    .map(|a| a["start_epoch"].as_f64().unwrap())
                    .collect();
                assert!(
                    (starts[1] - starts[0] - apart as f64).abs() < 1.0,
                    "{name} {apart} s apart: starts {starts:?}"
                );
                for a in attacks {
                    assert!(
                        a["duration_s"].as_f64().unwrap()
                            <= alone["attacks"][0]["duration_s"].as_f64().unwrap() + 1.0,
                        "{name} {apart} s apart: {a}"
                    );
                }
            } else {
                assert_eq!(found.len(), 1, "{name} {apart} s apart: {found:?}");
                assert_eq!(found[0].1, 2 * once[0].1, "{name} {apart} s apart");
            }
        }
    }
}

/// A UDP port scan is profiled from its own packets, as a TCP one is: its source, target,
/// TTL and sizes, and evidence that speaks of UDP, not of handshakes.
#[test]
fn a_udp_port_scan_has_a_complete_profile() {
    let dir = scratch("analyze-udp-scan");
    let cap = dir.join("udp-scan.pcap");
    let mut w =
        levee_capture::PcapWriter::new(std::fs::File::create(&cap).unwrap(), 1, 65535).unwrap();
    for i in 0..2000u16 {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        // IPv4 (TTL 64, UDP) from 198.51.100.7 to 10.10.10.10, then UDP 40000 -> port i+1.
        f.extend_from_slice(&[0x45, 0, 0, 28]);
        f.extend_from_slice(&i.to_be_bytes());
        f.extend_from_slice(&[0, 0, 64, 17, 0, 0, 198, 51, 100, 7, 10, 10, 10, 10]);
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&(i + 1).to_be_bytes());
        f.extend_from_slice(&[0, 8, 0, 0]);
        w.write(1_700_000_000_000_000_000 + i64::from(i) * 2_000_000, &f)
            .unwrap();
    }
    w.finish().unwrap();
    let a = analyze_json(&[], &[&cap]);
    let scan = attack(&a, "port-scan");
    assert_eq!(scan["targets"][0]["ip"], "10.10.10.10", "{scan}");
    assert_eq!(scan["sources"]["top"][0]["ip"], "198.51.100.7", "{scan}");
    assert_eq!(scan["sources"]["distinct_estimate"], 1, "{scan}");
    assert_eq!(scan["sources"]["ttl"]["min"], 64, "{scan}");
    assert_eq!(scan["sources"]["ttl"]["max"], 64, "{scan}");
    assert_eq!(scan["packet_sizes"]["median"], 28, "{scan}");
    let evidence = scan["evidence"].to_string();
    assert!(evidence.contains("on 1 address over UDP"), "{evidence}");
    assert!(!evidence.contains("handshake"), "{evidence}");
}

/// Every `n`th frame of `cap` (from the first) written to `out`, as a router or a tap that
/// samples one packet in `n` would have saved it.
fn sampled_pcap(cap: &Path, out: &Path, n: usize) {
    sampled_slower_pcap(cap, out, n, 1);
}

/// [`sampled_pcap`] of the same attack `slower` times slower: the time since the first frame
/// is stretched `slower` times.
fn sampled_slower_pcap(cap: &Path, out: &Path, n: usize, slower: i64) {
    let mut w =
        levee_capture::PcapWriter::new(std::fs::File::create(out).unwrap(), 1, 65535).unwrap();
    let mut reader = CaptureReader::open(cap).unwrap();
    let mut i = 0;
    let mut first = None;
    reader.for_each_item(|item| {
        if let Item::Frame(f) = item {
            let t0 = *first.get_or_insert(f.ts_nanos);
            if i % n == 0 {
                w.write(t0 + (f.ts_nanos - t0) * slower, f.data).unwrap();
            }
            i += 1;
        }
        std::ops::ControlFlow::Continue(())
    });
    w.finish().unwrap();
}

/// A capture sampled before it was saved, analysed with `--sampling-rate N`: the attack the
/// full capture holds is found with the same vector, and its packets and peak are scaled back
/// to the wire (within the sampling error); the settings and a note say so.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn a_sampled_capture_is_scaled_back_to_the_wire() {
    let Some(data) = require_shared("sampled captures") else {
        return;
    };
    let dir = scratch("analyze-sampled-before");
    for (name, vector, n) in [
        ("amp.TCP.reflection.SYNACK.pcap", "synack-reflection", 100),
        ("amp.UDP.isakmp.pcap", "isakmp-reflection", 20),
        ("pkt.TCP.synflood.spoofed.pcap", "syn-flood", 10),
    ] {
        let cap = data.join("attacks").join(name);
        let full = analyze_json(&[], &[&cap]);
        let whole = attack(&full, vector);
        let sampled = dir.join(format!("{name}.1in{n}.pcap"));
        sampled_pcap(&cap, &sampled, n);
        // Without the rate, a reflection is below the volume of an attack: it is found on
        // its evidence, and says how to scale it.
        let bare = analyze_json(&[], &[&sampled]);
        if vector.ends_with("-reflection") {
            let slow = attack(&bare, vector);
            assert!(
                slow["low_rate"]
                    .as_str()
                    .is_some_and(|w| w.contains("--sampling-rate N")),
                "{name}: {slow}"
            );
        }
        let a = analyze_json(&["--sampling-rate", &n.to_string()], &[&sampled]);
        assert_eq!(a["settings"]["sampling_rate"], n, "{name}");
        assert!(
            a["notes"]
                .to_string()
                .contains(&format!("sampled one packet in {n}")),
            "{name}: {}",
            a["notes"]
        );
        let got = attack(&a, vector);
        for field in ["packets", "peak_pps"] {
            let (want, have) = (whole[field].as_f64().unwrap(), got[field].as_f64().unwrap());
            assert!(
                (want - have).abs() <= 0.15 * want,
                "{name} 1 in {n}: {field} {have} on the wire, {want} in the full capture"
            );
        }
    }
}

/// Sampled and slowed extracts of the real attack captures, from 3 to a few hundred packets a
/// second, are named with the vector of the full capture at default settings: found below the
/// volume thresholds on their evidence, said so, and their rules written to log, not block.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn sampled_slow_extracts_of_real_attacks_are_named_at_default_settings() {
    let Some(data) = require_shared("sampled slow extracts") else {
        return;
    };
    let dir = scratch("analyze-low-rate");
    for (name, vectors, n, slower) in [
        (
            "amp.TCP.reflection.SYNACK.pcap",
            &["synack-reflection"][..],
            100,
            100,
        ),
        (
            "amp.TCP.reflection.SYNACK.pcap",
            &["synack-reflection"],
            20,
            50,
        ),
        ("amp.UDP.isakmp.pcap", &["isakmp-reflection"], 10, 10),
        ("amp.UDP.isakmp.pcap", &["isakmp-reflection"], 20, 50),
        (
            "amp.UDP.bacnet.IOT.37810.pcapng",
            &["bacnet-reflection", "dvr-reflection"],
            100,
            100,
        ),
        ("pkt.TCP.synflood.spoofed.pcap", &["syn-flood"], 100, 1),
        ("pkt.TCP.synflood.spoofed.pcap", &["syn-flood"], 10, 10),
    ] {
        let cap = data.join("attacks").join(name);
        let out = dir.join(format!("{name}.1in{n}.x{slower}.pcap"));
        sampled_slower_pcap(&cap, &out, n, slower);
        let rules = dir.join(format!("{name}.1in{n}.x{slower}.rules"));
        let a = analyze_json(
            &["--rules-out", rules.to_str().unwrap(), "--force"],
            &[&out],
        );
        let found = self::vectors(&a);
        let want: BTreeSet<String> = vectors.iter().map(|v| v.to_string()).collect();
        assert_eq!(found, want, "{name} 1 in {n}, {slower}x slower");
        for v in vectors {
            let x = attack(&a, v);
            let peak = x["peak_pps"].as_f64().unwrap();
            assert!(peak < 1000.0, "{name}: {v} at {peak} pps is not slow");
            assert!(
                x["low_rate"]
                    .as_str()
                    .is_some_and(|w| w.contains("below the volume thresholds")),
                "{name}: {x}"
            );
        }
        // Its rule logs: the attack's rate on the wire is not known.
        let text = std::fs::read_to_string(&rules).unwrap();
        assert!(
            text.contains("action = \"log\"") && !text.contains("action = \"block\""),
            "{text}"
        );
        assert!(text.contains("below the volume thresholds"), "{text}");
    }
}

/// What any address receives unasked at a low rate (scanners, UDP probes, backscatter,
/// crawlers), whole and filtered the ways a capture gets filtered (only SYNs, only SYN-ACKs,
/// only resets, only UDP, one direction), is no attack at any rate from 3 to 200 packets a
/// second; nor are the real benign and non-flood captures of ../shared.
#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tcpdump)),
    ignore = "needs ../shared/data and tcpdump"
)]
fn low_rate_benign_captures_raise_no_alarm() {
    let Some(data) = require_shared("low-rate benign set") else {
        return;
    };
    require_tool("low-rate benign set", "tcpdump");
    let dir = scratch("analyze-low-rate-benign");
    let mut set: Vec<PathBuf> = Vec::new();
    for pps in ["3", "20", "200"] {
        let bg = synth(
            &dir,
            &format!("internet-{pps}"),
            &[
                "--scenario",
                "benign",
                "--background",
                "internet",
                "--benign-pps",
                pps,
                "--packets",
                "20000",
            ],
        );
        for (i, filter) in [
            "tcp[13] & 2 != 0",
            "tcp[13] == 18",
            "tcp[13] == 18 and dst host 10.10.10.10",
            "tcp[13] & 4 != 0",
            "udp",
            "dst host 10.10.10.10",
            "src host 10.10.10.10",
        ]
        .iter()
        .enumerate()
        {
            let out = dir.join(format!("internet-{pps}.filter{i}.pcap"));
            let o = run(Command::new("tcpdump")
                .args(["-r"])
                .arg(&bg)
                .arg("-w")
                .arg(&out)
                .arg(filter));
            assert!(o.status.success(), "tcpdump {filter}: {}", stderr(&o));
            set.push(out);
        }
        set.push(bg);
    }
    for sub in ["ir", "web-attacks", "scans"] {
        for e in std::fs::read_dir(data.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcap") {
                set.push(p);
            }
        }
    }
    let mut alarms = Vec::new();
    for f in &set {
        let a = analyze_json(&[], &[f]);
        let floods: Vec<String> = self::vectors(&a)
            .into_iter()
            .filter(|v| !v.ends_with("-scan"))
            .collect();
        if !floods.is_empty() {
            alarms.push(format!("{}: {floods:?}", f.display()));
        }
    }
    assert!(set.len() >= 25, "{set:?}");
    assert!(alarms.is_empty(), "{}", alarms.join("\n"));
}

/// `cap` with the target's own answers after each attack packet, as a capture of both
/// directions holds them: an ICMP port unreachable quoting each UDP packet, a reset for each
/// SYN-ACK (the target asked for none), a SYN-ACK for each SYN followed by the reset of the
/// host whose address the SYN forged (it asked for nothing either).
fn with_targets_answers(cap: &Path, out: &Path) {
    fn ipv4(src: &[u8], dst: &[u8], proto: u8, payload: &[u8]) -> Vec<u8> {
        let header = corpus::craft::V4 {
            src: src.try_into().unwrap(),
            dst: dst.try_into().unwrap(),
            ttl: 64,
            id: 0x1234,
            df: false,
            mf: false,
            offset: 0,
            options: false,
        };
        corpus::craft::ipv4(&header, proto, payload)
    }
    let mut w =
        levee_capture::PcapWriter::new(std::fs::File::create(out).unwrap(), 1, 65535).unwrap();
    let mut reader = CaptureReader::open(cap).unwrap();
    reader.for_each_item(|item| {
        let Item::Frame(f) = item else {
            return std::ops::ControlFlow::Continue(());
        };
        assert_eq!(f.linktype, 1, "{}: Ethernet expected", cap.display());
        w.write(f.ts_nanos, f.data).unwrap();
        let d = f.data;
        if d.len() < 14 + 20 || d[12..14] != [8, 0] || d[14] >> 4 != 4 {
            return std::ops::ControlFlow::Continue(());
        }
        let ip = &d[14..];
        let ihl = usize::from(ip[0] & 15) * 4;
        let (src, dst, proto) = (&ip[12..16], &ip[16..20], ip[9]);
        let mut frame_of = |packet: Vec<u8>, from_target: bool, after: i64| {
            let mut frame = Vec::new();
            let (a, b) = if from_target {
                (&d[6..12], &d[0..6])
            } else {
                (&d[0..6], &d[6..12])
            };
            frame.extend(a);
            frame.extend(b);
            frame.extend([8, 0]);
            frame.extend(packet);
            w.write(f.ts_nanos + after, &frame).unwrap();
        };
        if proto == 6 && ip.len() >= ihl + 14 && ip[ihl + 13] & 0x12 == 0x02 {
            let t = &ip[ihl..];
            let seq = u32::from_be_bytes(t[4..8].try_into().unwrap());
            let mut synack = Vec::new();
            synack.extend(&t[2..4]);
            synack.extend(&t[0..2]);
            synack.extend([0, 0, 3, 9]);
            synack.extend(seq.wrapping_add(1).to_be_bytes());
            synack.extend([0x50, 0x12, 0xff, 0xff, 0, 0, 0, 0]);
            frame_of(ipv4(dst, src, 6, &synack), true, 20_000);
            let mut rst = Vec::new();
            rst.extend(&t[0..4]);
            rst.extend(seq.wrapping_add(1).to_be_bytes());
            rst.extend([0, 0, 0, 0, 0x50, 0x04, 0, 0, 0, 0, 0, 0]);
            frame_of(ipv4(src, dst, 6, &rst), false, 40_000);
            return std::ops::ControlFlow::Continue(());
        }
        let answer = match proto {
            17 if ip.len() >= ihl + 8 => {
                let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
                icmp.extend(&ip[..ihl + 8]);
                Some(ipv4(dst, src, 1, &icmp))
            }
            6 if ip.len() >= ihl + 14 && ip[ihl + 13] & 0x12 == 0x12 => {
                let t = &ip[ihl..];
                let mut rst = Vec::new();
                rst.extend(&t[2..4]);
                rst.extend(&t[0..2]);
                rst.extend(&t[8..12]);
                rst.extend([0, 0, 0, 0, 0x50, 0x04, 0, 0, 0, 0, 0, 0]);
                Some(ipv4(dst, src, 6, &rst))
            }
            _ => None,
        };
        if let Some(packet) = answer {
            frame_of(packet, true, 50_000);
        }
        std::ops::ControlFlow::Continue(())
    });
    w.finish().unwrap();
}

/// One attack, one story: the resets and ICMP errors that a reflection's forged requests
/// draw from hosts that do not serve them are the reflection's backscatter, counted apart,
/// not an `rst-flood` or `icmp-flood` with rules of their own; and the target's own answers
/// to an attack (resets, port unreachables, SYN-ACKs to a SYN flood's forged sources, and
/// those sources' resets) change nothing of what is found.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn a_reflections_backscatter_is_part_of_it() {
    let Some(data) = require_shared("backscatter") else {
        return;
    };
    let dir = scratch("analyze-backscatter");
    let synack = data.join("attacks/amp.TCP.reflection.SYNACK.pcap");
    let rules = dir.join("synack.rules");
    let a = analyze_json(
        &["--rules-out", rules.to_str().unwrap(), "--force"],
        &[&synack],
    );
    assert_eq!(
        self::vectors(&a),
        BTreeSet::from(["synack-reflection".to_string()])
    );
    let r = attack(&a, "synack-reflection");
    let kinds: Vec<(String, String, u64)> = r["backscatter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["kind"].as_str().unwrap().to_string(),
                b["looks_like"].as_str().unwrap().to_string(),
                b["packets"].as_u64().unwrap(),
            )
        })
        .collect();
    // tcpdump counts 1,018 resets and 153 ICMP errors to the target in this capture.
    assert_eq!(
        kinds,
        vec![
            ("resets".to_string(), "rst-flood".to_string(), 1018),
            ("icmp-errors".to_string(), "icmp-flood".to_string(), 153)
        ],
        "{r}"
    );
    let text = std::fs::read_to_string(&rules).unwrap();
    assert_eq!(text.matches("[[rule]]").count(), 1, "{text}");
    // The text report shows it under the attack.
    let o = run(levee().args(["analyze", "--no-progress"]).arg(&synack));
    assert!(
        stdout(&o).contains("backscatter 1,018 resets"),
        "{}",
        stdout(&o)
    );

    for name in [
        "amp.TCP.reflection.SYNACK.pcap",
        "amp.UDP.isakmp.pcap",
        "amp.UDP.bacnet.IOT.37810.pcapng",
        "pkt.TCP.synflood.spoofed.pcap",
    ] {
        let cap = data.join("attacks").join(name);
        let answered = dir.join(format!("{name}.answered.pcap"));
        with_targets_answers(&cap, &answered);
        let alone = analyze_json(&[], &[&cap]);
        let both = analyze_json(&[], &[&answered]);
        assert_eq!(
            big_attacks(&both, 0),
            big_attacks(&alone, 0),
            "{name}: the target's answers changed what was found"
        );
    }
}

/// `cap` with the later fragments of every third fragmented datagram moved before its first
/// fragment (each frame keeps its time slot), as captures taken on a multi-path or load
/// balanced link hold them.
fn with_fragments_out_of_order(cap: &Path, out: &Path) -> usize {
    // (ip id, source) of a frame's IPv4 fragment, and whether it is a first fragment.
    fn fragment(d: &[u8]) -> Option<((u16, [u8; 4]), bool)> {
        if d.len() < 34 || d[12..14] != [8, 0] {
            return None;
        }
        let flags = u16::from_be_bytes([d[20], d[21]]);
        let (more, offset) = (flags & 0x2000 != 0, flags & 0x1fff);
        if !more && offset == 0 {
            return None;
        }
        let id = u16::from_be_bytes([d[18], d[19]]);
        Some(((id, d[26..30].try_into().unwrap()), offset == 0))
    }
    let mut frames: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut reader = CaptureReader::open(cap).unwrap();
    reader.for_each_item(|item| {
        if let Item::Frame(f) = item {
            frames.push((f.ts_nanos, f.data.to_vec()));
        }
        std::ops::ControlFlow::Continue(())
    });
    let (mut i, mut datagrams, mut moved) = (0, 0, 0);
    while i < frames.len() {
        let Some((key, true)) = fragment(&frames[i].1) else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        while j < frames.len() && fragment(&frames[j].1) == Some((key, false)) {
            j += 1;
        }
        if j > i + 1 && datagrams % 3 == 0 {
            // First fragment last; the times stay in their slots.
            let mut data: Vec<Vec<u8>> = frames[i..j].iter().map(|f| f.1.clone()).collect();
            data.rotate_left(1);
            for (f, d) in frames[i..j].iter_mut().zip(data) {
                f.1 = d;
            }
            moved += j - i - 1;
        }
        datagrams += 1;
        i = j;
    }
    let mut w =
        levee_capture::PcapWriter::new(std::fs::File::create(out).unwrap(), 1, 65535).unwrap();
    for (ts, d) in &frames {
        w.write(*ts, d).unwrap();
    }
    w.finish().unwrap();
    moved
}

/// Later fragments that arrive before their first fragment belong to their datagram's
/// attack: a DNS reflection whose responses are fragmented, with a third of them out of
/// order, is measured as in order (it was 78% of its size, beside an ip-fragment-flood whose
/// rule matched 66% of the capture's other traffic), on one thread and two.
#[test]
fn fragments_out_of_order_stay_with_their_datagram() {
    let dir = scratch("analyze-fragments-order");
    let cap = synth(
        &dir,
        "dns",
        &["--scenario", "dns-reflection", "--packets", "20000"],
    );
    let reordered = dir.join("dns-reordered.pcap");
    let moved = with_fragments_out_of_order(&cap, &reordered);
    assert!(moved > 3000, "{moved} fragments moved");
    for threads in ["1", "2"] {
        let exact = ["--exact", "--threads", threads];
        let in_order = analyze_json(&exact, &[&cap]);
        let out_of_order = analyze_json(&exact, &[&reordered]);
        assert_eq!(
            self::vectors(&out_of_order),
            BTreeSet::from(["dns-reflection".to_string()]),
            "threads {threads}"
        );
        let want = attack(&in_order, "dns-reflection")["packets"]
            .as_f64()
            .unwrap();
        let got = attack(&out_of_order, "dns-reflection")["packets"]
            .as_f64()
            .unwrap();
        assert!(
            (want - got).abs() <= 0.005 * want,
            "threads {threads}: {got} packets out of order, {want} in order"
        );
        let why = out_of_order["not_attacks"].to_string();
        assert!(
            why.contains("arrived before their first fragment"),
            "threads {threads}: {why}"
        );
    }
}
