//! Flows end to end, with real exporters and a second collector: pmacct's `pmacctd` reads a
//! shared attack capture and exports its flows (NetFlow v9, IPFIX; sFlow sampled 1 in 10) to
//! nfdump's `nfcapd`, which stores them and repeats every datagram to `levee collect`. Then:
//!
//! * levee's flow, packet and byte totals of the capture it wrote equal nfdump's of the same
//!   export;
//! * `levee analyze` on the flows names the attacks of `levee analyze` on the packets: the
//!   same vectors and targets, and a signature that stops them;
//! * the sampled sFlow export estimates the attack's packets within the sampling error.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn levee() -> Command {
    Command::new(env!("CARGO_BIN_EXE_levee"))
}

fn attack(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/attacks")
        .join(name)
}

/// A UDP port free on loopback now.
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends SIGTERM to a child and waits for it, at most 20 s.
fn stop(mut child: Child) -> Output {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a collector did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Runs pmacctd over `capture` with `plugin` configured by `settings`.
fn export(capture: &Path, plugin: &str, settings: &str, dir: &Path) {
    let config = dir.join(format!("pmacctd-{plugin}.conf"));
    std::fs::write(
        &config,
        format!(
            "daemonize: false\npcap_savefile: {}\nplugins: {plugin}\n{settings}\n",
            capture.display()
        ),
    )
    .unwrap();
    let out = Command::new("timeout")
        .args(["60", "pmacctd", "-f"])
        .arg(&config)
        .output()
        .unwrap();
    // pmacctd may exit 1 when its plugin ends first at the end of a capture (see
    // levee-flow's exporter test); a timeout is a failure.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    // The last datagrams on their way through the repeater.
    std::thread::sleep(Duration::from_millis(1500));
}

/// `levee collect` on a free port writing to `dir/levee`, ready to receive.
fn start_levee(dir: &Path) -> (Child, u16) {
    let port = free_port();
    let child = levee()
        .args(["collect", "--quiet", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--write")
        .arg(dir.join("levee"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It names its socket on standard error once it listens; a short wait stands for that.
    std::thread::sleep(Duration::from_millis(500));
    (child, port)
}

/// The captures `levee collect` wrote, after it stopped.
fn written(dir: &Path, out: &Output) -> Vec<PathBuf> {
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("The kernel dropped no datagram."),
        "{stdout}"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("levee"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{stdout}");
    assert!(
        files
            .iter()
            .all(|f| f.extension().is_some_and(|e| e == "pcap")),
        "{files:?}"
    );
    files
}

fn json(mut cmd: Command) -> Value {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// nfdump's totals of what nfcapd stored: (flows, packets, bytes).
fn nfdump_totals(dir: &Path) -> (u64, u64, u64) {
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(dir)
        .arg("-I")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    (get("Flows:"), get("Packets:"), get("Bytes:"))
}

/// (vector, targets) of every attack an analysis found.
fn attacks(analysis: &Value) -> Vec<(String, Vec<String>)> {
    analysis["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let targets = a["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    t["ip"]
                        .as_str()
                        .or(t["prefix"].as_str())
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            (a["vector"].as_str().unwrap().to_string(), targets)
        })
        .collect()
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
#[cfg_attr(not(levee_has_pmacctd), ignore = "needs pmacctd (pmacct)")]
#[cfg_attr(not(levee_has_nfcapd), ignore = "needs nfcapd (nfdump)")]
fn netflow_and_ipfix_through_nfcapd_equal_nfdump_and_name_the_attacks_of_the_packets() {
    for (name, version) in [
        ("pkt.TCP.synflood.spoofed.pcap", 9),
        ("amp.UDP.isakmp.pcap", 10),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (collector, levee_port) = start_levee(dir.path());
        let nfport = free_port();
        let nfdir = dir.path().join("nfcapd");
        std::fs::create_dir(&nfdir).unwrap();
        let nfcapd = Command::new("nfcapd")
            .args(["-b", "127.0.0.1", "-p", &nfport.to_string(), "-w"])
            .arg(&nfdir)
            .args(["-R", &format!("127.0.0.1/{levee_port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let capture = attack(name);
        // One flow per packet's key at most in pmacct's cache: every flow is exported as the
        // next one comes, none left in the cache at the end but the last.
        export(
            &capture,
            "nfprobe",
            &format!(
                "nfprobe_receiver: 127.0.0.1:{nfport}\nnfprobe_version: {version}\nnfprobe_maxflows: 1"
            ),
            dir.path(),
        );
        let levee_out = stop(collector);
        let nf_out = stop(nfcapd);
        assert!(nf_out.status.success(), "{nf_out:?}");
        let files = written(dir.path(), &levee_out);

        // The same export, counted by both collectors.
        let (flows, packets, bytes) = nfdump_totals(&nfdir);
        assert!(flows > 1000, "{name}: nfdump saw {flows} flows");
        let mut summary = levee();
        summary.args(["summary", "--json"]).args(&files);
        let s = json(summary);
        let exports = &s["files"][0]["flows"];
        assert_eq!(exports["records"], flows, "{name}: {exports}");
        assert_eq!(exports["damaged_datagrams"], 0, "{name}: {exports}");
        assert_eq!(s["packets"], packets, "{name}");
        assert_eq!(s["bytes"], bytes, "{name}");

        // The attacks of the flows are those of the packets.
        let mut on_packets = levee();
        on_packets.args(["analyze", "--json"]).arg(&capture);
        let mut on_flows = levee();
        on_flows.args(["analyze", "--json"]).args(&files);
        let (p, f) = (json(on_packets), json(on_flows));
        assert!(!attacks(&p).is_empty(), "{name}: no attack in the packets");
        assert_eq!(attacks(&f), attacks(&p), "{name}");
        // The flows' signature stops what pmacct exported of the attack, as the packets' stops
        // all of it.
        for a in f["attacks"].as_array().unwrap() {
            let covered = a["signature"]["coverage"].as_f64().unwrap();
            assert!(covered >= 0.99, "{name}: {}", a["signature"]);
        }
    }
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
#[cfg_attr(not(levee_has_pmacctd), ignore = "needs pmacctd (pmacct)")]
fn sflow_sampled_one_in_ten_estimates_the_attack() {
    let dir = tempfile::tempdir().unwrap();
    let (collector, port) = start_levee(dir.path());
    let capture = attack("pkt.TCP.synflood.spoofed.pcap");
    export(
        &capture,
        "sfprobe",
        &format!("sfprobe_receiver: 127.0.0.1:{port}\nsampling_rate: 10"),
        dir.path(),
    );
    let files = written(dir.path(), &stop(collector));
    let mut on_packets = levee();
    on_packets.args(["analyze", "--json"]).arg(&capture);
    let mut on_flows = levee();
    on_flows.args(["analyze", "--json"]).args(&files);
    let (p, f) = (json(on_packets), json(on_flows));
    let exports = &f["capture"]["files"][0]["flows"];
    assert_eq!(exports["formats"][0], "sFlow v5", "{exports}");
    assert_eq!(exports["sampling"][0]["rate"], 10, "{exports}");
    assert_eq!(exports["sampling"][0]["stated"], true, "{exports}");
    // The same attack on the same target; its packets estimated within four standard
    // deviations of a binomial sample at 1 in 10 (pmacct may keep the last unfilled datagram
    // of ten samples: a hundred packets more).
    let (pa, fa) = (&p["attacks"][0], &f["attacks"][0]);
    assert_eq!(fa["vector"], pa["vector"]);
    assert_eq!(fa["targets"][0]["ip"], pa["targets"][0]["ip"]);
    let truth = pa["packets"].as_f64().unwrap();
    let estimate = fa["packets"].as_f64().unwrap();
    let sd = (truth / 10.0 * 0.9).sqrt() * 10.0;
    assert!(
        (estimate - truth).abs() <= 4.0 * sd + 100.0,
        "{estimate} estimated, {truth} in the capture"
    );
}

/// A NetFlow v5 datagram of one record: 203.0.113.7:53 -> 10.10.10.10:1024 over UDP, 3 packets
/// of 1,200 bytes in all.
fn v5_datagram() -> Vec<u8> {
    let mut d = vec![0, 5, 0, 1];
    d.extend(1_000u32.to_be_bytes()); // uptime
    d.extend(1_767_225_600u32.to_be_bytes()); // 2026-01-01T00:00:00Z
    d.extend([0; 12]);
    d.extend([203, 0, 113, 7, 10, 10, 10, 10]);
    d.extend([0; 8]);
    d.extend(3u32.to_be_bytes());
    d.extend(1_200u32.to_be_bytes());
    d.extend(900u32.to_be_bytes());
    d.extend(1_000u32.to_be_bytes());
    d.extend(53u16.to_be_bytes());
    d.extend(1024u16.to_be_bytes());
    d.extend([0, 0, 17, 0]);
    d.extend([0; 8]);
    d
}

#[test]
fn collect_keeps_what_arrives_and_says_what_was_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let (collector, port) = start_levee(dir.path());
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = format!("127.0.0.1:{port}");
    sender.send_to(&v5_datagram(), &to).unwrap();
    // A v5 header that claims two records and holds one.
    let mut cut = v5_datagram();
    cut[3] = 2;
    sender.send_to(&cut, &to).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = stop(collector);
    // A damaged datagram: exit 4, told on standard error, counted in the closing lines.
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stderr.contains("datagram from 127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("a v5 record"), "{stderr}");
    assert!(
        stdout.contains("Collected 2 datagrams (1 damaged) holding 1 flow records from 1 exporter"),
        "{stdout}"
    );
    assert!(
        stdout.contains("The kernel dropped no datagram."),
        "{stdout}"
    );
    // What it wrote is a capture of exports: the record read, the damage told again.
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("levee"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = levee()
        .args(["summary", "--json"])
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (s["packets"].as_u64(), s["bytes"].as_u64()),
        (Some(3), Some(1200))
    );
    let flows = &s["files"][0]["flows"];
    assert_eq!(flows["records"], 1, "{flows}");
    assert_eq!(flows["damaged_datagrams"], 1, "{flows}");
    assert_eq!(flows["formats"][0], "NetFlow v5", "{flows}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("record 1 (offset") && stderr.contains("flow export from 127.0.0.1"),
        "{stderr}"
    );
}

#[test]
fn collect_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "keep me").unwrap();
    for args in [
        vec!["--rotate", "0"],
        vec!["--sampling-rate", "0"],
        vec!["--write", file.to_str().unwrap()],
    ] {
        let out = levee()
            .args(["collect", "--listen", "127.0.0.1:0", "--duration", "1"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    // A port another socket holds: a failure, said.
    let held = UdpSocket::bind("127.0.0.1:0").unwrap();
    let out = levee()
        .args(["collect", "--duration", "1", "--listen"])
        .arg(held.local_addr().unwrap().to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn the_shared_cisco_exports_are_read_as_flows_scaled_by_their_sampler() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/flows");
    let sampled = dir.join("104-IPFIXv10-IPv6-CISCO-sampling_option.pcap");
    let mut cmd = levee();
    cmd.args(["summary", "--json"]).arg(&sampled);
    let s = json(cmd);
    let flows = &s["files"][0]["flows"];
    assert_eq!(flows["formats"][0], "IPFIX", "{flows}");
    assert_eq!(flows["sampling"][0]["rate"], 256, "{flows}");
    assert_eq!(flows["sampling"][0]["stated"], true, "{flows}");
    let counted = flows["counted_packets"].as_u64().unwrap();
    assert!(counted > 0);
    assert_eq!(s["packets"].as_u64(), Some(counted * 256));
    // The unsampled ones: every packet the records counted, no more.
    for name in [
        "100-IPFIXv10-CISCO.pcap",
        "101-NFv9-CISCO-cust_primitives.pcap",
    ] {
        let mut cmd = levee();
        cmd.args(["summary", "--json"]).arg(dir.join(name));
        let s = json(cmd);
        let flows = &s["files"][0]["flows"];
        assert_eq!(s["packets"], flows["counted_packets"], "{name}: {flows}");
        assert_eq!(s["bytes"], flows["counted_bytes"], "{name}: {flows}");
        assert_eq!(flows["damaged_datagrams"], 0, "{name}: {flows}");
    }
    // Text says what flows are and what they cannot show.
    let out = levee().arg("analyze").arg(&sampled).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("sampling 1 in 256 (stated by the export)"),
        "{text}"
    );
    assert!(text.contains("flow records carry no payload"), "{text}");
}
