//! The rules every command keeps, each case from the hostile-input campaign that broke one:
//! no file destroyed, no success reported on nothing, no panic, one table of exit codes, and
//! messages that name the real cause.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

fn synth(dir: &Path, name: &str, packets: &str) -> PathBuf {
    let out = dir.join(name);
    let o = run(levee()
        .args([
            "synth",
            "--scenario",
            "syn-flood",
            "--packets",
            packets,
            "--out",
        ])
        .arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

fn with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A pcap file (microseconds, little-endian, Ethernet) of the given records: (seconds,
/// captured bytes).
fn pcap(records: &[(u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        out.extend(v.to_le_bytes());
    }
    for (sec, data) in records {
        for v in [*sec, 0, data.len() as u32, data.len() as u32] {
            out.extend(v.to_le_bytes());
        }
        out.extend(*data);
    }
    out
}

/// An Ethernet frame of an IPv4 UDP datagram.
fn udp_frame() -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend([
        0x45, 0, 0, 29, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend([0x30, 0x39, 0, 53, 0, 9, 0, 0, b'x']);
    f
}

/// An Ethernet frame of an ARP request: no IP at all.
fn arp_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend([2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    f.extend([0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    f.extend([0; 10]);
    f
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn demo_never_replaces_files_without_force() {
    let dir = scratch("hardening-demo");
    let mine = dir.join("demo-rules.toml");
    std::fs::write(&mine, "my rules").unwrap();
    let o = run(levee().arg("demo").arg("--dir").arg(&dir));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my rules");
    // Nothing else was written either: every output is checked before the first is made.
    assert_eq!(files_in(&dir), ["demo-rules.toml", "report"]);
    let o = run(levee().arg("demo").arg("--force").arg("--dir").arg(&dir));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&mine).unwrap().contains("[[rule]]"));
}

#[test]
fn report_leaves_files_it_did_not_make_and_writes_nothing_on_nothing() {
    let dir = scratch("hardening-report");
    let cap = synth(&dir, "flood.pcap", "3000");
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("report.partial"), "mine").unwrap();
    let o = run(levee().arg("report").arg(&cap).arg("--out").arg(&out));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("report.partial")).unwrap(),
        "mine"
    );
    assert_eq!(
        files_in(&out),
        ["report.html", "report.json", "report.md", "report.partial"]
    );
    // A missing input: exit 3, and no report saying "no attack was found".
    let empty_out = dir.join("none");
    let o = run(levee()
        .arg("report")
        .arg(dir.join("missing.pcap"))
        .arg("--out")
        .arg(&empty_out));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        files_in(&empty_out).is_empty(),
        "{:?}",
        files_in(&empty_out)
    );
}

#[test]
fn an_output_that_is_an_input_is_refused_even_with_force() {
    let dir = scratch("hardening-same-file");
    let cap = synth(&dir, "flood.pcap", "2000");
    let before = std::fs::read(&cap).unwrap();
    let link = dir.join("link.pcap");
    std::os::unix::fs::symlink(&cap, &link).unwrap();
    let hard = dir.join("hard.pcap");
    std::fs::hard_link(&cap, &hard).unwrap();
    for out in [&cap, &link, &hard] {
        let o = run(levee()
            .arg("requests")
            .arg(&cap)
            .arg("--force")
            .arg("--out")
            .arg(out));
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("is the input"), "{}", stderr(&o));
        let o = run(levee()
            .arg("analyze")
            .arg(&cap)
            .arg("--force")
            .arg("--rules-out")
            .arg(out));
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("is the input"), "{}", stderr(&o));
    }
    assert_eq!(
        std::fs::read(&cap).unwrap(),
        before,
        "the capture was changed"
    );
}

#[test]
fn an_existing_rules_file_is_refused_before_the_capture_is_read() {
    let dir = scratch("hardening-rules-out");
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, "mine").unwrap();
    // The capture is standard input that never ends: only a refusal before reading returns.
    let mut child = levee()
        .args(["analyze", "-", "--rules-out"])
        .arg(&rules)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("exists; pass --force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), "mine");
}

#[test]
fn empty_inputs_are_errors_for_every_command() {
    let dir = scratch("hardening-empty");
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let header_only = dir.join("header-only.pcap");
    std::fs::write(&header_only, pcap(&[])).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, "version = 1\n").unwrap();
    for input in [&empty, &header_only] {
        let commands: Vec<Vec<std::ffi::OsString>> = vec![
            vec!["analyze".into()],
            vec!["summary".into()],
            vec!["fields".into(), "-e".into(), "ip.src".into()],
            vec!["requests".into()],
            vec!["simulate".into(), "--rules".into(), rules.clone().into()],
            vec!["report".into(), "--out".into(), dir.join("r").into()],
        ];
        for args in commands {
            let o = run(levee().args(&args).arg(input));
            assert_eq!(
                o.status.code(),
                Some(3),
                "{args:?} {input:?}: {}",
                stderr(&o)
            );
            assert!(
                !stdout(&o).contains("No attack found") && !stdout(&o).contains("written"),
                "{args:?}: {}",
                stdout(&o)
            );
            assert!(
                stderr(&o).contains("no packet could be read"),
                "{}",
                stderr(&o)
            );
        }
    }
    let o = run(levee().arg("logs").arg(&empty));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("empty"), "{}", stderr(&o));
    assert!(!dir.join("r").join("report.html").exists());
    for cmd in ["analyze", "summary", "report"] {
        let mut c = levee();
        c.arg(cmd).arg("-");
        if cmd == "report" {
            c.arg("--out").arg(dir.join("r"));
        }
        let o = with_stdin(&mut c, b"");
        assert_eq!(o.status.code(), Some(3), "{cmd}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("standard input"),
            "{cmd}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("levee-stdin"), "{}", stderr(&o));
    }
}

#[test]
fn packets_none_of_which_decode_are_not_no_attack() {
    let dir = scratch("hardening-undecodable");
    let arp = arp_frame();
    let cap = dir.join("arp.pcap");
    std::fs::write(&cap, pcap(&[(1_768_478_400, &arp), (1_768_478_401, &arp)])).unwrap();
    let o = run(levee().arg("analyze").arg(&cap));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("none of the 2 packets"),
        "{}",
        stderr(&o)
    );
    // One decodable packet among them: analysed, and the text says how much was looked at.
    let udp = udp_frame();
    std::fs::write(&cap, pcap(&[(1_768_478_400, &arp), (1_768_478_401, &udp)])).unwrap();
    let o = run(levee().arg("analyze").arg(&cap));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("No attack found in 2 packets (1 of them not decodable as IP)."),
        "{}",
        stdout(&o)
    );
}

#[test]
fn zero_filled_tails_and_impossible_times_are_reported_as_damage() {
    let dir = scratch("hardening-zeros");
    let udp = udp_frame();
    let mut bytes = pcap(&[(1_768_478_400, &udp), (1_768_478_401, &udp)]);
    let good_len = bytes.len();
    bytes.extend(vec![0u8; 16 * 100_000 + 5]);
    let cap = dir.join("zero-tail.pcap");
    std::fs::write(&cap, &bytes).unwrap();
    let (o, v) = {
        let o = run(levee().args(["summary", "--json"]).arg(&cap));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (o, v)
    };
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(v["packets"], 2, "{v}");
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "record 2 at byte offset {good_len}: 1600005 bytes of zeros (100000 record headers of zeros)"
        )),
        "{e}"
    );
    // Times from 1970 (a clock never set): kept, and said once per run with the record.
    let cap = dir.join("1970.pcap");
    std::fs::write(
        &cap,
        pcap(&[(5, &udp), (6, &udp), (1_768_478_400, &udp), (7, &udp)]),
    )
    .unwrap();
    let o = run(levee().arg("summary").arg(&cap));
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("record 0 at byte offset 24: timestamp 5 s since 1970 is before 1990"),
        "{e}"
    );
    assert!(e.contains("record 3 at byte offset"), "{e}");
    assert_eq!(e.matches("before 1990").count(), 2, "{e}");
    assert!(stdout(&o).contains("packets     4"), "{}", stdout(&o));
}

#[test]
fn a_rules_file_with_any_text_is_refused_without_a_panic() {
    let dir = scratch("hardening-rules");
    let f = dir.join("bad.toml");
    std::fs::write(
        &f,
        "version = 1\n[[rule]]\nid = \"a\"\nexpression = \"http.host == \\\"\\\\é\\\"\"\naction = \"block\"\n\
         [[rule]]\nid = \"b\"\nexpression = \"ip.src == 192.0.2.1\"\naction = \"rate_limit\"\nrate = 1e308\n",
    )
    .unwrap();
    let o = run(levee().args(["rules", "check"]).arg(&f));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("unknown escape `\\é`"), "{e}");
    assert!(e.contains("rate 1e308 is too large"), "{e}");
}

#[test]
fn every_exit_code_of_the_table() {
    let dir = scratch("hardening-exit");
    let cap = synth(&dir, "ok.pcap", "2000");
    // 0
    assert_eq!(run(levee().arg("summary").arg(&cap)).status.code(), Some(0));
    // 1: an output exists.
    let o = run(levee().args(["synth", "--out"]).arg(&cap));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // 2: clap's errors and levee's own bad values alike.
    for args in [
        vec!["analyze", "--no-such-option", "x.pcap"],
        vec!["analyze", "--sample-mib", "0", "x.pcap"],
        vec!["analyze", "--bucket", "0", "x.pcap"],
        vec!["summary", "--bucket", "nan", "x.pcap"],
        vec!["synth", "--scenario", "no-such", "--out", "x.pcap"],
        vec!["synth", "--start", "-5", "--out", "x.pcap"],
        vec!["rules", "compile", "r.toml", "--target", "no-such"],
        vec!["fields", "-e", "no.such.field", "x.pcap"],
        vec!["no-such-command"],
    ] {
        let o = run(levee().current_dir(&dir).args(&args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    assert!(!dir.join("x.pcap").exists());
    // 3: an input could not be read; the other was processed.
    let o = run(levee()
        .arg("summary")
        .arg(&cap)
        .arg(dir.join("missing.pcap")));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stdout(&o).contains("packets     2000"), "{}", stdout(&o));
    // 4: damaged records.
    let mut bytes = std::fs::read(&cap).unwrap();
    bytes.truncate(bytes.len() - 10);
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, bytes).unwrap();
    assert_eq!(run(levee().arg("summary").arg(&cut)).status.code(), Some(4));
}

#[test]
fn help_shows_the_exit_codes_and_version_works_everywhere() {
    let version = stdout(&run(levee().arg("--version")));
    assert!(version.starts_with("levee "), "{version}");
    for sub in [
        vec!["analyze"],
        vec!["rules", "check"],
        vec!["rules", "compile"],
        vec!["simulate"],
        vec!["summary"],
        vec!["fields"],
        vec!["synth"],
        vec!["report"],
        vec!["demo"],
        vec!["logs"],
        vec!["requests"],
    ] {
        let o = run(levee().args(&sub).arg("--help"));
        assert_eq!(o.status.code(), Some(0), "{sub:?}");
        let help = stdout(&o);
        for code in [
            "  0  success",
            "  2  bad command line",
            "  3  an input",
            "  4  every input",
        ] {
            assert!(help.contains(code), "{sub:?} help lacks `{code}`:\n{help}");
        }
        let o = run(levee().args(&sub).arg("--version"));
        assert_eq!(o.status.code(), Some(0), "{sub:?}: {}", stderr(&o));
        assert!(stdout(&o).contains(env!("CARGO_PKG_VERSION")), "{sub:?}");
    }
    // The README's table is the same table.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let help = stdout(&run(levee().arg("--help")));
    let table = &help[help.find("Exit codes").unwrap()..];
    assert!(readme.contains(table.trim_end()), "README lacks:\n{table}");
}

#[test]
fn messages_name_the_real_cause() {
    let dir = scratch("hardening-messages");
    // A missing log with --log-format: the file is missing, not a mix of inputs.
    let o = run(levee()
        .args(["analyze", "--log-format", "combined"])
        .arg(dir.join("missing.log")));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("No such file") && !e.contains("separate"), "{e}");
    // --http on bytes that are no capture.
    let junk = dir.join("junk.bin");
    std::fs::write(
        &junk,
        (0..3000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let o = run(levee().args(["analyze", "--http"]).arg(&junk));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("junk.bin is not a pcap or pcapng capture"),
        "{e}"
    );
    assert!(!e.contains("these inputs are access logs"), "{e}");
    // The same bytes without --http: neither a capture nor a log.
    let o = run(levee().arg("analyze").arg(&junk));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a pcap or pcapng capture either"),
        "{}",
        stderr(&o)
    );
    // A capture and a log together: which is which.
    let cap = synth(&dir, "c.pcap", "1000");
    let log = dir.join("a.log");
    std::fs::write(
        &log,
        "192.0.2.1 - - [15/Jan/2026:12:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"\n",
    )
    .unwrap();
    let o = run(levee().arg("analyze").arg(&cap).arg(&log));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("c.pcap is a capture and"),
        "{}",
        stderr(&o)
    );
    // An OS error is said once, not once per layer that passed it on.
    let o = run(levee()
        .arg("report")
        .arg(&cap)
        .arg("--out")
        .arg(dir.join("r"))
        .arg("--geoip")
        .arg(dir.join("missing.mmdb")));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).matches("No such file").count(),
        1,
        "{}",
        stderr(&o)
    );
    // A rules file that is not there is an input that cannot be read.
    let o = run(levee()
        .args(["rules", "check"])
        .arg(dir.join("missing.toml")));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).matches("No such file").count(),
        1,
        "{}",
        stderr(&o)
    );
    // A damaged record read from standard input names standard input, not the spool file.
    let mut bytes = std::fs::read(&cap).unwrap();
    bytes.truncate(bytes.len() - 10);
    let o = with_stdin(levee().args(["analyze", "-"]), &bytes);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("standard input (-): record"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("levee-stdin"), "{}", stderr(&o));
}
