//! levee's decode against tshark's, field by field, for every packet of the real attack and scan
//! captures and of a selection of the tcpdump test captures; and packet counts against
//! `tcpdump --count`.
//!
//! tshark prints every occurrence of a field (outer and inner headers of a tunnel, the IP header
//! quoted inside an ICMP error). `frame.protocols` gives the order of the layers, so the test
//! picks the occurrence levee reports: the IP header after `tunnel.depth` tunnels, and the first
//! transport header after it.
//!
//! Documented choices where levee and tshark differ on purpose:
//! * DNS names: levee lower-cases them (names are case-insensitive; signatures and
//!   water-torture detection compare them), tshark keeps the case: compared case-insensitively.
//! * A TCP or UDP header cut short gives levee no transport fields (`decode.issue` says
//!   `transport:truncated`); tshark shows whatever ports it could read.
//! * BIG TCP packets (IPv4 total length 0, or IPv6 payload length 0) carrying VXLAN: tshark 4.0
//!   stops at the outer UDP header, tcpdump and levee decode the tunnelled packet. For these
//!   files levee is checked against tcpdump's decode (`.out`) instead.
//! * tshark is run with IP reassembly off, so that each packet is judged on its own bytes, as
//!   levee does.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;

/// levee field, tshark IPv4 field, tshark IPv6 field (empty when the same for both).
const IP_FIELDS: &[(&str, &str, &str)] = &[
    ("ip.src", "ip.src", "ipv6.src"),
    ("ip.dst", "ip.dst", "ipv6.dst"),
    ("ip.ttl", "ip.ttl", "ipv6.hlim"),
    ("ip.len", "ip.len", "ipv6.plen"),
    ("ip.frag_offset", "ip.frag_offset", ""),
    ("ip.flags.mf", "ip.flags.mf", ""),
    ("ip.proto", "ip.proto", ""),
];
const TCP_FIELDS: &[(&str, &str)] = &[
    ("tcp.srcport", "tcp.srcport"),
    ("tcp.dstport", "tcp.dstport"),
    ("tcp.flags", "tcp.flags"),
    ("tcp.payload", "tcp.payload"),
];
const UDP_FIELDS: &[(&str, &str)] = &[
    ("udp.srcport", "udp.srcport"),
    ("udp.dstport", "udp.dstport"),
    ("udp.payload", "udp.payload"),
];
const DNS_FIELDS: &[(&str, &str)] = &[
    ("dns.qry.name", "dns.qry.name"),
    ("dns.qry.type", "dns.qry.type"),
];

/// tcpdump test captures with IP traffic in link types and encapsulations levee decodes.
const TCPDUMP_TESTS: &[&str] = &[
    "802.1ad_QinQ.pcap",
    "LINKTYPE_IPV6.pcap",
    "LINKTYPE_RAW_ipv6.pcap",
    "bigtcp-ipv4-vxlan-ipv4.pcap",
    "bigtcp-ipv4-vxlan-ipv6.pcap",
    "bigtcp-ipv6-vxlan-ipv4.pcap",
    "bigtcp-ipv6-hbh.pcap",
    "dns-zlip-1.pcap",
    "dns_tcp.pcap",
    "dns_udp.pcap",
    "dns_udp_2.pcap",
    "dnssec.pcap",
    "edns-opts.pcap",
    "erspan-type-i-1.pcap",
    "erspan-type-ii-1.pcap",
    "erspan-type-ii-2.pcap",
    "erspan-type-ii-3.pcap",
    "gre-heapoverflow-1.pcap",
    "gre-heapoverflow-2.pcap",
    "various_gre.pcap",
    "icmp-cksum-oobr-1.pcap",
    "ipv6-bad-version.pcap",
    "ip6_frag_asan.pcap",
    "ipv6-routing-header.pcap",
    "isakmp-delete-segfault.pcap",
    "mpls-traceroute.pcap",
    "mpls-ldp-hello.pcap",
    "pppoe.pcap",
    "pppoes.pcap",
    "gso-ipv4-vxlan-ipv4.pcap",
    "gso-ipv6-vxlan-ipv6.pcap",
    "tcp_header_heapoverflow.pcap",
    "ipv4_tcp_http_xml_tso.pcap",
    "ipv4_tcp_http_xml.pcap",
    "vxlan.pcap",
    "ntp-mode7.pcap",
    "ntp-control.pcap",
    "ntp.pcap",
    "wccp_redirect_gre.pcap",
    "ip-snmp-leftshift-unsigned.pcap",
    // Other link types: Cisco HDLC, LINKTYPE_IPV4, raw IPv4, Linux SLL, BSD null, PPP.
    "HDLC.pcap",
    "LINKTYPE_IPV4.pcap",
    "LINKTYPE_RAW_ipv4.pcap",
    "babel.pcap",
    "dns-badcookie.pcap",
    "gquic.pcap",
    "ppp_ip_udp_dns.pcap",
    "quic_handshake.pcap",
    "tcp-handshake-nano.pcap",
    "mptcp-v1.pcap",
    "icmp-rfc5837.pcap",
    "ikev2four.pcap",
    "resp_1_benchmark.pcap",
    "forces1.pcap",
];

fn levee_fields(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = levee();
    cmd.arg("fields").arg(file);
    for f in fields {
        cmd.arg("-e").arg(f);
    }
    let out = run(&mut cmd);
    assert!(
        matches!(out.status.code(), Some(0 | 4)),
        "levee fields {}: {}",
        file.display(),
        stderr(&out)
    );
    stdout(&out)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn tshark_fields(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = std::process::Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(file);
    cmd.args([
        "-o",
        "ip.defragment:FALSE",
        "-o",
        "ipv6.defragment:FALSE",
        "-o",
        "tcp.desegment_tcp_streams:FALSE",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
    ]);
    for f in fields {
        cmd.arg("-e").arg(f);
    }
    let out = run(&mut cmd);
    stdout(&out)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// The `n`-th value of an aggregated tshark field, or "".
fn nth(value: &str, n: usize) -> String {
    if value.is_empty() {
        return String::new();
    }
    value.split('|').nth(n).unwrap_or("").to_string()
}

/// tshark's spelling of a value in levee's spelling.
fn normalise(field: &str, v: &str) -> String {
    match field {
        "tcp.flags" => u64::from_str_radix(v.trim_start_matches("0x"), 16)
            .map(|x| x.to_string())
            .unwrap_or_else(|_| v.to_string()),
        "ip.flags.mf" => match v {
            "True" => "1".into(),
            "False" => "0".into(),
            _ => v.into(),
        },
        "dns.qry.name" if v == "<Root>" => String::new(),
        "dns.qry.name" => v.to_lowercase(),
        _ => v.to_string(),
    }
}

#[derive(Default)]
struct Tally {
    compared: usize,
    differences: Vec<String>,
}

/// Files where tshark does not decode the VXLAN packet inside BIG TCP; see the module comment.
const BIG_TCP_VXLAN: &[&str] = &[
    "bigtcp-ipv4-vxlan-ipv4.pcap",
    "bigtcp-ipv4-vxlan-ipv6.pcap",
    "bigtcp-ipv6-vxlan-ipv4.pcap",
];

/// levee's inner addresses and ports must be the ones tcpdump prints for the tunnelled packet.
fn compare_with_tcpdump_out(file: &Path, tally: &mut Tally) {
    let out = std::fs::read_to_string(file.with_extension("out")).unwrap();
    let ours = levee_fields(
        file,
        &[
            "tunnel.type",
            "ip.src",
            "tcp.srcport",
            "ip.dst",
            "tcp.dstport",
        ],
    );
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    for (i, l) in ours.iter().enumerate() {
        tally.compared += 1;
        let (src, dst) = (format!("{}.{}", l[1], l[2]), format!("{}.{}", l[3], l[4]));
        let expected = format!("{src} > {dst}");
        if l[0] != "vxlan" || !out.contains(&expected) {
            tally.differences.push(format!(
                "{name} packet {}: levee decoded {:?} via {:?}, not in tcpdump's output",
                i + 1,
                expected,
                l[0]
            ));
        }
    }
}

fn compare_file(file: &Path, tally: &mut Tally) {
    let fname = file.file_name().unwrap().to_string_lossy().to_string();
    if BIG_TCP_VXLAN.contains(&fname.as_str()) {
        return compare_with_tcpdump_out(file, tally);
    }
    let mut lf: Vec<&str> = vec![
        "tunnel.depth",
        "ip.version",
        "decode.issue",
        "frame.len",
        "frame.cap_len",
    ];
    lf.extend(IP_FIELDS.iter().map(|f| f.0));
    lf.extend(TCP_FIELDS.iter().map(|f| f.0));
    lf.extend(UDP_FIELDS.iter().map(|f| f.0));
    lf.extend(DNS_FIELDS.iter().map(|f| f.0));
    let mut tf: Vec<&str> = vec!["frame.protocols"];
    for (_, v4, v6) in IP_FIELDS {
        tf.push(v4);
        if !v6.is_empty() {
            tf.push(v6);
        }
    }
    tf.extend(TCP_FIELDS.iter().map(|f| f.1));
    tf.extend(UDP_FIELDS.iter().map(|f| f.1));
    tf.extend(DNS_FIELDS.iter().map(|f| f.1));
    tf.push("dns.flags.response");
    let ours = levee_fields(file, &lf);
    let theirs = tshark_fields(file, &tf);
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    if ours.len() != theirs.len() {
        tally.differences.push(format!(
            "{name}: levee printed {} packets, tshark {}",
            ours.len(),
            theirs.len()
        ));
        return;
    }
    let lidx: HashMap<&str, usize> = lf.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    let tidx: HashMap<&str, usize> = tf.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    for (pkt, (l, t)) in ours.iter().zip(&theirs).enumerate() {
        let get_l = |f: &str| l.get(lidx[f]).cloned().unwrap_or_default();
        let get_t = |f: &str| t.get(tidx[f]).cloned().unwrap_or_default();
        let version = get_l("ip.version");
        if version.is_empty() {
            continue;
        }
        let depth: usize = get_l("tunnel.depth").parse().unwrap_or(0);
        let layers: Vec<String> = get_t("frame.protocols")
            .split(':')
            .map(str::to_string)
            .collect();
        // levee's `ip` is the innermost IP header: the one after `depth` tunnels, or the last
        // one when the innermost tunnel carried no IP (an ERSPAN-mirrored STP frame).
        let ip_positions: Vec<usize> = layers
            .iter()
            .enumerate()
            .filter(|(_, l)| *l == "ip" || *l == "ipv6")
            .map(|(i, _)| i)
            .collect();
        let Some(&pos) = ip_positions
            .get(depth)
            .or(if depth > 0 && ip_positions.len() == depth {
                ip_positions.last()
            } else {
                None
            })
        else {
            tally.differences.push(format!(
                "{name} packet {}: levee found an IP header after {depth} tunnels, tshark's layers are {}",
                pkt + 1,
                layers.join(":")
            ));
            continue;
        };
        let count_before = |proto: &str| layers[..pos].iter().filter(|l| *l == proto).count();
        let is_v6 = layers[pos] == "ipv6";
        // A payload the capture cut short is not known to levee (see `Packet::is_cut`);
        // tshark shows what was kept.
        let cut = get_l("frame.len") != get_l("frame.cap_len");
        let mut check = |lname: &str, tname: &str, occurrence: usize| {
            if cut && lname.ends_with(".payload") {
                return;
            }
            tally.compared += 1;
            let ours = get_l(lname);
            let mut theirs = normalise(tname, &nth(&get_t(tname), occurrence));
            if tname == "ipv6.plen" && !theirs.is_empty() {
                theirs = (theirs.parse::<u32>().unwrap() + 40).to_string();
            }
            if ours != theirs {
                tally.differences.push(format!(
                    "{name} packet {}: {lname} levee={ours:?} tshark {tname}={theirs:?} (layers {})",
                    pkt + 1,
                    layers.join(":")
                ));
            }
        };
        for (lname, v4, v6) in IP_FIELDS {
            if is_v6 {
                // Fragment fields and the next-header after extension headers are compared for
                // IPv4 only: tshark spreads them over per-extension fields.
                if !v6.is_empty() {
                    check(lname, v6, count_before("ipv6"));
                }
            } else {
                check(lname, v4, count_before("ip"));
            }
        }
        let after = &layers[pos + 1..];
        let mut transport = after.first().map(String::as_str).unwrap_or("");
        // Documented choice: a TCP or UDP header shorter than its fixed size gives levee no
        // transport fields (it says so in decode.issue); tshark shows the ports it could read.
        if get_l("decode.issue").starts_with("transport:")
            && get_l("tcp.srcport").is_empty()
            && get_l("udp.srcport").is_empty()
        {
            transport = "";
        }
        if transport == "tcp" {
            for (lname, tname) in TCP_FIELDS {
                check(lname, tname, count_before("tcp"));
            }
        }
        if transport == "udp" {
            for (lname, tname) in UDP_FIELDS {
                check(lname, tname, count_before("udp"));
            }
        }
        if after.iter().any(|l| l == "dns") && !after.iter().any(|l| l == "icmp" || l == "icmpv6") {
            for (lname, tname) in DNS_FIELDS {
                check(lname, tname, 0);
            }
        }
    }
}

fn corpus(shared: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in ["attacks", "scans"] {
        let mut entries: Vec<_> = std::fs::read_dir(shared.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        files.extend(entries);
    }
    for name in TCPDUMP_TESTS {
        let p = shared.join("tcpdump-tests").join(name);
        assert!(p.exists(), "{} is listed but missing", p.display());
        files.push(p);
    }
    files
}

#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tshark)),
    ignore = "needs ../shared/data, tshark"
)]
fn decode_agrees_with_tshark_field_by_field() {
    let Some(shared) = require_shared("decode_agrees_with_tshark_field_by_field") else {
        return;
    };
    if !require_tool("decode_agrees_with_tshark_field_by_field", "tshark") {
        return;
    }
    let mut tally = Tally::default();
    let files = corpus(&shared);
    for f in &files {
        compare_file(f, &mut tally);
    }
    eprintln!(
        "compared {} field values over {} files",
        tally.compared,
        files.len()
    );
    assert!(
        tally.compared > 500_000,
        "too few values compared: {}",
        tally.compared
    );
    assert!(
        tally.differences.is_empty(),
        "{} differences:\n{}",
        tally.differences.len(),
        tally
            .differences
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_tcpdump)),
    ignore = "needs ../shared/data, tcpdump"
)]
fn packet_counts_equal_tcpdump() {
    let Some(shared) = require_shared("packet_counts_equal_tcpdump") else {
        return;
    };
    if !require_tool("packet_counts_equal_tcpdump", "tcpdump") {
        return;
    }
    for f in corpus(&shared) {
        let out = run(std::process::Command::new("tcpdump")
            .args(["-n", "--count", "-r"])
            .arg(&f));
        let text = stderr(&out) + &stdout(&out);
        let expected: u64 = text
            .lines()
            .find_map(|l| l.strip_suffix(" packets").or(l.strip_suffix(" packet")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("tcpdump --count said: {text}"));
        let ours = run(levee().arg("summary").arg("--json").arg(&f));
        let json: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
        assert_eq!(json["packets"].as_u64(), Some(expected), "{}", f.display());
    }
}

/// JA3 (string and hash) and SNI of every ClientHello in a synthesised capture, against
/// tshark's own `tls.handshake.ja3_full` and `ja3`. The corpus holds no ClientHello, so this
/// uses levee's browser-like hellos (with GREASE), which tshark decodes independently.
#[test]
#[cfg_attr(not(levee_has_tshark), ignore = "needs tshark")]
fn ja3_and_sni_agree_with_tshark() {
    if !require_tool("ja3_and_sni_agree_with_tshark", "tshark") {
        return;
    }
    let dir = scratch("ja3");
    let cap = dir.join("tls.pcap");
    let o = run(levee()
        .args([
            "synth",
            "--scenario",
            "benign",
            "--packets",
            "4000",
            "--out",
        ])
        .arg(&cap));
    assert!(o.status.success(), "{}", stderr(&o));
    let ours: Vec<String> = levee_fields(&cap, &["tls.ja3_string", "tls.ja3", "tls.sni"])
        .into_iter()
        .map(|f| f.join("\t"))
        .filter(|l| !l.trim().is_empty())
        .collect();
    let out = run(std::process::Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&cap)
        .args(["-Y", "tls.handshake.type == 1", "-T", "fields"])
        .args(["-e", "tls.handshake.ja3_full", "-e", "tls.handshake.ja3"])
        .args(["-e", "tls.handshake.extensions_server_name"]));
    let theirs: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert!(ours.len() > 20, "only {} ClientHellos", ours.len());
    assert_eq!(ours, theirs);
}
