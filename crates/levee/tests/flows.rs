//! Flows end to end, with real exporters and a second collector: pmacct's `pmacctd` and
//! `softflowd` read a shared attack capture and export its flows (NetFlow v5, v9, IPFIX) to
//! nfdump's `nfcapd`, which stores them and repeats every datagram to `levee collect`; pmacct
//! also exports sampled NetFlow v9, IPFIX and sFlow. Then:
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

/// A real exporter of a capture's flows.
#[derive(Debug, Clone, Copy)]
enum Exporter {
    /// pmacct's `pmacctd` with its `nfprobe` plugin, exporting this NetFlow version.
    Pmacct(u16),
    /// `softflowd -r`, exporting this NetFlow version.
    Softflowd(u16),
}

/// Runs `exporter` over `capture`, sending its flows to 127.0.0.1:`port`.
fn export_flows(exporter: Exporter, capture: &Path, port: u16, dir: &Path) {
    match exporter {
        // One flow per packet's key at most in pmacct's cache: every flow is exported as the
        // next one comes, none left in the cache at the end but the last.
        Exporter::Pmacct(version) => export(
            capture,
            "nfprobe",
            &format!(
                "nfprobe_receiver: 127.0.0.1:{port}\nnfprobe_version: {version}\nnfprobe_maxflows: 1"
            ),
            dir,
        ),
        Exporter::Softflowd(version) => {
            // -d: in the foreground, ending at the capture's end with every flow flushed;
            // -a: flow times from the capture's, not from the clock. softflowd 1.1.0 never
            // ends at a capture's end when the path of its control socket is 13 characters
            // or longer (its default, /var/run/softflowd.ctl, too; found by trying lengths):
            // it runs in the test's directory with a short relative path.
            let out = Command::new("timeout")
                .args(["60", "softflowd", "-d", "-a", "-r"])
                .arg(capture)
                .args(["-n", &format!("127.0.0.1:{port}"), "-v", &version.to_string()])
                .args(["-p", "pid", "-c", "ctl"])
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            std::thread::sleep(Duration::from_millis(1500));
        }
    }
}

/// The share of each attack (of those `simulate` finds in `capture`) that `rules` stop.
fn stopped_by(rules: &Path, capture: &Path) -> Vec<f64> {
    let mut cmd = levee();
    cmd.args(["simulate", "--json", "--rules"])
        .arg(rules)
        .arg(capture);
    let sim = json(cmd);
    sim["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["share"].as_f64().unwrap())
        .collect()
}

#[test]
#[cfg_attr(
    not(all(
        levee_shared_data,
        levee_has_pmacctd,
        levee_has_softflowd,
        levee_has_nfcapd
    )),
    ignore = "needs ../shared/data, pmacctd (pmacct), softflowd and nfcapd (nfdump)"
)]
fn netflow_and_ipfix_through_nfcapd_equal_nfdump_and_name_the_attacks_of_the_packets() {
    for (name, exporter) in [
        ("pkt.TCP.synflood.spoofed.pcap", Exporter::Pmacct(9)),
        ("amp.UDP.isakmp.pcap", Exporter::Pmacct(10)),
        ("pkt.TCP.synflood.spoofed.pcap", Exporter::Softflowd(5)),
        ("pkt.TCP.synflood.spoofed.pcap", Exporter::Softflowd(9)),
        ("amp.UDP.isakmp.pcap", Exporter::Softflowd(10)),
    ] {
        let case = format!("{name} by {exporter:?}");
        let dir = tempfile::tempdir().unwrap();
        let (collector, levee_port) = start_levee(dir.path());
        let nfport = free_port();
        let nfdir = dir.path().join("nfcapd");
        std::fs::create_dir(&nfdir).unwrap();
        // An 8 MiB receive buffer: softflowd sends a capture's flows in a burst.
        let nfcapd = Command::new("nfcapd")
            .args([
                "-b",
                "127.0.0.1",
                "-B",
                "8388608",
                "-p",
                &nfport.to_string(),
                "-w",
            ])
            .arg(&nfdir)
            .args(["-R", &format!("127.0.0.1/{levee_port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let capture = attack(name);
        export_flows(exporter, &capture, nfport, dir.path());
        // nfcapd first: it repeats each datagram as it arrives, so once it has stopped,
        // levee has been sent all it stored (an exporter's last datagram may come late on
        // a busy machine: then both have it, or neither).
        let nf_out = stop(nfcapd);
        assert!(nf_out.status.success(), "{nf_out:?}");
        std::thread::sleep(Duration::from_millis(300));
        let levee_out = stop(collector);
        let files = written(dir.path(), &levee_out);

        // The same export, counted by both collectors.
        let (flows, packets, bytes) = nfdump_totals(&nfdir);
        assert!(flows > 1000, "{case}: nfdump saw {flows} flows");
        let mut summary = levee();
        summary.args(["summary", "--json"]).args(&files);
        let s = json(summary);
        let exports = &s["files"][0]["flows"];
        assert_eq!(exports["records"], flows, "{case}: {exports}");
        assert_eq!(exports["damaged_datagrams"], 0, "{case}: {exports}");
        assert_eq!(s["packets"], packets, "{case}");
        assert_eq!(s["bytes"], bytes, "{case}");
        // nfdump's own JSON of what it stored, read by levee: the same totals.
        let json_out = Command::new("nfdump")
            .arg("-R")
            .arg(&nfdir)
            .args(["-o", "json"])
            .env("TZ", "UTC")
            .output()
            .unwrap();
        assert!(json_out.status.success(), "{json_out:?}");
        let nfjson = dir.path().join("nfdump.json");
        std::fs::write(&nfjson, &json_out.stdout).unwrap();
        let mut summary = levee();
        summary.args(["summary", "--json"]).arg(&nfjson);
        let sj = json(summary);
        assert_eq!(sj["files"][0]["flows"]["records"], flows, "{case}");
        assert_eq!(
            sj["files"][0]["flows"]["formats"][0], "nfdump JSON",
            "{case}"
        );
        assert_eq!(
            (&sj["packets"], &sj["bytes"]),
            (&s["packets"], &s["bytes"]),
            "{case}"
        );

        // The attacks of the flows are those of the packets.
        let mut on_packets = levee();
        on_packets.args(["analyze", "--json"]).arg(&capture);
        let rules = dir.path().join("rules.toml");
        let mut on_flows = levee();
        on_flows
            .args(["analyze", "--json", "--rules-out"])
            .arg(&rules)
            .args(&files);
        let mut on_json = levee();
        on_json.args(["analyze", "--json"]).arg(&nfjson);
        let (p, f, j) = (json(on_packets), json(on_flows), json(on_json));
        assert!(!attacks(&p).is_empty(), "{case}: no attack in the packets");
        assert_eq!(attacks(&f), attacks(&p), "{case}");
        assert_eq!(attacks(&j), attacks(&p), "{case}: nfdump's JSON");
        // The flows' signature stops what the exporter exported of the attack, as the
        // packets' stops all of it.
        for a in f["attacks"].as_array().unwrap() {
            let covered = a["signature"]["coverage"].as_f64().unwrap();
            assert!(covered >= 0.99, "{case}: {}", a["signature"]);
        }
        // And the rules written from the flows stop the packets themselves: a size read from
        // flows (softflowd counts a SYN's Ethernet padding: 46 bytes for 40) must not let
        // the attack through.
        let stopped = stopped_by(&rules, &capture);
        assert_eq!(stopped.len(), attacks(&p).len(), "{case}");
        for share in stopped {
            assert!(
                share >= 0.99,
                "{case}: the flows' rules stop {share} of the packets"
            );
        }
    }
}

#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_pmacctd)),
    ignore = "needs ../shared/data and pmacctd (pmacct)"
)]
fn sampled_exports_estimate_the_attack_within_the_sampling_error() {
    let capture = attack("pkt.TCP.synflood.spoofed.pcap");
    let mut on_packets = levee();
    on_packets.args(["analyze", "--json"]).arg(&capture);
    let p = json(on_packets);
    let pa = &p["attacks"][0];
    let truth = pa["packets"].as_f64().unwrap();
    // sFlow samples packets; pmacct's sampled NetFlow v9 and IPFIX state their rate in
    // sampler option data, which levee must find to scale the records.
    for (plugin, settings, rate, format) in [
        ("sfprobe", "", 10, "sFlow v5"),
        ("sfprobe", "", 100, "sFlow v5"),
        (
            "nfprobe",
            "nfprobe_version: 9\nnfprobe_maxflows: 1",
            100,
            "NetFlow v9",
        ),
        (
            "nfprobe",
            "nfprobe_version: 10\nnfprobe_maxflows: 1",
            100,
            "IPFIX",
        ),
    ] {
        let case = format!("{format} at 1 in {rate}");
        let dir = tempfile::tempdir().unwrap();
        let (collector, port) = start_levee(dir.path());
        export(
            &capture,
            plugin,
            &format!("{plugin}_receiver: 127.0.0.1:{port}\nsampling_rate: {rate}\n{settings}"),
            dir.path(),
        );
        let files = written(dir.path(), &stop(collector));
        let mut on_flows = levee();
        on_flows.args(["analyze", "--json"]).args(&files);
        let f = json(on_flows);
        let exports = &f["capture"]["files"][0]["flows"];
        assert_eq!(exports["formats"][0], format, "{case}: {exports}");
        assert_eq!(exports["sampling"][0]["rate"], rate, "{case}: {exports}");
        assert_eq!(exports["sampling"][0]["stated"], true, "{case}: {exports}");
        // The same attack on the same target; its packets estimated within four standard
        // deviations of a binomial sample (pmacct may keep its last unfilled datagram: ten
        // samples more or less).
        let fa = &f["attacks"][0];
        assert_eq!(fa["vector"], pa["vector"], "{case}");
        assert_eq!(fa["targets"][0]["ip"], pa["targets"][0]["ip"], "{case}");
        let estimate = fa["packets"].as_f64().unwrap();
        let one_in = f64::from(rate);
        let sd = (truth / one_in * (1.0 - 1.0 / one_in)).sqrt() * one_in;
        assert!(
            (estimate - truth).abs() <= 4.0 * sd + 10.0 * one_in,
            "{case}: {estimate} estimated, {truth} in the capture"
        );
        if format == "IPFIX" {
            // The report says what its traffic is and what flows cannot show.
            let out = dir.path().join("report");
            let status = levee()
                .args(["report", "--out"])
                .arg(&out)
                .args(&files)
                .output()
                .unwrap();
            assert_eq!(status.status.code(), Some(0), "{status:?}");
            let md = std::fs::read_to_string(out.join("report.md")).unwrap();
            assert!(md.contains("IPFIX datagrams from 127.0.0.1"), "{md}");
            assert!(
                md.contains("sampling 1 in 100 (stated by the export)"),
                "{md}"
            );
            assert!(md.contains("flow records carry no payload"), "{md}");
            assert!(md.contains("| 1 | syn-flood |"), "{md}");
        }
    }
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

/// Pauses `collector` (SIGSTOP), sends it `count` NetFlow v5 datagrams on `port`, tells it
/// to stop and lets it go on: what a collector that cannot keep up holds when told to stop.
fn queue_then_stop(collector: Child, port: u16, count: usize) -> Output {
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args([name, &collector.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..count {
        sender
            .send_to(&v5_datagram(), format!("127.0.0.1:{port}"))
            .unwrap();
    }
    signal("-TERM");
    signal("-CONT");
    stop(collector)
}

#[test]
fn a_collector_told_to_stop_reads_what_is_queued_for_it_first() {
    // Every datagram that reached the socket is counted, none lost without a word.
    let dir = tempfile::tempdir().unwrap();
    let (collector, port) = start_levee(dir.path());
    let out = queue_then_stop(collector, port, 3000);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Collected 3,000 datagrams (0 damaged) holding 3,000 flow records"),
        "{stdout}"
    );
    let files = written(dir.path(), &out);
    let mut summary = levee();
    summary.args(["summary", "--json"]).args(&files);
    let s = json(summary);
    assert_eq!(s["files"][0]["flows"]["records"], 3000, "{s}");

    // The monitor's collector alike.
    let port = free_port();
    let monitor = levee()
        .args(["monitor", "--collect", &format!("127.0.0.1:{port}"), "--db"])
        .arg(dir.path().join("incidents.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let out = queue_then_stop(monitor, port, 3000);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the kernel received 3,000 datagrams and dropped 0"),
        "{out:?}"
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

#[test]
fn goflow2_json_lines_are_flows_and_are_not_mixed_with_captures() {
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("goflow2.json");
    // A spoofed SYN flood as goflow2 writes it (sFlow, 1 in 100): 3,000 samples over 3 s,
    // each from a new source.
    let mut text = String::new();
    for i in 0..3000u64 {
        let t = 1_767_225_600_000_000_000u64 + i * 1_000_000;
        let src = std::net::Ipv4Addr::from(0x0b00_0000u32 + (i as u32) * 7919);
        text.push_str(&format!(
            "{{\"type\":\"SFLOW_5\",\"time_received_ns\":{t},\"sequence_num\":{i},\"sampling_rate\":100,\"sampler_address\":\"192.0.2.9\",\"time_flow_start_ns\":{t},\"time_flow_end_ns\":{t},\"bytes\":40,\"packets\":1,\"src_addr\":\"{src}\",\"dst_addr\":\"10.10.10.10\",\"etype\":\"IPv4\",\"proto\":\"TCP\",\"src_port\":{},\"dst_port\":80,\"tcp_flags\":2,\"ip_ttl\":0}}\n",
            1024 + i
        ));
    }
    std::fs::write(&lines, &text).unwrap();
    let mut cmd = levee();
    cmd.args(["analyze", "--json"]).arg(&lines);
    let a = json(cmd);
    let flows = &a["capture"]["files"][0]["flows"];
    assert_eq!(flows["formats"][0], "goflow2 JSON", "{flows}");
    assert_eq!(flows["sampling"][0]["rate"], 100, "{flows}");
    assert_eq!(a["capture"]["packets"], 300_000);
    assert_eq!(a["attacks"][0]["vector"], "syn-flood", "{}", a["attacks"]);
    assert_eq!(a["attacks"][0]["targets"][0]["ip"], "10.10.10.10");
    // With a capture in the same run: refused (their times could not be merged).
    let capture = dir.path().join("c.pcap");
    let out = levee()
        .args(["synth", "--packets", "1000", "--out"])
        .arg(&capture)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = levee()
        .arg("analyze")
        .arg(&lines)
        .arg(&capture)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("separate runs"));
}

/// `levee monitor --collect`: softflowd exports a shared SYN flood's flows to the monitor,
/// which raises the attack `analyze` finds in the packets (vector and target), keeps the
/// exports around it as the incident's capture, and ends it once the flows stop.
#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_softflowd)),
    ignore = "needs ../shared/data and softflowd"
)]
fn a_monitor_collecting_flows_raises_the_attack_of_the_packets_and_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let (db, alerts) = (d.join("incidents.db"), d.join("alerts.jsonl"));
    let monitor = levee()
        .args(["monitor", "--collect", &format!("127.0.0.1:{port}"), "--db"])
        .arg(&db)
        .arg("--alerts")
        .arg(&alerts)
        .arg("--evidence")
        .arg(d.join("evidence"))
        .args(["--quiet", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // A datagram that is no export: told, counted, and the rest read.
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"\x00\x09not an export", ("127.0.0.1", port))
        .unwrap();
    let capture = attack("pkt.TCP.synflood.spoofed.pcap");
    let exported = Instant::now();
    export_flows(Exporter::Softflowd(9), &capture, port, d);
    let lines = || -> Vec<Value> {
        std::fs::read_to_string(&alerts)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    while !lines().iter().any(|a| a["alert"] == "end") {
        if exported.elapsed() > Duration::from_secs(20) {
            let out = stop(monitor);
            panic!(
                "no end alert 20 s after the export: {:?}\n{}",
                lines(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ended_after = exported.elapsed();
    let out = stop(monitor);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "a damaged datagram: {stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}: datagram 1 from 127.0.0.1:")),
        "{stderr}"
    );
    assert!(stderr.contains("flow exports to 127.0.0.1"), "{stderr}");
    assert!(stderr.contains("and dropped 0)"), "{stderr}");

    let mut on_packets = levee();
    on_packets.args(["analyze", "--json"]).arg(&capture);
    let found = attacks(&json(on_packets));
    let alerts = lines();
    let start = &alerts[0];
    assert_eq!(start["alert"], "start", "{alerts:?}");
    let incident = &start["incident"];
    assert!(
        found
            .iter()
            .any(|(vector, targets)| incident["vector"] == vector.as_str()
                && targets
                    .iter()
                    .any(|t| t == incident["target"].as_str().unwrap())),
        "the monitor's {incident} is not among the packets' {found:?}"
    );
    eprintln!(
        "flows: {} on {} told, and ended {:.1} s after softflowd began exporting",
        incident["vector"],
        incident["target"],
        ended_after.as_secs_f64()
    );
    // The incident's capture holds the exports, which `levee analyze` reads as the flows.
    let mut incidents = levee();
    incidents
        .args(["incidents", "show", "1", "--json", "--db"])
        .arg(&db);
    let shown = json(incidents);
    let sample = shown["samples"][0].as_str().unwrap().to_string();
    let on_sample = levee()
        .args(["analyze", "--json"])
        .arg(&sample)
        .output()
        .unwrap();
    // Exit 4: the datagram that was no export is in it too, as it came.
    assert_eq!(on_sample.status.code(), Some(4), "{on_sample:?}");
    let from_sample = attacks(&serde_json::from_slice(&on_sample.stdout).unwrap());
    assert!(
        from_sample
            .iter()
            .any(|(vector, _)| incident["vector"] == vector.as_str()),
        "{from_sample:?}"
    );
}
