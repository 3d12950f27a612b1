//! `levee clean` read back by tshark: two taps merged into one capture in time order with
//! no duplicate; frames out of order put back and impossible times fixed, as counted; an
//! anonymised capture of real traffic (DNS, HTTP, TLS, ARP, DHCP, ICMP errors, neighbour
//! discovery) in which tshark finds no original address, MAC or name and no checksum broken
//! that was not broken before, made the same by the same key, and turned back by its mapping
//! into the fields of the original; an access log as JSON lines with no original client.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::{levee, shared};
use serde_json::Value;

/// Runs `levee clean ARGS --json` and gives its report.
fn clean(args: &[&std::ffi::OsStr]) -> Value {
    clean_exiting(args, 0)
}

/// Runs `levee clean ARGS --json`, expecting exit `code`, and gives its report.
fn clean_exiting(args: &[&std::ffi::OsStr], code: i32) -> Value {
    let out = levee()
        .arg("clean")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// tshark's `fields` of each frame of `capture`, one line a frame.
fn fields(capture: &Path, names: &[&str], extra: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(capture)
        .args(extra)
        .args(["-T", "fields", "-E", "occurrence=a"]);
    for n in names {
        cmd.args(["-e", n]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn synth(path: &Path, packets: &str) {
    let out = levee()
        .args([
            "synth",
            "--scenario",
            "benign",
            "--packets",
            packets,
            "--benign-pps",
            "200",
            "--out",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// Two taps (the second sees every packet 3 ms later, one hop further: TTL one less) and a
/// capture of another host: one capture out, in time order, each packet once (the first
/// tap's copy), and the other host's frames all there.
#[test]
#[cfg_attr(
    not(all(
        levee_shared_data,
        levee_has_tshark,
        levee_has_editcap,
        levee_has_tcprewrite
    )),
    ignore = "needs ../shared/data, tshark, editcap and tcprewrite"
)]
fn two_taps_merge_into_one_capture_in_order_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let tap1 = dir.path().join("tap1.pcap");
    synth(&tap1, "5000");
    let hop = dir.path().join("hop.pcap");
    let status = Command::new("tcprewrite")
        .args(["--ttl=-1", "--fixcsum", "--infile"])
        .arg(&tap1)
        .arg("--outfile")
        .arg(&hop)
        .status()
        .unwrap();
    assert!(status.success());
    let tap2 = dir.path().join("tap2.pcap");
    let status = Command::new("editcap")
        .args(["-t", "0.003"])
        .arg(&hop)
        .arg(&tap2)
        .status()
        .unwrap();
    assert!(status.success());
    let other = shared("ir/trickbot.pcap");
    let out = dir.path().join("merged.pcapng");
    let report = clean(&[
        tap1.as_os_str(),
        tap2.as_os_str(),
        other.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(report["duplicates"], 5000, "{report}");
    assert_eq!(report["inputs"][1]["duplicates"], 5000, "{report}");
    assert_eq!(report["written"], 5074, "{report}");

    let key = [
        "frame.len",
        "ip.src",
        "ip.dst",
        "ip.id",
        "ip.ttl",
        "tcp.seq_raw",
        "udp.srcport",
    ];
    let mut expected = fields(&tap1, &key, &[]);
    expected.extend(fields(&other, &key, &[]));
    expected.sort();
    let mut got = fields(&out, &key, &[]);
    got.sort();
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "the merged frames are not the first tap's and the other host's"
    );
    let times: Vec<f64> = fields(&out, &["frame.time_epoch"], &[])
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order");
}

/// A pcap record: seconds, fraction, the rest of the record.
type Record = (u32, u32, Vec<u8>);

/// A pcap's file header and records.
fn records(pcap: &[u8]) -> (Vec<u8>, Vec<Record>) {
    let le = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    assert!(
        matches!(le(&pcap[..4]), 0xa1b2_c3d4 | 0xa1b2_3c4d),
        "a little-endian pcap"
    );
    let mut out = Vec::new();
    let mut o = 24;
    while o + 16 <= pcap.len() {
        let caplen = le(&pcap[o + 8..o + 12]) as usize;
        out.push((
            le(&pcap[o..o + 4]),
            le(&pcap[o + 4..o + 8]),
            pcap[o + 8..o + 16 + caplen].to_vec(),
        ));
        o += 16 + caplen;
    }
    (pcap[..24].to_vec(), out)
}

/// Frames swapped with their neighbour in three places, one frame moved to the end (long
/// after its time), one given the time 0: three put back, one late, one fixed, every frame
/// written, and the times tshark reads rise everywhere but at the late frame.
#[test]
#[cfg_attr(not(levee_has_tshark), ignore = "needs tshark")]
fn frames_out_of_order_are_put_back_and_impossible_times_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let ordered = dir.path().join("ordered.pcap");
    synth(&ordered, "2000");
    let (header, mut recs) = records(&std::fs::read(&ordered).unwrap());
    let distinct = |a: &Record, b: &Record| (a.0, a.1) != (b.0, b.1);
    for i in [100usize, 500, 900] {
        assert!(distinct(&recs[i], &recs[i + 1]));
        recs.swap(i, i + 1);
    }
    let moved = recs.remove(300);
    recs.push(moved);
    recs[1200].0 = 0;
    recs[1200].1 = 0;
    let mut bytes = header;
    for (s, us, rest) in &recs {
        bytes.extend(s.to_le_bytes());
        bytes.extend(us.to_le_bytes());
        bytes.extend(rest);
    }
    let shuffled = dir.path().join("shuffled.pcap");
    std::fs::write(&shuffled, bytes).unwrap();
    let out = dir.path().join("out.pcapng");
    // The reader flags the time of 0 (exit 4, the frame kept), and the frame is given the
    // time of the frame before.
    let report = clean_exiting(
        &[shuffled.as_os_str(), "--out".as_ref(), out.as_os_str()],
        4,
    );
    assert_eq!(report["damage"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(
        (
            &report["reordered"],
            &report["late"],
            &report["times_fixed"],
            &report["written"]
        ),
        (
            &Value::from(3),
            &Value::from(1),
            &Value::from(1),
            &Value::from(2000)
        ),
        "{report}"
    );
    let times: Vec<f64> = fields(&out, &["frame.time_epoch"], &[])
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(times.len(), 2000);
    assert_eq!(times.windows(2).filter(|w| w[0] > w[1]).count(), 1);
    assert!(times.iter().all(|&t| t > 1e9), "an impossible time is left");
}

/// The header fields of every frame that name a host: addresses, MACs, names.
const NAMING: &[&str] = &[
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "arp.src.proto_ipv4",
    "arp.dst.proto_ipv4",
    "arp.src.hw_mac",
    "arp.dst.hw_mac",
    "eth.src",
    "eth.dst",
    "icmpv6.nd.ns.target_address",
    "icmpv6.opt.linkaddr",
    "dhcp.ip.your",
    "dhcp.ip.client",
    "dhcp.hw.mac_addr",
    "dhcp.option.dhcp_server_id",
    "dhcp.option.hostname",
    "dns.qry.name",
    "dns.resp.name",
    "dns.a",
    "dns.aaaa",
    "dns.cname",
    "http.host",
    "tls.handshake.extensions_server_name",
];

/// Every value of the naming fields in `capture`, by field.
fn naming_values(capture: &Path) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut by = BTreeMap::new();
    for line in fields(capture, NAMING, &[]) {
        for (name, value) in NAMING.iter().zip(line.split('\t')) {
            for v in value.split(',').filter(|v| !v.is_empty()) {
                by.entry(*name)
                    .or_insert_with(BTreeSet::new)
                    .insert(v.to_string());
            }
        }
    }
    by
}

/// Whether a value names nobody, and so is kept: unspecified, broadcast, multicast and
/// loopback addresses, multicast and zero MACs, names of one label or of a public suffix.
fn names_nobody(v: &str) -> bool {
    if let Ok(ip) = v.parse::<std::net::IpAddr>() {
        return ip.is_unspecified()
            || ip.is_multicast()
            || ip.is_loopback()
            || v == "255.255.255.255";
    }
    if v.len() == 17 && v.as_bytes()[2] == b':' {
        let first = u8::from_str_radix(&v[..2], 16).unwrap();
        return first & 1 == 1 || v == "00:00:00:00:00:00";
    }
    !v.contains('.')
}

fn checksum_errors(capture: &Path) -> usize {
    let filter = r#"ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad""#;
    fields(
        capture,
        &["frame.number"],
        &[
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-Y",
            filter,
        ],
    )
    .len()
}

/// Real captures of DNS, HTTP, TLS, ARP, DHCP, ICMP errors over MPLS and neighbour discovery,
/// and levee's own traffic, anonymised: tshark finds none of their addresses, MACs and names,
/// no checksum newly broken; the same key makes the same bytes; the mapping restores every
/// naming field and checksum of every frame.
#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tshark)),
    ignore = "needs ../shared/data and tshark"
)]
fn an_anonymised_capture_names_nobody_and_its_mapping_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("own.pcap");
    synth(&own, "3000");
    let inputs = [
        own,
        shared("ir/trickbot.pcap"),
        shared("ir/dns2tcp_tunnel.pcap"),
        shared("tcpdump-tests/edns-opts.pcap"),
        shared("tcpdump-tests/dhcp-rfc4388.pcap"),
        shared("tcpdump-tests/mpls-traceroute.pcap"),
        shared("tcpdump-tests/dcb_ets.pcap"),
        shared("web-attacks/WebattackSQLinj.pcap"),
    ];
    let input_args: Vec<&std::ffi::OsStr> = inputs.iter().map(|p| p.as_os_str()).collect();
    // The originals, merged the same way but not anonymised.
    let plain = dir.path().join("plain.pcapng");
    let mut args = input_args.clone();
    args.extend(["--out".as_ref(), plain.as_os_str()]);
    clean(&args);
    let key = dir.path().join("key.hex");
    let anonymised = |name: &str| {
        let out = dir.path().join(name);
        let mapping = dir.path().join(format!("{name}.mapping"));
        let mut args = input_args.clone();
        args.extend([
            "--key".as_ref(),
            key.as_os_str(),
            "--mapping".as_ref(),
            mapping.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        (clean(&args), out, mapping)
    };
    let (report, anon, mapping) = anonymised("anon.pcapng");
    assert!(report["addresses"].as_u64().unwrap() > 100, "{report}");

    let before = naming_values(&plain);
    let after = naming_values(&anon);
    let mut checked = 0;
    for (field, values) in &before {
        for v in values.iter().filter(|v| !names_nobody(v)) {
            checked += 1;
            let found: Vec<&&str> = after
                .iter()
                .filter(|(_, vs)| vs.contains(v))
                .map(|(f, _)| f)
                .collect();
            assert!(
                found.is_empty(),
                "{field} {v} is still in the anonymised capture, in {found:?}"
            );
        }
    }
    assert!(checked > 200, "only {checked} values checked");
    for field in [
        "dns.qry.name",
        "http.host",
        "tls.handshake.extensions_server_name",
        "dhcp.hw.mac_addr",
        "arp.src.proto_ipv4",
        "icmpv6.nd.ns.target_address",
    ] {
        assert!(before.contains_key(field), "no {field} in the inputs");
        assert_eq!(
            before[field].len(),
            after[field].len(),
            "{field}: distinct values merged or split"
        );
    }
    assert_eq!(checksum_errors(&anon), checksum_errors(&plain));

    // The same inputs and key: the same bytes.
    let (_, again, mapping_again) = anonymised("again.pcapng");
    assert!(std::fs::read(&anon).unwrap() == std::fs::read(&again).unwrap());
    assert!(std::fs::read(&mapping).unwrap() == std::fs::read(&mapping_again).unwrap());

    // The mapping turns it back: every naming field and checksum of every frame.
    let restored = dir.path().join("restored.pcapng");
    let report = clean(&[
        anon.as_os_str(),
        "--restore".as_ref(),
        mapping.as_os_str(),
        "--out".as_ref(),
        restored.as_os_str(),
    ]);
    assert!(report["addresses"].as_u64().unwrap() > 1000, "{report}");
    let mut compared: Vec<&str> = NAMING.to_vec();
    compared.extend([
        "ip.checksum",
        "tcp.checksum",
        "udp.checksum",
        "icmp.checksum",
        "icmpv6.checksum",
        "frame.len",
    ]);
    let original = fields(&plain, &compared, &[]);
    let back = fields(&restored, &compared, &[]);
    assert_eq!(original.len(), back.len());
    for (i, (o, b)) in original.iter().zip(&back).enumerate() {
        // A ones' complement sum has two zeros: 0x0000 and 0xffff are the same checksum.
        let same = o == b || o.replace("0xffff", "0x0000") == b.replace("0xffff", "0x0000");
        assert!(same, "frame {}: {o} restored as {b}", i + 1);
    }
}

/// A real site's log as JSON lines with a key: every request, no original client address,
/// one pseudonym per client, the same output for the same key.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn an_anonymised_log_keeps_every_request_and_no_client() {
    let dir = tempfile::tempdir().unwrap();
    let log = shared("logs/real-site/apache_logs.part1");
    let text = std::fs::read_to_string(&log).unwrap();
    let clients: BTreeSet<&str> = text.lines().filter_map(|l| l.split(' ').next()).collect();
    let key = dir.path().join("key");
    let run = |name: &str| {
        let out = dir.path().join(name);
        let status = levee()
            .arg("clean")
            .arg(&log)
            .arg("--key")
            .arg(&key)
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read_to_string(out).unwrap()
    };
    let json = run("a.jsonl");
    assert_eq!(json, run("b.jsonl"));
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), text.lines().count());
    let pseudonyms: BTreeSet<&str> = lines
        .iter()
        .map(|l| l["client"].as_str().unwrap())
        .collect();
    assert_eq!(pseudonyms.len(), clients.len());
    for c in &clients {
        assert!(!json.contains(&format!("\"{c}\"")), "{c} is in the output");
    }
    assert!(lines.iter().zip(1..).all(|(l, n)| l["line"] == n));
}

/// `--filter` keeps the frames tshark's display filter of the same text selects, and the log
/// lines of the method asked for.
#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tshark)),
    ignore = "needs ../shared/data and tshark"
)]
fn a_filter_keeps_what_tshark_selects() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("own.pcap");
    synth(&capture, "4000");
    for filter in [
        "udp.dstport == 53",
        "tcp.srcport == 443 and ip.len > 1000",
        "ip.proto != 6",
    ] {
        let out = dir.path().join("out.pcapng");
        let report = clean(&[
            capture.as_os_str(),
            "--filter".as_ref(),
            filter.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--force".as_ref(),
        ]);
        let expected = fields(&capture, &["frame.number"], &["-Y", filter]).len();
        assert!(expected > 0, "{filter}");
        assert_eq!(report["written"], expected, "{filter}: {report}");
        assert_eq!(fields(&out, &["frame.number"], &[]).len(), expected);
    }
    let log = shared("logs/sotm34/access_log.1");
    let out = dir.path().join("get.jsonl");
    let status = levee()
        .arg("clean")
        .arg(&log)
        .args(["--filter", "http.request.method == \"GET\"", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let gets = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"GET "))
        .count();
    assert!(gets > 100);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), gets);
}
